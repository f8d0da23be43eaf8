/** `/containers/{id}/archive` (HEAD, GET, PUT) and `/containers/{id}/stats`: translations onto engine/archive.ts and engine/stats.ts. */
import { StrataError } from '../base/errors.js';
import { commonHeaders, finish, lazyBody, qbool, sendEmpty } from './http.js';
import type { Ctx, Route } from './route.js';
import type { PathStat } from '../engine/index.js';

/** The header value: base64 of the stat's JSON. */
function encodePathStat(s: PathStat): string {
  return Buffer.from(JSON.stringify(s)).toString('base64');
}

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

function pathParam(ctx: Ctx): string {
  const p = ctx.query.get('path');
  if (!p) throw new StrataError('invalid_argument', 'bad parameter: path cannot be empty');
  return p;
}

/** HEAD: only the stat header (404 for a missing path). */
async function archiveHead(ctx: Ctx): Promise<void> {
  const st = await ctx.engine.files.stat(ctx.params[0]!, pathParam(ctx));
  ctx.res.writeHead(200, { ...commonHeaders(), [STAT_HEADER]: encodePathStat(st), 'Content-Type': 'application/json' });
  ctx.res.end();
}

/** GET: the stat header, then the tar stream. */
async function archiveGet(ctx: Ctx): Promise<void> {
  const p = pathParam(ctx);
  const st = await ctx.engine.files.stat(ctx.params[0]!, p);
  ctx.res.setHeader(STAT_HEADER, encodePathStat(st));
  const out = lazyBody(ctx.res, 'application/x-tar');
  await ctx.engine.files.archive(ctx.params[0]!, p, out);
  await finish(out);
}

/** PUT: a tar stream extracted into an existing directory. */
async function archivePut(ctx: Ctx): Promise<void> {
  await ctx.engine.files.extract(ctx.params[0]!, pathParam(ctx), ctx.req);
  sendEmpty(ctx.res, 200);
}

/** `stream` (default true) one JSON per second; `stream=false` one sample; `one-shot` without the second read. */
async function stats(ctx: Ctx): Promise<void> {
  const stream = ctx.query.get('stream') === null ? true : qbool(ctx.query, 'stream');
  const oneShot = qbool(ctx.query, 'one-shot');
  const ac = new AbortController();
  const abort = () => ac.abort();
  const gen = ctx.engine.stats.stream(ctx.params[0]!, { stream, oneShot, signal: ac.signal });
  const first = await gen.next();
  ctx.res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
  ctx.res.on('close', abort);
  ctx.server.closing.signal.addEventListener('abort', abort);
  try {
    if (!first.done) ctx.res.write(JSON.stringify(first.value) + '\n');
    for await (const s of gen) {
      if (ctx.res.destroyed) break;
      ctx.res.write(JSON.stringify(s) + '\n');
    }
  } finally {
    ctx.server.closing.signal.removeEventListener('abort', abort);
    ac.abort();
    ctx.res.end();
  }
}

export function containerExtraRoutes(): Route[] {
  const C = '([^/]+)';
  return [
    { method: 'HEAD', re: new RegExp(`^/containers/${C}/archive$`), handler: archiveHead },
    { method: 'GET', re: new RegExp(`^/containers/${C}/archive$`), handler: archiveGet },
    { method: 'PUT', re: new RegExp(`^/containers/${C}/archive$`), handler: archivePut },
    { method: 'GET', re: new RegExp(`^/containers/${C}/stats$`), handler: stats },
  ];
}
