/**
 * One call to a MySQL-protocol server (MariaDB) from the host (the e2e
 * suite's caller, and the MariaDB recipe's unit test), as a client
 * with `--ssl-verify-server-cert` would make it, in Node alone: the server's
 * greeting, an SSLRequest, the TLS upgrade (the server's name checked against
 * the private root), a login with no password (the certificate is the
 * credential), one query. The answer is `<account> <tls>`, as the PostgreSQL
 * caller's `<role> <ssl>`; a refusal is the server's ERR packet as the mysql
 * client prints it (`ERROR 1045 (28000): Access denied …`) or the TLS error.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface MysqlCredential {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What happened: the answer, or the refusal (`code`: the TLS or socket error's code). */
export type MysqlOutcome = { readonly ok: true; readonly body: string } | { readonly ok: false; readonly code?: string; readonly message: string };

export interface MysqlTarget {
  readonly port: number;
  readonly serverName: string;
}

// Capability flags (MySQL client/server protocol): long password, protocol 4.1,
// transactions, TLS, secure connection (length-prefixed auth data), plugin auth.
const CAPABILITIES = 0x1 | 0x200 | 0x2000 | 0x800 | 0x8000 | 0x80000;
const CLIENT_SSL = 0x800;
const UTF8MB4 = 45;
const QUERY =
  "SELECT CONCAT(SUBSTRING_INDEX(CURRENT_USER(), '@', 1), ' ', IF(VARIABLE_VALUE <> '', 'true', 'false')) " +
  "FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_VERSION'";

/** The packets of one socket: 3-byte length, 1-byte sequence, payload. */
class Packets {
  private buf = Buffer.alloc(0);
  private wake?: () => void;
  private failure?: Error;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  private readonly onData = (d: Buffer) => {
    this.buf = Buffer.concat([this.buf, d]);
    this.wake?.();
  };

  private fail(e: Error) {
    this.failure ??= e;
    this.wake?.();
  }

  /** Stops reading this socket (before it is handed to TLS). */
  detach() {
    this.socket.off('data', this.onData);
  }

  async read(): Promise<Buffer> {
    for (;;) {
      if (this.buf.length >= 4) {
        const len = this.buf.readUIntLE(0, 3);
        if (this.buf.length >= 4 + len) {
          const payload = this.buf.subarray(4, 4 + len);
          this.buf = this.buf.subarray(4 + len);
          return payload;
        }
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

function packet(seq: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq;
  return Buffer.concat([head, payload]);
}

/** Capabilities, max packet size, character set, 23 zero bytes. */
function loginHead(): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(CAPABILITIES, 0);
  b.writeUInt32LE(16 * 1024 * 1024, 4);
  b[8] = UTF8MB4;
  return b;
}

class ServerError extends Error {}

/** An ERR packet as the mysql client prints it. */
function serverError(p: Buffer): ServerError {
  const code = p.readUInt16LE(1);
  const state = p[3] === 0x23 ? p.subarray(4, 9).toString() : 'HY000';
  const text = p.subarray(p[3] === 0x23 ? 9 : 3).toString();
  return new ServerError(`ERROR ${code} (${state}): ${text}`);
}

/** The first column of the first row of a text result set (one column, no CLIENT_DEPRECATE_EOF). */
async function firstValue(packets: Packets): Promise<string> {
  const head = await packets.read();
  if (head[0] === 0xff) throw serverError(head);
  await packets.read(); // the column definition
  await packets.read(); // EOF
  const row = await packets.read();
  if (row[0] === 0xfe || row[0] === 0xff) throw new Error('the query returned no row');
  return row.subarray(1, 1 + row[0]!).toString();
}

async function login(raw: net.Socket, t: MysqlTarget, rootPem: string, who: string, cred?: MysqlCredential): Promise<string> {
  const plain = new Packets(raw);
  const greeting = await plain.read();
  if (greeting[0] === 0xff) throw serverError(greeting);
  // protocol version, server version (NUL-terminated), thread id, 8 bytes of scramble, a filler, capabilities (low 16 bits)
  const afterVersion = greeting.indexOf(0, 1) + 1;
  if (!(greeting.readUInt16LE(afterVersion + 13) & CLIENT_SSL)) throw new Error('the server does not offer TLS');
  raw.write(packet(1, loginHead()));
  plain.detach();
  const secure = tls.connect({ socket: raw, servername: t.serverName, ca: rootPem, cert: cred?.certPem, key: cred?.keyPem, minVersion: 'TLSv1.2' });
  const packets = new Packets(secure);
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  const name = Buffer.from(`${who}\0`);
  secure.write(packet(2, Buffer.concat([loginHead(), name, Buffer.from([0]), Buffer.from('mysql_native_password\0')])));
  let seq = 3;
  for (;;) {
    const reply = await packets.read();
    if (reply[0] === 0x00) break;
    if (reply[0] === 0xff) throw serverError(reply);
    // An authentication switch: no password, so an empty answer.
    secure.write(packet(seq, Buffer.alloc(0)));
    seq += 2;
  }
  secure.write(packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(QUERY)])));
  const value = await firstValue(packets);
  secure.end(packet(0, Buffer.from([0x01])));
  return value;
}

/** One call as account `who`; no credential means no client certificate. */
export async function mysqlCall(t: MysqlTarget, rootPem: string, who: string, cred?: MysqlCredential): Promise<MysqlOutcome> {
  const raw = net.connect({ host: '127.0.0.1', port: t.port });
  raw.setTimeout(10_000, () => raw.destroy(new Error('timed out after 10 s')));
  try {
    return { ok: true, body: await login(raw, t, rootPem, who, cred) };
  } catch (err) {
    if (err instanceof ServerError) return { ok: false, message: err.message };
    const e = err as NodeJS.ErrnoException;
    return { ok: false, code: e.code, message: e.message };
  } finally {
    raw.destroy();
  }
}
