// Reading a request target (RFC 9112 §3.2) without trusting it. The target
// is whatever bytes the peer sent between the method and the version; Node's
// parser lets through `//`, `//[`, `*`, absolute URLs and broken %-escapes, and
// `new URL(target, base)` throws on some of them (`//[` is read as a host).
// So this never builds a URL: it recognises the four forms by their first
// characters and checks the path against the RFC's character set.

/** Longer targets are refused with 414 before any further parsing. */
export const MAX_TARGET_LENGTH = 2048;

export type RequestTarget =
  /** origin-form, or absolute-form reduced to its path; `path` excludes the query. */
  | { readonly kind: 'path'; readonly path: string }
  /** `*`: only meaningful with OPTIONS, which no listener here supports. */
  | { readonly kind: 'asterisk' }
  | { readonly kind: 'invalid'; readonly status: 400 | 414; readonly reason: string };

// pchar = unreserved / pct-encoded / sub-delims / ":" / "@", plus "/" between segments.
const PATH = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;
// query = *( pchar / "/" / "?" )
const QUERY = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;
// absolute-form for the schemes a web server can be addressed by; the
// authority is only checked for allowed characters (we route by path alone).
const ABSOLUTE = /^https?:\/\/([^/?#]*)(.*)$/is;
const AUTHORITY = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@[\]]|%[0-9A-Fa-f]{2})*$/;

function invalid(reason: string, status: 400 | 414 = 400): RequestTarget {
  return { kind: 'invalid', status, reason };
}

export function parseRequestTarget(target: string | undefined): RequestTarget {
  if (target === undefined || target === '') return invalid('empty request target');
  if (target.length > MAX_TARGET_LENGTH) return invalid(`request target longer than ${MAX_TARGET_LENGTH} characters`, 414);
  if (target === '*') return { kind: 'asterisk' };
  let rest = target;
  if (!target.startsWith('/')) {
    const absolute = ABSOLUTE.exec(target);
    if (!absolute) return invalid('request target is neither a path (/…) nor an absolute http(s) URL');
    if (!AUTHORITY.test(absolute[1] ?? '')) return invalid('request target has a malformed authority');
    rest = absolute[2] ?? '';
    if (rest === '' || rest.startsWith('?')) rest = `/${rest}`;
  }
  const query = rest.indexOf('?');
  const path = query < 0 ? rest : rest.slice(0, query);
  if (!PATH.test(path)) return invalid('request path has a character outside RFC 3986 or a malformed %-escape');
  if (query >= 0 && !QUERY.test(rest.slice(query + 1))) return invalid('request query has a character outside RFC 3986 or a malformed %-escape');
  return { kind: 'path', path };
}
