// The trust-file contract (recipes/README.md, "Trust file"): root.crt is
// written by the renewer, so it is never handed to TLS as it is. It is
// accepted only as a regular file of at most 64 KiB holding nothing but exact
// `CERTIFICATE` PEM blocks of strict base64, at least one, each a pinned
// root's DER. TLS then gets those certificates re-encoded, never the file:
// OpenSSL would also load `TRUSTED CERTIFICATE` and `X509 CERTIFICATE` blocks
// that a check over `CERTIFICATE` blocks alone never saw.
import { createHash, X509Certificate } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';

/** Largest root.crt read; a larger one is refused without reading further. */
export const TRUST_FILE_MAX_BYTES = 64 * 1024;

/** Why root.crt was refused: the contract's words, the same in every language. */
export type TrustProblem = 'not_regular_file' | 'too_large' | 'not_pem' | 'foreign_block' | 'stray_text' | 'bad_base64' | 'no_certificate' | 'unpinned';

export class TrustFileError extends Error {
  override readonly name = 'TrustFileError';

  constructor(
    readonly problem: TrustProblem,
    message: string,
  ) {
    super(message);
  }
}

export interface TrustedRoots {
  readonly certificates: readonly X509Certificate[];
  /** The accepted certificates re-encoded from their DER: what TLS is given. */
  readonly pem: string;
}

const BEGIN = '-----BEGIN CERTIFICATE-----';
const END = '-----END CERTIFICATE-----';
const BASE64_LINE = /^[A-Za-z0-9+/=]+$/;
const BLANK = /^[ \t]*$/;
const BOUNDARY = /-----(BEGIN|END)/;

/**
 * Reads the file without following a symlink and without reading past the
 * limit. `ENOENT` is rethrown as it is (the caller's "missing").
 */
export async function readTrustFile(path: string, name = 'root.crt'): Promise<Buffer> {
  const info = await lstat(path);
  if (!info.isFile()) throw new TrustFileError('not_regular_file', `${name} is not a regular file (${kindOf(info)})`);
  // O_NOFOLLOW: a symlink swapped in after the lstat fails here; O_NONBLOCK: a FIFO never blocks the open.
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new TrustFileError('not_regular_file', `${name} is a symbolic link`);
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) throw new TrustFileError('not_regular_file', `${name} is not a regular file`);
    const buffer = Buffer.alloc(TRUST_FILE_MAX_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > TRUST_FILE_MAX_BYTES) throw new TrustFileError('too_large', `${name} is larger than ${TRUST_FILE_MAX_BYTES} bytes`);
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

function kindOf(info: Awaited<ReturnType<typeof lstat>>): string {
  if (info.isSymbolicLink()) return 'a symbolic link';
  if (info.isDirectory()) return 'a directory';
  return 'a special file';
}

/**
 * Checks the text (bytes as latin1, one char per byte) against the contract
 * and returns the accepted certificates. `pins` are SHA-256 fingerprints of
 * the DER (lower-case hex); without them only the form is checked.
 */
export function parseTrustFile(text: string, pins?: ReadonlySet<string>, name = 'root.crt'): TrustedRoots {
  if (text.length > TRUST_FILE_MAX_BYTES) throw new TrustFileError('too_large', `${name} is larger than ${TRUST_FILE_MAX_BYTES} bytes`);
  const binary = /[^\t\n\r\x20-\x7e]/.exec(text);
  if (binary) {
    const code = binary[0].charCodeAt(0).toString(16).padStart(2, '0');
    throw new TrustFileError('not_pem', `${name} holds bytes that are not PEM text (0x${code} at offset ${binary.index})`);
  }
  const ders: Buffer[] = [];
  let body: string[] | undefined;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const at = `${name} line ${index + 1}`;
    if (BLANK.test(line)) continue;
    if (body === undefined && line === BEGIN) {
      body = [];
    } else if (body !== undefined && line === END) {
      ders.push(strictBase64(body.join(''), `${at} ends a block whose body is not valid base64`));
      body = undefined;
    } else if (BOUNDARY.test(line)) {
      // Any other boundary, anywhere on the line: another label, a nested BEGIN, a label with spaces.
      throw new TrustFileError('foreign_block', `${at} is not exactly ${body === undefined ? BEGIN : END}: ${describe(line)}`);
    } else if (body === undefined) {
      throw new TrustFileError('stray_text', `${at} is text outside a certificate block`);
    } else if (BASE64_LINE.test(line)) {
      body.push(line);
    } else {
      throw new TrustFileError('bad_base64', `${at} is not base64`);
    }
  }
  if (body !== undefined) throw new TrustFileError('stray_text', `${name} ends inside an unterminated certificate block`);
  if (ders.length === 0) throw new TrustFileError('no_certificate', `${name} holds no certificate block`);
  if (pins) {
    for (const [index, der] of ders.entries()) {
      const fingerprint = createHash('sha256').update(der).digest('hex');
      if (!pins.has(fingerprint)) throw new TrustFileError('unpinned', `${name} block ${index + 1} (SHA-256 ${fingerprint}) is not a pinned root`);
    }
  }
  const certificates = ders.map((der, index) => {
    try {
      return new X509Certificate(der);
    } catch {
      throw new TrustFileError('bad_base64', `${name} block ${index + 1} does not decode to a certificate`);
    }
  });
  return { certificates, pem: ders.map(pemOf).join('') };
}

/** Canonical PEM: 64-character lines, LF endings. */
export function pemOf(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/** Node's decoder skips what it cannot read; re-encoding tells a strict decode from a lenient one. */
function strictBase64(text: string, message: string): Buffer {
  const der = Buffer.from(text, 'base64');
  if (der.length === 0 || der.toString('base64') !== text) throw new TrustFileError('bad_base64', message);
  return der;
}

/** The offending label, shown with its trailing spaces visible. */
function describe(line: string): string {
  return JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
}
