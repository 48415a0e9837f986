// The host's identity and its requests are shared with the benchmarks; they live in scripts/lib.
export { enrollHostIdentity, makeCsr, postJson, signWithToken, type IssuedCredential } from '../../../scripts/lib/host-identity.js';
export { mtlsRequest, waitFor, type MtlsResponse } from '../../../scripts/lib/mtls-request.js';
