import * as path from 'node:path';
import { invalidArgument, notFound } from '../base/errors.js';
import { NetworkManager, buildHostsFile, publishAllSpecs, type PortSpec, type Attachment, type NetworkInspect } from '../network/index.js';
import type { Container, NetworkDriver, NetworkState } from './container-model.js';
import type { StoreRoot } from './store-root.js';
import { containerEndpoints, joinedAliases } from './endpoints.js';
import { currentLinkHosts, legacyLinks, type HostsRecord, type LinkLookup } from './links.js';
import * as fs from 'node:fs';
import { ContainerDns } from './dns.js';
import { containerById } from '../meta/containers.js';
import { deleteEndpoint } from '../meta/container-endpoints.js';
import type { Sys } from '../sys/index.js';


/** HostConfig.PortBindings (+ -P) as the network layer's port requests. */
function portSpecs(c: Container): PortSpec[] {
  const out: PortSpec[] = [];
  for (const [key, binds] of Object.entries(c.hostConfig.PortBindings ?? {})) {
    const [p, proto] = key.split('/');
    for (const b of binds ?? []) {
      const [lo, hi] = (b.HostPort || '0').split('-').map(Number);
      const spec: PortSpec = { hostIp: b.HostIp || '', hostPort: lo ?? 0, containerPort: Number(p), protocol: (proto ?? 'tcp') as PortSpec['protocol'] };
      if (hi !== undefined && hi !== lo) spec.hostPortEnd = hi;
      out.push(spec);
    }
  }
  if (c.hostConfig.PublishAllPorts) out.push(...publishAllSpecs(Object.keys(c.config.ExposedPorts ?? {}), out));
  return out;
}

function stateFromAttachment(a: Attachment, mode: string): NetworkState {
  return {
    mode,
    netns: a.netnsPath,
    ports: a.ports.map((p) => ({ HostIp: p.hostIp, HostPort: String(p.hostPort), ContainerPort: `${p.containerPort}/${p.protocol}` })),
    networks: Object.fromEntries(a.endpoints.map((e) => [e.network, {
      IPAddress: e.ipAddress, IPPrefixLen: e.prefixLen, Gateway: e.gateway, MacAddress: e.macAddress, NetworkID: e.networkId, EndpointID: e.endpointId, Aliases: e.aliases,
    }])),
  };
}

export function networkManager(store: StoreRoot, sys: Sys): NetworkManager {
  return new NetworkManager(path.join(store.root, 'network'), { sys });
}

/** `--add-host name:ip` values as hosts records. */
function addHosts(c: Container): HostsRecord[] {
  return (c.hostConfig.ExtraHosts ?? []).map((e) => {
    const i = e.lastIndexOf(':');
    return { ip: e.slice(i + 1), names: [e.slice(0, i)] };
  });
}

/** The CNI-backed driver the container engine calls on start and stop. */
export class CniDriver implements NetworkDriver {
  readonly dns: ContainerDns;

  constructor(readonly nm: NetworkManager, readonly store: StoreRoot, readonly lookup?: LinkLookup) {
    this.dns = new ContainerDns(nm, (id) => containerById(store.db, id)?.name);
  }

  /** The legacy link environment (checks that every target runs on the bridge: Docker's errors). */
  linkEnv(c: Container): string[] {
    return this.lookup ? legacyLinks(c, this.lookup).env : [];
  }

  /** The address a container has on a network, found by its name or one of its aliases there. */
  private addressOn(network: string, ref: string): string | undefined {
    let info: NetworkInspect;
    try { info = this.nm.inspect(network); } catch { return undefined; }
    for (const [id, e] of Object.entries(info.containers)) {
      const name = this.lookup?.find(id)?.name ?? e.name;
      const aliases = this.nm.get(id)?.endpoints.find((x) => x.networkId === info.id)?.aliases ?? [];
      if (name === ref || aliases.includes(ref) || id === ref) return e.ipv4Address.split('/')[0];
    }
    return undefined;
  }

  /** /etc/hosts records of a container's links, as they stand now. */
  private linkHosts(c: Container): HostsRecord[] {
    if (!this.lookup) return [];
    const eps = containerEndpoints(this.store.db, c).map((e) => ({ network: e.network, links: e.settings.Links ?? [] }));
    const bridgeAddress = (t: Container) => this.nm.get(t.id)?.endpoints.find((e) => e.network === 'bridge')?.ipAddress || undefined;
    return currentLinkHosts(c, eps, this.lookup, (n, r) => this.addressOn(n, r), bridgeAddress);
  }

  private hostsText(c: Container, ips: string[]): string {
    return buildHostsFile({ hostname: c.config.Hostname || c.id.slice(0, 12), domainname: c.config.Domainname || undefined, ips, extraHosts: [...addHosts(c), ...this.linkHosts(c)] as never });
  }

  /**
   * Link targets come, go and change address: rewrite, in place (it is bind-mounted), the
   * /etc/hosts of every attached container that has links. Only with the resolver (without
   * it the network layer owns the hosts files, and links are written once at attach); run
   * under the resolver's lock (`dns.sync(then)`), so the last change is written last.
   */
  refreshLinks(): void {
    if (!this.dns.enabled || !this.lookup) return;
    const ids = new Set<string>();
    for (const n of this.nm.list()) {
      try { for (const id of Object.keys(this.nm.inspect(n.name).containers)) ids.add(id); } catch { /* removed meanwhile */ }
    }
    for (const id of ids) {
      const c = this.lookup.find(id);
      if (!c || !this.lookup.isLive(c)) continue;
      const eps = containerEndpoints(this.store.db, c);
      if (!c.hostConfig.Links?.length && !eps.some((e) => e.settings.Links?.length)) continue;
      const a = this.nm.get(id);
      if (!a) continue;
      const file = path.join(c.dir, 'hosts');
      const text = this.hostsText(c, a.endpoints.map((e) => e.ipAddress).filter(Boolean));
      try {
        if (fs.readFileSync(file, 'utf8') !== text) fs.writeFileSync(file, text);
      } catch { /* removed meanwhile */ }
    }
  }

  /**
   * Join the container's networks in their recorded order: the first with the attachment
   * (netns, default route, published ports), the others as connections, each with its own
   * aliases. None left (all disconnected): loopback only.
   */
  async attach(c: Container, opts: { onNetns?: (netnsPath: string) => void | Promise<unknown>; onReady?: () => void } = {}): Promise<NetworkState> {
    const mode = c.hostConfig.NetworkMode || 'default';
    // --add-host records, then the links' (Docker's order)
    const extraHosts = [...addHosts(c), ...this.linkHosts(c)];
    const eps = containerEndpoints(this.store.db, c);
    const [first, ...rest] = eps;
    const hostname = c.config.Hostname || c.id.slice(0, 12);
    const hostsPath = path.join(c.dir, 'hosts');
    // Ready before the attach is done only when its first network is all, and no resolver's
    // records wait on it: no resolver at all (the network layer writes the hosts file), or the
    // default bridge, which has no names (its hosts file is written here first).
    const network0 = first?.network ?? 'none';
    let early: (() => void) | undefined;
    if (opts.onReady && rest.length === 0) {
      const ready = opts.onReady;
      if (!this.dns.enabled) early = ready;
      else if (network0 === 'bridge' || network0 === 'none') {
        early = () => {
          fs.writeFileSync(hostsPath, this.hostsText(c, this.nm.get(c.id)?.endpoints.map((e) => e.ipAddress).filter(Boolean) ?? []));
          ready();
        };
      }
    }
    // with a resolver, /etc/hosts has only the container itself (Docker); without, the network layer lists the peers
    const a0 = await this.nm.attach(c.id, [network0], portSpecs(c), {
      hostname,
      name: c.name,
      ...(this.dns.enabled ? {} : { hostsPath }),
      extraHosts: extraHosts as never,
      ...(opts.onNetns ? { onNetns: opts.onNetns } : {}),
      ...(early ? { onReady: early } : {}),
      ...(first ? { aliases: joinedAliases(c, first.network, first.settings) } : {}),
      ...(first?.settings.IPAMConfig?.IPv4Address ? { ip: first.settings.IPAMConfig.IPv4Address } : {}),
    });
    let a = a0;
    try {
      for (const e of rest) await this.nm.connect(c.id, e.network, { aliases: joinedAliases(c, e.network, e.settings), ...(e.settings.IPAMConfig?.IPv4Address ? { ip: e.settings.IPAMConfig.IPv4Address } : {}) });
      if (rest.length) a = this.nm.get(c.id) ?? a0;
      // in place (same inode), not by rename: the container may be created already (runc
      // create runs beside the attach, see startContainer), with these files bind-mounted;
      // it is started only once the attach is done, so nothing in it reads them meanwhile
      if (this.dns.enabled) {
        fs.writeFileSync(hostsPath, this.hostsText(c, a.endpoints.map((e) => e.ipAddress).filter(Boolean)));
        try {
          await this.dns.sync(() => this.refreshLinks());
        } catch {
          // the resolver cannot run (port 53 of the gateway taken...): the container still
          // starts, with its peers in /etc/hosts and the host's nameservers
          fs.writeFileSync(hostsPath, this.nm.hostsFile(c.id));
          if (!c.hostConfig.Dns?.length) fs.writeFileSync(path.join(c.dir, 'resolv.conf'), this.nm.resolvConf());
        }
      }
    } catch (e) {
      await this.nm.detach(c.id).catch(() => undefined);
      await this.dns.sync().catch(() => undefined);
      throw e;
    }
    return stateFromAttachment(a, mode);
  }

  private ids: { at: number; byName: Map<string, string> } | undefined;

  /** A network's ID by name, from a listing at most a second old (ps of many containers asks once). */
  networkId(name: string): string {
    const now = Date.now();
    let ids = this.ids;
    const age = ids ? now - ids.at : Infinity;
    if (!ids || age > 1000 || (age > 50 && !ids.byName.has(name))) {
      ids = this.ids = { at: now, byName: new Map(this.nm.list().map((n) => [n.name, n.id])) };
    }
    return ids.byName.get(name) ?? '';
  }

  /** After a rename: peers resolve the new name. */
  async renamed(): Promise<void> {
    await this.dns.sync(() => this.refreshLinks()).catch(() => undefined);
  }

  /** The path of the netns `attach` makes for the container (known before it exists). */
  netnsPath(c: Container): string { return this.nm.netnsPathFor(c.id); }

  /** The networks a container is leaving (a disconnect begun). */
  leaving(id: string): string[] { return this.nm.leaving(id); }

  async detach(c: Container): Promise<void> {
    // a disconnect begun and killed: the container no longer joins that network at its next start
    for (const n of this.nm.leaving(c.id)) deleteEndpoint(this.store.db, c.id, n);
    await this.nm.detach(c.id);
    await this.dns.sync(() => this.refreshLinks()).catch(() => undefined); // a resolver that cannot run never blocks a stop
  }

  validate(mode: string): void {
    if (!mode || mode === 'default' || mode === 'bridge' || mode === 'host' || mode === 'none') return;
    if (mode.startsWith('container:')) throw invalidArgument('--network container:<name> is not supported');
    try { this.nm.inspect(mode); } catch { throw notFound(`network ${mode} not found`); }
  }

  /** The container's resolv.conf: the resolver on its user-defined networks, else the host's servers. */
  resolvConf(c?: Container): string {
    const nets = c ? containerEndpoints(this.store.db, c).map((e) => e.network) : [];
    return (c && !c.hostConfig.Dns?.length ? this.dns.resolvConf(nets) : undefined) ?? this.nm.resolvConf(c?.hostConfig.Dns?.length ? { dns: c.hostConfig.Dns } : {});
  }
}

/** Docker's network inspect shape (20.10 / API 1.41), including the default bridge's options. */
export function networkJson(n: NetworkInspect): Record<string, unknown> {
  const isDefault = n.name === 'bridge';
  const options: Record<string, string> = isDefault
    ? {
      'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.enable_icc': 'true',
      'com.docker.network.bridge.enable_ip_masquerade': 'true', 'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
      'com.docker.network.bridge.name': n.bridge, 'com.docker.network.driver.mtu': '1500',
    }
    : {};
  return {
    Name: n.name, Id: n.id, Created: n.created, Scope: n.scope, Driver: n.driver, EnableIPv6: false,
    IPAM: { Driver: 'default', Options: isDefault || !n.subnet ? null : {}, Config: n.subnet ? [{ Subnet: n.subnet, Gateway: n.gateway }] : [] },
    Internal: n.internal, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
    Containers: Object.fromEntries(Object.entries(n.containers).map(([id, e]) => [id, { Name: e.name, EndpointID: e.endpointId, MacAddress: e.macAddress, IPv4Address: e.ipv4Address, IPv6Address: e.ipv6Address }])),
    Options: options, Labels: n.labels ?? {},
  };
}
