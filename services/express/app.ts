// The Express mTLS server: the reference server (services/server/app.ts: TLS
// policy, credentials, limits, health, stats, drain) with an Express app as
// its request listener. What changes with Express is where the policy sits:
// the TLS options go to https.createServer, which takes the app as its
// request listener, and the identity check is a middleware (routes.ts).
import { MtlsServer, type MtlsServerOptions } from '../server/app.js';
import { createApp } from './routes.js';

/** The reference server's options, less its cluster and admin-limit knobs. */
export type ExpressServerOptions = Omit<MtlsServerOptions, 'adminPort' | 'adminLimits'> & { readonly adminPort?: number };

export class ExpressMtlsServer extends MtlsServer {
  constructor(options: ExpressServerOptions) {
    super(options, { name: 'Express', listener: createApp });
  }
}
