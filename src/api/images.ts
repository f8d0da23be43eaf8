/** `/images/...`, `/commit`: translations onto engine/images, engine/transfer and engine/system. */
import type * as http from 'node:http';
import { StrataError } from '../base/errors.js';
import { imageHistory, imageSummaries, inspectImage, removeImage, resolveImage, tagImage } from '../engine/images.js';
import { importImage, loadArchive, saveImages } from '../engine/transfer.js';
import { pruneImages } from '../engine/system.js';
import { commonHeaders, filterMap, finish, lazyBody, parseFilters, qbool, sendJson } from './http.js';
import type { Ctx, Route } from './server.js';

function list(ctx: Ctx): void {
  const filters = parseFilters(ctx.query.get('filters'));
  // the pre-1.25 `filter=REPO` parameter
  const legacy = ctx.query.get('filter');
  if (legacy) filters.push(`reference=${legacy}`);
  sendJson(ctx.res, 200, imageSummaries(ctx.api.store, { all: qbool(ctx.query, 'all'), filters }));
}

function inspect(ctx: Ctx): void {
  sendJson(ctx.res, 200, inspectImage(ctx.api.store, ctx.params[0]!));
}

function history(ctx: Ctx): void {
  sendJson(ctx.res, 200, imageHistory(ctx.api.store, ctx.params[0]!).map((r) => ({
    Id: r.id, Created: r.created, CreatedBy: r.createdBy, Tags: r.tags.length ? r.tags : null, Size: r.size, Comment: r.comment,
  })));
}

function tag(ctx: Ctx): void {
  const repo = ctx.query.get('repo');
  if (!repo) throw new StrataError('invalid_argument', 'repository name must have at least one component');
  const t = ctx.query.get('tag');
  tagImage(ctx.api.store, ctx.params[0]!, t ? `${repo}:${t}` : repo);
  ctx.res.writeHead(201, { ...commonHeaders(), 'Content-Length': 0 });
  ctx.res.end();
}

function remove(ctx: Ctx): void {
  const r = removeImage(ctx.api.store, ctx.params[0]!, {
    force: qbool(ctx.query, 'force'), noPrune: qbool(ctx.query, 'noprune'), containersUsing: (id) => ctx.api.engine.usingImage(id),
  });
  sendJson(ctx.res, 200, [...r.untagged.map((u) => ({ Untagged: u })), ...r.deleted.map((d) => ({ Deleted: d }))]);
}

function prune(ctx: Ctx): void {
  const f = filterMap(parseFilters(ctx.query.get('filters')));
  const dangling = f.get('dangling')?.[0];
  const all = dangling !== undefined && ['false', '0'].includes(dangling.toLowerCase());
  const r = pruneImages(ctx.api.store, { all, imageInUse: (id) => ctx.api.engine.usingImage(id).length > 0 });
  const deleted = [...r.untagged.map((u) => ({ Untagged: u })), ...r.deleted.map((d) => ({ Deleted: d }))];
  sendJson(ctx.res, 200, { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: r.reclaimed });
}

/** A JSON-lines progress response (pull, push, load, import): `\r\n` after each message. */
function jsonLines(res: http.ServerResponse): { send(m: Record<string, unknown>): void; fail(e: unknown): void; end(): void } {
  let begun = false;
  const begin = () => {
    if (begun) return;
    begun = true;
    res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
  };
  return {
    send(m) { begin(); res.write(JSON.stringify(m) + '\r\n'); },
    // the CLI only shows errorDetail; send both
    fail(e) { begin(); const message = (e as Error).message ?? String(e); res.write(JSON.stringify({ errorDetail: { message }, error: message }) + '\r\n'); },
    end() { begin(); res.end(); },
  };
}

/**
 * `POST /images/create`: `fromSrc=-` imports the request body (a rootfs tarball);
 * `fromImage` pulls, which needs the registry client (not in this build: 501).
 */
async function createImage(ctx: Ctx): Promise<void> {
  const q = ctx.query;
  const fromSrc = q.get('fromSrc');
  if (fromSrc !== null) {
    if (fromSrc !== '-') throw new StrataError('invalid_argument', 'only fromSrc=- (the request body) is supported');
    const repo = q.get('repo');
    const t = q.get('tag');
    const opts: Parameters<typeof importImage>[2] = { changes: q.getAll('changes') };
    const message = q.get('message');
    if (message) opts.message = message;
    if (repo) opts.reference = t ? `${repo}:${t}` : repo;
    const id = await importImage(ctx.api.store, ctx.req, opts);
    const out = jsonLines(ctx.res);
    out.send({ status: id });
    out.end();
    return;
  }
  if (q.get('fromImage')) {
    ctx.req.resume();
    throw new StrataError('not_implemented', 'pulling images is not available in this build of the engine (no registry client); load or import the image instead');
  }
  throw new StrataError('invalid_argument', 'Bad parameters: fromImage or fromSrc is required');
}

function push(ctx: Ctx): void {
  resolveImage(ctx.api.store, ctx.query.get('tag') ? `${ctx.params[0]}:${ctx.query.get('tag')}` : ctx.params[0]!);
  throw new StrataError('not_implemented', 'pushing images is not available in this build of the engine (no registry client)');
}

/** The tar goes out as it is written; headers only once the first byte is ready, so lookup errors are still 404s. */
async function save(ctx: Ctx, names: string[]): Promise<void> {
  const { res } = ctx;
  if (!names.length) throw new StrataError('invalid_argument', 'Bad parameters: names is required');
  for (const n of names) resolveImage(ctx.api.store, n);
  const out = lazyBody(res, 'application/x-tar');
  await saveImages(ctx.api.store, names, out, 'docker');
  await finish(out);
}

/** `POST /images/load`: the archive is the body; all of it is registered, or none. */
async function load(ctx: Ctx): Promise<void> {
  const r = await loadArchive(ctx.api.store, ctx.req);
  const out = jsonLines(ctx.res);
  for (const m of r.messages) out.send({ stream: `${m}\n` });
  out.end();
}

function commit(ctx: Ctx): void {
  ctx.req.resume();
  // the container must exist (404 first, as the daemon)
  ctx.api.engine.get(ctx.query.get('container') ?? '');
  throw new StrataError('not_implemented', 'commit is not available in this build of the engine');
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
