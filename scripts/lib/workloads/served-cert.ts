/**
 * The certificate a server presents, read from outside the way an operator
 * would: `openssl s_client` against its port on 127.0.0.1 (`-starttls
 * postgres` for PostgreSQL, `-starttls mysql` for MariaDB). No client
 * certificate is sent: the server's certificate comes before the server
 * asks for the client's, so this sees
 * what every caller sees, and the server records a refused handshake.
 */
import { $ } from 'zx';

import { type Protocol, STARTTLS } from '../../../stack/technology.js';
import { type CertInfo, certInfo, splitPem } from '../identity/pki.js';

export interface ServedCertTarget {
  readonly port: number;
  /** SNI and the name checked by callers. */
  readonly serverName: string;
  readonly protocol: Protocol;
}

/** The PEM of the leaf the server presents now, or undefined when none comes (not listening, no certificate yet). */
export async function servedLeafPem(t: ServedCertTarget): Promise<string | undefined> {
  return (await servedChainPems(t))[0];
}

/** The certificates the server presents now, leaf first (empty when none come). */
export async function servedChainPems(t: ServedCertTarget): Promise<string[]> {
  const starttls = STARTTLS[t.protocol] ? ['-starttls', STARTTLS[t.protocol]] : [];
  const out = await $({
    quiet: true,
    nothrow: true,
    timeout: '10s',
    // s_client's Q command ends the session: MariaDB would otherwise hold the
    // connection open, waiting for a login, until the timeout.
    input: t.protocol === 'mysql' ? 'Q\n' : '',
  })`openssl s_client -showcerts -connect ${`127.0.0.1:${t.port}`} -servername ${t.serverName} ${starttls}`;
  return splitPem(out.stdout);
}

/** The leaf the server presents now, parsed, or undefined when it cannot be read (not listening, no certificate yet). */
export async function servedCertificate(t: ServedCertTarget): Promise<CertInfo | undefined> {
  const leaf = await servedLeafPem(t);
  if (!leaf) return undefined;
  try {
    return certInfo(leaf);
  } catch {
    return undefined;
  }
}
