/**
 * Exec instances: `POST /containers/{id}/exec` records the request (and checks the
 * container runs: a 409 here is the only way the CLI can show that error), `POST
 * /exec/{id}/start` runs it through the engine and streams it (hijacked), `GET
 * /exec/{id}/json` reports it. The exit code is recorded before the stream is closed: the
 * CLI asks for it right after EOF.
 */
import { StrataError } from '../base/errors.js';
import { RuntimeError, stdcopyFrame } from '../engine/index.js';
import type { ExecRecord } from './exec-registry.js';
import { jsonBody, qint, sendEmpty, sendJson } from './http.js';
import { pump } from './conn.js';
import type { Ctx, Route, StreamCtx } from './route.js';

interface ExecCreateBody {
  Cmd: string[]; Env: string[] | null; User: string; WorkingDir: string; Tty: boolean; Privileged: boolean;
  AttachStdin: boolean; AttachStdout: boolean; AttachStderr: boolean; DetachKeys: string;
}

async function create(ctx: Ctx): Promise<void> {
  const b = await jsonBody<ExecCreateBody>(ctx.req);
  if (!Array.isArray(b.Cmd) || b.Cmd.length === 0) throw new StrataError('invalid_argument', 'No exec command specified');
  const c = ctx.engine.containers.execTarget(ctx.params[0]!);
  const rec: ExecRecord = {
    id: ctx.engine.containers.newExecId(), containerId: c.id, args: b.Cmd.map(String), env: (b.Env ?? []).map(String),
    user: b.User ?? '', workdir: b.WorkingDir ?? '', tty: !!b.Tty, privileged: !!b.Privileged,
    attachStdin: !!b.AttachStdin, attachStdout: b.AttachStdout !== false, attachStderr: b.AttachStderr !== false,
    detachKeys: b.DetachKeys ?? '', running: false, started: false, exitCode: null, pid: 0,
  };
  ctx.server.execs.add(rec);
  sendJson(ctx.res, 201, { Id: rec.id });
}

function execOptions(rec: ExecRecord, detach: boolean, tty: boolean): Parameters<import('../engine/containers.js').Containers['exec']>[1] {
  const o: Parameters<import('../engine/containers.js').Containers['exec']>[1] = { args: rec.args, tty: tty && !detach, detach, stdin: rec.attachStdin && !detach, execId: rec.id };
  if (rec.env.length) o.env = rec.env;
  if (rec.user) o.user = rec.user;
  if (rec.workdir) o.workdir = rec.workdir;
  if (rec.privileged) o.privileged = true;
  if (rec.size) { o.rows = rec.size.rows; o.cols = rec.size.cols; }
  return o;
}

function ended(s: NodeJS.ReadableStream | null): Promise<void> {
  if (!s) return Promise.resolve();
  return new Promise((resolve) => {
    s.once('end', resolve);
    s.once('close', resolve);
    s.once('error', () => resolve());
  });
}

async function start(ctx: StreamCtx): Promise<void> {
  const { conn } = ctx;
  const rec = ctx.server.execs.get(ctx.params[0]!);
  if (rec.started) throw new StrataError('conflict', `Exec ${rec.id} has already been started`);
  const detach = conn.body.Detach === true;
  const tty = conn.body.Tty === true || rec.tty;
  rec.started = true;
  rec.running = true;
  let h: Awaited<ReturnType<typeof ctx.engine.containers.exec>>;
  try {
    h = await ctx.engine.containers.exec(rec.containerId, execOptions(rec, detach, tty));
  } catch (e) {
    rec.running = false;
    if (!(e instanceof RuntimeError) || detach) throw e;
    // the process could not be started (not found / not executable): Docker reports it in
    // the stream and through the exit code
    rec.exitCode = e.exitCode;
    conn.begin(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    conn.input?.resume();
    const text = `${e.message}\r\n`;
    conn.write(tty ? Buffer.from(text) : stdcopyFrame('stdout', text));
    conn.end();
    return;
  }
  rec.handle = h;
  rec.pid = h.pid;
  if (detach) {
    rec.running = false;
    rec.exitCode = 0;
    conn.input?.resume();
    conn.empty();
    return;
  }
  conn.begin(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
  if (h.stdout) pump(h.stdout, conn, tty ? undefined : (b) => stdcopyFrame(1, b));
  if (h.stderr) pump(h.stderr, conn, (b) => stdcopyFrame(2, b));
  if (h.stdin && conn.input) {
    h.stdin.on('error', () => undefined); // EPIPE once the process is gone
    // a half-close from the client closes the process's stdin (no tty); with a tty the pty stays
    conn.input.pipe(h.stdin, { end: !tty });
  } else {
    conn.input?.resume();
  }
  let code: number;
  try {
    [code] = await Promise.all([h.wait(), ended(h.stdout), ended(h.stderr)]);
  } catch (e) {
    code = e instanceof RuntimeError ? e.exitCode : 126;
    if (!conn.closed) conn.write(tty ? Buffer.from(`${(e as Error).message}\r\n`) : stdcopyFrame(2, `${(e as Error).message}\n`));
  }
  rec.exitCode = code;
  rec.running = false;
  rec.finishedAt = Date.now();
  conn.input?.unpipe();
  conn.end();
}

function inspect(ctx: Ctx): void {
  const rec = ctx.server.execs.get(ctx.params[0]!);
  sendJson(ctx.res, 200, {
    ID: rec.id, Running: rec.running, ExitCode: rec.running || !rec.started ? null : rec.exitCode, ProcessConfig: {
      tty: rec.tty, entrypoint: rec.args[0] ?? '', arguments: rec.args.slice(1), privileged: rec.privileged, ...(rec.user ? { user: rec.user } : {}),
    },
    OpenStdin: rec.attachStdin, OpenStderr: rec.attachStderr, OpenStdout: rec.attachStdout, CanRemove: false,
    ContainerID: rec.containerId, DetachKeys: rec.detachKeys, Pid: rec.pid,
  });
}

/** Resize now, or remember the size for when the process starts (the CLI may be early). */
function resize(ctx: Ctx): void {
  const rec = ctx.server.execs.get(ctx.params[0]!);
  const rows = qint(ctx.query, 'h') ?? 0;
  const cols = qint(ctx.query, 'w') ?? 0;
  if (!(rows > 0 && cols > 0)) throw new StrataError('invalid_argument', `invalid terminal size ${rows}x${cols}`);
  if (rec.handle && rec.running) rec.handle.resize(rows, cols);
  else rec.size = { rows, cols };
  sendEmpty(ctx.res, 200);
}

export function execRoutes(): Route[] {
  return [
    { method: 'POST', re: /^\/containers\/([^/]+)\/exec$/, handler: create },
    { method: 'POST', re: /^\/exec\/([^/]+)\/start$/, stream: start },
    { method: 'GET', re: /^\/exec\/([^/]+)\/json$/, handler: inspect },
    { method: 'POST', re: /^\/exec\/([^/]+)\/resize$/, handler: resize },
  ];
}
