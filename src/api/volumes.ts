/** `/volumes/...`: translations onto the engine's VolumeStore. */
import { jsonBody, parseFilters, qbool, sendEmpty, sendJson } from './http.js';
import type { Ctx, Route } from './route.js';

/** Docker's volume object. */
function volumeView(ctx: Ctx, name: string): Record<string, unknown> {
  return ctx.engine.volumes.inspect(name);
}

function list(ctx: Ctx): void {
  const rows = ctx.engine.volumes.query(parseFilters(ctx.query.get('filters')));
  sendJson(ctx.res, 200, { Volumes: rows.map((v) => volumeView(ctx, v.name)), Warnings: null });
}

async function create(ctx: Ctx): Promise<void> {
  const b = await jsonBody<{ Name: string; Driver: string; Labels: Record<string, string> }>(ctx.req);
  const opts: { labels?: Record<string, string> } = {};
  if (b.Labels) opts.labels = b.Labels;
  const v = ctx.engine.volumes.create(b.Name || undefined, opts);
  sendJson(ctx.res, 201, volumeView(ctx, v.name));
}

function inspect(ctx: Ctx): void {
  sendJson(ctx.res, 200, volumeView(ctx, ctx.params[0]!));
}

function remove(ctx: Ctx): void {
  ctx.engine.volumes.remove(ctx.params[0]!, qbool(ctx.query, 'force'));
  sendEmpty(ctx.res, 204);
}

function prune(ctx: Ctx): void {
  // API 1.41 (Docker 20.10) prunes every unused volume; from 1.42 on, anonymous ones unless `all=true`
  const v = /^\/v(\d+)\.(\d+)\//.exec(ctx.req.url ?? '');
  const before142 = !v || Number(v[1]) < 1 || (Number(v[1]) === 1 && Number(v[2]) < 42);
  const r = ctx.engine.volumes.prune(before142, parseFilters(ctx.query.get('filters')));
  sendJson(ctx.res, 200, { VolumesDeleted: r.deleted.length ? r.deleted : null, SpaceReclaimed: r.reclaimed });
}

export function volumeRoutes(): Route[] {
  return [
    { method: 'GET', re: /^\/volumes$/, handler: list },
    { method: 'POST', re: /^\/volumes\/create$/, handler: create },
    { method: 'POST', re: /^\/volumes\/prune$/, handler: prune },
    { method: 'GET', re: /^\/volumes\/([^/]+)$/, handler: inspect },
    { method: 'DELETE', re: /^\/volumes\/([^/]+)$/, handler: remove },
  ];
}
