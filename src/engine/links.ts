/**
 * Docker's container links (`--link name:alias`, `HostConfig.Links`, `EndpointConfig.Links`).
 *
 * On the default `bridge` network (legacy links): the target must exist at create and run at
 * start; the linking container gets the target's address under its alias, hostname and name
 * in /etc/hosts, and the legacy environment (`ALIAS_PORT_80_TCP=tcp://ip:80`, `_ADDR`,
 * `_PORT`, `_PROTO`, `_START`/`_END` for runs of ports, `ALIAS_PORT`, `ALIAS_NAME=/me/alias`,
 * `ALIAS_ENV_*` from the target's env). The hosts entries follow the target's address when
 * it restarts; the environment is fixed at start (Docker).
 *
 * On a user-defined network (EndpointConfig.Links): the alias is a name only the linking
 * container resolves, to the address the target has on that network now; nothing is
 * checked at create or start (the name may appear later).
 */
import * as path from 'node:path';
import { invalidArgument, StrataError } from '../base/errors.js';
import type { Container } from './container-model.js';
import type { HostConfig } from './create-spec.js';

/** How links find their targets. */
export interface LinkLookup {
  find(ref: string): Container | undefined;
  isLive(c: Container): boolean;
}

export interface HostsRecord { ip: string; names: string[] }

/** Docker's ParseLink: `name`, `name:alias`, or the stored `/name:/parent/alias`. */
export function parseLink(val: string): { name: string; alias: string } {
  if (val === '') throw invalidArgument('empty string specified for links');
  const parts = val.split(':');
  if (parts.length > 2) throw invalidArgument(`bad format for links: ${val}`);
  if (parts.length === 1) return { name: val, alias: val };
  const [name, alias] = parts as [string, string];
  if (name.startsWith('/')) return { name: name.slice(1), alias: path.posix.basename(alias) };
  return { name, alias };
}

/** Legacy links apply when the container's primary network is the default bridge. */
function usesLegacyLinks(mode: string | undefined): boolean {
  return !mode || mode === 'default' || mode === 'bridge';
}

const HOST_AND_LINKS = "conflicting options: host type networking can't be used with links. This would result in undefined behavior";
const CONTAINER_AND_LINKS = "conflicting options: container type network can't be used with links. This would result in undefined behavior";

function target(lookup: LinkLookup, name: string): Container {
  const t = lookup.find(name);
  if (!t) throw invalidArgument(`could not get container for ${name}: No such container: ${name}`);
  if (t.hostConfig.NetworkMode === 'host') throw invalidArgument(HOST_AND_LINKS);
  return t;
}

/** At create, Docker's checks of HostConfig.Links (registerLinks). */
export function checkLinks(hc: Partial<HostConfig>, lookup: LinkLookup): void {
  const links = hc.Links ?? [];
  if (!links.length) return;
  const mode = hc.NetworkMode ?? 'default';
  if (mode === 'host') throw invalidArgument(HOST_AND_LINKS);
  if (mode.startsWith('container:')) throw invalidArgument(CONTAINER_AND_LINKS);
  for (const l of links) {
    const { name } = parseLink(l);
    if (usesLegacyLinks(mode)) target(lookup, name);
  }
}

interface ExposedPort { port: number; proto: string }

function sortedPorts(exposed: Record<string, unknown> | null | undefined): ExposedPort[] {
  const ports = Object.keys(exposed ?? {}).map((k) => {
    const [p, proto] = k.split('/');
    return { port: Number(p), proto: (proto || 'tcp').toLowerCase() };
  }).filter((p) => Number.isInteger(p.port));
  // by number; for one number, tcp first
  return ports.sort((a, b) => a.port - b.port || (a.proto === 'tcp' ? -1 : b.proto === 'tcp' ? 1 : 0));
}

/** The legacy environment of one link (Docker's links package order). */
function linkEnv(linkName: string, ip: string, env: readonly string[] | null | undefined, exposed: Record<string, unknown> | null | undefined): string[] {
  const alias = path.posix.basename(linkName).toUpperCase().replace(/-/g, '_');
  const ports = sortedPorts(exposed);
  const out: string[] = [];
  const key = (p: ExposedPort, proto = p.proto) => `${alias}_PORT_${p.port}_${proto.toUpperCase()}`;
  if (ports.length) out.push(`${alias}_PORT=${ports[0]!.proto}://${ip}:${ports[0]!.port}`);
  // runs of consecutive ports also get _START/_END variables, named after the first port
  for (let i = 0; i < ports.length;) {
    // Docker's rule: walk on while the next number is at most one more than a counter that
    // grows by one per port (so 80/tcp, 80/udp, 81/tcp is one run)
    let j = i;
    for (let value = ports[i]!.port; j + 1 < ports.length && ports[j + 1]!.port <= value + 1; value++) j++;
    if (j > i + 1) {
      const p = ports[i]!;
      const q = ports[j]!;
      out.push(`${key(p)}_START=${p.proto}://${ip}:${p.port}`, `${key(p)}_ADDR=${ip}`, `${key(p)}_PROTO=${p.proto}`, `${key(p)}_PORT_START=${p.port}`);
      out.push(`${key(p, q.proto)}_END=${q.proto}://${ip}:${q.port}`, `${key(p, q.proto)}_PORT_END=${q.port}`);
      i = j + 1;
    } else {
      i++;
    }
  }
  for (const p of ports) {
    out.push(`${key(p)}=${p.proto}://${ip}:${p.port}`, `${key(p)}_ADDR=${ip}`, `${key(p)}_PORT=${p.port}`, `${key(p)}_PROTO=${p.proto}`);
  }
  out.push(`${alias}_NAME=${linkName}`);
  for (const v of env ?? []) {
    const eq = v.indexOf('=');
    if (eq < 0) continue;
    const k = v.slice(0, eq);
    if (k === 'HOME' || k === 'PATH') continue;
    out.push(`${alias}_ENV_${k}=${v.slice(eq + 1)}`);
  }
  return out;
}

interface LegacyLinks { env: string[]; hosts: HostsRecord[] }

/**
 * At start on the default bridge: every target must run and be on the bridge. Returns the
 * environment and the /etc/hosts records (alias, hostname, and the name when it differs).
 */
export function legacyLinks(c: Container, lookup: LinkLookup): LegacyLinks {
  const out: LegacyLinks = { env: [], hosts: [] };
  if (!usesLegacyLinks(c.hostConfig.NetworkMode)) return out;
  for (const l of c.hostConfig.Links ?? []) {
    const { name, alias } = parseLink(l);
    const t = target(lookup, name);
    const linkName = `/${c.name}/${alias}`;
    if (!lookup.isLive(t)) throw new StrataError('failed_precondition', `Cannot link to a non running container: /${t.name} AS ${linkName}`);
    const ip = t.network.networks?.bridge?.IPAddress;
    if (!ip) throw new StrataError('failed_precondition', `container ${t.id} not attached to default bridge network`);
    const names = [alias, t.config.Hostname || t.id.slice(0, 12)];
    if (alias !== t.name) names.push(t.name);
    out.hosts.push({ ip, names });
    out.env.push(...linkEnv(linkName, ip, t.config.Env, t.config.ExposedPorts));
  }
  return out;
}

/**
 * The /etc/hosts records of a running container's links as they stand now: legacy links on
 * the bridge (targets that stopped are left out), and on each user-defined network the
 * EndpointConfig.Links aliases of targets attached there. `endpoints`: the container's
 * networks with their link lists; a target is found by name or alias on that network;
 * `bridgeAddress`: a target's address on the default bridge while it is attached there.
 */
export function currentLinkHosts(c: Container, endpoints: readonly { network: string; links: readonly string[] }[], lookup: LinkLookup, onNetwork: (network: string, nameOrAlias: string) => string | undefined, bridgeAddress: (t: Container) => string | undefined): HostsRecord[] {
  const out: HostsRecord[] = [];
  if (usesLegacyLinks(c.hostConfig.NetworkMode)) {
    for (const l of c.hostConfig.Links ?? []) {
      let p: { name: string; alias: string };
      try { p = parseLink(l); } catch { continue; }
      const t = lookup.find(p.name);
      const ip = t ? bridgeAddress(t) : undefined;
      if (!t || !ip) continue;
      const names = [p.alias, t.config.Hostname || t.id.slice(0, 12)];
      if (p.alias !== t.name) names.push(t.name);
      out.push({ ip, names });
    }
  }
  for (const e of endpoints) {
    if (usesLegacyLinks(e.network)) continue;
    for (const l of e.links) {
      let p: { name: string; alias: string };
      try { p = parseLink(l); } catch { continue; }
      const ip = onNetwork(e.network, p.name);
      if (ip) out.push({ ip, names: [p.alias] });
    }
  }
  return out;
}

/**
 * Inspect's HostConfig.Links: the legacy links as `/target:/me/alias` with the current names
 * (Docker rebuilds them from its link graph; on a user-defined network there are none).
 */
export function inspectLinks(c: Container, lookup: Pick<LinkLookup, 'find'>): string[] | null {
  const links = c.hostConfig.Links ?? [];
  if (!links.length || !usesLegacyLinks(c.hostConfig.NetworkMode)) return null;
  return links.map((l) => {
    try {
      const { name, alias } = parseLink(l);
      const t = lookup.find(name);
      return `/${t?.name ?? name}:/${c.name}/${alias}`;
    } catch { return l; }
  });
}
