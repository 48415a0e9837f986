// One axios instance per credential generation: its httpsAgent is the
// reference client's agent (services/client/agent.ts: the private root only,
// our certificate, TLS 1.3, the server's identity checked after its chain),
// and its options turn off what axios would otherwise add on its own.
//
// The import is axios's CommonJS build for Node (`axios/dist/node/axios.cjs`,
// an export of its package.json): its ES build imports Node built-ins by bare
// name (`http`), which the bundles must not contain (services/build.ts keeps
// them to `node:` imports); the CommonJS build reaches them through require.
import type { Agent } from 'node:https';
import type { TLSSocket } from 'node:tls';

import axios from 'axios/dist/node/axios.cjs';

import { serialOf } from '../../common/serial.js';
import type { Outcome } from '../client/request.js';
import { codedError, TIMEOUT_CODE } from '../lib/tls-errors.js';

/** Answers larger than this are failures: the mesh's JSON answers are a few hundred bytes. */
const MAX_BODY_BYTES = 64 * 1024;

export type Http = ReturnType<typeof axios.create>;

export function createHttp(target: URL, agent: Agent, timeoutMs: number): Http {
  return axios.create({
    baseURL: target.href,
    httpsAgent: agent,
    // Node's https transport, the one that uses httpsAgent (not fetch).
    adapter: 'http',
    // HTTPS_PROXY and friends must not send mesh traffic (and its client certificate) elsewhere.
    proxy: false,
    // A redirect would take the call to another origin through follow-redirects, outside this agent's policy.
    maxRedirects: 0,
    timeout: timeoutMs,
    // ETIMEDOUT rather than ECONNABORTED for a timeout, so it is not taken for a reset.
    transitional: { clarifyTimeoutError: true },
    // Every status is an answer: the caller counts a 403 as a failure, not axios as an exception.
    validateStatus: () => true,
    maxContentLength: MAX_BODY_BYTES,
    responseType: 'json',
    headers: { accept: 'application/json' },
  });
}

/** One GET of the target; never rejects, so the caller decides what a failure means (the reference client's Outcome). */
export async function getOnce(http: Http): Promise<Outcome> {
  try {
    const response = await http.get<unknown>('');
    // The certificate the server presented on THIS connection (the request keeps its socket).
    const socket = (response.request as { socket?: TLSSocket } | undefined)?.socket;
    const presented = socket?.getPeerCertificate();
    const serverSerial = presented?.serialNumber ? serialOf(presented) : undefined;
    const body = typeof response.data === 'string' ? response.data : JSON.stringify(response.data);
    return { ok: true, status: response.status, body, serverSerial };
  } catch (error) {
    if (!axios.isAxiosError(error)) throw error;
    const request = error.request as { reusedSocket?: boolean } | undefined;
    // axios carries the cause's code (ECONNREFUSED, ERR_SSL_…, the identity check's own code) on its error.
    const failure = error.code === 'ETIMEDOUT' ? codedError(TIMEOUT_CODE, error.message) : Object.assign(new Error(error.message), { code: error.code });
    // axios does not say whether a timed-out call had connected: taken as not, so a
    // timeout before the first success counts as the server still starting.
    return { ok: false, error: failure, reusedSocket: request?.reusedSocket === true, connected: error.code !== 'ETIMEDOUT' };
  }
}
