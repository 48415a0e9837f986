import type { Duration } from 'zx';

import type { CaRef } from '../../scripts/lib/ca/step.js';
import { UserError } from '../../scripts/lib/cli/ui.js';
import * as docker from '../../scripts/lib/docker/commands.js';

/**
 * Raw `step` loops, one `docker exec` each: the baselines of B2 and the token
 * supply of B6. The paths and flags are those of scripts/lib/ca/step.ts (which
 * keeps them private: operator code never needs a loop).
 */
const STEPPATH = '/home/step';
const CA_ROOT = `${STEPPATH}/certs/root_ca.crt`;
const PROVISIONER_PASSWORD = `${STEPPATH}/secrets/provisioner_password`;
const CA_LOCAL_URL = 'https://127.0.0.1:9000';

/**
 * Mints one token per subject inside the CA container, `parallel` at a time
 * (xargs -P), in one exec; tokens come back in subject order.
 */
export async function mintTokens(ca: CaRef, subjects: readonly string[], opts: { parallel?: number; timeout?: Duration } = {}): Promise<string[]> {
  const script =
    'p="$1"; shift; printf "%s\\n" "$@" | xargs -P "$p" -I{} sh -c ' +
    `'printf "%s %s\\n" "$1" "$(step ca token "$1" --provisioner ${ca.provisioner} --password-file ${PROVISIONER_PASSWORD} --ca-url ${CA_LOCAL_URL} --root ${CA_ROOT} 2>/dev/null)"' mint {}`;
  const out = await docker.execOk(ca.container, ['bash', '-c', script, 'mint-tokens', String(opts.parallel ?? 1), ...subjects], {
    timeout: opts.timeout ?? '10m',
  });
  const bySubject = new Map(
    out
      .trim()
      .split('\n')
      .map((l) => l.split(' ') as [string, string]),
  );
  return subjects.map((s) => {
    const t = bySubject.get(s);
    if (!t || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(t))
      throw new UserError(`minting a token for ${s} in ${ca.container} failed; check the CA's health (docker logs ${ca.container})`);
    return t;
  });
}

/**
 * The B2 baseline: a shell loop in the CA container minting N tokens, then a
 * shell loop in a renewer exchanging them (`step ca certificate`, key made
 * there), one exec each. Returns the time of each phase.
 */
export async function rawEnrollLoop(
  ca: CaRef,
  renewer: string,
  opts: { subjects: readonly string[]; outDir: string; caUrl: string; rootFile: string },
): Promise<{ mintSeconds: number; exchangeSeconds: number; issued: number }> {
  const t0 = Date.now();
  const mint = `for s in "$@"; do step ca token "$s" --provisioner ${ca.provisioner} --password-file ${PROVISIONER_PASSWORD} --ca-url ${CA_LOCAL_URL} --root ${CA_ROOT} 2>/dev/null || exit 1; done`;
  const tokens = await docker.execOk(ca.container, ['bash', '-c', mint, 'mint', ...opts.subjects], { timeout: '10m' });
  const t1 = Date.now();
  const exchange =
    'out="$1"; ca="$2"; root="$3"; shift 3; mkdir -p "$out"; for s in "$@"; do read -r tok || exit 1; ' +
    'step ca certificate "$s" "$out/$s.crt" "$out/$s.key" --token "$tok" --ca-url "$ca" --root "$root" --force --kty EC --curve P-256 >/dev/null 2>&1 || exit 1; done; ls "$out"/*.crt | wc -l';
  const issued = Number(
    (
      await docker.execOk(renewer, ['bash', '-c', exchange, 'exchange', opts.outDir, opts.caUrl, opts.rootFile, ...opts.subjects], {
        input: tokens,
        timeout: '10m',
      })
    ).trim(),
  );
  return { mintSeconds: (t1 - t0) / 1000, exchangeSeconds: (Date.now() - t1) / 1000, issued };
}
