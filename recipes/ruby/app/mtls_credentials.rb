# frozen_string_literal: true

# The credentials the client calls with, looked at before every call:
#   - the trust: root.crt is never given to OpenSSL. When it or the pin file
#     changes, recipes/lib/mtls-trust (the shell recipes' one implementation
#     of the "Trust file" contract, recipes/README.md) checks it and writes a
#     private trust file; an OpenSSL::X509::Store holding only that file's
#     certificates is what every connection verifies against. A refused
#     root.crt keeps the store checked last.
#   - the pair: site.crt (leaf + intermediate) and site.key, read into
#     memory when either changes and swapped in only if the key matches the
#     leaf and the chain verifies against the store. The renewer renames the
#     key first and the certificate second: for a moment the two do not
#     match. The last good pair stays in use; a pair still refused after
#     SETTLE_S with unchanged files counts as a failed reload.
require 'open3'
require 'openssl'

module Mtls
  class Credentials
    SETTLE_S = 3.0
    MAX_FILE_BYTES = 1 << 20
    CERT_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----/m

    Pair = Struct.new(:leaf, :chain, :key, :serial, :not_after, keyword_init: true)

    class Refused < StandardError
      attr_reader :waiting

      def initialize(message, waiting: false)
        super(message)
        @waiting = waiting
      end
    end

    attr_reader :pair, :store, :reloads, :failed_reloads, :last_reload_at, :last_error, :last_error_at

    def initialize(cert_dir:, pin_file:, run_dir:, log:)
      @root, @crt, @key = %w[root.crt site.crt site.key].map { |f| File.join(cert_dir, f) }
      @pin_file = pin_file
      @trust_file = File.join(run_dir, 'trust', 'root.crt')
      @log = log
      @reloads = @failed_reloads = 0
      @pair = @store = @last_reload_at = @last_error = nil
      @last_error_at = 0.0
      @trust_key = @refused_trust_key = @pair_key = @pending = nil
    end

    def ready?
      !@pair.nil? && !@store.nil?
    end

    # One look at the files (a few stat calls when nothing changed).
    def refresh(now = Mtls.monotonic)
      refresh_trust
      refresh_pair(now)
    end

    def self.serial_of(cert)
      cert.serial.to_s(16).sub(/\A0+(?=.)/, '')
    end

    private

    # What identifies a file's content without reading it: a rename (how the
    # renewer writes) changes the inode. lstat: a symlink is mtls-trust's to refuse.
    def signature(path, stat = :lstat)
      st = File.public_send(stat, path)
      [st.ftype, st.ino, st.mtime.to_r, st.size]
    rescue SystemCallError
      nil
    end

    def refresh_trust
      key = [signature(@root), signature(@pin_file, :stat)]
      return if key == @trust_key || key == @refused_trust_key
      return if key.any?(&:nil?) # absent: waiting for it, as for the other files; the trust kept

      begin
        _, problem, status = Open3.capture3('mtls-trust', @root, @pin_file, @trust_file)
      rescue SystemCallError => e
        return trust_refused(key, "cannot run mtls-trust: #{e.message}")
      end
      problem = problem.lines.first.to_s.strip
      return trust_refused(key, problem.empty? ? "mtls-trust exit #{status.exitstatus}" : problem) unless status.success?

      store = OpenSSL::X509::Store.new
      store.add_file(@trust_file)
      @log.info('trust file rebuilt from root.crt') if @store
      @store, @trust_key, @refused_trust_key = store, key, nil
    end

    def trust_refused(key, problem)
      @refused_trust_key = key
      @failed_reloads += 1
      note_error("root.crt refused: #{problem}")
      @log.warn("root.crt refused: #{problem}", reason: problem[/\A[a-z_]+/],
                                                trust: @store ? 'keeping the roots checked last' : 'no trust file yet',
                                                failedReloads: @failed_reloads)
    end

    def refresh_pair(now)
      key = [signature(@crt, :stat), signature(@key, :stat)]
      return if key == @pair_key || (@pending && @pending[:key] == key && @pending[:refused])

      swap(load_pair, key)
    rescue Refused => e
      pair_refused(e, key, now)
    end

    def load_pair
      raise Refused.new('waiting for site.crt and site.key', waiting: true) unless File.file?(@crt) && File.file?(@key)
      raise Refused.new('waiting for the trusted roots', waiting: true) unless @store

      certs = read(@crt).scan(CERT_BLOCK).map { |pem| OpenSSL::X509::Certificate.new(pem) }
      raise Refused, 'site.crt holds no certificate' if certs.empty?

      leaf, *chain = certs
      key = OpenSSL::PKey.read(read(@key))
      raise Refused, 'site.key does not match site.crt' unless leaf.check_private_key(key)

      context = OpenSSL::X509::StoreContext.new(@store, leaf, chain)
      raise Refused, "site.crt does not verify against the trusted roots: #{context.error_string}" unless context.verify

      Pair.new(leaf: leaf, chain: chain, key: key, serial: Credentials.serial_of(leaf), not_after: leaf.not_after)
    rescue OpenSSL::OpenSSLError, ArgumentError => e
      raise Refused, "site.crt or site.key unreadable: #{e.message}"
    end

    def read(path)
      File.open(path, 'rb') { |f| f.read(MAX_FILE_BYTES) }.to_s
    rescue SystemCallError => e
      raise Refused.new("#{File.basename(path)}: #{e.message}", waiting: e.is_a?(Errno::ENOENT))
    end

    def swap(pair, key)
      initial = @pair.nil?
      @pair, @pair_key, @pending = pair, key, nil
      @last_reload_at = Mtls.iso
      @reloads += 1 unless initial
      @log.info(initial ? 'credentials loaded' : 'reloaded', serial: pair.serial, notAfter: Mtls.iso(pair.not_after),
                                                             reloads: @reloads)
    end

    def pair_refused(error, key, now)
      return if error.waiting && @pair.nil? # before enrollment: the normal state

      @pending = { key: key, first: now, refused: false } unless @pending && @pending[:key] == key
      return if now - @pending[:first] < SETTLE_S # most likely the key-then-certificate window

      @pending[:refused] = true
      @failed_reloads += 1
      note_error(error.message)
      @log.warn(@pair ? 'reload refused, keeping the current credentials' : 'credentials refused, still waiting',
                reason: error.message, serial: @pair&.serial, failedReloads: @failed_reloads)
    end

    def note_error(message)
      @last_error = message
      @last_error_at = Mtls.monotonic
    end
  end
end
