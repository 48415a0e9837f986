// Just enough of PostgreSQL's wire protocol (v3) for the psql recipe's call:
// SSLRequest answered 'S', a TLS handshake that requires a client certificate
// chaining to the given root, AuthenticationOk for any startup message, and
// one row ("t", the TLS version, the client certificate's serial in decimal)
// for any simple Query — the shape of the recipe's pg_stat_ssl query.
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';

const SSL_REQUEST = 80877103;
const PROTOCOL_3 = 196608;
const TEXT_OID = 25;
const BOOL_OID = 16;

export interface FakePostgresOptions {
  readonly port: number;
  readonly rootPem: string;
  /** Leaf + intermediate. */
  readonly certPem: string;
  readonly keyPem: string;
}

export interface FakePostgres {
  readonly port: number;
  /** Queries answered. */
  readonly queries: () => number;
  /** Closes the listener and every connection: new connections are refused. */
  close(): Promise<void>;
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const int16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}
const cstring = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

function parameterStatus(name: string, value: string): Buffer {
  return message('S', Buffer.concat([cstring(name), cstring(value)]));
}

const READY = message('Z', Buffer.from('I'));

function rowDescription(columns: ReadonlyArray<{ name: string; oid: number }>): Buffer {
  const fields = columns.map(({ name, oid }) => Buffer.concat([cstring(name), int32(0), int16(0), int32(oid), int16(-1), int32(-1), int16(0)]));
  return message('T', Buffer.concat([int16(columns.length), ...fields]));
}

function dataRow(values: readonly string[]): Buffer {
  const cells = values.map((value) => Buffer.concat([int32(Buffer.byteLength(value)), Buffer.from(value)]));
  return message('D', Buffer.concat([int16(values.length), ...cells]));
}

/** Reads length-prefixed messages off a stream; `typed`: a type byte comes first. */
function onMessages(socket: Socket, typed: () => boolean, handle: (type: string, body: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const offset = typed() ? 1 : 0;
      if (buffered.length < offset + 4) return;
      const length = buffered.readInt32BE(offset);
      if (buffered.length < offset + length) return;
      const type = offset ? buffered.toString('latin1', 0, 1) : '';
      const body = buffered.subarray(offset + 4, offset + length);
      buffered = buffered.subarray(offset + length);
      handle(type, body);
      if (socket.destroyed) return;
    }
  });
}

export async function startFakePostgres(options: FakePostgresOptions): Promise<FakePostgres> {
  const secureContext = createSecureContext({ ca: options.rootPem, cert: options.certPem, key: options.keyPem, minVersion: 'TLSv1.2' });
  const sockets = new Set<Socket>();
  let queries = 0;

  const serveTls = (tls: TLSSocket): void => {
    let started = false;
    onMessages(
      tls,
      () => started,
      (type, body) => {
        if (!started) {
          if (body.readInt32BE(0) !== PROTOCOL_3) return void tls.destroy();
          started = true;
          tls.write(
            Buffer.concat([
              message('R', int32(0)), // AuthenticationOk
              parameterStatus('server_version', '15.0'),
              parameterStatus('server_encoding', 'UTF8'),
              parameterStatus('client_encoding', 'UTF8'),
              parameterStatus('DateStyle', 'ISO, MDY'),
              parameterStatus('integer_datetimes', 'on'),
              parameterStatus('standard_conforming_strings', 'on'),
              message('K', Buffer.concat([int32(4242), int32(1)])), // BackendKeyData
              READY,
            ]),
          );
          return;
        }
        if (type === 'Q') {
          queries += 1;
          const serialHex = tls.getPeerCertificate().serialNumber;
          const row = ['t', tls.getProtocol() ?? '', BigInt(`0x${serialHex}`).toString(10)];
          const columns = [
            { name: 'ssl', oid: BOOL_OID },
            { name: 'version', oid: TEXT_OID },
            { name: 'client_serial', oid: TEXT_OID },
          ];
          tls.write(Buffer.concat([rowDescription(columns), dataRow(row), message('C', cstring('SELECT 1')), READY]));
        } else if (type === 'X') {
          tls.end();
        }
      },
    );
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (first: Buffer) => {
      // libpq sends the 8-byte SSLRequest alone and waits for one byte.
      if (first.length !== 8 || first.readInt32BE(4) !== SSL_REQUEST) return void socket.destroy();
      socket.write('S');
      const tls = new TLSSocket(socket, { isServer: true, secureContext, requestCert: true, rejectUnauthorized: true });
      tls.on('error', () => undefined);
      tls.once('secure', () => serveTls(tls));
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(options.port, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    queries: () => queries,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
