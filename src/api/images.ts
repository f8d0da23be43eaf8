/** `/images/...`, `/commit`: translations onto engine/images, engine/transfer and engine/system. */
import type * as http from 'node:http';
import { StrataError } from '../base/errors.js';
import { commonHeaders, errorStatus, finish, lazyBody, parseFilters, qbool, sendError, sendJson } from './http.js';
import type { Credentials, ImportOptions, PullOptions, PushOptions } from '../engine/index.js';
import type { Ctx, Route } from './route.js';

function list(ctx: Ctx): void {
  const filters = parseFilters(ctx.query.get('filters'));
  // the pre-1.25 `filter=REPO` parameter
  const legacy = ctx.query.get('filter');
  if (legacy) filters.push(`reference=${legacy}`);
  sendJson(ctx.res, 200, ctx.engine.images.summaries({ all: qbool(ctx.query, 'all'), filters }));
}

function inspect(ctx: Ctx): void {
  sendJson(ctx.res, 200, ctx.engine.images.inspect(ctx.params[0]!));
}

function history(ctx: Ctx): void {
  sendJson(ctx.res, 200, ctx.engine.images.history(ctx.params[0]!).map((r) => ({
    Id: r.id, Created: r.created, CreatedBy: r.createdBy, Tags: r.tags.length ? r.tags : null, Size: r.size, Comment: r.comment,
  })));
}

function tag(ctx: Ctx): void {
  const repo = ctx.query.get('repo');
  if (!repo) throw new StrataError('invalid_argument', 'repository name must have at least one component');
  const t = ctx.query.get('tag');
  ctx.engine.images.tag(ctx.params[0]!, t ? `${repo}:${t}` : repo);
  ctx.res.writeHead(201, { ...commonHeaders(), 'Content-Length': 0 });
  ctx.res.end();
}

function remove(ctx: Ctx): void {
  const r = ctx.engine.images.remove(ctx.params[0]!, { force: qbool(ctx.query, 'force'), noPrune: qbool(ctx.query, 'noprune') });
  sendJson(ctx.res, 200, [...r.untagged.map((u) => ({ Untagged: u })), ...r.deleted.map((d) => ({ Deleted: d }))]);
}

function prune(ctx: Ctx): void {
  const r = ctx.engine.images.prune({ filters: parseFilters(ctx.query.get('filters')) });
  const deleted = [...r.untagged.map((u) => ({ Untagged: u })), ...r.deleted.map((d) => ({ Deleted: d }))];
  sendJson(ctx.res, 200, { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: r.reclaimed });
}

/**
 * A JSON-lines progress response (pull, push, load, import): `\r\n` after each message.
 * Messages for which `hold` is true are kept back until a later one comes, so that a failure
 * found right at the start (no such manifest, no such tag) is still an HTTP error with its
 * status code, as Docker answers it; later failures are an `errorDetail` line.
 */
function jsonLines(res: http.ServerResponse, hold: (m: Record<string, unknown>) => boolean = () => false) {
  let begun = false;
  const held: Record<string, unknown>[] = [];
  const begin = () => {
    if (begun) return;
    begun = true;
    res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
    for (const m of held.splice(0)) res.write(JSON.stringify(m) + '\r\n');
  };
  return {
    send(m: Record<string, unknown>) {
      if (!begun && hold(m)) { held.push(m); return; }
      begin();
      if (!res.destroyed) res.write(JSON.stringify(m) + '\r\n');
    },
    fail(e: unknown) {
      if (!begun) { sendError(res, e); return; }
      // the CLI only shows errorDetail; send both
      const message = errorStatus(e).message;
      res.end(JSON.stringify({ errorDetail: { message }, error: message }) + '\r\n');
    },
    end() { begin(); res.end(); },
  };
}

/** X-Registry-Auth: base64 (URL-safe or not) of `{"username","password","identitytoken"}`; `{}` = none. */
function registryAuth(req: http.IncomingMessage): Credentials | undefined {
  const h = req.headers['x-registry-auth'];
  if (typeof h !== 'string' || !h) return undefined;
  let v: { username?: string; password?: string; identitytoken?: string };
  try {
    v = JSON.parse(Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) as typeof v;
  } catch {
    throw new StrataError('invalid_argument', 'invalid X-Registry-Auth header');
  }
  if (!v || typeof v !== 'object' || (!v.username && !v.identitytoken)) return undefined;
  const c: Credentials = { username: v.username ?? '', password: v.password ?? '', source: 'X-Registry-Auth' };
  if (v.identitytoken) c.identityToken = v.identitytoken;
  return c;
}

const isPreamble = (m: Record<string, unknown>) => typeof m.status === 'string' && /^(Pulling from |The push refers to )/.test(m.status);

/**
 * `POST /images/create`: `fromImage` pulls (every tag when no tag is given, as the daemon);
 * `fromSrc=-` imports the request body (a rootfs tarball).
 */
async function createImage(ctx: Ctx): Promise<void> {
  const q = ctx.query;
  const fromSrc = q.get('fromSrc');
  if (fromSrc !== null) {
    if (fromSrc !== '-') throw new StrataError('invalid_argument', 'only fromSrc=- (the request body) is supported');
    const repo = q.get('repo');
    const t = q.get('tag');
    const opts: ImportOptions = { changes: q.getAll('changes') };
    const message = q.get('message');
    if (message) opts.message = message;
    if (repo) opts.reference = t ? `${repo}:${t}` : repo;
    const id = await ctx.engine.images.import(ctx.req, opts);
    const out = jsonLines(ctx.res);
    out.send({ status: id });
    out.end();
    return;
  }
  const from = q.get('fromImage');
  if (!from) throw new StrataError('invalid_argument', 'Bad parameters: fromImage or fromSrc is required');
  ctx.req.resume(); // dockerode repeats its options as a body
  const tag = q.get('tag');
  const opts: PullOptions = {};
  const platform = q.get('platform');
  if (platform) opts.platform = platform;
  const creds = registryAuth(ctx.req);
  if (creds) opts.credentials = creds;
  const out = jsonLines(ctx.res, isPreamble);
  opts.onProgress = (m) => out.send(m as Record<string, unknown>);
  try {
    if (tag) await ctx.engine.registry.pull(tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`, opts);
    else if (/[:@]/.test(from.slice(from.lastIndexOf('/') + 1))) await ctx.engine.registry.pull(from, opts);
    else await ctx.engine.registry.pullAllTags(from, opts);
  } catch (e) {
    out.fail(e);
    return;
  }
  out.end();
}

/** `POST /images/{name}/push?tag=`: every tag of the repository when no tag is given. */
async function push(ctx: Ctx): Promise<void> {
  ctx.req.resume();
  const tag = ctx.query.get('tag');
  const opts: PushOptions = { allTags: !tag };
  const creds = registryAuth(ctx.req);
  if (creds) opts.credentials = creds;
  const out = jsonLines(ctx.res, isPreamble);
  opts.onProgress = (m) => out.send(m as Record<string, unknown>);
  try {
    await ctx.engine.registry.push(tag ? `${ctx.params[0]}:${tag}` : ctx.params[0]!, opts);
  } catch (e) {
    out.fail(e);
    return;
  }
  out.end();
}

/** The tar goes out as it is written; headers only once the first byte is ready, so lookup errors are still 404s. */
async function save(ctx: Ctx, names: string[]): Promise<void> {
  const { res } = ctx;
  if (!names.length) throw new StrataError('invalid_argument', 'Bad parameters: names is required');
  for (const n of names) ctx.engine.images.resolve(n);
  const out = lazyBody(res, 'application/x-tar');
  await ctx.engine.images.save(names, out, 'docker');
  await finish(out);
}

/** `POST /images/load`: the archive is the body; all of it is registered, or none. */
async function load(ctx: Ctx): Promise<void> {
  const r = await ctx.engine.images.load(ctx.req);
  const out = jsonLines(ctx.res);
  for (const m of r.messages) out.send({ stream: `${m}\n` });
  out.end();
}

/**
 * `POST /commit?container=&repo=&tag=&author=&comment=&pause=&changes=`: the container's
 * upper dir becomes one new layer (the engine's commit, as `strata commit`). A body, when the
 * client sends one, is ignored: dockerode repeats its options there.
 */
async function commit(ctx: Ctx): Promise<void> {
  ctx.req.resume();
  const q = ctx.query;
  const repo = q.get('repo');
  const tag = q.get('tag');
  const opts: Parameters<typeof ctx.engine.containers.commit>[1] = { changes: q.getAll('changes').flatMap((c) => c.split('\n')).filter(Boolean) };
  const author = q.get('author');
  const comment = q.get('comment');
  if (author) opts.author = author;
  if (comment) opts.message = comment;
  if (q.has('pause') && !qbool(q, 'pause')) opts.pause = false;
  if (repo) opts.reference = tag ? `${repo}:${tag}` : repo;
  else if (tag) throw new StrataError('invalid_argument', 'tag given without repository');
  const r = await ctx.engine.containers.commit(q.get('container') ?? '', opts);
  sendJson(ctx.res, 201, { Id: r.id });
}

export function imageRoutes(): Route[] {
  const N = '(.+)';
  return [
    { method: 'GET', re: /^\/images\/json$/, handler: list },
    { method: 'POST', re: /^\/images\/create$/, handler: createImage },
    { method: 'POST', re: /^\/images\/load$/, handler: load },
    { method: 'POST', re: /^\/images\/prune$/, handler: prune },
    { method: 'GET', re: /^\/images\/get$/, handler: (ctx) => save(ctx, ctx.query.getAll('names')) },
    { method: 'GET', re: new RegExp(`^/images/${N}/json$`), handler: inspect },
    { method: 'GET', re: new RegExp(`^/images/${N}/history$`), handler: history },
    { method: 'GET', re: new RegExp(`^/images/${N}/get$`), handler: (ctx) => save(ctx, [ctx.params[0]!]) },
    { method: 'POST', re: new RegExp(`^/images/${N}/tag$`), handler: tag },
    { method: 'POST', re: new RegExp(`^/images/${N}/push$`), handler: push },
    { method: 'DELETE', re: new RegExp(`^/images/${N}$`), handler: remove },
    { method: 'POST', re: /^\/commit$/, handler: commit },
  ];
}
