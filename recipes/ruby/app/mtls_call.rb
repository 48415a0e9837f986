# frozen_string_literal: true

# One call of the client: a new Net::HTTP, so a new OpenSSL::SSL::SSLContext
# and a new connection, made from the credentials current at that moment
# (Net::HTTP#connect builds the context from cert, key, extra_chain_cert,
# cert_store, verify_mode, verify_hostname and min_version). The handshake
# verifies the chain against the private trust store and TARGET_HOST against
# the server's SAN (verify_hostname); then, before anything is sent, the
# leaf's URI SAN must be EXPECTED_SERVER_IDENTITY.
#
# Retries (recipes/README.md, "Start-up"): until the first success a server
# that cannot be reached is still starting (0.2 s doubling to 2 s, within
# the start-up budget); afterwards a refused connection fails the call at
# once, other errors get up to 3 short retries within about 3 s.
require 'net/http'
require 'openssl'
require 'socket'

module Mtls
  class CallError < StandardError
    attr_reader :retry

    def initialize(message, retry_it: true)
      super(message)
      @retry = retry_it
    end
  end

  # The name of the server did not resolve (yet), or not in time.
  class Unreachable < CallError; end

  class Caller
    RETRY_DELAYS_S = [0.25, 0.5, 1.0].freeze
    RETRY_BUDGET_S = 3.0
    STARTUP_DELAY_S = 0.2
    STARTUP_MAX_DELAY_S = 2.0
    OPEN_TIMEOUT_S = 3
    READ_TIMEOUT_S = 5
    MAX_BODY_BYTES = 64 * 1024

    attr_reader :ok, :failed, :retries, :startup_retries, :consecutive, :last_error, :last_error_at, :last_ok_at,
                :server_serial

    def initialize(cfg, credentials, stopper, log, on_wait: -> {})
      @cfg, @credentials, @stopper, @log, @on_wait = cfg, credentials, stopper, log, on_wait
      @ok = @failed = @retries = @startup_retries = @consecutive = 0
      @last_error = @last_ok_at = @server_serial = @last_reason = nil
      @last_error_at = 0.0
      @succeeded = false
    end

    # One call with its retries; true on success.
    def call
      started = Mtls.monotonic
      retries = startup = 0
      loop do
        return record_success(call_once(@credentials.pair, @credentials.store))
      rescue StandardError => e
        delay, is_startup = next_retry(e, retries, startup, Mtls.monotonic - started)
        return record_failure(reason(e), retries + startup + 1) if delay.nil? || @stopper.stopped?

        if is_startup
          startup += 1
          count_startup_retry(reason(e))
        else
          retries += 1
          @retries += 1
        end
        @on_wait.call
        @stopper.nap(delay)
        @credentials.refresh # a reload meanwhile is used by the retry
      end
    end

    private

    def call_once(pair, store)
      http = Net::HTTP.new(@cfg[:host], @cfg[:port], nil) # nil: no proxy from the environment
      http.ipaddr = resolve(@cfg[:host], @cfg[:port])
      http.use_ssl = true
      http.verify_mode = OpenSSL::SSL::VERIFY_PEER
      http.verify_hostname = true
      http.cert_store = store
      http.cert = pair.leaf
      http.extra_chain_cert = pair.chain
      http.key = pair.key
      http.min_version = OpenSSL::SSL::TLS1_2_VERSION
      http.open_timeout = OPEN_TIMEOUT_S
      http.read_timeout = http.write_timeout = READ_TIMEOUT_S
      http.start { |h| exchange(h) }
    end

    def exchange(http)
      uris = Mtls.uri_sans(http.peer_cert)
      raise CallError.new("identity mismatch: server presented #{uris}", retry_it: false) unless uris.include?(@cfg[:expected])

      status = nil
      http.request(Net::HTTP::Get.new('/', 'Accept' => 'application/json')) do |response|
        status = response.code.to_i
        size = 0
        response.read_body { |chunk| (size += chunk.bytesize) <= MAX_BODY_BYTES or raise CallError, 'response body too large' }
      end
      raise CallError.new("http #{status}", retry_it: status >= 500) unless status == 200

      Credentials.serial_of(http.peer_cert)
    end

    # getaddrinfo with a deadline (Docker's DNS can take seconds to give up on
    # a name); the TLS name checked stays TARGET_HOST.
    def resolve(host, port)
      addresses = Addrinfo.getaddrinfo(host, port, nil, :STREAM, nil, 0, timeout: OPEN_TIMEOUT_S)
      (addresses.find(&:ipv4?) || addresses.first)&.ip_address or raise Unreachable, "dns: no address for #{host}"
    rescue SocketError => e
      raise Unreachable, "dns: #{e.message}"
    end

    def unreachable?(error)
      return true if error.is_a?(Unreachable) || error.is_a?(Errno::ECONNRESET) || error.is_a?(Errno::ECONNABORTED)

      # Net::HTTP raises what the TCP connect met with this prefix: refused, timed out, no route.
      (error.is_a?(SystemCallError) || error.is_a?(Net::OpenTimeout)) && error.message.start_with?('Failed to open TCP connection')
    end

    def next_retry(error, retries, startup, elapsed)
      if !@succeeded && unreachable?(error)
        delay = [STARTUP_DELAY_S * (2**startup), STARTUP_MAX_DELAY_S].min
        return elapsed + delay <= @cfg[:startup_budget] ? [delay, true] : nil
      end
      return nil if (error.is_a?(CallError) && !error.retry) || error.is_a?(Errno::ECONNREFUSED)
      return nil if retries >= RETRY_DELAYS_S.size

      delay = RETRY_DELAYS_S[retries]
      elapsed + delay <= RETRY_BUDGET_S ? [delay, false] : nil
    end

    def reason(error)
      case error
      when CallError then error.message
      when Errno::ECONNREFUSED then "connection refused: #{@cfg[:host]}:#{@cfg[:port]}"
      when OpenSSL::SSL::SSLError then "tls: #{error.message.sub(/\ASSL_connect returned=\d+ errno=\d+ (peeraddr=\S+ )?state=\S+: /, '')}"
      when Net::OpenTimeout, Net::ReadTimeout, Net::WriteTimeout then "timeout: #{error.message}"
      when SystemCallError, IOError then "connection: #{error.message}"
      else "#{error.class}: #{error.message}"
      end
    end

    def count_startup_retry(reason)
      @log.info('server not answering yet; retrying (start-up)', reason: reason) if @startup_retries.zero?
      @startup_retries += 1
    end

    def record_success(serial)
      @ok += 1
      @last_ok_at = Mtls.iso
      @server_serial = serial
      if !@succeeded
        @log.info('calling', server: @cfg[:expected], serverSerial: serial, startupRetries: @startup_retries)
      elsif @consecutive.positive?
        @log.info('calling again', server: @cfg[:expected], serverSerial: serial, afterFailedCalls: @consecutive)
      end
      @succeeded = true
      @consecutive = 0
      @last_reason = nil
      true
    end

    def record_failure(reason, attempts)
      @failed += 1
      @consecutive += 1
      @last_error = reason
      @last_error_at = Mtls.monotonic
      @log.warn('call failed', reason: reason, attempts: attempts, consecutiveFailures: @consecutive) if reason != @last_reason
      @last_reason = reason
      false
    end
  end

  # The URI SANs of a certificate, read from the extension's DER (GeneralName
  # [6] uniformResourceIdentifier), not from its text form.
  def self.uri_sans(cert)
    ext = cert&.extensions&.find { |e| e.oid == 'subjectAltName' }
    return [] unless ext

    OpenSSL::ASN1.decode(ext.value_der).value.select { |n| n.tag_class == :CONTEXT_SPECIFIC && n.tag == 6 }.map(&:value)
  end
end
