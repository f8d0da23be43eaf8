/**
 * The networks a container joins, as Docker keeps them: recorded at create from
 * `HostConfig.NetworkMode` and `NetworkingConfig.EndpointsConfig` (aliases per network),
 * changed by `network connect` / `disconnect` whether the container runs or not, and joined
 * in that order at start (the first is the primary: default route, published ports).
 * Inspect shows them for created containers too, with the live addresses once attached.
 */
import { invalidArgument, StrataError } from '../base/errors.js';
import { tx, type DB } from '../meta/db.js';
import { allEndpoints, deleteEndpoint, endpointsOf, putEndpoint, type EndpointRow, type EndpointSettings } from '../meta/container-endpoints.js';
import type { NetworkManager } from '../network/index.js';
import type { Container, NetworkState } from './container-model.js';
import { emitEvent } from './events.js';
import type { StoreRoot } from './store-root.js';
import { ContainerDns } from './dns.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EndpointRequest } from './create-spec.js';
import { parseLink } from './links.js';

export type { EndpointRequest } from './create-spec.js';

/** What connect/disconnect need of the container engine (not imported: the engine's files import this one). */
interface EndpointHost {
  readonly store: StoreRoot;
  get(ref: string): Container;
  find(ref: string): Container | undefined;
  isLive(c: Container): boolean;
  setNetworkState(id: string, net: NetworkState): void;
  readonly network?: { refreshLinks?(): void };
}



/** The network a NetworkMode names ('' and 'default' are the default bridge). */
function primaryNetwork(mode: string): string | undefined {
  if (!mode || mode === 'default') return 'bridge';
  if (mode.startsWith('container:')) return undefined;
  return mode;
}

/** Docker's user-defined networks: everything but bridge, host, none and container:. */
function isUserDefined(network: string): boolean {
  return !['bridge', 'host', 'none', 'default', ''].includes(network) && !network.startsWith('container:');
}

function settingsOf(req: EndpointRequest | undefined, network: string): EndpointSettings {
  const aliases = (req?.Aliases ?? []).filter((a) => typeof a === 'string' && a !== '');
  if (aliases.length && !isUserDefined(network)) throw invalidArgument('network-scoped alias is supported only for containers in user defined networks');
  const ip = req?.IPAMConfig?.IPv4Address;
  if (ip && !isUserDefined(network)) throw invalidArgument('user specified IP address is supported on user defined networks only');
  if (req?.IPAMConfig?.IPv6Address) throw invalidArgument('IPv6 addresses are not supported: networks are IPv4 only');
  return {
    Aliases: aliases.length ? [...new Set(aliases)] : null,
    IPAMConfig: req?.IPAMConfig && Object.keys(req.IPAMConfig).length ? { ...req.IPAMConfig } : null,
    Links: req?.Links?.length ? [...req.Links] : null,
    DriverOpts: req?.DriverOpts && Object.keys(req.DriverOpts).length ? { ...req.DriverOpts } : null,
  };
}

/**
 * At create (inside its transaction): the primary network from NetworkMode with its
 * EndpointsConfig entry, then any other EndpointsConfig entries.
 */
export function recordCreateEndpoints(db: DB, id: string, mode: string, config: Record<string, EndpointRequest | null> | null | undefined): void {
  const primary = primaryNetwork(mode);
  if (!primary) return;
  const given = config ?? {};
  const primaryReq = given[primary] ?? (primary === 'bridge' ? given.default : undefined) ?? undefined;
  putEndpoint(db, id, primary, settingsOf(primaryReq ?? undefined, primary));
  for (const [net, req] of Object.entries(given)) {
    if (net === primary || (primary === 'bridge' && net === 'default')) continue;
    if (net === 'host' || net === 'none' || primary === 'host' || primary === 'none') {
      throw invalidArgument('conflicting options: cannot attach both user-defined and non-user-defined network-modes');
    }
    putEndpoint(db, id, net, settingsOf(req ?? undefined, net));
  }
}

/** Endpoints read with a listing, for the container objects of that listing only (no staleness beyond it). */
const listed = new WeakMap<Container, EndpointRow[]>();

/** Read the endpoints of a listing's containers in one query (ps of many containers). */
export function prefetchEndpoints(db: DB, list: readonly Container[]): void {
  if (list.length < 2) return;
  const all = allEndpoints(db);
  for (const c of list) listed.set(c, all.get(c.id) ?? []);
}

/** The networks a container joins, in order. */
export function containerEndpoints(db: DB, c: Container): EndpointRow[] {
  return listed.get(c) ?? endpointsOf(db, c.id);
}

/** The aliases a container has on a network once joined: its own plus, on user-defined networks, its short ID (Docker). */
export function joinedAliases(c: Container, network: string, settings: EndpointSettings): string[] {
  const a = [...(settings.Aliases ?? [])];
  if (isUserDefined(network) && !a.includes(c.id.slice(0, 12))) a.push(c.id.slice(0, 12));
  return a;
}

/** Docker's EndpointSettings object for inspect and ps. */
function endpointView(settings: EndpointSettings | undefined, live: NonNullable<NetworkState['networks']>[string] | undefined, networkId: string): Record<string, unknown> {
  return {
    IPAMConfig: settings?.IPAMConfig ?? null,
    Links: settings?.Links ?? null,
    Aliases: live?.Aliases?.length ? live.Aliases : settings?.Aliases ?? null,
    NetworkID: live?.NetworkID || networkId,
    EndpointID: live?.EndpointID ?? '',
    Gateway: live?.Gateway ?? '',
    IPAddress: live?.IPAddress ?? '',
    IPPrefixLen: live?.IPPrefixLen ?? 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: live?.MacAddress ?? '',
    DriverOpts: settings?.DriverOpts ?? null,
  };
}

/**
 * `NetworkSettings.Networks`: every configured endpoint (a created container shows where it
 * will be), with addresses while attached. `networkId` maps a name to its ID when known.
 */
export function networksView(db: DB, c: Container, networkId: (name: string) => string = () => '', leaving: readonly string[] = []): Record<string, Record<string, unknown>> {
  const live = c.network.networks ?? {};
  const out: Record<string, Record<string, unknown>> = {};
  // the ID is looked up only where the attachment does not carry it (created and stopped containers)
  const idOf = (name: string, v: { NetworkID?: string } | undefined) => v?.NetworkID || networkId(name);
  for (const e of containerEndpoints(db, c)) out[e.network] = endpointView(e.settings, live[e.network], idOf(e.network, live[e.network]));
  for (const [name, v] of Object.entries(live)) out[name] ??= endpointView(undefined, v, idOf(name, v));
  for (const n of leaving) delete out[n]; // a disconnect has begun: hidden from its first step
  return out;
}

function attachedTo(nm: NetworkManager, id: string, networkId: string): boolean {
  return !!nm.get(id)?.endpoints.some((e) => e.networkId === networkId);
}

/**
 * `network connect`: a running container gets the interface now; a created or stopped one
 * joins at its next start. Aliases are network-scoped, as in Docker.
 */
export async function connectContainer(engine: EndpointHost, nm: NetworkManager, ref: string, network: string, req: EndpointRequest = {}): Promise<void> {
  const c = engine.get(ref);
  if (network === 'bridge' || network === 'default') await nm.ensureDefault();
  const n = nm.inspect(network);
  const mode = c.hostConfig.NetworkMode;
  if (n.name === 'host' || n.name === 'none' || mode === 'host' || mode === 'none') {
    if (n.name === 'host' || mode === 'host') throw new StrataError('failed_precondition', 'container cannot be disconnected from host network or connected to host network');
    throw new StrataError('failed_precondition', 'container cannot be connected to multiple networks with one of the networks in private (none) mode');
  }
  if (mode.startsWith('container:')) throw new StrataError('failed_precondition', 'container sharing network namespace with another container or host cannot be connected to any other network');
  const settings = settingsOf(req, n.name);
  if (settings.Links?.length && !isUserDefined(n.name)) throw invalidArgument('links are only supported for user-defined networks');
  for (const l of settings.Links ?? []) parseLink(l);
  const db = engine.store.db;
  await settleLeaving(engine, nm, c.id);
  if (containerEndpoints(db, c).some((e) => e.network === n.name || e.network === n.id)) {
    throw new StrataError('failed_precondition', `endpoint with name ${c.name} already exists in network ${n.name}`);
  }
  settings.Aliases = joinedAliases(c, n.name, settings);
  if (settings.Aliases.length === 0) settings.Aliases = null;
  if (engine.isLive(c) && c.network.netns) {
    await nm.connect(c.id, n.name, { aliases: settings.Aliases ?? [], ...(settings.IPAMConfig?.IPv4Address ? { ip: settings.IPAMConfig.IPv4Address } : {}) });
    putEndpoint(db, c.id, n.name, settings);
    syncState(engine, nm, c.id);
    await resolverChanged(engine, nm, c);
  } else {
    putEndpoint(db, c.id, n.name, settings);
  }
  emitNetworkEvent(engine, n.id, n.name, 'connect', c.id);
}

/** `network disconnect [--force]`. */
export async function disconnectContainer(engine: EndpointHost, nm: NetworkManager, ref: string, network: string, force = false): Promise<void> {
  const c = engine.get(ref);
  let name = network;
  let id = '';
  try {
    const n = nm.inspect(network);
    name = n.name;
    id = n.id;
  } catch (e) {
    if (!force) throw e;
  }
  if (name === 'host' || c.hostConfig.NetworkMode === 'host') throw new StrataError('failed_precondition', 'container cannot be disconnected from host network or connected to host network');
  const db = engine.store.db;
  // a disconnect killed earlier is finished first
  await settleLeaving(engine, nm, c.id);
  const configured = endpointsOf(db, c.id).some((e) => e.network === name);
  const attached = id !== '' && attachedTo(nm, c.id, id);
  if (!configured && !attached) {
    if (force) return;
    throw new StrataError('failed_precondition', `container ${c.id} is not connected to network ${name}`);
  }
  if (attached) {
    // all or nothing as inspect sees it: the intent goes to the network layer's record, then
    // to the container's row; every view hides the endpoint from the first step on, and the
    // teardown is finished by this call or by the next command that touches the container
    await nm.markLeaving(c.id, name);
    await settleLeaving(engine, nm, c.id);
  } else {
    if (engine.isLive(c)) syncState(engine, nm, c.id);
    deleteEndpoint(db, c.id, name);
  }
  if (id) emitNetworkEvent(engine, id, name, 'disconnect', c.id);
}

/**
 * Finish the disconnects begun on a container (endpoints marked leaving in the network
 * layer's record): the container's row forgets them, then the network layer tears them down.
 * Each step is idempotent, so a kill anywhere is finished by the next call.
 */
export async function settleLeaving(engine: EndpointHost, nm: NetworkManager, id: string): Promise<void> {
  const nets = nm.leaving(id);
  if (nets.length === 0) return;
  const db = engine.store.db;
  const c = engine.find(id);
  if (c) {
    tx(db, () => {
      syncState(engine, nm, id);
      for (const n of nets) deleteEndpoint(db, id, n);
    });
  }
  await nm.finishLeaving(id);
  if (c) await resolverChanged(engine, nm, c);
}

/** The container's recorded addresses follow the network layer's attachment. */
function syncState(engine: EndpointHost, nm: NetworkManager, id: string): void {
  const a = nm.get(id);
  const c = engine.get(id);
  if (!a) return;
  const prev = c.network;
  engine.setNetworkState(id, {
    ...prev,
    networks: Object.fromEntries(a.endpoints.map((e) => [e.network, {
      IPAddress: e.ipAddress, IPPrefixLen: e.prefixLen, Gateway: e.gateway, MacAddress: e.macAddress, NetworkID: e.networkId, EndpointID: e.endpointId, Aliases: e.aliases,
    }])),
  });
}

/**
 * After a running container joined or left a network: the resolver's records, and the
 * container's resolv.conf (its nameservers are its networks' gateways), rewritten in place
 * since it is bind-mounted.
 */
async function resolverChanged(engine: EndpointHost, nm: NetworkManager, c: Container): Promise<void> {
  const dns = new ContainerDns(nm, (id) => engine.find(id)?.name);
  if (!dns.enabled) return;
  try { await dns.sync(() => engine.network?.refreshLinks?.()); } catch { return; } // no resolver: the attach's fallback (hosts file) stays
  if (c.hostConfig.Dns?.length) return;
  const text = dns.resolvConf(endpointsOf(engine.store.db, c.id).map((e) => e.network)) ?? nm.resolvConf();
  try { fs.writeFileSync(path.join(c.dir, 'resolv.conf'), text); } catch { /* removed meanwhile */ }
}

function emitNetworkEvent(engine: EndpointHost, networkId: string, name: string, action: string, containerId: string): void {
  emitEvent(engine.store, 'network', action, networkId, { container: containerId, name, type: 'bridge' });
}
