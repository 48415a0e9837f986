/**
 * Tools the scripts and tests run on the host besides Docker: openssl
 * (status and check-rotation read the certificate each server presents, as
 * an operator would with s_client), psql (the e2e suite calls PostgreSQL from
 * the host; issue-cert prints psql lines; the psql recipe's unit test), curl
 * and python3 with requests (the curl and Python recipes' unit tests run them
 * on the host),
 * busybox (the shell recipes' trust-file tool is tested under busybox sh, as
 * in the Alpine curl image), shellcheck and flake8 (the unit suite lints the
 * shell scripts and the Python recipe; Go's own gofmt and vet lint the Go
 * recipe), and the programs whose recipes' unit tests run them on the host
 * (haproxy, apache2, mariadbd and its client, ruby, redis-server and
 * redis-cli, php with its curl extension).
 * Installed from Debian's packages where this process may; elsewhere named
 * with the command that installs them.
 */
import { $ } from 'zx';

import { UserError } from '../cli/ui.js';
import type { CachePaths } from './cache.js';
import { aptInstall } from './docker-engine.js';

export const HOST_TOOLS = [
  { command: 'openssl', debianPackage: 'openssl' },
  { command: 'psql', debianPackage: 'postgresql-client', tests: true },
  { command: 'curl', debianPackage: 'curl', tests: true },
  // The requests client's tests import requests in the host's python3: the command alone is not enough.
  { command: 'python3', debianPackage: 'python3', alsoPackages: ['python3-requests'], probe: ['python3', '-c', 'import requests'], tests: true },
  { command: 'busybox', debianPackage: 'busybox', tests: true },
  { command: 'shellcheck', debianPackage: 'shellcheck', tests: true },
  { command: 'flake8', debianPackage: 'flake8', tests: true },
  { command: 'haproxy', debianPackage: 'haproxy', tests: true },
  { command: 'apache2', debianPackage: 'apache2-bin', tests: true },
  { command: 'mariadbd', debianPackage: 'mariadb-server', alsoPackages: ['mariadb-client'], tests: true },
  { command: 'ruby', debianPackage: 'ruby', tests: true },
  // The Redis recipe's test runs redis-server and redis-cli (gcc and libssl-dev build its module).
  { command: 'redis-server', debianPackage: 'redis-server', alsoPackages: ['redis-tools', 'gcc', 'libssl-dev'], tests: true },
  // php-curl has no command of its own: the PHP recipe's test needs the extension beside the CLI.
  { command: 'php', debianPackage: 'php-cli', alsoPackages: ['php-curl'], tests: true },
] as const;

const packagesOf = (t: HostTool): string[] => [t.debianPackage, ...('alsoPackages' in t ? t.alsoPackages : [])];
type HostTool = (typeof HOST_TOOLS)[number];

/** On PATH, and, where the command alone does not show it, able to do what the tests need. */
async function present(t: HostTool): Promise<boolean> {
  const quiet = $({ quiet: true, nothrow: true });
  if ((await quiet`command -v ${t.command}`).exitCode !== 0) return false;
  return !('probe' in t) || (await quiet`${t.probe}`).exitCode === 0;
}

async function missingTools(): Promise<(typeof HOST_TOOLS)[number][]> {
  const found = await Promise.all(HOST_TOOLS.map(async (t) => ((await present(t)) ? undefined : t)));
  return found.filter((t): t is (typeof HOST_TOOLS)[number] => t !== undefined);
}

/** `testTools`: also the programs only the tests run (marked `tests`); the scripts themselves need openssl alone. */
export async function ensureHostTools(
  paths: CachePaths,
  opts: { build: boolean; debian: boolean; testTools: boolean },
): Promise<{ missing: string[]; installed: string[] }> {
  const missing = (await missingTools()).filter((t) => opts.testTools || !('tests' in t));
  if (missing.length === 0) return { missing: [], installed: [] };
  const names = missing.map((t) => t.command);
  if (!opts.build) return { missing: names, installed: [] };
  if (!opts.debian || process.getuid?.() !== 0) {
    throw new UserError(
      `${names.join(' and ')} must be on PATH: install ${missing.flatMap(packagesOf).join(' ')} (e.g. sudo apt-get install ${missing.flatMap(packagesOf).join(' ')})`,
    );
  }
  await aptInstall(missing.flatMap(packagesOf), paths);
  return { missing: [], installed: names };
}
