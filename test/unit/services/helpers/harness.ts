// Shared test plumbing: log capture, wait options for in-process conditions, HTTPS calls with
// explicit TLS options, free ports.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { type Agent, request } from 'node:https';
import { type AddressInfo, createServer } from 'node:net';
import type { TLSSocket } from 'node:tls';

import { expect } from 'vitest';

import type { WaitOptions } from '../../../../common/wait.js';
import { createLogger, type Logger } from '../../../../services/lib/logger.js';

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface LoggedProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Its stdout, one parsed JSON log line each. */
  readonly logs: LogLine[];
  exited(): Promise<number | null>;
}

/** Runs a service bundle (`node <file>`) with only PATH and `env`, collecting its JSON log lines. */
export function spawnWithLogs(node: string, file: string, env: Record<string, string>): LoggedProcess {
  const child = spawn(node, [file], { env: { PATH: process.env['PATH'] ?? '', ...env } });
  const logs: LogLine[] = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) logs.push(JSON.parse(line) as LogLine);
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, logs, exited: () => exit };
}

/**
 * SIGTERM to a bundled client and server: both exit 0, the server's last word
 * is `stopped`, and no private key was ever logged by either.
 */
export async function expectCleanStop(server: LoggedProcess, client: LoggedProcess): Promise<void> {
  client.child.kill('SIGTERM');
  server.child.kill('SIGTERM');
  expect(await client.exited()).toBe(0);
  expect(await server.exited()).toBe(0);
  expect(server.logs.at(-1)?.msg).toBe('stopped');
  expect(JSON.stringify([...server.logs, ...client.logs])).not.toContain('PRIVATE KEY');
}

export function captureLogs(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { lines, logger: createLogger({ level: 'debug', write: (line) => lines.push(JSON.parse(line) as LogLine) }) };
}

/**
 * Wait options for conditions of in-process servers and clients: they change
 * within milliseconds, so poll every 20 ms; give up after `timeoutMs`.
 */
export function within(timeoutMs = 5_000): WaitOptions {
  return { timeoutMs, intervalMs: 20 };
}

export interface TlsClientOptions {
  readonly port: number;
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  readonly agent?: Agent;
  readonly path?: string;
  /** Which DNS SAN the default hostname check expects. @default 'server.mesh.internal' */
  readonly servername?: string;
}

export interface TlsResponse {
  readonly status: number;
  readonly text: string;
  readonly body: any;
  readonly socket: TLSSocket;
  readonly reusedSocket: boolean;
  /** Serial of the certificate the server presented on this connection. */
  readonly peerSerial: string;
}

/** One GET over TLS; rejects on handshake or socket errors. */
export function httpsGet(options: TlsClientOptions): Promise<TlsResponse> {
  return new Promise((resolve, reject) => {
    const tls = options.agent ? { agent: options.agent } : { agent: false as const, ca: options.ca, cert: options.cert, key: options.key };
    const req = request(
      { host: '127.0.0.1', port: options.port, path: options.path ?? '/', servername: options.servername ?? 'server.mesh.internal', ...tls },
      (res) => {
        const socket = res.socket as TLSSocket;
        const peerSerial = socket.getPeerCertificate().serialNumber;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let body: unknown = undefined;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON (e.g. /metrics)
          }
          resolve({ status: res.statusCode ?? 0, text, body, socket, reusedSocket: req.reusedSocket, peerSerial });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** GET on a loopback admin listener. */
export function adminGet(port: number, path: string): Promise<{ status: number; text: string; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, text, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A port that was free a moment ago (for child processes that need a fixed one). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The value of one sample line in Prometheus text, or undefined. */
export function sample(metricsText: string, series: string): number | undefined {
  const line = metricsText.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
