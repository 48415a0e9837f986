// The CA image must run with every capability dropped. The official
// step-ca image (and its stand-in here) gives step-ca a file capability,
// which the kernel refuses to execute under cap_drop ALL; the project's
// Dockerfile rewrites the binary without it. These tests read the
// Dockerfiles as the builder does (continuations joined) and fail if the
// capability could come back.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../../..');
const STEP_CA = '/usr/local/bin/step-ca';

interface Instruction {
  readonly op: string;
  readonly args: string;
}

function parseDockerfile(text: string): Instruction[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

const caDockerfile = parseDockerfile(readFileSync(path.join(root, 'images/step-ca/Dockerfile'), 'utf8'));
const standIn = parseDockerfile(readFileSync(path.join(root, 'images/stand-ins/step-ca/Dockerfile'), 'utf8'));

/** Index of the RUN that replaces step-ca by a copy of its bytes (no xattrs) or removes its capabilities. */
function stripIndex(steps: Instruction[]): number {
  return steps.findIndex(
    (s) =>
      s.op === 'RUN' &&
      (new RegExp(`setcap -r ${STEP_CA}\\b`).test(s.args) ||
        (new RegExp(`cat ${STEP_CA} >\\s*(\\S+)`).test(s.args) && new RegExp(`mv -f \\S+ ${STEP_CA}(\\s|$)`).test(s.args))),
  );
}

describe('CA image (images/step-ca/Dockerfile)', () => {
  it('rewrites step-ca without its file capability, as root, after FROM', () => {
    const from = caDockerfile.findIndex((s) => s.op === 'FROM');
    const strip = stripIndex(caDockerfile);
    expect(strip, 'a RUN that drops the file capability of step-ca').toBeGreaterThan(from);
    const userBefore = caDockerfile
      .slice(0, strip)
      .filter((s) => s.op === 'USER')
      .at(-1);
    expect(userBefore?.args, 'the strip runs as root (the file is root-owned)').toBe('root');
  });

  it('nothing after the strip gives step-ca a capability or replaces it', () => {
    const after = caDockerfile.slice(stripIndex(caDockerfile) + 1);
    for (const s of after) {
      expect(s.args, `${s.op} ${s.args}`).not.toMatch(/setcap\s+\S*[+=]/i);
      if (s.op === 'COPY' || s.op === 'ADD') expect(s.args, `${s.op} ${s.args}`).not.toMatch(/(^|\s)\/usr\/local\/bin\/(step-ca)?\s*$/);
    }
    expect(after.filter((s) => s.op === 'USER').at(-1)?.args, 'runs unprivileged').toBe('1000:1000');
  });
});

describe('step-ca stand-in (images/stand-ins/step-ca)', () => {
  // The stand-in must reproduce the upstream obstacle, or the connected-path
  // test would pass on an image that never had the capability.
  it('installs step-ca from a tar that carries its file capability, as upstream setcap does', () => {
    expect(standIn.some((s) => s.op === 'ADD' && s.args === 'step-ca.tar /')).toBe(true);
    expect(standIn.some((s) => (s.op === 'COPY' || s.op === 'ADD') && /\bstep-ca\s+\/usr\/local\/bin/.test(s.args))).toBe(false);
  });

  it('keeps the upstream user, home volume and command', () => {
    expect(standIn.filter((s) => s.op === 'USER').at(-1)?.args).toBe('step');
    expect(standIn.find((s) => s.op === 'VOLUME')?.args).toBe('["/home/step"]');
    expect(standIn.find((s) => s.op === 'RUN')?.args).toContain("'step:x:1000:1000:step:/home/step:");
    expect(standIn.find((s) => s.op === 'CMD')?.args).toBe(
      '["/usr/local/bin/step-ca", "--password-file", "/home/step/secrets/password", "/home/step/config/ca.json"]',
    );
  });
});

describe('node stand-in entrypoint (images/stand-ins/node/docker-entrypoint.sh)', () => {
  const entrypoint = path.join(root, 'images/stand-ins/node/docker-entrypoint.sh');
  // `node` on PATH is the one running the tests, as in the image.
  const run = (cwd: string, ...args: string[]) => {
    const r = spawnSync('sh', [entrypoint, ...args], { cwd, encoding: 'utf8', env: { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` } });
    return { status: r.status, out: r.stdout.trim() };
  };

  it('hands options, non-commands and non-executable files to node, runs commands as given', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'entrypoint-'));
    try {
      await writeFile(path.join(dir, 'app.js'), 'console.log("from app.js", process.argv.length)');
      expect(run(dir, '--version')).toEqual({ status: 0, out: process.version });
      expect(run(dir, 'app.js')).toEqual({ status: 0, out: 'from app.js 2' });
      expect(run(dir, '-e', 'console.log(6*7)')).toEqual({ status: 0, out: '42' });
      expect(run(dir, 'echo', 'plain')).toEqual({ status: 0, out: 'plain' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
