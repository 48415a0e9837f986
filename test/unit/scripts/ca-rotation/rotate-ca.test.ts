// rotate-ca: its command line, the docker run it builds for the job that
// holds the root key, the job script itself (run by bash against a fake
// `step` that records every argv), and the check on a new intermediate.
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { parseRotateCli } from '../../../../scripts/lib/ca-rotation/cli.js';
import { commonName, intermediateProblem, rfc3339 } from '../../../../scripts/lib/ca-rotation/intermediate.js';
import { intermediateJobArgs, ROTATE_INTERMEDIATE_SCRIPT } from '../../../../scripts/lib/ca-rotation/intermediate-job.js';
import { UserError } from '../../../../scripts/lib/cli/ui.js';
import { createIntermediateCa, createPki, createRootCa, makeTempDir } from '../../../helpers/pki.js';

const run = promisify(execFile);

function userErrorOf(f: () => unknown): UserError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return err as UserError;
  }
  throw new Error('expected a UserError, nothing was thrown');
}

describe('parseRotateCli', () => {
  beforeEach(() => vi.stubEnv('MTLS_PREFIX', undefined));
  afterEach(() => vi.unstubAllEnvs());

  it('takes the intermediate subcommand with the common flags', () => {
    expect(parseRotateCli(['intermediate'])).toEqual({ command: 'intermediate', prefix: 'mtls', json: false, help: false });
    expect(parseRotateCli(['intermediate', '--json', '--prefix', 'blue'])).toEqual({ command: 'intermediate', prefix: 'blue', json: true, help: false });
  });

  it('shows help without a subcommand when asked', () => {
    expect(parseRotateCli(['--help'])).toEqual({ prefix: 'mtls', json: false, help: true });
  });

  it('takes the root phases', () => {
    for (const phase of ['prepare', 'activate', 'retire']) {
      expect(parseRotateCli(['root', phase, '--prefix', 'blue'])).toEqual({ command: `root-${phase}`, prefix: 'blue', json: false, help: false });
    }
  });

  it('refuses a missing or unknown subcommand or phase, extra words and unknown flags', () => {
    expect(userErrorOf(() => parseRotateCli([])).message).toMatch(/^name what to rotate\.[\s\S]*Usage: npm run rotate-ca/);
    expect(userErrorOf(() => parseRotateCli(['intermedaite'])).message).toMatch(
      /^unknown subcommand "intermedaite": use "intermediate" or "root prepare\|activate\|retire"/,
    );
    for (const phase of ['prepare', 'activate', 'retire']) {
      expect(userErrorOf(() => parseRotateCli([phase])).message).toBe(`did you mean: npm run rotate-ca -- root ${phase}`);
    }
    expect(userErrorOf(() => parseRotateCli(['root'])).message).toMatch(/^rotate-ca root needs a phase: prepare, activate or retire\n/);
    expect(userErrorOf(() => parseRotateCli(['root', 'retrie'])).message).toMatch(/^rotate-ca root needs a phase: prepare, activate or retire, got "retrie"/);
    expect(userErrorOf(() => parseRotateCli(['root', 'retire', 'now'])).message).toBe('rotate-ca root retire takes no more arguments, got: now');
    expect(userErrorOf(() => parseRotateCli(['intermediate', 'now'])).message).toMatch(/^rotate-ca intermediate takes no arguments, got: now/);
    expect(userErrorOf(() => parseRotateCli(['intermediate', '--force'])).message).toMatch(/Unknown option '--force'/);
    expect(userErrorOf(() => parseRotateCli(['intermediate', '--prefix', '../x'])).message).toMatch(/prefix/);
  });
});

describe('intermediateJobArgs', () => {
  const job = {
    name: 'blue-ca-rotate',
    prefix: 'blue',
    image: 'sha256:abc',
    caVolume: 'blue-ca',
    rootKeyVolume: 'blue-ca-root-key',
    subject: 'Blue Intermediate CA',
    notAfter: '2036-01-02T03:04:05Z',
  };

  it('runs with no network, no capabilities, read-only, as the CA user, the root key read-only', () => {
    const { flags, image, args } = intermediateJobArgs(job);
    const pairs = new Map<string, string[]>();
    for (let i = 0; i < flags.length - 1; i++) if (flags[i]!.startsWith('-')) pairs.set(flags[i]!, [...(pairs.get(flags[i]!) ?? []), flags[i + 1]!]);
    expect(pairs.get('--network')).toEqual(['none']);
    expect(pairs.get('--cap-drop')).toEqual(['ALL']);
    expect(pairs.get('--security-opt')).toEqual(['no-new-privileges:true']);
    expect(pairs.get('--user')).toEqual(['1000:1000']);
    expect(flags).toContain('--read-only');
    expect(pairs.get('-v')).toEqual(['blue-ca:/home/step', 'blue-ca-root-key:/var/lib/step-ca-root:ro']);
    expect(pairs.get('--label')).toContain('io.mtls-reference.prefix=blue');
    expect(image).toBe('sha256:abc');
    expect(args).toEqual(['-s', '--', '/var/lib/step-ca-root', 'Blue Intermediate CA', '2036-01-02T03:04:05Z']);
  });

  it('passes no secret into argv or environment: only STEPPATH, and the script uses password files', () => {
    const { flags } = intermediateJobArgs(job);
    const envs = flags.filter((_, i) => flags[i - 1] === '--env' || flags[i - 1] === '-e');
    expect(envs).toEqual(['STEPPATH=/home/step']);
    expect(ROTATE_INTERMEDIATE_SCRIPT).not.toMatch(/STEP_PASSWORD|--password[ =]|--ca-password[ =]|cat "\$pw"|echo "\$\(cat/);
  });

  it('refuses a not-after step would misread', () => {
    expect(() => intermediateJobArgs({ ...job, notAfter: '2036-01-02T03:04:05.000Z' })).toThrow(/RFC 3339/);
    expect(() => intermediateJobArgs({ ...job, notAfter: '87600h' })).toThrow(/RFC 3339/);
  });
});

/**
 * The job script under bash with a fake `step` first on PATH. The fake
 * records each argv (one line) and makes "pairs" whose public half is the
 * content of the file, so the script's pair checks work unchanged.
 */
const FAKE_STEP = `#!/bin/bash
printf '%s\\n' "$*" >>"$ARGV_LOG"
case "$1 $2" in
  "certificate key") cat "$3" ;;
  "crypto key") cat "$4" ;;
  "certificate create") [ -n "$FAIL_CREATE" ] && { echo "boom" >&2; exit 1; }; id="pair-$RANDOM$RANDOM"; echo "$id" >"$4"; echo "$id" >"$5" ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
`;
const PASSWORD = 'Sup3rSecretPasswordFromTheVolume0123456789';
const ROOT_KEY = 'ROOT-KEY-MATERIAL-never-in-argv';

describe('the rotation job script', () => {
  let dir: { path: string; remove(): Promise<void> };
  let steppath: string;
  let rootDir: string;
  let argvLog: string;

  beforeEach(async () => {
    dir = await makeTempDir('rotate-job-');
    steppath = path.join(dir.path, 'step');
    rootDir = path.join(dir.path, 'root');
    argvLog = path.join(dir.path, 'argv.log');
    await mkdir(path.join(steppath, 'certs'), { recursive: true });
    await mkdir(path.join(steppath, 'secrets'), { recursive: true });
    await mkdir(rootDir);
    await mkdir(path.join(dir.path, 'bin'));
    await writeFile(path.join(dir.path, 'bin', 'step'), FAKE_STEP);
    await chmod(path.join(dir.path, 'bin', 'step'), 0o755);
    await writeFile(path.join(steppath, 'secrets', 'password'), PASSWORD);
    await writeFile(path.join(steppath, 'certs', 'root_ca.crt'), 'ROOT-CERT\n');
    await writeFile(path.join(rootDir, 'root_ca.crt'), 'ROOT-CERT\n');
    await writeFile(path.join(rootDir, 'root_ca_key'), ROOT_KEY);
    await writeFile(path.join(steppath, 'certs', 'intermediate_ca.crt'), 'pair-old\n');
    await writeFile(path.join(steppath, 'secrets', 'intermediate_ca_key'), 'pair-old\n');
  });
  afterEach(() => dir.remove());

  const file = (rel: string) => readFile(path.join(steppath, rel), 'utf8');
  async function job(env: Record<string, string> = {}) {
    const child = execFile('bash', ['-s', '--', rootDir, 'Test Intermediate CA', '2036-01-02T03:04:05Z'], {
      env: { PATH: `${path.join(dir.path, 'bin')}:${process.env.PATH}`, STEPPATH: steppath, ARGV_LOG: argvLog, ...env },
    });
    child.stdin!.end(ROTATE_INTERMEDIATE_SCRIPT);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    return { code, stdout, stderr };
  }

  it('makes, backs up and installs a new pair; no password or key in any step argv', async () => {
    const out = await job();
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/did: made a new intermediate[\s\S]*did: installed it/);
    const crt = await file('certs/intermediate_ca.crt');
    expect(crt).toMatch(/^pair-\d+\n$/);
    expect(await file('secrets/intermediate_ca_key')).toBe(crt);
    expect(await file('certs/intermediate_ca.crt.previous')).toBe('pair-old\n');
    expect(await file('secrets/intermediate_ca_key.previous')).toBe('pair-old\n');
    expect((await readdir(path.join(steppath, 'certs'))).sort()).toEqual(['intermediate_ca.crt', 'intermediate_ca.crt.previous', 'root_ca.crt']);
    const argv = await readFile(argvLog, 'utf8');
    expect(argv).toContain(`certificate create Test Intermediate CA ${steppath}/certs/intermediate_ca.crt.tmp`);
    expect(argv).toContain(
      `--ca-key ${rootDir}/root_ca_key --ca-password-file ${steppath}/secrets/password --password-file ${steppath}/secrets/password --not-after 2036-01-02T03:04:05Z`,
    );
    expect(argv).not.toContain(PASSWORD);
    expect(argv).not.toContain(ROOT_KEY);
    expect(out.stdout + out.stderr).not.toContain(PASSWORD);
  });

  it('finishes a run stopped between its two renames instead of making another intermediate', async () => {
    await writeFile(path.join(steppath, 'secrets', 'intermediate_ca_key'), 'pair-new\n');
    await writeFile(path.join(steppath, 'certs', 'intermediate_ca.crt.new'), 'pair-new\n');
    const out = await job();
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.trim()).toBe('did: finished the install of a stopped run (its certificate renamed into place)');
    expect(await file('certs/intermediate_ca.crt')).toBe('pair-new\n');
    expect(await readFile(argvLog, 'utf8')).not.toContain('certificate create');
  });

  it('reuses a complete pending pair, and discards an incomplete one', async () => {
    await writeFile(path.join(steppath, 'certs', 'intermediate_ca.crt.new'), 'pair-pending\n');
    await writeFile(path.join(steppath, 'secrets', 'intermediate_ca_key.new'), 'pair-pending\n');
    const reused = await job();
    expect(reused.code, reused.stderr).toBe(0);
    expect(reused.stdout).toContain('did: reused the new intermediate a stopped run had made');
    expect(await file('certs/intermediate_ca.crt')).toBe('pair-pending\n');

    await writeFile(path.join(steppath, 'certs', 'intermediate_ca.crt.new'), 'pair-half\n');
    const fresh = await job();
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout).toContain('did: made a new intermediate');
    expect(await file('certs/intermediate_ca.crt')).not.toMatch(/pair-(half|pending)/);
    expect(await file('certs/intermediate_ca.crt.previous')).toBe('pair-pending\n');
  });

  it('refuses, changing nothing, without the root key, with a foreign root, or when step fails', async () => {
    await writeFile(path.join(rootDir, 'root_ca.crt'), 'OTHER-ROOT\n');
    const foreign = await job();
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/is not the CA's root .*refusing to sign with it/);

    await writeFile(path.join(rootDir, 'root_ca.crt'), 'ROOT-CERT\n');
    const failed = await job({ FAIL_CREATE: '1' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('step certificate create failed: boom');
    expect(await file('certs/intermediate_ca.crt')).toBe('pair-old\n');
    expect(await readdir(path.join(steppath, 'certs'))).not.toContain('intermediate_ca.crt.tmp');

    await run('rm', [path.join(rootDir, 'root_ca_key')]);
    const noKey = await job();
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/no root key in the root-key volume/);
    expect(await file('certs/intermediate_ca.crt')).toBe('pair-old\n');
  });
});

describe('intermediateProblem', () => {
  it('accepts an intermediate signed by the root, and says why another cannot serve', async () => {
    const pki = await createPki('Rot');
    expect(intermediateProblem(pki.intermediate.certPem, pki.root.certPem)).toBeUndefined();
    const otherRoot = await createRootCa('Other Root CA');
    expect(intermediateProblem(pki.intermediate.certPem, otherRoot.certPem)).toBe('it is not signed by the root');
    const foreign = await createIntermediateCa(otherRoot, 'Foreign Intermediate CA');
    expect(intermediateProblem(foreign.certPem, pki.root.certPem)).toBe('it is not signed by the root');
    expect(intermediateProblem(pki.intermediate.certPem, pki.root.certPem, new Date(Date.now() + 400 * 86_400_000))).toMatch(/^it is not valid now/);
    expect(intermediateProblem('garbage', pki.root.certPem)).toMatch(/^unparseable certificate/);
  });

  it('helpers: the common name of a subject and RFC 3339 without fractions', () => {
    expect(commonName('O=mTLS Reference CA\nCN=mTLS Reference CA Intermediate CA')).toBe('mTLS Reference CA Intermediate CA');
    expect(commonName('O=x')).toBeUndefined();
    expect(rfc3339(new Date('2036-11-25T02:27:09.123Z'))).toBe('2036-11-25T02:27:09Z');
  });
});
