/** `/containers/...`: each handler is a translation onto one Containers call. */
import { StrataError } from '../base/errors.js';
import { openAttachSocket, stdcopyFrame, formatLogEntry, type CreateRequest } from '../engine/index.js';
import { commonHeaders, finish, jsonBody, lazyBody, parseFilters, qbool, qint, sendEmpty, sendJson } from './http.js';
import { pump } from './conn.js';
import type { Ctx, Route, StreamCtx } from './route.js';

type CreateBody = CreateRequest & { name?: unknown };

async function create(ctx: Ctx): Promise<void> {
  const body = await jsonBody<CreateBody>(ctx.req);
  delete body.name; // dockerode repeats its options in the body; the name is the query's
  if (!body.Image) throw new StrataError('invalid_argument', 'Config cannot be empty in order to create a container');
  const name = ctx.query.get('name') ?? undefined;
  const c = await ctx.engine.containers.create(body as CreateRequest, name);
  sendJson(ctx.res, 201, { Id: c.id, Warnings: [] });
}

function list(ctx: Ctx): void {
  const engine = ctx.engine.containers;
  const limit = qint(ctx.query, 'limit');
  const opts: Parameters<typeof engine.list>[0] = { all: qbool(ctx.query, 'all'), filters: parseFilters(ctx.query.get('filters')) };
  if (limit !== undefined && limit > 0) opts.last = limit;
  const size = qbool(ctx.query, 'size');
  sendJson(ctx.res, 200, engine.list(opts).map((c) => engine.summary(c, { size })));
}

function inspect(ctx: Ctx): void {
  const engine = ctx.engine.containers;
  const out = engine.inspect(ctx.params[0]!);
  if (qbool(ctx.query, 'size')) {
    const s = engine.summary(engine.get(ctx.params[0]!), { size: true });
    Object.assign(out, { SizeRw: s.SizeRw, SizeRootFs: s.SizeRootFs });
  }
  sendJson(ctx.res, 200, out);
}

async function start(ctx: Ctx): Promise<void> {
  const engine = ctx.engine.containers;
  const c = engine.get(ctx.params[0]!);
  if (engine.isRunning(c)) return sendEmpty(ctx.res, 304);
  ctx.server.starting.add(c.id);
  try {
    await engine.start(c.id);
  } finally {
    ctx.server.starting.delete(c.id);
    ctx.server.startAttempted(c.id);
  }
  ctx.server.reap(c.id);
  sendEmpty(ctx.res, 204);
}

async function stop(ctx: Ctx): Promise<void> {
  const engine = ctx.engine.containers;
  const c = engine.get(ctx.params[0]!);
  if (!engine.isLive(c)) return sendEmpty(ctx.res, 304);
  await engine.stop(c.id, qint(ctx.query, 't'));
  sendEmpty(ctx.res, 204);
}

async function restart(ctx: Ctx): Promise<void> {
  const c = await ctx.engine.containers.restart(ctx.params[0]!, qint(ctx.query, 't'));
  ctx.server.reap(c.id);
  sendEmpty(ctx.res, 204);
}

async function kill(ctx: Ctx): Promise<void> {
  await ctx.engine.containers.kill(ctx.params[0]!, ctx.query.get('signal') || 'KILL');
  sendEmpty(ctx.res, 204);
}

async function remove(ctx: Ctx): Promise<void> {
  await ctx.engine.containers.remove(ctx.params[0]!, { force: qbool(ctx.query, 'force'), volumes: qbool(ctx.query, 'v') });
  sendEmpty(ctx.res, 204);
}

/** Headers at once (the CLI sends `start` only after them), the result when the condition is met. */
async function wait(ctx: Ctx): Promise<void> {
  const engine = ctx.engine.containers;
  const c = engine.get(ctx.params[0]!);
  const cond = ctx.query.get('condition') || 'not-running';
  if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw new StrataError('invalid_argument', `invalid condition: "${cond}"`);
  ctx.res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
  ctx.res.flushHeaders();
  const ac = new AbortController();
  const abort = () => ac.abort();
  ctx.res.on('close', abort);
  ctx.server.closing.signal.addEventListener('abort', abort);
  try {
    const code = await engine.wait(c.id, { condition: cond as 'not-running', signal: ac.signal });
    ctx.res.end(JSON.stringify({ StatusCode: code, Error: null }) + '\n');
  } catch (e) {
    if (ac.signal.aborted) { ctx.res.destroy(); return; }
    ctx.res.end(JSON.stringify({ StatusCode: -1, Error: { Message: (e as Error).message } }) + '\n');
  } finally {
    ctx.server.closing.signal.removeEventListener('abort', abort);
  }
}

/** Frames for a container without a tty, raw bytes with one; `timestamps` prefix each line. */
async function logs(ctx: Ctx): Promise<void> {
  const engine = ctx.engine.containers;
  const c = engine.get(ctx.params[0]!);
  const q = ctx.query;
  const stdout = qbool(q, 'stdout');
  const stderr = qbool(q, 'stderr');
  if (!stdout && !stderr) throw new StrataError('invalid_argument', 'Bad parameters: you must choose at least one stream');
  const tailArg = q.get('tail') ?? 'all';
  const tail = tailArg === 'all' || tailArg === '' ? 'all' : Number(tailArg);
  if (tail !== 'all' && !Number.isInteger(tail)) throw new StrataError('invalid_argument', `invalid value for "tail": ${tailArg}`);
  const ac = new AbortController();
  const opts: Parameters<typeof engine.logs>[1] = { follow: qbool(q, 'follow'), tail: tail === 'all' || tail < 0 ? 'all' : tail, stdout, stderr, signal: ac.signal };
  const since = q.get('since');
  const until = q.get('until');
  if (since && since !== '0') opts.since = since;
  if (until && until !== '0') opts.until = until;
  const timestamps = qbool(q, 'timestamps');
  const gen = engine.logs(c.id, opts);
  ctx.res.writeHead(200, commonHeaders());
  ctx.res.flushHeaders();
  const abort = () => ac.abort();
  ctx.res.on('close', abort);
  ctx.server.closing.signal.addEventListener('abort', abort);
  try {
    for await (const e of gen) {
      if (ctx.res.destroyed) break;
      const text = formatLogEntry(e, { timestamps });
      const ok = ctx.res.write(c.config.Tty ? Buffer.from(text) : stdcopyFrame(e.stream, text));
      if (!ok) await new Promise<void>((resolve) => { ctx.res.once('drain', resolve); ctx.res.once('close', resolve); });
    }
  } finally {
    ctx.server.closing.signal.removeEventListener('abort', abort);
    ac.abort();
    ctx.res.end();
  }
}

async function top(ctx: Ctx): Promise<void> {
  const ps = ctx.query.get('ps_args');
  const t = await ctx.engine.containers.top(ctx.params[0]!, ps ? ps.split(/\s+/).filter(Boolean) : undefined);
  sendJson(ctx.res, 200, { Titles: t.titles, Processes: t.processes });
}

function rename(ctx: Ctx): void {
  const name = ctx.query.get('name');
  if (!name) throw new StrataError('invalid_argument', 'Bad parameters: name is required');
  ctx.engine.containers.rename(ctx.params[0]!, name);
  sendEmpty(ctx.res, 204);
}

async function pause(ctx: Ctx): Promise<void> {
  await ctx.engine.containers.pause(ctx.params[0]!);
  sendEmpty(ctx.res, 204);
}

async function unpause(ctx: Ctx): Promise<void> {
  await ctx.engine.containers.unpause(ctx.params[0]!);
  sendEmpty(ctx.res, 204);
}

async function resize(ctx: Ctx): Promise<void> {
  const h = qint(ctx.query, 'h') ?? 0;
  const w = qint(ctx.query, 'w') ?? 0;
  await ctx.engine.containers.resize(ctx.params[0]!, h, w);
  sendEmpty(ctx.res, 200);
}

async function prune(ctx: Ctx): Promise<void> {
  const r = await ctx.engine.containers.prune(parseFilters(ctx.query.get('filters')));
  sendJson(ctx.res, 200, { ContainersDeleted: r.deleted.length ? r.deleted : null, SpaceReclaimed: r.reclaimed });
}

/** `docker export`: the container's filesystem as a tar stream. */
async function exportFs(ctx: Ctx): Promise<void> {
  const c = ctx.engine.containers.get(ctx.params[0]!);
  const out = lazyBody(ctx.res, 'application/x-tar');
  await ctx.engine.files.export(c.id, out);
  await finish(out);
}

/** `docker diff`: Kind 0 = changed, 1 = added, 2 = deleted; `null` when nothing changed. */
function changes(ctx: Ctx): void {
  const kinds = { C: 0, A: 1, D: 2 } as const;
  const list = ctx.engine.containers.diff(ctx.params[0]!).changes.map((c) => ({ Path: c.path, Kind: kinds[c.kind] }));
  sendJson(ctx.res, 200, list.length ? list : null);
}

/**
 * Hijacked attach. A container that is not running yet (`docker run` attaches before it
 * starts) is created under its monitor with a deferred start, so the first byte of output
 * and stdin written before `start` are not lost; `POST /start` then starts it.
 */
async function attach(ctx: StreamCtx): Promise<void> {
  const engine = ctx.engine.containers;
  const { conn, query } = ctx;
  let c = engine.get(ctx.params[0]!);
  if (c.row.state === 'paused') throw new StrataError('conflict', `You cannot attach to a paused container, unpause it first`);
  if (!qbool(query, 'stream')) {
    // logs only (`attach?logs=1` without stream): nothing live to attach to
    if (!qbool(query, 'logs')) throw new StrataError('invalid_argument', 'Bad parameters: stream or logs must be set');
  }
  const wantStdin = qbool(query, 'stdin') && c.config.OpenStdin;
  const wantStdout = qbool(query, 'stdout');
  const wantStderr = qbool(query, 'stderr');
  const tty = c.config.Tty;
  const contentType = tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
  if (qbool(query, 'logs')) {
    // replay what was logged, then (with stream) go on live
    const replay: Buffer[] = [];
    for await (const e of engine.logs(c.id, { stdout: wantStdout, stderr: wantStderr })) replay.push(tty ? Buffer.from(e.log) : stdcopyFrame(e.stream, e.log));
    if (!qbool(query, 'stream')) {
      conn.begin(contentType);
      for (const b of replay) conn.write(b);
      conn.end();
      return;
    }
    conn.begin(contentType);
    for (const b of replay) conn.write(b);
  }
  let deferred = false;
  if (!engine.isLive(c)) {
    try {
      c = await engine.start(c.id, { deferStart: true });
      deferred = true;
    } catch (e) {
      // the process cannot be created (no such executable...): the CLI can only show that
      // error as the answer to its `start`, which fails the same way. Hold the stream until then.
      if (!qbool(query, 'logs')) conn.begin(contentType);
      conn.input?.resume();
      ctx.server.afterStart(c.id, () => conn.end());
      void e;
      return;
    }
    ctx.server.reap(c.id);
  }
  const mon = await openAttachSocket(c.paths.socketPath, { stdin: wantStdin, stdout: wantStdout, stderr: wantStderr, closeStdin: c.config.StdinOnce });
  mon.on('error', () => undefined);
  if (!qbool(query, 'logs')) conn.begin(contentType);
  pump(mon, conn);
  mon.on('close', () => conn.end());
  mon.on('end', () => conn.end());
  // a client gone before the start leaves nothing half-made behind (Docker keeps it "Created").
  // A half-close looks the same as a hang-up here, so a start that never comes counts too.
  const abandon = () => {
    if (ctx.server.startPending(c.id)) return;
    const now = engine.find(c.id);
    if (now && engine.isDeferred(now)) void engine.abandonDeferred(c.id).catch(() => undefined).finally(() => conn.end());
  };
  if (deferred) ctx.server.afterStart(c.id, (started) => { if (!started) abandon(); });
  conn.onClose(() => {
    mon.destroy();
    abandon();
  });
  if (wantStdin && conn.input) {
    conn.input.pipe(mon);
  } else {
    conn.input?.resume(); // no stdin wanted: discard whatever comes
    mon.end();
  }
  mon.resume();
}

export function containerRoutes(): Route[] {
  const C = '([^/]+)';
  return [
    { method: 'POST', re: /^\/containers\/create$/, handler: create },
    { method: 'GET', re: /^\/containers\/json$/, handler: list },
    { method: 'POST', re: /^\/containers\/prune$/, handler: prune },
    { method: 'GET', re: new RegExp(`^/containers/${C}/json$`), handler: inspect },
    { method: 'POST', re: new RegExp(`^/containers/${C}/start$`), handler: start },
    { method: 'POST', re: new RegExp(`^/containers/${C}/stop$`), handler: stop },
    { method: 'POST', re: new RegExp(`^/containers/${C}/restart$`), handler: restart },
    { method: 'POST', re: new RegExp(`^/containers/${C}/kill$`), handler: kill },
    { method: 'POST', re: new RegExp(`^/containers/${C}/wait$`), handler: wait },
    { method: 'DELETE', re: new RegExp(`^/containers/${C}$`), handler: remove },
    { method: 'GET', re: new RegExp(`^/containers/${C}/logs$`), handler: logs },
    { method: 'GET', re: new RegExp(`^/containers/${C}/changes$`), handler: changes },
    { method: 'GET', re: new RegExp(`^/containers/${C}/export$`), handler: exportFs },
    { method: 'GET', re: new RegExp(`^/containers/${C}/top$`), handler: top },
    { method: 'POST', re: new RegExp(`^/containers/${C}/rename$`), handler: rename },
    { method: 'POST', re: new RegExp(`^/containers/${C}/pause$`), handler: pause },
    { method: 'POST', re: new RegExp(`^/containers/${C}/unpause$`), handler: unpause },
    { method: 'POST', re: new RegExp(`^/containers/${C}/resize$`), handler: resize },
    { method: 'POST', re: new RegExp(`^/containers/${C}/attach$`), stream: attach },
  ];
}
