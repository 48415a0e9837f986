import { beforeAll, describe, expect, inject, it } from 'vitest';

import { hostUrl } from '../../scripts/lib/deploy/stack-instance.js';
import { MALFORMED_REQUESTS, rawExchange, type RawTlsOptions, slowLorisChunks } from '../helpers/raw-tls.js';
import { type ContainerState, containerState } from './helpers/containers.js';
import { useSharedStack, workload } from './helpers/fixtures.js';
import { mtlsRequest } from './helpers/operator.js';

const ctx = inject('e2e');

describe('malformed requests from an allowed identity against the real server', { timeout: 180_000 }, () => {
  const shared = useSharedStack({ operator: '10m' });
  let tls: RawTlsOptions;
  let server: string;
  let before: ContainerState;

  beforeAll(async () => {
    tls = { port: ctx.servicePort, ca: shared.rootPem, cert: shared.operator.certPem, key: shared.operator.keyPem };
    server = workload(shared.stack, 'server').container;
    before = await containerState(server);
    expect(before.running).toBe(true);
  });

  it('answers each one (400, 404, 405, 414, 431 or a close) without the process restarting', async () => {
    const answers: Record<string, number | undefined> = {};
    for (const malformed of MALFORMED_REQUESTS) {
      const exchange = await rawExchange({ ...tls, payload: malformed.payload, deadlineMs: 10_000 });
      expect(exchange.ended, malformed.name).toBe('server');
      answers[malformed.name] = exchange.status;
    }
    expect(answers).toEqual(Object.fromEntries(MALFORMED_REQUESTS.map((m) => [m.name, m.status])));
  });

  it('closes a slow-loris connection with 408 once the 10 s header deadline has passed', async () => {
    // One header line per second, never the blank line that ends the head:
    // Node's default would keep this connection for 60-90 s.
    const exchange = await rawExchange({ ...tls, payload: slowLorisChunks(40), chunkIntervalMs: 1_000, deadlineMs: 25_000 });
    expect(exchange.ended).toBe('server');
    expect(exchange.status).toBe(408);
    console.log(`[e2e 10] slow-loris connection answered with 408 after ${exchange.elapsedMs} ms (header deadline 10 s)`);
    // Not before the deadline (1 s of slack for timers); within
    // twice the deadline, far from the 60-90 s Node would allow by default.
    expect(exchange.elapsedMs).toBeGreaterThanOrEqual(9_000);
    expect(exchange.elapsedMs).toBeLessThan(20_000);
  });

  it('the server container never restarted, and a normal request still gets 200', async () => {
    const after = await containerState(server);
    expect(after).toEqual(before);
    const operator = { cert: tls.cert, key: tls.key };
    const ok = await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, ...operator });
    expect(ok.status).toBe(200);
    expect(ok.json?.identity).toBe(ctx.operatorUri);
  });
});
