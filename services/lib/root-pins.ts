// The root pin: SHA-256 fingerprints of the roots this workload may trust,
// given to the app as configuration that the renewer cannot write (a file on
// a volume mounted read-only into the app and into nothing else). root.crt
// sits in the renewer's volume, so without a pin whoever can write that
// volume could swap root.crt and site.crt together and the app would accept
// a foreign CA. One fingerprint per line, so a root rotation can pin the
// old and the new root at once; `#` starts a comment.
import type { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export class PinError extends Error {
  override readonly name = 'PinError';

  constructor(
    readonly problem: 'missing' | 'unreadable' | 'malformed',
    message: string,
  ) {
    super(message);
  }
}

export interface PinSet {
  /** The file's text (a change of it re-validates the credentials). */
  readonly text: string;
  readonly set: ReadonlySet<string>;
}

/** Lower-case hex without separators, as `step certificate fingerprint` prints it. */
export function normalisePin(text: string): string | undefined {
  const hex = text.trim().replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

export function parsePins(text: string, file = 'the pin file'): ReadonlySet<string> {
  const pins = new Set<string>();
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const pin = normalisePin(line);
    if (!pin) throw new PinError('malformed', `${file} line ${index + 1} is not a SHA-256 fingerprint (64 hex digits)`);
    pins.add(pin);
  }
  if (pins.size === 0) throw new PinError('malformed', `${file} pins no root`);
  return pins;
}

/** SHA-256 over the certificate's DER. */
export function fingerprintOf(certificate: X509Certificate): string {
  return certificate.fingerprint256.replace(/:/g, '').toLowerCase();
}

export async function readPinFile(path: string): Promise<PinSet> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PinError('missing', `the root pin ${path} does not exist (bootstrap-trust writes it)`);
    throw new PinError('unreadable', `cannot read the root pin ${path}: ${code ?? String(error)}`);
  }
  return { text, set: parsePins(text, path) };
}
