// A slow DNS server for the HAProxy recipe's tests: it answers an A query for
// one name with 127.0.0.1 (any other query with no record) after a delay, as
// Docker's resolver may on a busy host. The recipe resolves its upstream by
// name at run time (its `resolvers` section); the host has no DNS for the
// mesh's names, so its template is copied with this server as nameserver.
import { createSocket } from 'node:dgram';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SlowDns {
  readonly port: number;
  stop(): Promise<void>;
}

const A = 1;

/** Answers `name` IN A 127.0.0.1 after `delayMs`; other names and types get an empty answer. */
export async function startSlowDns(name: string, delayMs: number): Promise<SlowDns> {
  const socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    // The question: labels up to the empty one, then QTYPE and QCLASS.
    let end = 12;
    const labels: string[] = [];
    while (end < query.length && query[end]) {
      labels.push(query.subarray(end + 1, end + 1 + query[end]!).toString('latin1'));
      end += query[end]! + 1;
    }
    end += 5;
    const found = query.readUInt16BE(end - 4) === A && labels.join('.').toLowerCase() === name;
    const header = Buffer.from(query.subarray(0, 12));
    header.writeUInt16BE(0x8180, 2); // a response, recursion desired and available, no error
    header.writeUInt16BE(1, 4);
    header.writeUInt32BE(found ? 0x00010000 : 0, 6); // ANCOUNT, NSCOUNT
    header.writeUInt16BE(0, 10);
    // The answer points back at the question's name: 127.0.0.1, TTL 60 s.
    const answer = found ? Buffer.from([0xc0, 0x0c, 0, A, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]) : Buffer.alloc(0);
    setTimeout(() => socket.send(Buffer.concat([header, query.subarray(12, end), answer]), peer.port, peer.address), delayMs);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, stop: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}

/**
 * A copy of the recipe's share directory (MTLS_HAPROXY_SHARE) whose template
 * asks `dns` instead of /etc/resolv.conf's nameservers; removed by the
 * returned function.
 */
export async function shareAsking(recipeShare: string, dns: SlowDns): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'haproxy-share-'));
  const template = await readFile(join(recipeShare, 'haproxy.cfg.in'), 'utf8');
  if (!template.includes('    parse-resolv-conf\n')) throw new Error('haproxy.cfg.in has no parse-resolv-conf line to replace');
  await writeFile(join(dir, 'haproxy.cfg.in'), template.replace('    parse-resolv-conf\n', `    nameserver test 127.0.0.1:${dns.port}\n`));
  await copyFile(join(recipeShare, 'log-json.awk'), join(dir, 'log-json.awk'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
