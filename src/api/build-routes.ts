/**
 * `POST /build` with the legacy builder protocol (what the docker CLI without buildx, and
 * compose's classic builds, speak): the body is the context tar, options are in the query,
 * the answer is JSON lines: `{"stream": …}` progress (BuildKit's plain lines), then
 * `{"aux": {"ID": …}}`, or `{"errorDetail": …}` on failure. `POST /build/prune` empties the
 * build cache.
 */
import { StrataError } from '../base/errors.js';
import { BuildError, type BuildOptions } from '../engine/index.js';
import { commonHeaders, parseFilters, qbool, sendJson } from './http.js';
import type { Ctx, Route } from './route.js';

function jsonParam(q: URLSearchParams, name: string): Record<string, string | null> {
  const raw = q.get(name);
  if (!raw) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, string | null>;
  } catch { /* below */ }
  throw new StrataError('invalid_argument', `invalid ${name}: ${raw}`);
}

async function build(ctx: Ctx): Promise<void> {
  const q = ctx.query;
  if (q.get('version') === '2') throw new StrataError('invalid_argument', 'BuildKit sessions are not supported: use the legacy builder protocol (DOCKER_BUILDKIT=0)');
  if (q.get('remote')) throw new StrataError('invalid_argument', 'remote build contexts are not supported');
  const network = q.get('networkmode') || 'default';
  if (!['default', 'none', 'host', 'bridge'].includes(network)) throw new StrataError('invalid_argument', `network mode "${network}" not supported by buildkit`);
  const buildArgs: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(jsonParam(q, 'buildargs'))) buildArgs[k] = v ?? undefined;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(jsonParam(q, 'labels'))) labels[k] = v ?? '';
  const quiet = qbool(q, 'q');
  const builds = ctx.engine.build;
  const context = await builds.contextFromStream(ctx.req);
  const res = ctx.res;
  let begun = false;
  const send = (m: Record<string, unknown>) => {
    if (!begun) { begun = true; res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' }); }
    if (!res.destroyed) res.write(JSON.stringify(m) + '\r\n');
  };
  try {
    const opts: BuildOptions = {
      contextDir: context.dir,
      tags: q.getAll('t').filter(Boolean),
      buildArgs,
      noCache: qbool(q, 'nocache'),
      pull: qbool(q, 'pull'),
      labels,
      network: network === 'bridge' ? 'default' : network as 'default' | 'none' | 'host',
      quiet,
      log: (line) => send({ stream: `${line}\n` }),
    };
    const extra = q.get('extrahosts');
    if (extra) opts.extraHosts = extra.split(',').filter(Boolean);
    const dockerfile = q.get('dockerfile');
    if (context.dockerfileText !== undefined) opts.dockerfileText = context.dockerfileText;
    else if (dockerfile) opts.dockerfile = dockerfile;
    const target = q.get('target');
    if (target) opts.target = target;
    const epoch = process.env.SOURCE_DATE_EPOCH;
    if (epoch && /^\d+$/.test(epoch)) opts.epoch = Number(epoch);
    const r = await builds.build(opts);
    send({ aux: { ID: r.id } });
    if (quiet) send({ stream: `${r.id}\n` });
    else {
      send({ stream: `Successfully built ${r.id.slice(7, 19)}\n` });
      for (const t of opts.tags ?? []) send({ stream: `Successfully tagged ${t.includes(':') && !t.endsWith(']') && /:[\w][\w.-]*$/.test(t) ? t : `${t}:latest`}\n` });
    }
    if (!begun) send({});
    res.end();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (!begun && !(e instanceof BuildError)) throw e;
    send({ errorDetail: { message }, error: message });
    res.end();
  } finally {
    builds.releaseContext(context.dir);
  }
}

function prune(ctx: Ctx): void {
  ctx.req.resume();
  const r = ctx.engine.build.prune({ filters: parseFilters(ctx.query.get('filters')) });
  sendJson(ctx.res, 200, { CachesDeleted: r.deleted, SpaceReclaimed: r.reclaimed });
}

export function buildRoutes(): Route[] {
  return [
    { method: 'POST', re: /^\/build$/, handler: build },
    { method: 'POST', re: /^\/build\/prune$/, handler: prune },
  ];
}
