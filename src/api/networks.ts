/** `/networks/...`: translations onto the engine's network manager (CNI bridge networks). */
import { StrataError } from '../base/errors.js';
import type { CreateNetworkOptions, EndpointRequest, Networks } from '../engine/index.js';
import { jsonBody, parseFilters, sendEmpty, sendJson } from './http.js';
import type { Ctx, Route } from './route.js';

function manager(ctx: Ctx): Networks {
  return ctx.engine.networks;
}

async function list(ctx: Ctx): Promise<void> {
  const nm = manager(ctx);
  const rows = await nm.query(parseFilters(ctx.query.get('filters')));
  sendJson(ctx.res, 200, rows.map((n) => nm.json(n)));
}

/** bridge, host and none exist from the first request, as with Docker. */
async function inspect(ctx: Ctx): Promise<void> {
  await manager(ctx).ensureDefault();
  sendJson(ctx.res, 200, manager(ctx).inspect(ctx.params[0]!));
}

interface CreateBody { Name: string; Driver: string; Internal: boolean; Labels: Record<string, string>; IPAM: { Config?: { Subnet?: string; Gateway?: string }[] } }

async function create(ctx: Ctx): Promise<void> {
  const b = await jsonBody<CreateBody>(ctx.req);
  if (!b.Name) throw new StrataError('invalid_argument', 'network name is required');
  if (b.Driver && b.Driver !== 'bridge') throw new StrataError('not_found', `plugin "${b.Driver}" not found`);
  const nm = manager(ctx);
  const opts: CreateNetworkOptions = { internal: !!b.Internal };
  const ipam = b.IPAM?.Config?.[0];
  if (ipam?.Subnet) opts.subnet = ipam.Subnet;
  if (ipam?.Gateway) opts.gateway = ipam.Gateway;
  if (b.Labels) opts.labels = b.Labels;
  await nm.ensureDefault();
  const n = await nm.create(b.Name, opts);
  sendJson(ctx.res, 201, { Id: n.id, Warning: '' });
}

async function remove(ctx: Ctx): Promise<void> {
  await manager(ctx).remove(ctx.params[0]!);
  sendEmpty(ctx.res, 204);
}

async function prune(ctx: Ctx): Promise<void> {
  const removed = await manager(ctx).prune(parseFilters(ctx.query.get('filters')));
  sendJson(ctx.res, 200, { NetworksDeleted: removed.length ? removed : null });
}

/** `{"Container": ID, "EndpointConfig": {"Aliases": [...], "IPAMConfig": {"IPv4Address": ...}}}`. */
async function connect(ctx: Ctx): Promise<void> {
  const b = await jsonBody<{ Container: string; EndpointConfig: EndpointRequest | null }>(ctx.req);
  if (!b.Container) throw new StrataError('invalid_argument', 'container is required');
  await manager(ctx).connect(b.Container, ctx.params[0]!, b.EndpointConfig ?? {});
  sendEmpty(ctx.res, 200);
}

async function disconnect(ctx: Ctx): Promise<void> {
  const b = await jsonBody<{ Container: string; Force: boolean }>(ctx.req);
  if (!b.Container) throw new StrataError('invalid_argument', 'container is required');
  await manager(ctx).disconnect(b.Container, ctx.params[0]!, !!b.Force);
  sendEmpty(ctx.res, 200);
}

export function networkRoutes(): Route[] {
  return [
    { method: 'GET', re: /^\/networks$/, handler: list },
    { method: 'POST', re: /^\/networks\/create$/, handler: create },
    { method: 'POST', re: /^\/networks\/prune$/, handler: prune },
    { method: 'POST', re: /^\/networks\/([^/]+)\/connect$/, handler: connect },
    { method: 'POST', re: /^\/networks\/([^/]+)\/disconnect$/, handler: disconnect },
    { method: 'GET', re: /^\/networks\/([^/]+)$/, handler: inspect },
    { method: 'DELETE', re: /^\/networks\/([^/]+)$/, handler: remove },
  ];
}
