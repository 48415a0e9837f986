// What each server technology of the catalog answers to a caller it must
// refuse (no certificate, a self-signed one, an unlisted identity), pinned from
// the recipes' own tests, and the check of one outcome against it.
import { expect } from 'vitest';

import type { CallOutcome } from './callers.js';

/** What a server of each technology answers to a caller it must refuse. */
export type Refusal = { readonly status: number; readonly body?: RegExp } | { readonly code: string | RegExp } | { readonly message: RegExp };
export interface Refusals {
  readonly noCertificate: Refusal;
  readonly selfSigned: Refusal;
  readonly unlisted: Refusal;
}

/** TLS alert 42 (bad_certificate), in the spelling of the host's Node: OpenSSL 3.0 says SSLV3, 3.5 SSL/TLS. */
const BAD_CERTIFICATE = /^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_BAD_CERTIFICATE$/;

// Pinned from the recipes' own tests by hand (recipes/*/README.md): the exact
// alert or status each technology gives, as the caller sees it.
export const REFUSALS: Record<string, Refusals> = {
  // nginx requires a certificate in the handshake (ssl_conf_command VerifyMode
  // Require) but verifies it after: a foreign one gets its JSON 400.
  nginx: {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { status: 400, body: /"error":"tls_refused".*self-signed certificate/ },
    unlisted: { status: 403 },
  },
  // Go and OpenSSL refuse in the handshake (TLS 1.3 alerts as Node names them).
  'go-server': {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { status: 403 },
  },
  'python-server': {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { status: 403 },
  },
  postgres: {
    noCertificate: { message: /connection requires a valid client certificate/ },
    selfSigned: { message: /tlsv1 alert unknown ca/ },
    unlisted: { message: /certificate authentication failed for user "intruder"/ },
  },
  // mod_ssl refuses in the handshake (SSLVerifyClient require), the identity
  // with Require expr on the subject DN and its JSON ErrorDocument.
  httpd: {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { status: 403, body: /"error":"forbidden","reason":"client identity not allowed"/ },
  },
  // HAProxy refuses in the handshake (verify required; OpenSSL's alerts), the
  // identity with an http-request deny on the subject DN.
  haproxy: {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { status: 403, body: /"error":"forbidden","reason":"client identity not allowed"/ },
  },
  // Express on Node's TLS (services/express): no certificate fails inside
  // OpenSSL's handshake (its alert); an untrusted one is verified after it and
  // Node closes the connection without an alert; the identity in a middleware.
  'express-server': {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ECONNRESET' },
    unlisted: { status: 403, body: /^\{"error":"forbidden","identity":\["intruder\.mesh\.internal",.*"reason":"none of the identities/ },
  },
  // MariaDB asks for a certificate but does not require one in the handshake:
  // without one the account's REQUIRE SUBJECT refuses the login; an account
  // that does not exist fails the authentication switch (1698).
  mariadb: {
    noCertificate: { message: /^ERROR 1045 \(28000\): Access denied for user 'operator'@'[0-9.]+' \(using password: NO\)$/ },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { message: /^ERROR 1698 \(28000\): Access denied for user 'intruder'@'[0-9.]+'$/ },
  },
  // exporter-toolkit refuses in Go's handshake (RequireAndVerifyClientCert),
  // the identity too: client_allowed_sans fails VerifyPeerCertificate, a bad_certificate alert.
  'node-exporter': {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    // Alert 42; Node 20 (OpenSSL 3.0) names it SSLV3, Node 22 and 24 (OpenSSL 3.5) SSL/TLS.
    unlisted: { code: BAD_CERTIFICATE },
  },
  // grpc-go over Go's TLS refuses in the handshake (RequireAndVerifyClientCert);
  // the identity in an interceptor on every RPC: PERMISSION_DENIED with its reason.
  'grpc-server': {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { message: /^7 PERMISSION_DENIED: no SAN URI of the client certificate is in ALLOWED_IDENTITIES$/ },
  },
  // Caddy's TLS connection policy (require_and_verify) refuses in Go's
  // handshake; the identity in a route (vars matcher on the first SAN URI), its JSON 403.
  caddy: {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { status: 403, body: /"error":"forbidden","reason":"client identity not allowed"/ },
  },
  // The same Caddy configuration with the certificate it serves from the CA's ACME provisioner.
  'caddy-acme': {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { status: 403, body: /"error":"forbidden","reason":"client identity not allowed"/ },
  },
  // Redis requires a certificate in the handshake (tls-auth-clients yes); the
  // recipe's module leaves an identity it does not map unauthenticated.
  redis: {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { message: /^NOAUTH Authentication required\.$/ },
  },
};

/**
 * The reference Node server (services/server): no certificate fails inside
 * OpenSSL's handshake (its alert); an untrusted one is verified after it and
 * Node closes the connection without an alert (its own counter says
 * unknown_ca: e2e 03); the identity is checked per request, a JSON 403.
 */
export const NODE_SERVER_REFUSALS = {
  noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
  selfSigned: { code: 'ECONNRESET' },
  unlisted: { status: 403, body: /^\{"error":"forbidden","identity":\[[^\]]*"spiffe:\/\/mesh\.internal\/intruder"/ },
} satisfies Refusals;

export function expectRefusal(got: CallOutcome, want: Refusal, what: string) {
  expect(got.ok, `${what}: ${JSON.stringify(got)}`).toBe(false);
  if ('status' in want) {
    expect(got.status, what).toBe(want.status);
    if (want.body) expect(got.ok ? '' : got.message, what).toMatch(want.body);
  } else if ('code' in want) {
    const code = got.ok ? undefined : got.code;
    if (typeof want.code === 'string') expect(code, `${what}: ${got.ok ? '' : got.message}`).toBe(want.code);
    else expect(code, `${what}: ${got.ok ? '' : got.message}`).toMatch(want.code);
  } else {
    expect(got.ok ? '' : got.message, what).toMatch(want.message);
  }
}
