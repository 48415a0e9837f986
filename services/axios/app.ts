// The axios mTLS client: the reference client (services/client: agent, retry
// policy, tracker, /stats shape, one agent per credential generation) with
// axios making the calls. What changes with axios: the agent is handed to an
// axios instance (httpsAgent), one instance per credential generation, and
// axios's own habits (proxies from the environment, redirects, throwing on a
// status) are turned off in http.ts.
import { MtlsClient, type MtlsClientOptions, type Transport } from '../client/app.js';
import { createHttp, getOnce } from './http.js';

/** The reference client's options; the pace is an interval, as the recipes' REQUEST_INTERVAL_MS. */
export type AxiosClientOptions = Omit<MtlsClientOptions, 'requestRate'> & {
  /** Time between calls while healthy. @default 1000 */
  readonly requestIntervalMs?: number;
};

const AXIOS: Transport = {
  name: 'axios',
  caller: (target, agent, timeoutMs) => {
    const http = createHttp(target, agent, timeoutMs);
    return () => getOnce(http);
  },
};

export class AxiosMtlsClient extends MtlsClient {
  constructor({ requestIntervalMs = 1_000, ...options }: AxiosClientOptions) {
    super({ ...options, requestRate: 1_000 / requestIntervalMs }, AXIOS);
  }
}
