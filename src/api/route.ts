/** What a route handler gets: the engine, the server's shared state, and the request. */
import type * as http from 'node:http';
import type { Engine } from '../engine/index.js';
import type { StreamConn } from './conn.js';
import type { ExecRegistry } from './exec-registry.js';

/** The server state handlers share: exec instances, shutdown, and attach-before-start bookkeeping. */
export interface ServerState {
  readonly execs: ExecRegistry;
  /** Aborted when the server shuts down: long waits (wait, logs -f, events, reapers) end. */
  readonly closing: AbortController;
  /** Containers whose start request is being served. */
  readonly starting: Set<string>;
  startPending(id: string): boolean;
  /** Run `fn(true)` once a start of the container was attempted, or `fn(false)` when none came in time. */
  afterStart(id: string, fn: (started: boolean) => void): void;
  startAttempted(id: string): void;
  /** Keep releasing a container's runtime (mounts, network, --rm) once it exits. */
  reap(id: string): void;
}

export interface Ctx {
  engine: Engine;
  server: ServerState;
  req: http.IncomingMessage;
  res: http.ServerResponse;
  params: string[];
  query: URLSearchParams;
}

export interface StreamCtx {
  engine: Engine;
  server: ServerState;
  req: http.IncomingMessage;
  conn: StreamConn;
  params: string[];
  query: URLSearchParams;
}

export interface Route {
  method: string;
  re: RegExp;
  handler?: (ctx: Ctx) => Promise<void> | void;
  /** Hijackable endpoints (attach, exec start). */
  stream?: (ctx: StreamCtx) => Promise<void>;
}
