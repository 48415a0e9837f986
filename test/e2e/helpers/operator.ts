// The host's identity and its requests are shared with the benchmarks; they live in scripts/lib.
export { enrollHostIdentity, type IssuedCredential, makeCsr, postJson, signWithToken } from '../../../scripts/lib/identity/host-identity.js';
export { mtlsRequest, type MtlsResponse } from '../../../scripts/lib/identity/mtls-request.js';
