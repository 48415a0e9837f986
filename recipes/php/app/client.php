#!/usr/bin/env php
<?php
// The PHP mTLS client (recipes/php/README.md): every REQUEST_INTERVAL_MS it
// calls https://EXPECTED_SERVER_IDENTITY:TARGET_PORT/ (connected to
// TARGET_HOST) with the curl extension, presenting the workload's
// certificate, trusting only the private trust file mtls-trust builds from
// root.crt, and checking the server's DNS name. It keeps $STATS_FILE, logs
// JSON lines and exits 0 on SIGTERM.
declare(strict_types=1);

namespace Mtls;

require __DIR__ . '/support.php';
require __DIR__ . '/credentials.php';
require __DIR__ . '/call.php';

const FAILING_AFTER = 3; // failed calls in a row before the state is "failing"
const STATS_EVERY_S = 5.0;

function config(): array
{
    $certDir = Env::string('CERT_DIR', '/var/run/step');
    if (str_contains($certDir, ':')) {
        throw new ConfigError('CERT_DIR', 'CERT_DIR must not contain ":"');
    }
    return [
        'cert_dir' => $certDir,
        'pin_file' => Env::string('ROOT_PIN_FILE'),
        'stats_file' => Env::string('STATS_FILE', '/tmp/mtls-stats.json'),
        'host' => Env::host('TARGET_HOST'),
        'port' => Env::integer('TARGET_PORT', 8443, 1, 65535, 'a port'),
        'expected' => Env::dns('EXPECTED_SERVER_IDENTITY', 'curl checks the DNS SAN and cannot check a URI SAN'),
        'interval_s' => Env::integer('REQUEST_INTERVAL_MS', 500, 10, 3600000, 'a number of milliseconds') / 1000,
        'startup_budget' => Env::integer('STARTUP_RETRY_BUDGET_MS', 30000, 0, 86400000, 'a number of milliseconds') / 1000,
    ];
}

final class Client
{
    private Stopper $stopper;
    private Credentials $credentials;
    private Caller $caller;

    public function __construct(private array $cfg, private Log $log)
    {
        $this->stopper = new Stopper();
        $this->credentials = new Credentials($cfg['cert_dir'], $cfg['pin_file'], $cfg['run_dir'], $log);
        $this->caller = new Caller($cfg, $this->credentials, $this->stopper, $log, fn () => $this->writeStats());
    }

    public function run(): void
    {
        $this->writeStats();
        $this->log->info('starting', ['target' => "{$this->cfg['host']}:{$this->cfg['port']}", 'expected' => $this->cfg['expected'], 'intervalMs' => (int) round($this->cfg['interval_s'] * 1000)]);
        while (!$this->stopper->stopped()) {
            $deadline = monotonic() + $this->cfg['interval_s'];
            try {
                $this->credentials->refresh();
                if ($this->credentials->ready()) {
                    $this->caller->call();
                }
            } catch (\Throwable $e) { // the loop must go on; the error is in the log
                $this->log->error('loop error', ['error' => get_class($e) . ': ' . $e->getMessage(), 'at' => $e->getFile() . ':' . $e->getLine()]);
            }
            $this->writeStats();
            // Naps until the next call, rewriting the stats at least every STATS_EVERY_S.
            while (($left = $deadline - monotonic()) > 0 && !$this->stopper->nap(min($left, STATS_EVERY_S))) {
                $this->writeStats();
            }
        }
        $this->log->info('stopping', ['signal' => $this->stopper->signal]);
        $this->writeStats();
    }

    /** @return array{string, ?string} the state and what makes it failing */
    private function state(): array
    {
        $c = $this->credentials;
        if (!$c->ready()) {
            return ['waiting', null];
        }
        if ($c->notAfter <= time()) {
            return ['failing', "certificate {$c->serial} expired at " . iso($c->notAfter)];
        }
        return [$this->caller->consecutive >= FAILING_AFTER ? 'failing' : 'calling', null];
    }

    private function writeStats(): void
    {
        $c = $this->credentials;
        $k = $this->caller;
        [$state, $problem] = $this->state();
        // lastError: the newer of a refused reload and a failed call.
        $lastError = $c->lastErrorAt >= $k->lastErrorAt ? ($c->lastError ?? $k->lastError) : $k->lastError;
        write_stats($this->cfg['stats_file'], [
            'technology' => 'php', 'role' => 'client', 'state' => $state,
            'serial' => $c->serial, 'notAfter' => $c->notAfter !== null ? iso($c->notAfter) : null,
            'reloads' => $c->reloads, 'failedReloads' => $c->failedReloads, 'lastReloadAt' => $c->lastReloadAt,
            'lastOkAt' => $k->lastOkAt, 'lastError' => $problem ?? $lastError,
            'requests' => ['ok' => $k->ok, 'failed' => $k->failed, 'retries' => $k->retries, 'startupRetries' => $k->startupRetries],
            'consecutiveFailures' => $k->consecutive, 'updatedAt' => iso(),
        ], $this->log);
    }
}

function remove_tree(string $dir): void
{
    foreach (glob("$dir/{,.}[!.]*", GLOB_BRACE) ?: [] as $path) {
        is_dir($path) && !is_link($path) ? remove_tree($path) : @unlink($path);
    }
    @rmdir($dir);
}

function main(): int
{
    $log = new Log('php-client');
    try {
        $cfg = config();
    } catch (ConfigError $e) {
        $log->error('bad configuration: ' . $e->getMessage(), ['variable' => $e->variable]);
        return 2;
    }
    // The private trust file and pair live here (0700, on the container's /tmp tmpfs).
    umask(077);
    $cfg['run_dir'] = sys_get_temp_dir() . '/mtls-php-' . bin2hex(random_bytes(6));
    if (!@mkdir($cfg['run_dir'], 0700)) {
        $log->error("cannot create {$cfg['run_dir']}");
        return 1;
    }
    try {
        (new Client($cfg, $log))->run();
    } finally {
        remove_tree($cfg['run_dir']);
    }
    return 0;
}

exit(main());
