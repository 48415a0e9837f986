<?php
// The files curl is given, looked at before every call. curl reads them on
// every call (CURLOPT_CAINFO, CURLOPT_SSLCERT, CURLOPT_SSLKEY): that is the
// reload. But it is never given the renewer's volume:
//   - trust: when root.crt or the pin file changes, recipes/lib/mtls-trust
//     (the "Trust file" contract, recipes/README.md) checks root.crt and
//     writes the private trust file; a refused root.crt leaves it as it was;
//   - pair: when site.crt or site.key changes, both are read once, checked
//     (the key matches the leaf; the chain verifies against the trust file
//     for TLS client use) and copied into a private directory, key then
//     certificate, before the next call. The renewer renames the key first
//     and the certificate second, so for a moment the two do not match: the
//     last good pair stays in use, and a pair still refused after SETTLE_S
//     with unchanged files counts as a failed reload.
declare(strict_types=1);

namespace Mtls;

final class Credentials
{
    private const SETTLE_S = 3.0;
    private const MAX_FILE_BYTES = 1 << 20;

    public int $reloads = 0;
    public int $failedReloads = 0;
    public ?string $serial = null;
    public ?int $notAfter = null;
    public ?string $lastReloadAt = null;
    public ?string $lastError = null;
    public float $lastErrorAt = 0.0;
    public readonly string $trustFile;
    public readonly string $certFile;
    public readonly string $keyFile;
    private string $root;
    private string $crt;
    private string $key;
    private ?string $trustKey = null;
    private ?string $refusedTrustKey = null;
    private ?string $pairKey = null;
    private ?array $pending = null;

    public function __construct(string $certDir, private string $pinFile, private string $runDir, private Log $log)
    {
        [$this->root, $this->crt, $this->key] = array_map(fn ($f) => "$certDir/$f", ['root.crt', 'site.crt', 'site.key']);
        $this->trustFile = "$runDir/trust/root.crt";
        $this->certFile = "$runDir/pair/site.crt";
        $this->keyFile = "$runDir/pair/site.key";
        @mkdir("$runDir/pair", 0700);
    }

    public function ready(): bool
    {
        return $this->serial !== null && is_file($this->trustFile);
    }

    /** One look at the files: a few stat calls when nothing changed. */
    public function refresh(?float $now = null): void
    {
        $this->refreshTrust();
        $this->refreshPair($now ?? monotonic());
    }

    /** What identifies a file's content without reading it: the renewer's rename changes the inode. */
    private static function signature(string $path, bool $link = false): ?string
    {
        clearstatcache(true, $path);
        $st = $link ? @lstat($path) : @stat($path);
        return $st === false ? null : implode(':', [$st['mode'], $st['ino'], $st['mtime'], $st['ctime'], $st['size']]);
    }

    private function refreshTrust(): void
    {
        $root = self::signature($this->root, true);
        $pin = self::signature($this->pinFile);
        $key = "$root|$pin";
        if ($key === $this->trustKey || $key === $this->refusedTrustKey || $root === null || $pin === null) {
            return; // unchanged, refused already, or absent (waiting for it; the trust kept)
        }
        $proc = proc_open(['mtls-trust', $this->root, $this->pinFile, $this->trustFile], [1 => ['file', '/dev/null', 'w'], 2 => ['pipe', 'w']], $pipes);
        $problem = $proc === false ? 'cannot run mtls-trust' : trim(explode("\n", (string) stream_get_contents($pipes[2]))[0]);
        $status = $proc === false ? 2 : proc_close($proc);
        if ($status === 0) {
            if ($this->trustKey !== null) {
                $this->log->info('trust file rebuilt from root.crt');
            }
            [$this->trustKey, $this->refusedTrustKey] = [$key, null];
            return;
        }
        $problem = $problem !== '' ? $problem : "mtls-trust exit $status";
        $this->refusedTrustKey = $key;
        $this->failedReloads++;
        $this->noteError("root.crt refused: $problem");
        $this->log->warn("root.crt refused: $problem", [
            'reason' => preg_match('/\A[a-z_]+/', $problem, $m) ? $m[0] : null,
            'trust' => $this->trustKey !== null ? 'keeping the roots checked last' : 'no trust file yet',
            'failedReloads' => $this->failedReloads,
        ]);
    }

    private function refreshPair(float $now): void
    {
        $key = self::signature($this->crt) . '|' . self::signature($this->key);
        if ($key === $this->pairKey || ($this->pending !== null && $this->pending['key'] === $key && $this->pending['refused'])) {
            return;
        }
        try {
            $this->swap($this->loadPair(), $key);
        } catch (Refused $e) {
            $this->pairRefused($e, $key, $now);
        }
    }

    /** @return array{crt: string, key: string, serial: string, notAfter: int} */
    private function loadPair(): array
    {
        if (!is_file($this->crt) || !is_file($this->key)) {
            throw new Refused('waiting for site.crt and site.key', true);
        }
        if ($this->trustKey === null) {
            throw new Refused('waiting for the trusted roots', true);
        }
        $crt = (string) @file_get_contents($this->crt, false, null, 0, self::MAX_FILE_BYTES);
        $key = (string) @file_get_contents($this->key, false, null, 0, self::MAX_FILE_BYTES);
        $leaf = preg_match('/-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----/s', $crt, $m) ? @openssl_x509_read($m[0]) : false;
        if ($leaf === false) {
            throw new Refused('site.crt holds no readable certificate');
        }
        $private = @openssl_pkey_get_private($key);
        if ($private === false || !openssl_x509_check_private_key($leaf, $private)) {
            throw new Refused('site.key does not match site.crt');
        }
        // The candidate pair, checked where curl will read it: the chain in site.crt must lead to a trusted root.
        $this->writePrivate("$this->runDir/pair/.candidate.crt", $crt);
        if (openssl_x509_checkpurpose($leaf, X509_PURPOSE_SSL_CLIENT, [$this->trustFile], "$this->runDir/pair/.candidate.crt") !== true) {
            throw new Refused('site.crt does not verify against the trusted roots for TLS client use');
        }
        $info = openssl_x509_parse($leaf);
        $serial = ltrim(strtoupper((string) ($info['serialNumberHex'] ?? '')), '0');
        return ['crt' => $crt, 'key' => $key, 'serial' => $serial === '' ? '0' : $serial, 'notAfter' => (int) ($info['validTo_time_t'] ?? 0)];
    }

    private function writePrivate(string $path, string $content): void
    {
        $tmp = "$path.tmp";
        if (@file_put_contents($tmp, '') === false || !chmod($tmp, 0600) || @file_put_contents($tmp, $content) === false || !@rename($tmp, $path)) {
            throw new Refused("cannot write $path");
        }
    }

    private function swap(array $pair, string $key): void
    {
        // Key first, then certificate: curl runs in this process only after both are in place.
        $this->writePrivate($this->keyFile, $pair['key']);
        $this->writePrivate($this->certFile, $pair['crt']);
        $initial = $this->serial === null;
        [$this->serial, $this->notAfter, $this->pairKey, $this->pending] = [$pair['serial'], $pair['notAfter'], $key, null];
        $this->lastReloadAt = iso();
        if (!$initial) {
            $this->reloads++;
        }
        $this->log->info($initial ? 'credentials loaded' : 'reloaded', ['serial' => $this->serial, 'notAfter' => iso($this->notAfter), 'reloads' => $this->reloads]);
    }

    private function pairRefused(Refused $e, string $key, float $now): void
    {
        if ($e->waiting && $this->serial === null) {
            return; // before enrollment: the normal state
        }
        if ($this->pending === null || $this->pending['key'] !== $key) {
            $this->pending = ['key' => $key, 'first' => $now, 'refused' => false];
        }
        if ($now - $this->pending['first'] < self::SETTLE_S) {
            return; // most likely the key-then-certificate window: look again at the next call
        }
        $this->pending['refused'] = true;
        $this->failedReloads++;
        $this->noteError($e->getMessage());
        $this->log->warn($this->serial !== null ? 'reload refused, keeping the current credentials' : 'credentials refused, still waiting', [
            'reason' => $e->getMessage(), 'serial' => $this->serial, 'failedReloads' => $this->failedReloads,
        ]);
    }

    private function noteError(string $message): void
    {
        [$this->lastError, $this->lastErrorAt] = [$message, monotonic()];
    }
}

final class Refused extends \Exception
{
    public function __construct(string $message, public readonly bool $waiting = false)
    {
        parent::__construct($message);
    }
}
