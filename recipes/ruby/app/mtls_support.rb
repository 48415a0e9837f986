# frozen_string_literal: true

# What the Ruby client needs besides TLS: JSON log lines, the contract's
# stats file (rewritten atomically), configuration from the environment, and
# a SIGTERM/SIGINT flag with a sleep that the signal cuts short. Standard
# library only.
require 'json'

module Mtls
  def self.iso(time = Time.now)
    time.utc.strftime('%Y-%m-%dT%H:%M:%S.%LZ')
  end

  def self.monotonic
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # One JSON object per line on stdout: {"ts","level","component","msg",...}.
  # Fields are the caller's structured values, never key material.
  class Log
    LEVELS = %w[debug info warn error].freeze

    def initialize(component, io: $stdout, level: ENV.fetch('LOG_LEVEL', 'info'))
      @component = component
      @io = io
      @threshold = LEVELS.index(level) || 1
    end

    def line(level, msg, **fields)
      return if LEVELS.index(level) < @threshold

      text = JSON.generate({ ts: Mtls.iso, level: level, component: @component, msg: msg, **fields.compact })
      @io.write("#{text}\n")
      @io.flush
    rescue IOError, SystemCallError
      nil # a closed stdout must not take the process down
    end

    LEVELS.each { |level| define_method(level) { |msg, **fields| line(level, msg, **fields) } }
  end

  # The contract's $STATS_FILE: one line of JSON, written to a temporary file
  # in the same directory and renamed, so a reader never sees half of it.
  class StatsFile
    def initialize(path, log)
      @path = path
      @log = log
    end

    def write(doc)
      tmp = "#{@path}.#{Process.pid}.tmp"
      File.write(tmp, "#{JSON.generate(doc.compact)}\n")
      File.rename(tmp, @path)
    rescue SystemCallError => e
      @log.warn('cannot write the stats file', error: e.message)
    end
  end

  class ConfigError < StandardError
    attr_reader :variable

    def initialize(variable, message)
      super(message)
      @variable = variable
    end
  end

  # The environment, checked: a bad value raises ConfigError naming the variable.
  module Env
    DNS = /\A[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\z/
    IPV4 = /\A\d{1,3}(\.\d{1,3}){3}\z/

    def self.string(name, default = nil)
      value = ENV.fetch(name, '').strip
      return value unless value.empty?
      raise ConfigError.new(name, "#{name} is required") if default.nil?

      default
    end

    # Decimal digits only, within [min, max]: "1.5", "-1" and "soon" are refused.
    def self.integer(name, default, min, max, what)
      raw = string(name, default.to_s)
      raise ConfigError.new(name, "#{name} must be #{what} (#{min}-#{max}), got #{raw.inspect}") unless raw.match?(/\A\d{1,9}\z/) && raw.to_i.between?(min, max)

      raw.to_i
    end

    def self.host(name)
      value = string(name)
      raise ConfigError.new(name, "#{name} must be a DNS name or an IPv4 address, got #{value.inspect}") unless value.match?(DNS) || value.match?(IPV4)

      value
    end
  end

  # SIGTERM and SIGINT set the flag and wake any nap at once (a self-pipe:
  # the trap handler only writes one byte).
  class Stopper
    attr_reader :signal

    def initialize
      @reader, @writer = IO.pipe
      @signal = nil
      %w[TERM INT].each do |name|
        Signal.trap(name) do
          @signal ||= name
          @writer.write_nonblock('.', exception: false)
        end
      end
    end

    def stopped?
      !@signal.nil?
    end

    # Sleeps `seconds` unless a signal comes first.
    def nap(seconds)
      IO.select([@reader], nil, nil, seconds) if seconds.positive? && !stopped?
    end
  end
end
