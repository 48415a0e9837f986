// recipes/lib/mtls-trust, the shell recipes' one builder of their private
// trust file (recipes/README.md, "Trust file"), run as the recipes run it:
// under dash (the Debian images' sh) and under busybox sh with busybox's own
// tools only (the Alpine curl image). Every hostile root.crt is refused with
// the contract's reason and leaves the previous trust file byte for byte; the
// accepted ones come out canonical, and OpenSSL trusts exactly the pinned roots.
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createPki, type Leaf, makeTempDir, type Pki } from '../../helpers/pki.js';
import { rootPin } from './helpers/recipe-credentials.js';

const TOOL = fileURLToPath(new URL('../../../recipes/lib/mtls-trust', import.meta.url));
/** What the tool runs besides sh: busybox must provide each of them in the Alpine image. */
const TOOLS = ['awk', 'base64', 'chmod', 'cut', 'dirname', 'grep', 'head', 'mkdir', 'mktemp', 'mv', 'rm', 'sed', 'sha256sum', 'tr', 'wc'];

const SHELLS = ['dash', 'busybox sh'] as const;

interface Shell {
  readonly name: (typeof SHELLS)[number];
  run(args: string[]): { status: number | null; stderr: string };
}

let temp: { path: string; remove(): Promise<void> };
let shells: Shell[];
let mesh: Pki;
let next: Pki;
let foreign: Pki;
/** Each root's PEM as the renewer writes it: one block, ending in a newline. */
const root = { mesh: '', next: '', foreign: '' };
let pinFile: string;
let cases = 0;

/** The canonical PEM of a certificate: its DER in base64, 64-character lines. */
function canonical(pem: string): string {
  const b64 = new X509Certificate(pem).raw.toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}
const relabel = (pem: string, label: string) =>
  pem.trim().replace('-----BEGIN CERTIFICATE-----', `-----BEGIN ${label}-----`).replace('-----END CERTIFICATE-----', `-----END ${label}-----`) + '\n';
const body = (pem: string) => pem.trim().split('\n').slice(1, -1).join('\n');

beforeAll(async () => {
  temp = await makeTempDir('trust-file');
  [mesh, next, foreign] = await Promise.all([createPki('Mesh'), createPki('Next'), createPki('Foreign')]);
  Object.assign(root, { mesh: `${mesh.root.certPem.trim()}\n`, next: `${next.root.certPem.trim()}\n`, foreign: `${foreign.root.certPem.trim()}\n` });
  pinFile = join(temp.path, 'root-fingerprints');
  await writeFile(pinFile, `# the mesh root and the next one (a root rotation)\n${rootPin(root.mesh)}\n${rootPin(root.next).toUpperCase()}\n`);

  let busybox: string;
  try {
    busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('these tests run the tool under busybox sh too: install busybox (Debian: apt-get install busybox)');
  }
  // A PATH of busybox applets only, as in the Alpine image.
  const applets = join(temp.path, 'busybox-bin');
  await mkdir(applets);
  for (const tool of TOOLS) await symlink(busybox, join(applets, tool));
  shells = [
    { name: 'dash', run: (args) => spawnSync('dash', [TOOL, ...args], { encoding: 'utf8' }) },
    { name: 'busybox sh', run: (args) => spawnSync(busybox, ['sh', TOOL, ...args], { encoding: 'utf8', env: { PATH: applets } }) },
  ];
});
afterAll(async () => {
  await temp?.remove();
});

/** A fresh directory with root.crt as given and a previous trust file in out/. */
async function setUp(rootCrt: string | Buffer): Promise<{ input: string; output: string; previous: string }> {
  const dir = join(temp.path, `case-${++cases}`);
  await mkdir(join(dir, 'out'), { recursive: true });
  const input = join(dir, 'root.crt');
  await writeFile(input, rootCrt);
  const output = join(dir, 'out', 'trust.crt');
  const previous = canonical(root.mesh);
  await writeFile(output, previous, { mode: 0o600 });
  return { input, output, previous };
}

type Hostile = readonly [name: string, reason: string, make: () => Promise<{ input: string; output: string; previous: string }>];

const hostile: Hostile[] = [
  ['a foreign root appended as TRUSTED CERTIFICATE', 'foreign_block', () => setUp(root.mesh + relabel(root.foreign, 'TRUSTED CERTIFICATE'))],
  ['a foreign root appended as X509 CERTIFICATE', 'foreign_block', () => setUp(root.mesh + relabel(root.foreign, 'X509 CERTIFICATE'))],
  [
    'a foreign root appended with a trailing space after its label',
    'foreign_block',
    () => setUp(root.mesh + root.foreign.replace('-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATE----- ')),
  ],
  ['a PRIVATE KEY block', 'foreign_block', () => setUp(root.mesh + relabel(root.foreign, 'PRIVATE KEY'))],
  ['an X509 CRL block', 'foreign_block', () => setUp(root.mesh + relabel(root.foreign, 'X509 CRL'))],
  ['a foreign plain root before the pinned ones', 'unpinned', () => setUp(root.foreign + root.mesh + root.next)],
  ['a foreign plain root between the pinned ones', 'unpinned', () => setUp(root.mesh + root.foreign + root.next)],
  ['a foreign plain root after the pinned ones', 'unpinned', () => setUp(root.mesh + root.next + root.foreign)],
  ['the pinned root as DER', 'not_pem', () => setUp(new X509Certificate(root.mesh).raw)],
  ['a NUL byte after the pinned root', 'not_pem', () => setUp(Buffer.concat([Buffer.from(root.mesh), Buffer.from([0])]))],
  ['an empty file', 'no_certificate', () => setUp('')],
  ['blank lines only', 'no_certificate', () => setUp('\n \n\t\n')],
  ['10 MB', 'too_large', () => setUp(Buffer.alloc(10_000_000, 'A'))],
  ['65 537 bytes of pinned roots and blank lines', 'too_large', () => setUp(root.mesh + '\n'.repeat(65_537 - root.mesh.length))],
  [
    'a symlink to a valid pinned file',
    'not_regular_file',
    async () => {
      const files = await setUp(root.mesh);
      const target = `${files.input}.target`;
      await writeFile(target, root.mesh);
      await rm(files.input);
      await symlink(target, files.input);
      return files;
    },
  ],
  [
    'a directory',
    'not_regular_file',
    async () => {
      const files = await setUp('');
      await rm(files.input);
      await mkdir(files.input);
      return files;
    },
  ],
  ['text before the block', 'stray_text', () => setUp(`subject=CN = Mesh Root CA\n${root.mesh}`)],
  ['text between the blocks', 'stray_text', () => setUp(`${root.mesh}# the next root\n${root.next}`)],
  ['an unterminated block', 'stray_text', () => setUp(root.mesh + root.foreign.trim().split('\n').slice(0, -1).join('\n') + '\n')],
  ['a body line that is not base64', 'bad_base64', () => setUp(root.mesh.replace(/\n([A-Za-z0-9+/]{10})/, '\n$1!'))],
  [
    'padding in the middle of a body',
    'bad_base64',
    () => setUp(`-----BEGIN CERTIFICATE-----\n${body(root.mesh).replace(/^(.{8})..../, '$1AA==')}\n-----END CERTIFICATE-----\n`),
  ],
  ['a body one character short', 'bad_base64', () => setUp(`-----BEGIN CERTIFICATE-----\n${body(root.mesh).replace(/^./, '')}\n-----END CERTIFICATE-----\n`)],
  ['an empty block', 'bad_base64', () => setUp('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n')],
  // QR== decodes to the byte of QQ== with bits set before the padding: valid to a lenient decoder, not canonical.
  ['a body with bits set before its padding', 'bad_base64', () => setUp(`${root.mesh}-----BEGIN CERTIFICATE-----\nQR==\n-----END CERTIFICATE-----\n`)],
  // The control: the same block in canonical form is well-formed, and refused only because nobody pinned it.
  ['the canonical form of that body, unpinned', 'unpinned', () => setUp(`${root.mesh}-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----\n`)],
];

describe('mtls-trust refuses a hostile root.crt and keeps the previous trust file', { timeout: 30_000 }, () => {
  describe.each(SHELLS)('under %s', (shellName) => {
    it.each(hostile)('%s: %s', async (_name, reason, make) => {
      const shell = shells.find((s) => s.name === shellName)!;
      const { input, output, previous } = await make();
      const started = Date.now();
      const got = shell.run([input, pinFile, output]);
      expect(got.status, `${shell.name}: ${got.stderr}`).toBe(1);
      expect(got.stderr, shell.name).toMatch(new RegExp(`^${reason}: \\S`));
      expect(got.stderr.trim().split('\n'), shell.name).toHaveLength(1);
      expect(await readFile(output, 'utf8'), `${shell.name}: the previous trust file`).toBe(previous);
      // Only the output and nothing else is left in its directory (no temporary files).
      expect(execFileSync('ls', ['-A', join(output, '..')], { encoding: 'utf8' }).trim()).toBe('trust.crt');
      if (reason === 'too_large') expect(Date.now() - started, 'not read past the limit').toBeLessThan(2_000);
    });
  });
});

describe('mtls-trust accepts pinned roots and writes them canonically', { timeout: 30_000 }, () => {
  let meshLeaf: Leaf;
  let nextLeaf: Leaf;
  let foreignLeaf: Leaf;
  beforeAll(async () => {
    const leaf = (pki: Pki) => pki.issue({ commonName: 'client', dns: ['client.mesh.internal'] });
    [meshLeaf, nextLeaf, foreignLeaf] = await Promise.all([leaf(mesh), leaf(next), leaf(foreign)]);
  });

  /** openssl verify of a leaf (with its intermediate as untrusted) against the trust file: its output, and whether it verified. */
  async function verify(trust: string, leaf: Leaf): Promise<{ ok: boolean; out: string }> {
    const dir = join(temp.path, `verify-${++cases}`);
    await mkdir(dir);
    await writeFile(join(dir, 'leaf.pem'), leaf.certPem);
    await writeFile(join(dir, 'chain.pem'), leaf.bundlePem);
    const got = spawnSync('openssl', ['verify', '-CAfile', trust, '-untrusted', join(dir, 'chain.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
    return { ok: got.status === 0, out: got.stdout + got.stderr };
  }

  const accepted: ReadonlyArray<readonly [string, () => string, () => string[]]> = [
    ['one pinned root', () => root.mesh, () => [root.mesh]],
    ['two pinned roots (a root rotation)', () => root.mesh + root.next, () => [root.mesh, root.next]],
    [
      'CRLF line endings and 76-character lines',
      () => {
        const b64 = new X509Certificate(root.next).raw.toString('base64');
        return `-----BEGIN CERTIFICATE-----\r\n${b64.match(/.{1,76}/g)!.join('\r\n')}\r\n-----END CERTIFICATE-----\r\n`;
      },
      () => [root.next],
    ],
  ];

  describe.each(SHELLS)('under %s', (shellName) => {
    it.each(accepted)('%s', async (_name, rootCrt, roots) => {
      const shell = shells.find((s) => s.name === shellName)!;
      const { input, output } = await setUp(rootCrt());
      await writeFile(output, 'the previous trust file\n');
      const got = shell.run([input, pinFile, output]);
      expect(got.status, `${shell.name}: ${got.stderr}`).toBe(0);
      expect(got.stderr).toBe('');
      expect(await readFile(output, 'utf8')).toBe(roots().map(canonical).join(''));
      expect((await stat(output)).mode & 0o777).toBe(0o600);
      expect((await stat(join(output, '..'))).mode & 0o777).toBe(0o700);
      expect(execFileSync('ls', ['-A', join(output, '..')], { encoding: 'utf8' }).trim()).toBe('trust.crt');
    });
  });

  it('makes its output directory private, and OpenSSL given the output trusts the pinned root only', async () => {
    const { input, output } = await setUp(root.mesh);
    const outDir = join(output, '..');
    await chmod(outDir, 0o755);
    expect(shells[0]!.run([input, pinFile, output]).status).toBe(0);
    expect((await stat(outDir)).mode & 0o777).toBe(0o700);
    expect(await verify(output, meshLeaf)).toMatchObject({ ok: true });
    const refused = await verify(output, foreignLeaf);
    expect(refused.ok).toBe(false);
    expect(refused.out).toMatch(/unable to get (local )?issuer certificate/);
    // Pinned, but not in this root.crt: not trusted either.
    expect((await verify(output, nextLeaf)).ok).toBe(false);
  });
});
