// The mTLS server: one https listener that only talks to clients holding a
// certificate from our private root, authorises them by identity, and swaps
// its own certificate in place when the renewer rotates it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions, TLSSocket } from 'node:tls';

import { type AdminServer, type Endpoints, jsonResponse, metricsResponse, startAdminServer } from '../lib/admin.js';
import { credentialReadiness, credentialStats, type Health } from '../lib/credential-status.js';
import { CredentialWatcher, watchCredentials } from '../lib/credential-watcher.js';
import type { Credentials } from '../lib/credentials.js';
import { applyLimits, guardRequests, limitOptions, MTLS_LISTENER_LIMITS } from '../lib/http-limits.js';
import { AllowList, formatIdentities } from '../lib/identity.js';
import { type Logger, silentLogger } from '../lib/logger.js';
import { processStats } from '../lib/process-stats.js';
import { ThrottledLog } from '../lib/throttled-log.js';
import { classifyHandshakeFailure } from '../lib/tls-errors.js';
import { ServerMetrics } from './metrics.js';
import type { MtlsServerOptions, ServerState, ServerStats } from './options.js';
import { handleRequest, type RouteContext } from './routes.js';

export type { MtlsServerOptions, ServerState, ServerStats } from './options.js';
export type { RouteContext } from './routes.js';

/**
 * What answers requests on the mTLS port once the handshake has verified the
 * peer. Everything around it (TLS policy, credentials, limits, health, stats,
 * drain) is the server's; another framework brings only this.
 */
export interface RequestHandling {
  /** Named in the health detail (`serving mTLS (Express) on …`). @default none: the reference routes */
  readonly name?: string;
  readonly listener: (context: RouteContext) => (req: IncomingMessage, res: ServerResponse) => void;
}

const REFERENCE_ROUTES: RequestHandling = { listener: (context) => (req, res) => handleRequest(req, res, context) };

/** A TLS handshake must finish quickly; Node's default (120 s) invites slow-loris. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * TLS 1.3 only: both ends of the mesh are ours, and TLS 1.3 has no
 * renegotiation at all (nothing to disable, no client-initiated
 * renegotiation to rate-limit), no static-RSA or CBC suites, and an encrypted
 * client certificate. A TLS 1.2 client fails the handshake with
 * protocol_version.
 */
function secureContextOptions(credentials: Credentials): SecureContextOptions {
  // `ca` is the private root ONLY: trusting public CAs here would let any
  // publicly issued certificate through the handshake.
  return { ca: credentials.rootPem, cert: credentials.certPem, key: credentials.keyPem, minVersion: 'TLSv1.3' };
}

export class MtlsServer {
  readonly credentials: CredentialWatcher;
  readonly metrics: ServerMetrics;
  private readonly allowList: AllowList;
  private readonly logger: Logger;
  private readonly handshakeLog: ThrottledLog;
  private readonly requestProblems: ThrottledLog;
  private readonly refusals: ThrottledLog;
  private readonly startedAt = new Date();
  private readonly sockets = new Set<Socket>();
  private readonly connectedAt = new WeakMap<TLSSocket, number>();
  private readonly servingPromise: Promise<AddressInfo>;
  private resolveServing: (address: AddressInfo) => void = () => undefined;
  private rejectServing: (error: Error) => void = () => undefined;
  private https: Server | undefined;
  private admin: AdminServer | undefined;
  private state: ServerState = 'waiting';
  private listenError: string | undefined;
  private stopping: Promise<void> | undefined;
  /** What /metrics on the mTLS port shows: this process's, or the cluster's (setMetricsSource). */
  private metricsText: () => string = () => this.metrics.registry.render();

  constructor(
    private readonly options: MtlsServerOptions,
    private readonly handling: RequestHandling = REFERENCE_ROUTES,
  ) {
    this.allowList = new AllowList(options.allowedIdentities);
    this.logger = options.logger ?? silentLogger;
    const intervalMs = options.problemLogIntervalMs;
    this.handshakeLog = new ThrottledLog(this.logger, { msg: 'tls handshake failed', intervalMs });
    this.requestProblems = new ThrottledLog(this.logger, { msg: 'bad request', intervalMs, onRecord: (kind) => this.metrics.requestProblems.inc({ kind }) });
    this.refusals = new ThrottledLog(this.logger, { msg: 'request refused', intervalMs });
    this.credentials = watchCredentials(options, this.logger);
    this.metrics = new ServerMetrics(this.credentials);
    this.credentials.on('reload', (current) => this.useCredentials(current));
    this.servingPromise = new Promise<AddressInfo>((resolve, reject) => {
      this.resolveServing = resolve;
      this.rejectServing = reject;
    });
    this.servingPromise.catch(() => undefined); // reported through the log and /healthz as well
  }

  /** Starts the admin listener and loads credentials; the mTLS port opens once they are valid. */
  async start(): Promise<void> {
    if (this.options.adminPort !== null) {
      this.admin = await startAdminServer({
        port: this.options.adminPort ?? 9100,
        endpoints: this.endpoints(),
        limits: this.options.adminLimits,
        logger: this.logger,
      });
    }
    await this.credentials.start();
  }

  /** Resolves with the mTLS address once it listens; rejects if it cannot. */
  serving(): Promise<AddressInfo> {
    return this.servingPromise;
  }

  get adminPort(): number {
    return this.adminAddress.port;
  }

  get adminAddress(): { readonly host: string; readonly port: number } {
    if (!this.admin) throw new Error('the server is not started');
    return { host: this.admin.host, port: this.admin.port };
  }

  /** Stops accepting, lets in-flight requests finish (bounded), closes idle keep-alive connections. */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  stats(): ServerStats {
    const address = this.https?.address() as AddressInfo | null | undefined;
    return {
      role: 'server',
      state: this.state,
      startedAt: this.startedAt.toISOString(),
      listen: address ? { host: address.address, port: address.port } : null,
      allowedIdentities: formatIdentities(this.allowList.identities),
      credentials: credentialStats(this.credentials),
      requests: { total: this.metrics.totalRequests(), byIdentity: this.metrics.requestsByIdentity() },
      handshakeFailures: this.metrics.handshakeFailuresByReason(),
      process: processStats(),
    };
  }

  /**
   * The /healthz answer (200 only when ready): `ready` once the mTLS port
   * accepts connections with a valid certificate; `waiting` for the root pin
   * and the first certificate; `starting` between loading them and listening;
   * `unhealthy` when the files were refused before any load, the certificate
   * expired, the listener failed, or the server is stopping.
   */
  health(): Health & { serial: string | null } {
    const serial = this.credentials.current?.serial ?? null;
    if (this.state === 'stopping') return { status: 'unhealthy', detail: 'stopping', serial };
    if (this.state === 'failed') return { status: 'unhealthy', detail: `the mTLS listener failed: ${this.listenError ?? 'see the log'}`, serial };
    const credentials = credentialReadiness(this.credentials);
    if (credentials.status !== 'ready') return { ...credentials, serial };
    const address = this.https?.address() as AddressInfo | null | undefined;
    if (this.state !== 'serving' || !address)
      return { status: 'starting', detail: `opening the mTLS port ${this.options.listenPort ?? 8443}; ${credentials.detail}`, serial };
    const served = this.handling.name ? `mTLS (${this.handling.name})` : 'mTLS';
    return { status: 'ready', detail: `serving ${served} on ${address.address}:${address.port}; ${credentials.detail}`, serial };
  }

  /** A cluster worker's /metrics on the mTLS port shows the whole cluster's, as its primary last sent them. */
  setMetricsSource(render: () => string): void {
    this.metricsText = render;
  }

  private endpoints(): Endpoints {
    return {
      '/healthz': () => {
        const { status, detail, serial } = this.health();
        return jsonResponse(status === 'ready' ? 200 : 503, { status, detail, role: 'server', serial });
      },
      '/metrics': () => metricsResponse(this.metricsText()),
      '/stats': () => jsonResponse(200, this.stats()),
    };
  }

  private useCredentials(credentials: Credentials): void {
    if (this.state === 'stopping' || this.state === 'failed') return;
    if (!this.https) {
      this.listen(credentials);
      return;
    }
    // New handshakes use the new context; established connections keep the
    // one they negotiated, so nothing in flight is interrupted.
    this.https.setSecureContext(secureContextOptions(credentials));
    this.logger.info('serving new certificate to new connections', { serial: credentials.serial, notAfter: credentials.notAfter.toISOString() });
  }

  private listen(credentials: Credentials): void {
    const limits = this.options.limits ?? MTLS_LISTENER_LIMITS;
    const context: RouteContext = {
      allowList: this.allowList,
      metrics: this.metrics,
      metricsEndpoint: () => metricsResponse(this.metricsText()),
      shouldClose: (socket: TLSSocket) => this.shouldClose(socket),
      logger: this.logger,
      problems: this.requestProblems,
      refusals: this.refusals,
    };
    const server = createServer(
      { ...limitOptions(limits), ...secureContextOptions(credentials), requestCert: true, rejectUnauthorized: true, handshakeTimeout: HANDSHAKE_TIMEOUT_MS },
      guardRequests(this.handling.listener(context), this.requestProblems),
    );
    applyLimits(server, limits, this.requestProblems);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('secureConnection', (socket: TLSSocket) => this.connectedAt.set(socket, Date.now()));
    server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      const reason = classifyHandshakeFailure(error, socket.authorizationError);
      this.metrics.countHandshakeFailure(reason);
      this.handshakeLog.record(reason, {
        reason,
        code: error.code,
        verifyError: socket.authorizationError ?? undefined,
        remoteAddress: socket.remoteAddress,
      });
    });
    server.once('error', (error) => {
      this.state = 'failed';
      this.listenError = error.message;
      this.logger.error('mTLS listener failed', { error });
      this.rejectServing(error);
    });
    const host = this.options.listenHost ?? '0.0.0.0';
    server.listen(this.options.listenPort ?? 8443, host, () => {
      const address = server.address() as AddressInfo;
      this.state = 'serving';
      this.logger.info('serving mTLS', { host: address.address, port: address.port, serial: credentials.serial });
      this.resolveServing(address);
    });
    this.https = server;
  }

  private shouldClose(socket: TLSSocket): boolean {
    if (this.state === 'stopping') return true;
    const connectedAt = this.connectedAt.get(socket) ?? Date.now();
    return Date.now() - connectedAt > (this.options.maxConnectionAgeMs ?? 60_000);
  }

  private async drain(): Promise<void> {
    this.state = 'stopping';
    this.credentials.stop();
    for (const log of [this.handshakeLog, this.requestProblems, this.refusals]) log.flush();
    const server = this.https;
    if (server?.listening) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Busy connections get `Connection: close` on their last response (shouldClose).
      server.closeIdleConnections();
      const grace = this.options.shutdownGraceMs ?? 10_000;
      const force = setTimeout(() => {
        this.logger.warn('grace period over; closing remaining connections', { connections: this.sockets.size });
        for (const socket of this.sockets) socket.destroy();
      }, grace);
      await closed;
      clearTimeout(force);
    }
    await this.admin?.close();
  }
}

export function createMtlsServer(options: MtlsServerOptions): MtlsServer {
  return new MtlsServer(options);
}
