import { createHash, X509Certificate } from 'node:crypto';
import path from 'node:path';

import { describe, expect, inject, it } from 'vitest';
import { $, fs } from 'zx';

import { projectDir } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { FILES, type Stack } from '../../scripts/lib/workloads/handles.js';
import type { WorkloadStatus } from '../../scripts/lib/workloads/status.js';
import { createRootCa } from '../helpers/pki.js';
import { useSharedStack } from './helpers/fixtures.js';

const ctx = inject('e2e');
const script = $({ cwd: projectDir, nothrow: true, quiet: true, env: { ...process.env, CI: 'true', FORCE_COLOR: '0' }, timeout: '60s' });

/** Everything bootstrap-trust may write: host files and each volume's root.crt, with mtimes. */
async function trustSnapshot(stack: Stack) {
  const hostFiles = ['config/defaults.json', 'certs/root_ca.crt'].map((f) => path.join(ctx.hostStepPath, f));
  const host = await Promise.all(hostFiles.map(async (f) => `${await fs.readFile(f, 'utf8')}@${(await fs.stat(f)).mtimeMs}`));
  const volumes = await Promise.all(
    stack.workloads.map(
      async (w) => `${await docker.readFile(w.renewer, FILES.root)}@${(await docker.exec(w.renewer, ['stat', '-c', '%Y.%y', FILES.root])).stdout}`,
    ),
  );
  return { host, volumes };
}

describe('bootstrap-trust', { timeout: 120_000 }, () => {
  const shared = useSharedStack();

  it('a wrong fingerprint aborts with a clear message and writes nothing', async () => {
    const before = await trustSnapshot(shared.stack);
    const unrelated = new X509Certificate((await createRootCa('Unrelated')).certPem);
    const wrong = createHash('sha256').update(unrelated.raw).digest('hex');
    const out = await script`npx tsx scripts/bootstrap-trust.ts --prefix ${ctx.prefix} --fingerprint ${wrong}`;
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain(`has no root with fingerprint ${wrong}`);
    expect(await trustSnapshot(shared.stack)).toEqual(before);
  });

  it('a malformed fingerprint is rejected before any request', async () => {
    const out = await script`npx tsx scripts/bootstrap-trust.ts --prefix ${ctx.prefix} --fingerprint ${'not-a-fingerprint'}`;
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain('is not a SHA-256 fingerprint');
  });

  it('the right fingerprint, pinned explicitly, succeeds and reports it (--json)', async () => {
    const out = await script`npx tsx scripts/bootstrap-trust.ts --prefix ${ctx.prefix} --fingerprint ${ctx.fingerprint} --json`;
    expect(out.exitCode, out.stderr).toBe(0);
    const report = JSON.parse(out.stdout);
    expect(report.fingerprint).toBe(ctx.fingerprint);
    expect(report.workloads.sort()).toEqual(shared.stack.workloads.map((w) => w.name).sort());
    for (const w of shared.stack.workloads) {
      const pem = await docker.readFile(w.renewer, FILES.root);
      expect(createHash('sha256').update(new X509Certificate(pem!).raw).digest('hex')).toBe(ctx.fingerprint);
    }
  });

  it('enroll keeps valid certificates (idempotent) and reports them (--json)', async () => {
    const out = await script`npx tsx scripts/enroll.ts --prefix ${ctx.prefix} --json`;
    expect(out.exitCode, out.stderr).toBe(0);
    const rows = JSON.parse(out.stdout) as Array<{ workload: string; action: string; keyMode: string }>;
    expect(rows.map((r) => r.action)).toEqual(rows.map(() => 'kept'));
    expect(rows.every((r) => r.keyMode === '600')).toBe(true);
  });

  it('status --json reports every workload with a serial and time left', async () => {
    const out = await script`npx tsx scripts/status.ts --prefix ${ctx.prefix} --json`;
    expect(out.exitCode, out.stderr).toBe(0);
    const status = JSON.parse(out.stdout) as { workloads: WorkloadStatus[] };
    expect(status.workloads.map((w) => w.workload).sort()).toEqual(ctx.outputs.workloads.map((w) => w.name).sort());
    for (const w of status.workloads) {
      expect(w.serial, w.workload).toMatch(/^[0-9A-F]+$/);
      expect(w.secondsLeft, w.workload).toBeGreaterThan(0);
      expect(`${w.workload}: ${w.health}`, w.healthDetail).toBe(`${w.workload}: healthy`);
    }
  });

  it('scripts reject unknown flags and unknown workloads with a non-zero exit', async () => {
    const flag = await script`npx tsx scripts/enroll.ts --prefix ${ctx.prefix} --forse`;
    expect(flag.exitCode).toBe(1);
    expect(flag.stderr).toMatch(/Unknown option '--forse'/);
    const name = await script`npx tsx scripts/enroll.ts --prefix ${ctx.prefix} nosuch`;
    expect(name.exitCode).toBe(1);
    expect(name.stderr).toContain('no workload "nosuch"');
  });
});
