#!/usr/bin/env ruby
# frozen_string_literal: true

# The Ruby mTLS client (recipes/ruby/README.md): every REQUEST_INTERVAL_MS it
# calls https://TARGET_HOST:TARGET_PORT/ with Net::HTTP, presenting
# $CERT_DIR/site.crt and site.key, trusting only the private trust file built
# from root.crt by mtls-trust, and checking the server's URI SAN. It keeps
# $STATS_FILE, logs JSON lines and exits 0 on SIGTERM.
require 'tmpdir'
require_relative 'mtls_support'
require_relative 'mtls_credentials'
require_relative 'mtls_call'

module Mtls
  FAILING_AFTER = 3 # failed calls in a row before the state is "failing"
  STATS_EVERY_S = 5.0

  def self.config
    expected = Env.string('EXPECTED_SERVER_IDENTITY')
    raise ConfigError.new('EXPECTED_SERVER_IDENTITY', 'EXPECTED_SERVER_IDENTITY must be a URI (this recipe checks the URI SAN)') unless expected.include?('://')

    {
      cert_dir: Env.string('CERT_DIR', '/var/run/step'),
      pin_file: Env.string('ROOT_PIN_FILE'),
      stats_file: Env.string('STATS_FILE', '/tmp/mtls-stats.json'),
      host: Env.host('TARGET_HOST'),
      port: Env.integer('TARGET_PORT', 8443, 1, 65_535, 'a port'),
      expected: expected,
      interval_s: Env.integer('REQUEST_INTERVAL_MS', 500, 10, 3_600_000, 'a number of milliseconds') / 1000.0,
      startup_budget: Env.integer('STARTUP_RETRY_BUDGET_MS', 30_000, 0, 86_400_000, 'a number of milliseconds') / 1000.0
    }
  end

  # The loop's state as the contract's stats file says it.
  class Client
    def initialize(cfg, log, run_dir)
      @cfg, @log = cfg, log
      @stopper = Stopper.new
      @stats = StatsFile.new(cfg[:stats_file], log)
      @credentials = Credentials.new(cert_dir: cfg[:cert_dir], pin_file: cfg[:pin_file], run_dir: run_dir, log: log)
      @caller = Caller.new(cfg, @credentials, @stopper, log, on_wait: -> { write_stats })
    end

    def run
      write_stats
      @log.info('starting', target: "#{@cfg[:host]}:#{@cfg[:port]}", expected: @cfg[:expected],
                            intervalMs: (@cfg[:interval_s] * 1000).round)
      until @stopper.stopped?
        started = Mtls.monotonic
        one_round
        pause_until(started + @cfg[:interval_s])
      end
      @log.info('stopping', signal: @stopper.signal)
      write_stats
    end

    private

    def one_round
      @credentials.refresh
      @caller.call if @credentials.ready?
      write_stats
    rescue StandardError => e # the loop must go on; the error is in the log
      @log.error('loop error', error: "#{e.class}: #{e.message}", at: e.backtrace&.first)
    end

    # Naps until `deadline`, rewriting the stats at least every STATS_EVERY_S
    # (a long interval must not look like a hung process).
    def pause_until(deadline)
      loop do
        left = deadline - Mtls.monotonic
        break if left <= 0 || @stopper.stopped?

        @stopper.nap([left, STATS_EVERY_S].min)
        write_stats if Mtls.monotonic < deadline
      end
    end

    def state
      pair = @credentials.pair
      return ['waiting', nil] unless @credentials.ready?
      return ['failing', "certificate #{pair.serial} expired at #{Mtls.iso(pair.not_after)}"] if pair.not_after <= Time.now
      return ['failing', nil] if @caller.consecutive >= FAILING_AFTER

      ['calling', nil]
    end

    def write_stats
      pair = @credentials.pair
      now_state, problem = state
      # lastError: the newer of a refused reload and a failed call.
      errors = [[@credentials.last_error_at, @credentials.last_error], [@caller.last_error_at, @caller.last_error]].select(&:last)
      @stats.write(
        technology: 'ruby', role: 'client', state: now_state,
        serial: pair&.serial, notAfter: pair && Mtls.iso(pair.not_after),
        reloads: @credentials.reloads, failedReloads: @credentials.failed_reloads, lastReloadAt: @credentials.last_reload_at,
        lastOkAt: @caller.last_ok_at, serverSerial: @caller.server_serial,
        lastError: problem || errors.max_by(&:first)&.last,
        requests: { ok: @caller.ok, failed: @caller.failed, retries: @caller.retries, startupRetries: @caller.startup_retries },
        consecutiveFailures: @caller.consecutive, updatedAt: Mtls.iso
      )
    end
  end

  def self.main
    $stdout.sync = true
    log = Log.new('ruby-client')
    begin
      cfg = config
    rescue ConfigError => e
      log.error("bad configuration: #{e.message}", variable: e.variable)
      exit 2
    end
    # The private trust file lives here (0700, on the container's /tmp tmpfs).
    Dir.mktmpdir('mtls-ruby-') { |run_dir| Client.new(cfg, log, run_dir).run }
    exit 0
  end
end

Mtls.main if $PROGRAM_NAME == __FILE__
