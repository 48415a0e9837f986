// Turning TLS/socket errors into a handful of stable reasons that metrics can
// label and operators can act on. Node reports certificate verification
// failures as OpenSSL's X509_V_ERR_* names (without the prefix), handshake
// failures as ERR_SSL_*, and socket failures as errno codes.

/** Verification results meaning "no trusted path to our root". */
const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
]);

const EXPIRED = new Set(['CERT_HAS_EXPIRED']);

const CERT_VERIFY = new Set([
  ...UNTRUSTED,
  ...EXPIRED,
  'CERT_NOT_YET_VALID',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
]);

const CONNECTION = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

export type HandshakeFailureReason = 'no_certificate' | 'unknown_ca' | 'expired' | 'bad_certificate' | 'other';
export const HANDSHAKE_FAILURE_REASONS: readonly HandshakeFailureReason[] = ['no_certificate', 'unknown_ca', 'expired', 'bad_certificate', 'other'];

/**
 * Server side, from a 'tlsClientError' (error, socket). A missing client
 * certificate fails inside OpenSSL's handshake. An untrusted or expired one
 * does not: OpenSSL finishes the handshake, Node sees `authorizationError`
 * and destroys the socket (`rejectUnauthorized`), and the error is a plain
 * ECONNRESET — so the socket's authorizationError is what tells them apart.
 */
export function classifyHandshakeFailure(error: NodeJS.ErrnoException, authorizationError?: string | Error | null): HandshakeFailureReason {
  if (error.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'no_certificate';
  const verifyCode: unknown = typeof authorizationError === 'string' ? authorizationError : (authorizationError as { code?: unknown } | null | undefined)?.code;
  if (typeof verifyCode !== 'string') return 'other';
  if (EXPIRED.has(verifyCode)) return 'expired';
  if (UNTRUSTED.has(verifyCode)) return 'unknown_ca';
  return 'bad_certificate';
}

/** Set by the client's checkServerIdentity when the server is not who we expected. */
export const IDENTITY_MISMATCH_CODE = 'ERR_MTLS_IDENTITY_MISMATCH';
/** Set by the client when a request exceeds its deadline. */
export const TIMEOUT_CODE = 'ERR_MTLS_TIMEOUT';

export type RequestFailureReason = 'identity_mismatch' | 'own_certificate_expired' | 'tls' | 'timeout' | 'connection' | 'other' | `http_${number}`;

/** Client side: why a request failed before an HTTP status arrived. */
export function classifyRequestFailure(error: NodeJS.ErrnoException): RequestFailureReason {
  const code = error.code ?? '';
  if (code === IDENTITY_MISMATCH_CODE || code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'identity_mismatch';
  if (code === TIMEOUT_CODE || code === 'ETIMEDOUT') return 'timeout';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || CERT_VERIFY.has(code)) return 'tls';
  if (CONNECTION.has(code)) return 'connection';
  return 'other';
}

export function codedError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}
