<?php
// What the PHP client needs besides TLS: JSON log lines, the contract's stats
// file (rewritten atomically), configuration from the environment, and the
// stop signals. Extensions: json (always built in), pcntl (the Dockerfile
// makes sure of it).
declare(strict_types=1);

namespace Mtls;

function iso(?float $epoch = null): string
{
    $t = $epoch ?? microtime(true);
    return gmdate('Y-m-d\TH:i:s', (int) floor($t)) . sprintf('.%03dZ', (int) (($t - floor($t)) * 1000));
}

function monotonic(): float
{
    return hrtime(true) / 1e9;
}

const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE;

/** One JSON object per line on stdout: {"ts","level","component","msg",...}; never key material. */
final class Log
{
    private const LEVELS = ['debug' => 0, 'info' => 1, 'warn' => 2, 'error' => 3];
    private int $threshold;

    public function __construct(private string $component)
    {
        $this->threshold = self::LEVELS[getenv('LOG_LEVEL') ?: 'info'] ?? 1;
    }

    public function line(string $level, string $msg, array $fields = []): void
    {
        if (self::LEVELS[$level] < $this->threshold) {
            return;
        }
        $doc = ['ts' => iso(), 'level' => $level, 'component' => $this->component, 'msg' => $msg] + array_filter($fields, fn ($v) => $v !== null);
        @fwrite(STDOUT, json_encode($doc, JSON_FLAGS) . "\n");
    }

    public function info(string $msg, array $fields = []): void { $this->line('info', $msg, $fields); }
    public function warn(string $msg, array $fields = []): void { $this->line('warn', $msg, $fields); }
    public function error(string $msg, array $fields = []): void { $this->line('error', $msg, $fields); }
}

/** Writes the stats document to a temporary file beside $path, then renames it. */
function write_stats(string $path, array $doc, Log $log): void
{
    $tmp = $path . '.' . getmypid() . '.tmp';
    $text = json_encode(array_filter($doc, fn ($v) => $v !== null), JSON_FLAGS) . "\n";
    if (@file_put_contents($tmp, $text) === false || !@rename($tmp, $path)) {
        $log->warn('cannot write the stats file', ['path' => $path]);
    }
}

final class ConfigError extends \Exception
{
    public function __construct(public readonly string $variable, string $message)
    {
        parent::__construct($message);
    }
}

/** The environment, checked: a bad value throws ConfigError naming the variable. */
final class Env
{
    private const DNS = '/\A[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\z/';
    private const IPV4 = '/\A\d{1,3}(\.\d{1,3}){3}\z/';

    public static function string(string $name, ?string $default = null): string
    {
        $value = trim((string) getenv($name));
        if ($value !== '') {
            return $value;
        }
        if ($default === null) {
            throw new ConfigError($name, "$name is required");
        }
        return $default;
    }

    /** Decimal digits only, within [min, max]: "1.5", "-1" and "soon" are refused. */
    public static function integer(string $name, int $default, int $min, int $max, string $what): int
    {
        $raw = self::string($name, (string) $default);
        if (!preg_match('/\A\d{1,9}\z/', $raw) || (int) $raw < $min || (int) $raw > $max) {
            throw new ConfigError($name, "$name must be $what ($min-$max), got \"$raw\"");
        }
        return (int) $raw;
    }

    public static function host(string $name): string
    {
        $value = self::string($name);
        if (!preg_match(self::DNS, $value) && !preg_match(self::IPV4, $value)) {
            throw new ConfigError($name, "$name must be a DNS name or an IPv4 address, got \"$value\"");
        }
        return $value;
    }

    public static function dns(string $name, string $why): string
    {
        $value = self::string($name);
        if (!preg_match(self::DNS, $value)) {
            throw new ConfigError($name, "$name must be a DNS name: $why");
        }
        return $value;
    }
}

/**
 * SIGTERM and SIGINT are blocked and waited for: nap() is a sleep that a
 * signal ends at once, and a signal during a call waits (pending) until the
 * call is over. No handler runs in the middle of anything.
 */
final class Stopper
{
    private const SIGNALS = [SIGTERM => 'TERM', SIGINT => 'INT'];
    public ?string $signal = null;

    public function __construct()
    {
        pcntl_sigprocmask(SIG_BLOCK, array_keys(self::SIGNALS));
    }

    public function stopped(): bool
    {
        return $this->signal !== null || $this->nap(0.0);
    }

    /** Sleeps $seconds unless a signal comes first; true when one came. */
    public function nap(float $seconds): bool
    {
        if ($this->signal !== null) {
            return true;
        }
        $s = max(0.0, $seconds);
        $got = pcntl_sigtimedwait(array_keys(self::SIGNALS), $info, (int) floor($s), (int) (($s - floor($s)) * 1e9));
        if (is_int($got) && $got > 0) {
            $this->signal = self::SIGNALS[$got] ?? (string) $got;
        }
        return $this->signal !== null;
    }
}
