import * as path from 'node:path';
import { invalidArgument, notFound } from '../base/errors.js';
import { NetworkManager, publishAllSpecs, type PortSpec, type Attachment, type NetworkInspect } from '../network/index.js';
import type { Container, NetworkDriver, NetworkState } from './container-model.js';
import type { StoreRoot } from './store-root.js';
import type { Sys } from '../sys/index.js';

/** Networks of the default bridge kind: `--network default|bridge|NAME`. */
function networksFor(mode: string): string[] {
  if (!mode || mode === 'default') return ['bridge'];
  return [mode];
}

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

export function stateFromAttachment(a: Attachment, mode: string): NetworkState {
  return {
    mode,
    netns: a.netnsPath,
    ports: a.ports.map((p) => ({ HostIp: p.hostIp, HostPort: String(p.hostPort), ContainerPort: `${p.containerPort}/${p.protocol}` })),
    networks: Object.fromEntries(a.endpoints.map((e) => [e.network, {
      IPAddress: e.ipAddress, IPPrefixLen: e.prefixLen, Gateway: e.gateway, MacAddress: e.macAddress, NetworkID: e.networkId, Aliases: e.aliases,
    }])),
  };
}

export function networkManager(store: StoreRoot, sys: Sys): NetworkManager {
  return new NetworkManager(path.join(store.root, 'network'), { sys });
}

/** The CNI-backed driver the container engine calls on start and stop. */
export class CniDriver implements NetworkDriver {
  constructor(readonly nm: NetworkManager) {}

  async attach(c: Container): Promise<NetworkState> {
    const mode = c.hostConfig.NetworkMode || 'default';
    const extraHosts = (c.hostConfig.ExtraHosts ?? []).map((e) => {
      const i = e.lastIndexOf(':');
      return { ip: e.slice(i + 1), names: [e.slice(0, i)] };
    });
    const a = await this.nm.attach(c.id, networksFor(mode), portSpecs(c), {
      hostname: c.config.Hostname || c.id.slice(0, 12),
      name: c.name,
      hostsPath: path.join(c.dir, 'hosts'),
      extraHosts: extraHosts as never,
    });
    return stateFromAttachment(a, mode);
  }

  async detach(c: Container): Promise<void> {
    await this.nm.detach(c.id);
  }

  validate(mode: string): void {
    if (!mode || mode === 'default' || mode === 'bridge' || mode === 'host' || mode === 'none') return;
    if (mode.startsWith('container:')) throw invalidArgument('--network container:<name> is not supported');
    try { this.nm.inspect(mode); } catch { throw notFound(`network ${mode} not found`); }
  }

  resolvConf(): string {
    return this.nm.resolvConf();
  }
}

/** Docker's network inspect shape. */
export function networkJson(n: NetworkInspect): Record<string, unknown> {
  return {
    Name: n.name, Id: n.id, Created: n.created, Scope: n.scope, Driver: n.driver, EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: n.subnet ? [{ Subnet: n.subnet, Gateway: n.gateway }] : [] },
    Internal: n.internal, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
    Containers: Object.fromEntries(Object.entries(n.containers).map(([id, e]) => [id, { Name: e.name, EndpointID: e.endpointId, MacAddress: e.macAddress, IPv4Address: e.ipv4Address, IPv6Address: e.ipv6Address }])),
    Options: n.bridge ? { 'com.docker.network.bridge.name': n.bridge } : {}, Labels: n.labels,
  };
}
