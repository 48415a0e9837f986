// Finding what the CA issued for an identity in its request log (the input of
// `npm run revoke`), against certificates made in this process and log lines
// in step-ca's text and JSON formats as `docker logs --timestamps` prints them.
import { X509Certificate } from 'node:crypto';

import { beforeAll, describe, expect, it } from 'vitest';

import { FIRST_START_LINE, issuedFromCaLog, logIsComplete, unexpiredFor } from '../../../../scripts/lib/ca/log.js';
import { createPki, type Leaf, type Pki } from '../../../helpers/pki.js';

const MINUTE = 60_000;
const now = new Date();
let pki: Pki;
let live: Leaf;
let thief: Leaf;
let expired: Leaf;
let other: Leaf;

const b64 = (pem: string) => new X509Certificate(pem).raw.toString('base64');
const textLine = (ts: string, leaf: Leaf, path: string) =>
  `${ts} time="${ts.slice(0, 19)}Z" level=info certificate="${b64(leaf.certPem)}" duration=12ms method=POST path=${path} protocol=HTTP/2.0 serial=1 status=201`;
const jsonLine = (ts: string, leaf: Leaf) => `${ts} {"level":"info","path":"/1.0/rekey","certificate":"${b64(leaf.certPem)}","status":201}`;

beforeAll(async () => {
  pki = await createPki('Log');
  const client = { commonName: 'client.mesh.internal', dns: ['client.mesh.internal'], uris: ['spiffe://mesh.internal/client'] };
  live = await pki.issue({ ...client, notAfter: new Date(now.getTime() + MINUTE) });
  thief = await pki.issue({ ...client, notAfter: new Date(now.getTime() + 2 * MINUTE) });
  expired = await pki.issue({ ...client, notBefore: new Date(now.getTime() - 3 * MINUTE), notAfter: new Date(now.getTime() - MINUTE) });
  other = await pki.issue({ commonName: 'server.mesh.internal', dns: ['server.mesh.internal'], uris: ['spiffe://mesh.internal/server'] });
});

describe('issuedFromCaLog', () => {
  it('reads every certificate in text and JSON lines, once per serial, and the oldest timestamp', () => {
    const log = [
      '2030-01-01T10:00:00.123456789Z {"ts":"…","component":"ca-entrypoint","msg":"provisioner admin claims"}',
      textLine('2030-01-01T10:00:01.000000000Z', live, '/1.0/sign'),
      textLine('2030-01-01T10:00:02.000000000Z', live, '/1.0/sign'),
      jsonLine('2030-01-01T10:00:03.000000000Z', thief),
      textLine('2030-01-01T10:00:04.000000000Z', other, '/1.0/renew'),
      '2030-01-01T10:00:05.000000000Z time="2030-01-01T10:00:05Z" level=error msg="token already used" status=401',
    ].join('\n');
    const record = issuedFromCaLog(log);
    expect(record.since?.toISOString()).toBe('2030-01-01T10:00:00.123Z');
    expect(record.unreadable).toBe(0);
    expect(record.certificates.map((c) => c.serial).sort()).toEqual([live.serial, thief.serial, other.serial].sort());
    const fromLog = record.certificates.find((c) => c.serial === thief.serial);
    expect(fromLog?.uris).toEqual(['spiffe://mesh.internal/client']);
    expect(fromLog?.dnsNames).toEqual(['client.mesh.internal']);
    expect(fromLog?.notAfter.toISOString()).toBe(new Date(new X509Certificate(thief.certPem).validTo).toISOString());
  });

  it('counts a damaged certificate field instead of failing', () => {
    const damaged = textLine('2030-01-01T10:00:01.000000000Z', live, '/1.0/sign').replace(/certificate="[A-Za-z0-9+/]{40}/, 'certificate="AAAA');
    expect(issuedFromCaLog(damaged)).toEqual({ certificates: [], fromFirstStart: false, since: new Date('2030-01-01T10:00:01.000Z'), unreadable: 1 });
  });

  it('is empty for an empty log', () => {
    expect(issuedFromCaLog('')).toEqual({ certificates: [], fromFirstStart: false, since: undefined, unreadable: 0 });
  });
});

describe('unexpiredFor', () => {
  it('keeps the unexpired certificates of the identity, by DNS or URI SAN', () => {
    const record = issuedFromCaLog([live, thief, expired, other].map((l, i) => textLine(`2030-01-01T10:00:0${i}.000000000Z`, l, '/1.0/rekey')).join('\n'));
    expect(
      unexpiredFor(record, ['client.mesh.internal'], now)
        .map((c) => c.serial)
        .sort(),
    ).toEqual([live.serial, thief.serial].sort());
    expect(
      unexpiredFor(record, ['spiffe://mesh.internal/client'], now)
        .map((c) => c.serial)
        .sort(),
    ).toEqual([live.serial, thief.serial].sort());
    expect(unexpiredFor(record, ['spiffe://mesh.internal/server'], now).map((c) => c.serial)).toEqual([other.serial]);
    expect(unexpiredFor(record, ['nobody.mesh.internal'], now)).toEqual([]);
  });
});

describe('logIsComplete', () => {
  const at = (iso: string, fromFirstStart = false) => ({ certificates: [], fromFirstStart, since: new Date(iso), unreadable: 0 });
  const entrypointLine = (ts: string, msg: string) => `${ts} {"ts":"${ts.slice(0, 19)}Z","level":"info","component":"ca-entrypoint","msg":"${msg}"}`;

  it("is complete when the log holds the CA's first start since its initialisation, however young it is", () => {
    const now = new Date('2030-01-01T06:00:00Z');
    const first = issuedFromCaLog(
      [entrypointLine('2030-01-01T05:59:00.000000000Z', FIRST_START_LINE), textLine('2030-01-01T05:59:30.000000000Z', live, '/1.0/sign')].join('\n'),
    );
    expect(first.fromFirstStart).toBe(true);
    expect(logIsComplete(first, { maxLifetimeSeconds: 86_400, now })).toBe(true);
  });

  it('is not complete when it starts at a later start (a container recreated, a pod replaced), however close to the initialisation', () => {
    const now = new Date('2030-01-01T00:02:00Z');
    const again = issuedFromCaLog(entrypointLine('2030-01-01T00:01:00.000000000Z', 'started again: certificates issued before this start are not in this log'));
    expect(again.fromFirstStart).toBe(false);
    expect(logIsComplete(again, { maxLifetimeSeconds: 86_400, now })).toBe(false);
  });

  it("is not fooled by the first-start text inside a line the CA wrote for a client's request", () => {
    const smuggled = [
      `2030-01-01T00:01:00.000000000Z time="2030-01-01T00:01:00Z" level=info user-agent="${FIRST_START_LINE}" path=/1.0/sign status=201`,
      `2030-01-01T00:01:01.000000000Z {"level":"info","user-agent":"x\\"}{\\"ts\\":\\"\\",\\"level\\":\\"info\\",\\"component\\":\\"ca-entrypoint\\",\\"msg\\":\\"${FIRST_START_LINE}\\"}"}`,
      `2030-01-01T00:01:02.000000000Z {"ts":"2030-01-01T00:01:02Z","level":"info","component":"ca-entrypoint","msg":"${FIRST_START_LINE} (not quite)"}`,
    ].join('\n');
    expect(issuedFromCaLog(smuggled).fromFirstStart).toBe(false);
  });

  it('is complete when the log reaches back past the longest lifetime', () => {
    const now = new Date('2030-01-05T00:00:00Z');
    expect(logIsComplete(at('2030-01-03T23:59:59Z'), { maxLifetimeSeconds: 86_400, now })).toBe(true);
    expect(logIsComplete(at('2030-01-04T00:00:01Z'), { maxLifetimeSeconds: 86_400, now })).toBe(false);
  });

  it('is never complete for an empty log', () => {
    expect(logIsComplete({ certificates: [], fromFirstStart: false, unreadable: 0 }, { maxLifetimeSeconds: 60, now: new Date() })).toBe(false);
  });
});
