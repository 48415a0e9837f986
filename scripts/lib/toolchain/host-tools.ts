/**
 * Tools the scripts and tests run on the host besides Docker: openssl
 * (status and check-rotation read the certificate each server presents, as
 * an operator would with s_client), psql (the e2e suite calls PostgreSQL from
 * the host; issue-cert prints psql lines; the psql recipe's unit test), curl
 * and python3 (the curl and Python recipes' unit tests run them on the host),
 * busybox (the shell recipes' trust-file tool is tested under busybox sh, as
 * in the Alpine curl image), shellcheck and flake8 (the unit suite lints the
 * shell scripts and the Python recipe; Go's own gofmt and vet lint the Go
 * recipe), and the programs whose recipes' unit tests run them on the host
 * (haproxy, apache2, mariadbd and its client, ruby, php with its curl extension).
 * Installed from Debian's packages where this process may; elsewhere named
 * with the command that installs them.
 */
import { $ } from 'zx';

import { UserError } from '../cli/ui.js';
import type { CachePaths } from './cache.js';
import { aptInstall } from './docker-engine.js';

export const HOST_TOOLS = [
  { command: 'openssl', debianPackage: 'openssl' },
  { command: 'psql', debianPackage: 'postgresql-client' },
  { command: 'curl', debianPackage: 'curl' },
  { command: 'python3', debianPackage: 'python3' },
  { command: 'busybox', debianPackage: 'busybox' },
  { command: 'shellcheck', debianPackage: 'shellcheck' },
  { command: 'flake8', debianPackage: 'flake8' },
  { command: 'haproxy', debianPackage: 'haproxy' },
  { command: 'apache2', debianPackage: 'apache2-bin' },
  { command: 'mariadbd', debianPackage: 'mariadb-server', alsoPackages: ['mariadb-client'] },
  { command: 'ruby', debianPackage: 'ruby' },
  // php-curl has no command of its own: the PHP recipe's test needs the extension beside the CLI.
  { command: 'php', debianPackage: 'php-cli', alsoPackages: ['php-curl'] },
] as const;

const packagesOf = (t: HostTool): string[] => [t.debianPackage, ...('alsoPackages' in t ? t.alsoPackages : [])];
type HostTool = (typeof HOST_TOOLS)[number];

async function missingTools(): Promise<(typeof HOST_TOOLS)[number][]> {
  const found = await Promise.all(
    HOST_TOOLS.map(async (t) => ((await $({ quiet: true, nothrow: true })`command -v ${t.command}`).exitCode === 0 ? undefined : t)),
  );
  return found.filter((t): t is (typeof HOST_TOOLS)[number] => t !== undefined);
}

export async function ensureHostTools(paths: CachePaths, opts: { build: boolean; debian: boolean }): Promise<{ missing: string[]; installed: string[] }> {
  const missing = await missingTools();
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
