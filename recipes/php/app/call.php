<?php
// One call of the client: a new curl handle (no connection or TLS session
// kept from the last call), which reads the private trust file and the
// private copy of the pair (credentials.php) as it connects. curl verifies
// the chain against that trust file only (CURLOPT_CAPATH is an empty
// directory: Debian's libcurl would otherwise add /etc/ssl/certs) and the
// server's DNS SAN against the URL's name, EXPECTED_SERVER_IDENTITY.
//
// Retries (recipes/README.md, "Start-up"): until the first success a server
// that cannot be reached is still starting (0.2 s doubling to 2 s, within
// the start-up budget); afterwards a refused connection fails the call at
// once, other errors get up to 3 short retries within about 3 s.
declare(strict_types=1);

namespace Mtls;

final class Caller
{
    private const RETRY_DELAYS_S = [0.25, 0.5, 1.0];
    private const RETRY_BUDGET_S = 3.0;
    private const STARTUP_DELAY_S = 0.2;
    private const STARTUP_MAX_DELAY_S = 2.0;
    private const MAX_BODY_BYTES = 64 * 1024;

    public int $ok = 0;
    public int $failed = 0;
    public int $retries = 0;
    public int $startupRetries = 0;
    public int $consecutive = 0;
    public ?string $lastError = null;
    public float $lastErrorAt = 0.0;
    public ?string $lastOkAt = null;
    private bool $succeeded = false;
    private ?string $lastReason = null;
    private string $url;
    private array $connectTo = [];

    /** @param \Closure(): void $onWait rewrites the stats while a call waits to retry */
    public function __construct(private array $cfg, private Credentials $credentials, private Stopper $stopper, private Log $log, private \Closure $onWait)
    {
        $this->url = "https://{$cfg['expected']}:{$cfg['port']}/";
        if ($cfg['host'] !== $cfg['expected']) {
            // curl checks the name in the URL; it connects to the target instead (curl's --connect-to).
            $this->connectTo = ["{$cfg['expected']}:{$cfg['port']}:{$cfg['host']}:{$cfg['port']}"];
        }
        @mkdir("{$cfg['run_dir']}/no-ca-dir", 0700);
    }

    /** One call with its retries; true on success. */
    public function call(): bool
    {
        $started = monotonic();
        $retries = $startup = 0;
        while (true) {
            [$errno, $reason] = $this->callOnce();
            if ($errno === 0 && $reason === null) {
                return $this->succeeded();
            }
            $retry = $this->nextRetry($errno, $reason, $retries, $startup, monotonic() - $started);
            if ($retry === null || $this->stopper->stopped()) {
                return $this->failed($reason, $retries + $startup + 1);
            }
            [$delay, $isStartup] = $retry;
            if ($isStartup) {
                if ($this->startupRetries === 0) {
                    $this->log->info('server not answering yet; retrying (start-up)', ['reason' => $reason]);
                }
                $startup++;
                $this->startupRetries++;
            } else {
                $retries++;
                $this->retries++;
            }
            ($this->onWait)();
            $this->stopper->nap($delay);
            $this->credentials->refresh(); // a reload meanwhile is used by the retry
        }
    }

    /** @return array{int, ?string} curl's error number (0: none) and the reason the call failed (null: it succeeded) */
    private function callOnce(): array
    {
        $c = $this->credentials;
        $size = 0;
        $ch = curl_init($this->url);
        curl_setopt_array($ch, [
            CURLOPT_PROTOCOLS => CURLPROTO_HTTPS,
            CURLOPT_SSLVERSION => CURL_SSLVERSION_TLSv1_2, // the minimum
            CURLOPT_SSL_VERIFYPEER => true,
            CURLOPT_SSL_VERIFYHOST => 2,
            CURLOPT_CAINFO => $c->trustFile,
            CURLOPT_CAPATH => "{$this->cfg['run_dir']}/no-ca-dir",
            CURLOPT_SSLCERT => $c->certFile,
            CURLOPT_SSLKEY => $c->keyFile,
            CURLOPT_CONNECT_TO => $this->connectTo,
            CURLOPT_NOPROXY => '*',
            CURLOPT_FRESH_CONNECT => true,
            CURLOPT_FORBID_REUSE => true,
            CURLOPT_CONNECTTIMEOUT_MS => 3000,
            CURLOPT_TIMEOUT_MS => 5000,
            CURLOPT_HTTPHEADER => ['Accept: application/json'],
            CURLOPT_WRITEFUNCTION => function ($ch, string $chunk) use (&$size): int {
                $size += strlen($chunk);
                return $size <= self::MAX_BODY_BYTES ? strlen($chunk) : 0; // 0 aborts the transfer
            },
        ]);
        curl_exec($ch);
        $errno = curl_errno($ch);
        $status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        $reason = $errno !== 0 ? "curl error $errno: " . curl_error($ch) : ($status === 200 ? null : "http $status");
        return [$errno, $reason];
    }

    /** What curl met did not reach the server at all: name not resolvable, refused, no connection in time, reset. */
    private static function unreachable(int $errno, string $reason): bool
    {
        return match ($errno) {
            CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT => true,
            CURLE_OPERATION_TIMEDOUT => (bool) preg_match('/Connection timed out|Resolving timed out|Failed to connect/', $reason),
            CURLE_SSL_CONNECT_ERROR, CURLE_RECV_ERROR => str_contains($reason, 'Connection reset by peer'),
            default => false,
        };
    }

    private function nextRetry(int $errno, string $reason, int $retries, int $startup, float $elapsed): ?array
    {
        if (!$this->succeeded && self::unreachable($errno, $reason)) {
            $delay = min(self::STARTUP_DELAY_S * 2 ** $startup, self::STARTUP_MAX_DELAY_S);
            return $elapsed + $delay <= $this->cfg['startup_budget'] ? [$delay, true] : null;
        }
        // A refused connection once a call has succeeded means the server is down; 4xx is an answer.
        if ($errno === CURLE_COULDNT_CONNECT || preg_match('/\Ahttp [1-4]/', $reason) || $retries >= count(self::RETRY_DELAYS_S)) {
            return null;
        }
        $delay = self::RETRY_DELAYS_S[$retries];
        return $elapsed + $delay <= self::RETRY_BUDGET_S ? [$delay, false] : null;
    }

    private function succeeded(): bool
    {
        $this->ok++;
        $this->lastOkAt = iso();
        if (!$this->succeeded) {
            $this->log->info('calling', ['url' => $this->url, 'serial' => $this->credentials->serial, 'startupRetries' => $this->startupRetries]);
        } elseif ($this->consecutive > 0) {
            $this->log->info('calling again', ['afterFailedCalls' => $this->consecutive]);
        }
        [$this->succeeded, $this->consecutive, $this->lastReason] = [true, 0, null];
        return true;
    }

    private function failed(string $reason, int $attempts): bool
    {
        $this->failed++;
        $this->consecutive++;
        [$this->lastError, $this->lastErrorAt] = [$reason, monotonic()];
        if ($reason !== $this->lastReason) {
            $this->log->warn('call failed', ['reason' => $reason, 'attempts' => $attempts, 'consecutiveFailures' => $this->consecutive]);
        }
        $this->lastReason = $reason;
        return false;
    }
}
