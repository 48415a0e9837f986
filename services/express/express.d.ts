// The part of Express 5's API the Express workload uses. Express ships no
// types, and the project takes express itself as its only new dependency;
// DefinitelyTyped's @types/express would replace this file.
declare module 'express' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface Request extends IncomingMessage {
    /** The path of the request target, without the query. */
    readonly path: string;
  }

  export interface Response extends ServerResponse {
    /** Values the middleware hands to later handlers of the same request. */
    locals: Record<string, unknown>;
    status(code: number): this;
    /** Sends the value as JSON with `content-type: application/json`. */
    json(body: unknown): this;
    /** Sends a string (or Buffer) body with the content type set before. */
    send(body: string | Buffer): this;
    type(contentType: string): this;
    set(field: string, value: string): this;
  }

  export type NextFunction = (error?: unknown) => void;
  export type RequestHandler = (req: Request, res: Response, next: NextFunction) => void;
  /** Express tells an error handler from a middleware by its four parameters. */
  export type ErrorRequestHandler = (error: unknown, req: Request, res: Response, next: NextFunction) => void;

  export interface Application {
    /** An Express app is the request listener of a Node http(s) server. */
    (req: IncomingMessage, res: ServerResponse): void;
    disable(setting: string): this;
    set(setting: string, value: unknown): this;
    use(...handlers: RequestHandler[]): this;
    use(handler: ErrorRequestHandler): this;
    get(path: string, ...handlers: RequestHandler[]): this;
  }

  export default function express(): Application;
}
