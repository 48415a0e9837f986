// Finding what the CA issued for an identity in its request log (the input of
// `npm run revoke`), against certificates made in this process and log lines
// in step-ca's text and JSON formats as `docker logs --timestamps` prints them.
import { X509Certificate } from 'node:crypto';

import { beforeAll, describe, expect, it } from 'vitest';

import { issuedFromCaLog, LOG_FROM_INIT_SLACK_SECONDS, logIsComplete, unexpiredFor } from '../../../../scripts/lib/ca/log.js';
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
    expect(issuedFromCaLog(damaged)).toEqual({ certificates: [], since: new Date('2030-01-01T10:00:01.000Z'), unreadable: 1 });
  });

  it('is empty for an empty log', () => {
    expect(issuedFromCaLog('')).toEqual({ certificates: [], since: undefined, unreadable: 0 });
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
  const caCreated = new Date('2030-01-01T00:00:00Z');
  const at = (iso: string) => ({ certificates: [], since: new Date(iso), unreadable: 0 });

  it('is complete when the log starts at the CA initialisation (younger than the longest lifetime)', () => {
    const now = new Date('2030-01-01T06:00:00Z');
    expect(logIsComplete(at('2030-01-01T00:01:00Z'), { maxLifetimeSeconds: 86_400, caCreated, now })).toBe(true);
    const tooLate = new Date(caCreated.getTime() + (LOG_FROM_INIT_SLACK_SECONDS + 1) * 1000).toISOString();
    expect(logIsComplete(at(tooLate), { maxLifetimeSeconds: 86_400, caCreated, now })).toBe(false);
  });

  it('is complete when the log reaches back past the longest lifetime', () => {
    const now = new Date('2030-01-05T00:00:00Z');
    expect(logIsComplete(at('2030-01-03T23:59:59Z'), { maxLifetimeSeconds: 86_400, caCreated, now })).toBe(true);
    expect(logIsComplete(at('2030-01-04T00:00:01Z'), { maxLifetimeSeconds: 86_400, caCreated, now })).toBe(false);
  });

  it('is never complete for an empty log', () => {
    expect(logIsComplete({ certificates: [], unreadable: 0 }, { maxLifetimeSeconds: 60, caCreated, now: new Date() })).toBe(false);
  });
});
