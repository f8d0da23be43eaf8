/**
 * The Docker Engine API over the same engine calls the CLI makes (API 1.41, as the docker
 * CLI 20/28 and dockerode use it). Routing strips an optional `/vX.Y` prefix; image names
 * are matched greedily (they contain `/` and `:`); unknown routes answer a JSON 404.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { StrataError, errnoCode } from '../base/errors.js';
import { isLoopback } from '../base/net.js';
import type { Engine } from '../engine/index.js';
import { sendError, sendJson, rawError } from './http.js';
import { plainConn, upgradedConn, type StreamConn } from './conn.js';
import type { Route, ServerState } from './route.js';
import { containerRoutes } from './containers.js';
import { imageRoutes } from './images.js';
import { systemRoutes } from './system.js';
import { ExecRegistry } from './exec-registry.js';
import { execRoutes } from './exec-routes.js';
import { volumeRoutes } from './volumes.js';
import { networkRoutes } from './networks.js';
import { buildRoutes } from './build-routes.js';
import { containerExtraRoutes } from './container-extras.js';
import { authRoutes } from './auth.js';

const VERSION_PREFIX = /^\/v\d+(?:\.\d+)?(?=\/)/;

interface ListenAddress { kind: 'unix'; path: string; }
interface TcpAddress { kind: 'tcp'; host: string; port: number; }

/** `unix:///run/strata.sock`, `tcp://127.0.0.1:2375`, or a bare socket path. */
export function parseHost(spec: string): ListenAddress | TcpAddress {
  if (spec.startsWith('unix://')) return { kind: 'unix', path: spec.slice('unix://'.length) };
  if (spec.startsWith('/')) return { kind: 'unix', path: spec };
  if (spec.startsWith('tcp://')) {
    const rest = spec.slice('tcp://'.length).replace(/\/$/, '');
    const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(rest);
    if (!m) throw new StrataError('invalid_argument', `invalid TCP address ${spec}: expected tcp://HOST:PORT`);
    const host = m[1] ?? m[2] ?? '';
    const port = Number(m[3]);
    if (!(port >= 0 && port < 65536)) throw new StrataError('invalid_argument', `invalid port in ${spec}`);
    return { kind: 'tcp', host: host || '0.0.0.0', port };
  }
  throw new StrataError('invalid_argument', `invalid host ${spec}: use unix:///path or tcp://HOST:PORT`);
}

export { isLoopback };

/** The group a socket is given when it exists (as Docker's `docker` group). */
const SOCKET_GROUP = 'strata';

function groupId(name: string): number | undefined {
  try {
    for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
      const [n, , gid] = line.split(':');
      if (n === name && gid !== undefined) return Number(gid);
    }
  } catch { /* no group file */ }
  return undefined;
}

interface ApiServerOptions {
  engine: Engine;
  /** How long a container attached before its start waits for that start (default 60 s). */
  deferTimeoutMs?: number;
}

export class ApiServer implements ServerState {
  readonly engine: Engine;
  readonly execs = new ExecRegistry();
  readonly listeners: { server: http.Server; address: string; unixPath?: string }[] = [];
  /** Aborted when the server shuts down: long waits (wait, logs -f, events, reapers) end. */
  readonly closing = new AbortController();
  private readonly routes: Route[];
  private readonly reaping = new Set<string>();
  readonly deferTimeoutMs: number;

  constructor(opts: ApiServerOptions) {
    this.deferTimeoutMs = opts.deferTimeoutMs ?? (Number(process.env.STRATA_API_DEFER_TIMEOUT_MS) || 60_000);
    this.engine = opts.engine;
    this.routes = [...systemRoutes(), ...containerRoutes(), ...execRoutes(), ...imageRoutes(), ...volumeRoutes(), ...networkRoutes(), ...buildRoutes(), ...containerExtraRoutes(), ...authRoutes()];
  }

  /** Route a path (version prefix removed) to its handler and captured parameters. */
  match(method: string, rawPath: string): { route: Route; params: string[] } | undefined {
    const p = rawPath.replace(VERSION_PREFIX, '');
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const m = route.re.exec(p);
      if (m) return { route, params: m.slice(1).map((x) => safeDecode(x ?? '')) };
    }
    return undefined;
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const hit = this.match(req.method ?? 'GET', url.pathname);
    try {
      if (!hit) {
        sendJson(res, 404, { message: 'page not found' });
        req.resume();
        return;
      }
      if (hit.route.handler) {
        await hit.route.handler({ engine: this.engine, server: this, req, res, params: hit.params, query: url.searchParams });
      } else if (hit.route.stream) {
        const conn = await plainConn(req, res);
        await hit.route.stream({ engine: this.engine, server: this, req, conn, params: hit.params, query: url.searchParams });
      }
    } catch (e) {
      if (process.env.STRATA_DEBUG) process.stderr.write(`${req.method} ${req.url}: ${(e as Error).stack ?? e}\n`);
      sendError(res, e);
    }
  }

  private readonly hijacked = new Set<net.Socket>();

  private async onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    this.hijacked.add(socket);
    socket.once('close', () => this.hijacked.delete(socket));
    const url = new URL(req.url ?? '/', 'http://localhost');
    const hit = this.match(req.method ?? 'GET', url.pathname);
    if (!hit?.route.stream) {
      socket.on('error', () => undefined);
      socket.end(rawError(hit ? 400 : 404, hit ? 'this endpoint cannot be upgraded' : 'page not found'));
      return;
    }
    let conn: StreamConn;
    try {
      conn = await upgradedConn(req, socket, head);
    } catch {
      return; // answered already
    }
    try {
      await hit.route.stream({ engine: this.engine, server: this, req, conn, params: hit.params, query: url.searchParams });
    } catch (e) {
      if (process.env.STRATA_DEBUG) process.stderr.write(`${req.method} ${req.url}: ${(e as Error).stack ?? e}\n`);
      conn.fail(e);
    }
  }

  /** A node:http server for this API (not listening yet). */
  createServer(): http.Server {
    const server = http.createServer({ keepAlive: true, requestTimeout: 0 }, (req, res) => { void this.onRequest(req, res); });
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => { void this.onUpgrade(req, socket, head); });
    server.on('clientError', (_e, socket) => { if (!socket.destroyed) socket.destroy(); });
    server.headersTimeout = 60_000;
    server.keepAliveTimeout = 30_000;
    return server;
  }

  /**
   * Listen on a unix socket: created under umask 077 (never briefly world-accessible), then
   * mode 0660, owner root, group `strata` when it exists. A stale socket is replaced; a live
   * one (another server) or any other kind of file is refused.
   */
  async listenUnix(socketPath: string): Promise<void> {
    const dir = path.dirname(socketPath);
    const st = fs.statSync(dir);
    if (!st.isDirectory()) throw new StrataError('invalid_argument', `${dir} is not a directory`);
    if (st.mode & 0o022) throw new StrataError('failed_precondition', `refusing to listen in ${dir}: it is writable by group or others`);
    if (st.uid !== process.getuid?.()) throw new StrataError('failed_precondition', `refusing to listen in ${dir}: it is not owned by this user`);
    let existing: fs.Stats | undefined;
    try { existing = fs.lstatSync(socketPath); } catch (e) { if (errnoCode(e) !== 'ENOENT') throw e; }
    if (existing) {
      if (!existing.isSocket()) throw new StrataError('failed_precondition', `refusing to replace ${socketPath}: it exists and is not a socket`);
      if (await socketAlive(socketPath)) throw new StrataError('conflict', `another server is listening on ${socketPath}`);
      fs.rmSync(socketPath, { force: true });
    }
    const server = this.createServer();
    const old = process.umask(0o077);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => { server.off('error', reject); resolve(); });
      });
    } finally {
      process.umask(old);
    }
    const gid = groupId(SOCKET_GROUP);
    fs.chownSync(socketPath, 0, gid ?? 0);
    fs.chmodSync(socketPath, 0o660);
    this.listeners.push({ server, address: `unix://${socketPath}`, unixPath: socketPath });
  }

  /** Listen on TCP (no TLS: anyone who can connect is root on this machine). */
  async listenTcp(host: string, port: number): Promise<number> {
    const server = this.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    const addr = server.address() as net.AddressInfo;
    this.listeners.push({ server, address: `tcp://${host}:${addr.port}` });
    return addr.port;
  }

  private readonly startWaiters = new Map<string, Set<(started: boolean) => void>>();
  /** Containers whose start request is being served. */
  readonly starting = new Set<string>();

  startPending(id: string): boolean {
    return this.starting.has(id);
  }

  /**
   * Run `fn(true)` once a start of the container was attempted, or `fn(false)` when none
   * came within `deferTimeoutMs` (the attached client gave up).
   */
  afterStart(id: string, fn: (started: boolean) => void): void {
    let set = this.startWaiters.get(id);
    if (!set) this.startWaiters.set(id, set = new Set());
    const once = (started: boolean) => { clearTimeout(timer); set!.delete(once); fn(started); };
    const timer = setTimeout(() => once(false), this.deferTimeoutMs);
    timer.unref();
    set.add(once);
  }

  startAttempted(id: string): void {
    const set = this.startWaiters.get(id);
    this.startWaiters.delete(id);
    for (const f of set ?? []) f(true);
  }

  /** Keep releasing a container's runtime (mounts, network, --rm) once it exits. */
  reap(id: string): void {
    if (this.reaping.has(id)) return;
    this.reaping.add(id);
    const containers = this.engine.containers;
    void containers.wait(id, { condition: 'not-running', signal: this.closing.signal })
      .catch(() => undefined)
      .finally(() => {
        this.reaping.delete(id);
        try { const c = containers.find(id); if (c) containers.refresh(c); } catch { /* gone */ }
      });
  }

  /**
   * Watch every live container, and every one started later, also by daemonless CLI
   * processes (through the event journal): exits are recorded, mounts and networks released,
   * `--rm` containers removed, and `die` announced, as soon as they happen.
   */
  adoptAll(): void {
    const containers = this.engine.containers;
    for (const c of containers.all()) if (containers.isLive(c)) this.reap(c.id);
    const events = this.engine.events;
    void events.follow(events.last(), (e) => {
      if (e.type === 'container' && e.action === 'start') this.reap(e.id);
    }, this.closing.signal).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.execs.closeAll();
    for (const s of this.hijacked) s.destroy();
    await Promise.all(this.listeners.map(({ server, unixPath }) => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      if (unixPath) fs.rmSync(unixPath, { force: true });
    })));
    this.listeners.length = 0;
  }
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}

function socketAlive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
