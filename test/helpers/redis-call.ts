/**
 * One call to a Redis server over TLS from the host (the e2e suite's caller,
 * and the Redis recipe's unit test), in Node alone: the TLS handshake (the
 * server's name checked against the private root, as Node does by default),
 * then `ACL WHOAMI` in RESP, written and read by hand. The answer is
 * `<user> <tls>`, as the PostgreSQL and MySQL callers' `<role> <ssl>`; a
 * refusal is the server's error reply as redis-cli prints it (`NOAUTH
 * Authentication required.`) or the TLS error.
 */
import tls from 'node:tls';

export interface RedisCredential {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What happened: the answer, or the refusal (`code`: the TLS or socket error's code). */
export type RedisOutcome = { readonly ok: true; readonly body: string } | { readonly ok: false; readonly code?: string; readonly message: string };

export interface RedisTarget {
  readonly port: number;
  readonly serverName: string;
}

class ServerError extends Error {}

/** A RESP command: an array of bulk strings. */
export function respCommand(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** The first reply in buf when it is complete: a simple string, an error (thrown) or a bulk string. */
export function parseReply(buf: Buffer): string | undefined {
  const eol = buf.indexOf('\r\n');
  if (eol < 0) return undefined;
  const head = buf.subarray(1, eol).toString();
  switch (String.fromCharCode(buf[0]!)) {
    case '+':
      return head;
    case '-':
      throw new ServerError(head);
    case '$': {
      const len = Number(head);
      if (len < 0) return '(nil)';
      return buf.length >= eol + 2 + len + 2 ? buf.subarray(eol + 2, eol + 2 + len).toString() : undefined;
    }
    default:
      throw new Error(`unexpected reply: ${buf.toString().slice(0, 80)}`);
  }
}

/** ACL WHOAMI on one new connection; no credential means no client certificate. */
export async function redisCall(t: RedisTarget, rootPem: string, cred?: RedisCredential): Promise<RedisOutcome> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port: t.port,
    servername: t.serverName,
    ca: rootPem,
    cert: cred?.certPem,
    key: cred?.keyPem,
    minVersion: 'TLSv1.2',
  });
  socket.setTimeout(10_000, () => socket.destroy(new Error('timed out after 10 s')));
  try {
    const user = await new Promise<string>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      socket.once('secureConnect', () => socket.write(respCommand('ACL', 'WHOAMI')));
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        try {
          const reply = parseReply(buf);
          if (reply !== undefined) resolve(reply);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('connection closed by the server')));
    });
    return { ok: true, body: `${user} ${socket.encrypted}` };
  } catch (err) {
    if (err instanceof ServerError) return { ok: false, message: err.message };
    const e = err as NodeJS.ErrnoException;
    return { ok: false, code: e.code, message: e.message };
  } finally {
    socket.destroy();
  }
}
