// Workload identity = a certificate's SAN: a DNS name (`client.mesh.internal`)
// and/or a URI (`spiffe://mesh.internal/client`). The subject CN is ignored on
// purpose: it is free text, and every modern verifier ignores it too.

export type IdentityKind = 'dns' | 'uri';

export interface Identity {
  readonly kind: IdentityKind;
  /** DNS names are lower-cased (they compare case-insensitively); URIs are kept verbatim. */
  readonly value: string;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Parses one configured identity. A value with `:` is a URI (a DNS name cannot
 * contain one); anything else must be a plain DNS name. Wildcards are refused:
 * an allow-list names workloads, not zones.
 */
export function parseIdentity(text: string): Identity {
  const trimmed = text.trim();
  if (trimmed.includes(':')) {
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch {
      throw new Error(`invalid URI identity ${JSON.stringify(text)}`);
    }
    if (!url.protocol) throw new Error(`invalid URI identity ${JSON.stringify(text)}`);
    return { kind: 'uri', value: trimmed };
  }
  const name = trimmed.toLowerCase();
  if (name.includes('*')) throw new Error(`wildcard identity ${JSON.stringify(text)} is not supported; list each workload`);
  if (!DNS_NAME.test(name)) throw new Error(`invalid DNS identity ${JSON.stringify(text)}`);
  return { kind: 'dns', value: name };
}

export function sameIdentity(a: Identity, b: Identity): boolean {
  return a.kind === b.kind && a.value === b.value;
}

export function formatIdentities(identities: readonly Identity[]): string[] {
  return identities.map((identity) => identity.value);
}

interface SanEntry {
  readonly type: string;
  readonly value: string;
}

/**
 * Parses Node's `subjectAltName` text, e.g. `DNS:a.example, URI:spiffe://x/y`.
 * Since the 2022 security releases Node JSON-quotes values holding characters
 * that could be confused with separators (`URI:"spiffe://a\u002cb"`), so a
 * naive split on ", " would be wrong exactly when someone tries to be clever.
 */
export function parseSubjectAltName(text: string | undefined): SanEntry[] {
  const entries: SanEntry[] = [];
  let rest = text ?? '';
  while (rest.length > 0) {
    const colon = rest.indexOf(':');
    if (colon < 0) break;
    const type = rest.slice(0, colon).trim();
    rest = rest.slice(colon + 1);
    let value: string;
    if (rest.startsWith('"')) {
      const end = closingQuote(rest);
      value = JSON.parse(rest.slice(0, end + 1)) as string;
      rest = rest.slice(end + 1);
    } else {
      const comma = rest.indexOf(', ');
      value = comma < 0 ? rest : rest.slice(0, comma);
      rest = comma < 0 ? '' : rest.slice(comma);
    }
    entries.push({ type, value });
    rest = rest.replace(/^, /, '');
  }
  return entries;
}

function closingQuote(text: string): number {
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  throw new Error('unterminated quoted subjectAltName value');
}

/** DNS and URI SANs of a certificate, DNS first; IP and e-mail SANs are not identities here. */
export function identitiesFromSubjectAltName(text: string | undefined): Identity[] {
  const entries = parseSubjectAltName(text);
  const pick = (type: string, kind: IdentityKind): Identity[] =>
    entries.filter((entry) => entry.type === type).map((entry) => ({ kind, value: kind === 'dns' ? entry.value.toLowerCase() : entry.value }));
  return [...pick('DNS', 'dns'), ...pick('URI', 'uri')];
}

/** Identities allowed to call a service. */
export class AllowList {
  readonly identities: readonly Identity[];

  constructor(entries: readonly string[]) {
    if (entries.length === 0) throw new Error('the allow-list is empty: no client could ever be authorised');
    this.identities = entries.map(parseIdentity);
  }

  /** The first presented identity that is allowed, or undefined. */
  match(presented: readonly Identity[]): Identity | undefined {
    return presented.find((candidate) => this.identities.some((allowed) => sameIdentity(allowed, candidate)));
  }
}
