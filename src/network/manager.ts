/**
 * NetworkManager: Docker's bridge networking on the CNI reference plugins.
 *
 * Lifecycle of a container's networking:
 *
 *   const nm = new NetworkManager(`${root}/network`);
 *   await nm.cleanupStale(runningIds);               // at start-up: undo what crashed calls left
 *   const a = await nm.attach(id, ['bridge'], parsePublish('8080:80'), { hostname, name, hostsPath });
 *   // OCI spec: linux.namespaces += { type: 'network', path: a.netnsPath }
 *   // bind-mount hostsPath at /etc/hosts, write nm.resolvConf() for /etc/resolv.conf
 *   ...container runs...
 *   await nm.detach(id);                             // CNI DEL, netns deleted, ports free
 *
 * For each network a container joins, Strata runs one CNI network configuration list, the
 * way nerdctl and Podman 4 (CNI backend) do:
 *   bridge (+ host-local IPAM) -> portmap -> firewall
 * with `lo` brought up as the loopback plugin does (`ip -n NS link set lo up`, through the
 * kernel door: no plugin process). Internal networks leave out portmap, the default
 * route and masquerading.
 *
 * State under `stateDir` (nothing under /var/lib/cni, so roots are independent):
 *   networks/<name>.json    network records (id, subnet, gateway, bridge, CNI name)
 *   cni/<name>.conflist     the configuration list of each network (for reading, cnitool)
 *   ipam/<cni name>/        host-local's dataDir: address reservations per container
 *   containers/<id>.json    attachment records: netns, endpoints with their cached CNI
 *                           results (DEL's prevResult), published ports (the bookkeeping)
 *   ports.json              the last ephemeral host port handed out (round robin, as Docker)
 *   lock                    this root's lock
 *
 * Host-global names derive from a root tag so that roots never collide: the default root
 * (/var/lib/strata/network) has bridges `strata0` and `strata-<id8>`, netns
 * `strata-<id12>` and CNI network names `strata.<net>`; another root with tag T has
 * `stT`, `stT-<id6>`, `stT-<id12>` and `strata-T.<net>`. iptables rules carry the CNI
 * network name in their comments (bridge, portmap) and the per-container chains are named
 * from a hash of network name and container id (portmap: CNI-DN-*), so they are per root too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../base/errors.js';
import { rmTree, writeFileAtomic } from '../base/fs.js';
import { linuxSys, type ExecResult, type Sys } from '../sys/index.js';
import { addNetworkList, checkNetworkList, delNetworkList, DEFAULT_CNI_PATH, type CniResult, type CniRuntime } from './cni.js';
import type { ResolvConfOptions } from './hosts-files.js';
import {
  createBridge, createNetns, loopbackUp, defaultRouteMtu, deleteLink, deleteNetns, hostResolvConf, hostUsedPrefixes, linkExists, netnsPath,
} from './host.js';
import { addPortmapRules, ensureNetworkRules, sweepForwardRules, sweepNat } from './iptables.js';
import { plainHostLocal, reserveAddress } from './ipam.js';
import { contains, defaultPools, formatCidr, formatIPv4, maskOf, mustParseCidr, overlaps, parseIPv4, type Cidr } from './ipv4.js';
import { withLock } from './lock.js';
import { allocatePorts } from './port-allocator.js';
import type { PortBinding, PortSpec } from './ports.js';
import { cleanupStale, endpointsKey, teardown } from './recovery.js';
import { urandom } from '../base/random.js';
import {
  ID_RE, NAME_RE, NetworkState, PREDEFINED, readJson,
  type AttachmentRecord, type EndpointRecord, type NetworkRecord, type PortMapEntry,
} from './state.js';
import {
  DEFAULT_NETWORK, type Attachment, type AttachOptions, type CleanupReport, type CreateNetworkOptions,
  type Endpoint, type NetworkInfo, type NetworkInspect, type NetworkEndpointInfo, type NetworkManagerOptions,
} from './types.js';

export { GLOBAL_LOCK } from './types.js';
export type { NetworkInfo, NetworkInspect, CreateNetworkOptions, Attachment, NetworkManagerOptions } from './types.js';
export { deriveRootTag } from './state.js';
export { canBind } from './port-allocator.js';

/** An endpoint's CNI capabilities for its ADD: its port mappings, and its fixed address if any. */
function addCapabilities(ep: EndpointRecord): Record<string, unknown> {
  return { portMappings: ep.portMappings, ...(ep.ip ? { ips: [ep.ip] } : {}) };
}

/** A list whose published TCP ports' rules Strata writes itself: the bridge plugin, then portmap. */
function quickLink(plugins: readonly { type: string }[]): boolean {
  return plugins.length === 2 && plugins[0]!.type === 'bridge' && plugins[1]!.type === 'portmap';
}

export class NetworkManager {
  readonly sys: Sys;
  private readonly st: NetworkState;
  private readonly defaultSubnet?: string;

  constructor(stateDir: string, opts: NetworkManagerOptions = {}) {
    this.sys = opts.sys ?? linuxSys;
    this.st = new NetworkState(stateDir, { rootTag: opts.rootTag, cniPath: opts.cniPath ?? DEFAULT_CNI_PATH, sys: this.sys, onStep: opts.onStep });
    this.defaultSubnet = opts.defaultSubnet;
  }

  get stateDir(): string { return this.st.stateDir; }
  get rootTag(): string { return this.st.rootTag; }
  /** Prefix of every CNI network name of this root (iptables comments carry it). */
  get cniPrefix(): string { return this.st.cniPrefix; }
  /** Prefix of this root's named netns in /run/netns. */
  get netnsPrefix(): string { return this.st.netnsPrefix; }
  /** Name of the default network's bridge. */
  get defaultBridge(): string { return this.st.defaultBridge; }
  netnsNameFor(containerId: string): string { return this.st.netnsNameFor(containerId); }
  /** Where the container's netns will be once `attach` has made it (known before it exists). */
  netnsPathFor(containerId: string): string { return netnsPath(this.sys, this.st.netnsNameFor(containerId)); }

  // ---------------------------------------------------------------- networks

  /** The default `bridge` network, created on first use. */
  async ensureDefault(): Promise<NetworkInfo> {
    const existing = readJson<NetworkRecord>(this.st.netFile(DEFAULT_NETWORK));
    if (existing) {
      await this.ensureBridge(existing);
      return this.st.toInfo(existing);
    }
    return this.createRecord(DEFAULT_NETWORK, { subnet: this.defaultSubnet }, true);
  }

  /** `network create NAME [--subnet] [--gateway] [--internal]` (bridge driver). */
  async create(name: string, opts: CreateNetworkOptions = {}): Promise<NetworkInfo> {
    if (name === 'host' || name === 'none') throw new StrataError('failed_precondition', `operation is not permitted on predefined ${name} network`);
    if (name === DEFAULT_NETWORK) {
      await this.ensureDefault();
      throw new StrataError('conflict', `network with name ${name} already exists`);
    }
    if (!NAME_RE.test(name) || name.length > 200) {
      throw new StrataError('invalid_argument', `invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    return this.createRecord(name, opts, false);
  }

  private async createRecord(name: string, opts: CreateNetworkOptions, isDefault: boolean): Promise<NetworkInfo> {
    if (opts.gateway && !opts.subnet) throw new StrataError('invalid_argument', 'every ip-range or gateway must have a corresponding subnet');
    const wanted = opts.subnet !== undefined ? mustParseCidr(opts.subnet) : undefined;
    if (wanted && (wanted.prefix < 8 || wanted.prefix > 30)) throw new StrataError('invalid_argument', `invalid subnet ${opts.subnet}: the prefix length must be between 8 and 30`);
    let gateway: number | undefined;
    if (opts.gateway !== undefined) {
      gateway = parseIPv4(opts.gateway);
      if (gateway === undefined) throw new StrataError('invalid_argument', `invalid gateway address ${opts.gateway}`);
      if (!contains(wanted!, gateway)) throw new StrataError('invalid_argument', `no matching subnet for gateway ${opts.gateway}`);
    }
    const mtu = await defaultRouteMtu(this.sys);
    // Subnet choice and bridge creation happen under the host-wide lock: another root picking
    // at the same time sees this bridge's route once we release.
    return withLock(this.sys, this.st.globalLock, () => withLock(this.sys, this.st.lockFile, async () => {
      await this.finishRemovals();
      const existing = readJson<NetworkRecord>(this.st.netFile(name));
      if (existing) {
        if (isDefault) { await this.ensureBridge(existing); return this.st.toInfo(existing); }
        throw new StrataError('conflict', `network with name ${name} already exists`);
      }
      const ours = this.st.readNetworks().map((n) => mustParseCidr(n.subnet));
      let subnet: Cidr;
      if (wanted) {
        if (ours.some((c) => overlaps(c, wanted))) throw new StrataError('conflict', 'Pool overlaps with other one on this address space');
        subnet = wanted;
      } else {
        const used = [...ours, ...(await hostUsedPrefixes(this.sys))];
        const free = defaultPools().find((p) => !used.some((u) => overlaps(u, p)));
        if (!free) {
          throw new StrataError('failed_precondition', 'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
        }
        subnet = free;
      }
      const gw = gateway ?? subnet.base + 1;
      let id = urandom(32).toString('hex');
      let bridge = isDefault ? this.st.defaultBridge : this.st.userBridgeName(id);
      const links = new Set(this.sys.listLinks());
      for (let i = 0; !isDefault && links.has(bridge) && i < 100; i++) {
        id = urandom(32).toString('hex');
        bridge = this.st.userBridgeName(id);
      }
      const rec: NetworkRecord = {
        id, name, created: new Date().toISOString(), subnet: formatCidr(subnet), gateway: formatIPv4(gw),
        internal: !!opts.internal, bridge, cniName: `${this.st.cniPrefix}${name}`, mtu, labels: { ...(opts.labels ?? {}) },
      };
      // Record first, bridge second: a crash in between leaves a record whose bridge is made
      // again on next use, never a bridge without a record.
      writeFileAtomic(this.st.netFile(name), JSON.stringify(rec, null, 1));
      this.st.writeConflist(rec);
      try {
        await this.ensureBridge(rec);
      } catch (e) {
        fs.rmSync(this.st.netFile(name), { force: true });
        fs.rmSync(this.st.conflistFile(name), { force: true });
        await deleteLink(this.sys, bridge).catch(() => {});
        throw e;
      }
      return this.st.toInfo(rec);
    }));
  }

  /** The network's bridge and its iptables rules (see ensureNetworkRules), made when missing. */
  private async ensureBridge(n: NetworkRecord): Promise<void> {
    const c = mustParseCidr(n.subnet);
    const made = !linkExists(this.sys, n.bridge);
    if (made) await createBridge(this.sys, n.bridge, `${n.gateway}/${c.prefix}`, n.mtu);
    // made since boot (and since the bridge was): no iptables-save per start
    if (!made && this.st.rulesMade(n.bridge)) return;
    await ensureNetworkRules(this.sys, { bridge: n.bridge, subnet: formatCidr(c), masquerade: !n.internal });
    // what portmap sets at each ADD: 127.0.0.1:PORT DNAT'd to a container crosses the bridge
    if (!n.internal) this.sys.writeSysctl(`net/ipv4/conf/${n.bridge}/route_localnet`, '1');
    this.st.markRulesMade(n.bridge);
  }

  /**
   * CNI ADD of one endpoint. For Strata's own list (bridge + host-local, then portmap) with TCP
   * ports only, portmap's part is done in-process (addPortmapRules: the same rules, one
   * iptables-restore, no plugin process); anything else runs the plugins as listed.
   */
  private async addEndpoint(ep: EndpointRecord, rt: CniRuntime): Promise<CniResult> {
    const { result, rules } = await this.addEndpointLink(ep, rt);
    await rules;
    return result;
  }

  /**
   * An endpoint's interface (the bridge plugin's ADD), and the published ports' rules, which
   * the quick path writes itself: begun, not awaited (`rules`), so the container can start
   * meanwhile. A rule's failure is the attach's.
   */
  private async addEndpointLink(ep: EndpointRecord, rt: CniRuntime, chosen?: Promise<void>): Promise<{ result: CniResult; rules?: Promise<void> }> {
    const opts = { cniPath: this.st.cniPath, sys: this.sys };
    const plugins = ep.conflist.plugins;
    // chosen: TCP ports being chosen meanwhile (attach), distinct by the allocator
    const quick = quickLink(plugins) && (chosen !== undefined ||
      (ep.portMappings.every((p) => p.protocol === 'tcp') && new Set(ep.portMappings.map((p) => p.hostPort)).size === ep.portMappings.length));
    if (!quick) return { result: await addNetworkList(ep.conflist, rt, opts) };
    const result = await this.bridgeAdd(ep, rt);
    await chosen;
    const ports = ep.portMappings;
    if (ports.length === 0) return { result };
    const addr = result.ips?.find((i) => i.address.includes('.'))?.address;
    if (!addr) throw new StrataError('failed_precondition', `network ${ep.network}: no IPv4 address for the published ports`);
    const known = this.st.rulesMade('portmap');
    const rules = addPortmapRules(this.sys, {
      network: ep.cniName, containerId: rt.containerId, ip: addr.split('/')[0]!, subnet: formatCidr(mustParseCidr(addr)),
      ports: ports.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, ...(p.hostIP ? { hostIP: p.hostIP } : {}) })),
      known,
    }).then(() => { if (!known) this.st.markRulesMade('portmap'); });
    rules.catch(() => undefined); // awaited by the caller; not unhandled meanwhile
    return { result, rules };
  }

  /**
   * The bridge plugin's ADD (the first plugin of a quick list alone). With host-local over one
   * plain range and no fixed address, host-local's part is done here: the address reserved as
   * host-local reserves it (a file named by the address in its dataDir, made with O_EXCL, holding
   * "containerId\r\nifName", the next after last_reserved_ip.0, the gateway skipped), the
   * plugin run without IPAM (it makes the veth pair, on the bridge, both ends up), then the
   * address, the default route and IPv4 forwarding set as its IPAM part sets them, and its result
   * given the same `ips` and `routes`. One Go program fewer per start (~11 ms, ~16 ms of CPU).
   * A DEL is unchanged: host-local releases the file by container and interface.
   */
  private async bridgeAdd(ep: EndpointRecord, rt: CniRuntime): Promise<CniResult> {
    const opts = { cniPath: this.st.cniPath, sys: this.sys };
    const bridge = ep.conflist.plugins[0]!;
    const plain = plainHostLocal(bridge.ipam);
    // (a fixed address, ep.ip, is what the attach passes as the `ips` capability)
    if (!plain || ep.ip || !this.sys.ifaceUp) return addNetworkList({ ...ep.conflist, plugins: [bridge] }, rt, opts);
    const { subnet, gateway, routes } = plain;
    const dir = path.join(plain.dataDir, ep.conflist.name);
    const ip = reserveAddress(dir, subnet, gateway, rt.containerId, rt.ifName);
    try {
      const { ipam: _omitted, ...l2 } = bridge;
      const made = await addNetworkList({ ...ep.conflist, plugins: [l2] }, rt, opts);
      const idx = made.interfaces?.findIndex((i) => i.sandbox && i.name === rt.ifName) ?? -1;
      if (idx < 0) throw new StrataError('internal', `network ${ep.network}: the bridge plugin made no ${rt.ifName}`);
      if (this.sys.readSysctl('net/ipv4/ip_forward') !== '1') this.sys.writeSysctl('net/ipv4/ip_forward', '1');
      this.sys.ifaceUp(rt.netns, rt.ifName, formatIPv4(ip), formatIPv4(maskOf(subnet.prefix)), routes.length > 0 ? formatIPv4(gateway) : '');
      return {
        cniVersion: made.cniVersion, interfaces: made.interfaces,
        ips: [{ interface: idx, address: `${formatIPv4(ip)}/${subnet.prefix}`, gateway: formatIPv4(gateway) }],
        routes, dns: made.dns ?? {},
      };
    } catch (e) {
      // the interface, if made, goes with the caller's teardown (the plugins' DEL)
      fs.rmSync(path.join(dir, formatIPv4(ip)), { force: true });
      throw e;
    }
  }

  /** `network ls`: bridge, host, none and the user-defined networks, by name. */
  list(): NetworkInfo[] {
    const out = this.st.readNetworks().map((r) => this.st.toInfo(r));
    out.push(this.st.predefinedInfo('host'), this.st.predefinedInfo('none'));
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** `network inspect`: by name, id or unique id prefix; with the attached containers. */
  inspect(ref: string): NetworkInspect {
    if (ref === 'host' || ref === 'none') return { ...this.st.predefinedInfo(ref), containers: {} };
    const n = this.st.findNetwork(ref);
    if (!n) throw new StrataError('not_found', `No such network: ${ref}`);
    const containers: Record<string, NetworkEndpointInfo> = {};
    for (const r of this.st.readRecords()) {
      for (const ep of r.endpoints) {
        if (ep.networkId !== n.id || ep.state === 'leaving') continue;
        const v = this.st.endpointView(r, ep);
        containers[r.containerId] = {
          name: r.name ?? r.containerId.slice(0, 12), endpointId: ep.endpointId, macAddress: v.macAddress,
          ipv4Address: v.ipAddress ? `${v.ipAddress}/${v.prefixLen}` : '', ipv6Address: '',
        };
      }
    }
    return { ...this.st.toInfo(n), containers };
  }

  /** `network rm`: refused while containers are attached; removes the bridge and its isolation rules. */
  async remove(ref: string): Promise<void> {
    if (PREDEFINED.includes(ref)) throw new StrataError('failed_precondition', `${ref} is a pre-defined network and cannot be removed`);
    await withLock(this.sys, this.st.lockFile, async () => {
      await this.finishRemovals();
      const n = this.st.findNetwork(ref);
      if (!n) throw new StrataError('not_found', `No such network: ${ref}`);
      if (n.name === DEFAULT_NETWORK) throw new StrataError('failed_precondition', `${n.name} is a pre-defined network and cannot be removed`);
      if (this.st.readRecords().some((r) => r.endpoints.some((e) => e.networkId === n.id))) {
        throw new StrataError('conflict', `error while removing network: network ${n.name} id ${n.id} has active endpoints`);
      }
      await this.dropNetwork(n);
    });
  }

  /**
   * Remove a network, intent first: its record is renamed to `<name>.removing` (every view, and
   * every attach, stops seeing it in that one step), then the bridge, its rules, its address
   * reservations and its CNI list go, then the marker. A `network rm` killed in between leaves
   * a network that is gone for users and finished by the next create, rm or prune
   * (`finishRemovals`), never one that is listed but half torn down. Under the network lock.
   */
  private async dropNetwork(n: NetworkRecord): Promise<void> {
    const marker = this.st.removingFile(n.name);
    fs.renameSync(this.st.netFile(n.name), marker);
    await this.tearDownNetwork(n, marker);
  }

  private async tearDownNetwork(n: NetworkRecord, marker: string): Promise<void> {
    await deleteLink(this.sys, n.bridge);
    await this.st.dropNetworkRules(n.bridge);
    rmTree(path.join(this.st.ipamDir(), n.cniName));
    fs.rmSync(this.st.conflistFile(n.name), { force: true });
    fs.rmSync(marker, { force: true });
  }

  /** Finish the removals a killed `network rm` or prune left (see dropNetwork). Under the network lock. */
  private async finishRemovals(): Promise<void> {
    for (const { record, marker } of this.st.readRemovals()) await this.tearDownNetwork(record, marker);
  }

  /**
   * `network prune`: remove user-defined networks not in `inUse` (the engine passes the
   * names of networks any container, running or not, refers to) and with no attachment.
   * Returns the removed names, sorted. `select`: only networks it accepts (prune filters).
   */
  async prune(inUse: Set<string>, select: (n: NetworkInfo) => boolean = () => true): Promise<string[]> {
    return withLock(this.sys, this.st.lockFile, async () => {
      await this.finishRemovals();
      const attached = new Set(this.st.readRecords().flatMap((r) => r.endpoints.map((e) => e.networkId)));
      const removed: string[] = [];
      for (const n of this.st.readNetworks()) {
        if (n.name === DEFAULT_NETWORK || inUse.has(n.name) || inUse.has(n.id) || attached.has(n.id)) continue;
        if (!select(this.st.toInfo(n))) continue;
        await this.dropNetwork(n);
        removed.push(n.name);
      }
      return removed.sort();
    });
  }


  // ---------------------------------------------------------------- attach / detach

  /**
   * Give a container its network: a named netns with `lo` up, one interface per network
   * (eth0, eth1, ...) from CNI ADD, a default route through the first non-internal network,
   * outbound NAT, and the published ports (on that first network). `networks` defaults to
   * ['bridge']; ['none'] gives loopback only; ['host'] gives no namespace (ports ignored,
   * as Docker discards them). On any failure everything done so far is undone and the
   * error is rethrown: nothing is left half-made.
   */
  async attach(containerId: string, networks: readonly string[], ports: readonly PortSpec[], opts: AttachOptions = {}): Promise<Attachment> {
    if (!ID_RE.test(containerId)) throw new StrataError('invalid_argument', `invalid container id "${containerId}"`);
    const nets = networks.length === 0 ? [DEFAULT_NETWORK] : [...networks];
    if (new Set(nets).size !== nets.length) throw new StrataError('invalid_argument', 'a network is listed twice');
    if (nets.includes('host') || nets.includes('none')) {
      if (nets.length > 1) throw new StrataError('invalid_argument', 'conflicting options: cannot attach both user-defined and non-user-defined network-modes');
      if (nets[0] === 'host') return { containerId, mode: 'host', netnsPath: '', netnsName: '', endpoints: [], ports: [] };
    }
    const mode: 'bridge' | 'none' = nets[0] === 'none' ? 'none' : 'bridge';
    if (mode === 'bridge' && nets.includes(DEFAULT_NETWORK)) await this.ensureDefault();
    // Records of the networks, checked before anything is made.
    const recs: NetworkRecord[] = [];
    if (mode === 'bridge') {
      for (const name of nets) {
        const n = this.st.findNetwork(name);
        if (!n) throw new StrataError('not_found', `network ${name} not found`);
        recs.push(n);
      }
    }
    const primaryIdx = recs.findIndex((n) => !n.internal);
    const publish = primaryIdx >= 0 ? ports : [];

    const mappingsOf = (bindings: PortBinding[]): PortMapEntry[] => bindings.map((b) => ({
      hostPort: b.hostPort, containerPort: b.containerPort, protocol: b.protocol,
      ...(b.hostIp !== '0.0.0.0' ? { hostIP: b.hostIp } : {}),
    }));
    // TCP ports on a network whose rules are written in-process (addEndpointLink): chosen beside
    // the bridge plugin's ADD, which does not need them, rather than before the netns (the
    // choice reads the host's nat table, ~10 ms); the rules wait for the choice
    const conflists = recs.map((n, i) => this.st.conflist(n, { primary: i === primaryIdx }));
    const chooseLater = publish.length > 0 && publish.every((p) => p.protocol === 'tcp') && quickLink(conflists[primaryIdx]!.plugins);
    const reserve = async (): Promise<AttachmentRecord> => withLock(this.sys, this.st.lockFile, async () => {
      const old = this.st.readRecord(containerId);
      if (old) throw new StrataError('conflict', `container ${containerId} already has a network attachment`);
      const bindings = chooseLater ? [] : await allocatePorts(this.st, publish);
      const mappings = mappingsOf(bindings);
      const rec: AttachmentRecord = {
        containerId, mode, netnsName: this.st.netnsNameFor(containerId), status: 'attaching',
        owner: `${process.pid} ${this.sys.processStartTime(process.pid) ?? ''}`,
        hostname: opts.hostname ?? containerId.slice(0, 12), domainname: opts.domainname, name: opts.name,
        aliases: [...(opts.aliases ?? [])], extraHosts: [...(opts.extraHosts ?? [])], hostsPath: opts.hostsPath,
        ports: bindings, created: new Date().toISOString(),
        endpoints: recs.map((n, i) => ({
          network: n.name, networkId: n.id, endpointId: urandom(32).toString('hex'), ifName: `eth${i}`,
          cniName: n.cniName, bridge: n.bridge, aliases: [...(opts.aliases ?? [])],
          conflist: conflists[i]!, state: 'pending',
          ...(opts.ip && recs.length === 1 ? { ip: this.fixedAddress(n, opts.ip) } : {}),
          portMappings: i === primaryIdx ? mappings : [],
        })),
      };
      // nothing made yet: no fsync (the ADD's record, written next, is durable)
      this.st.writeRecord(rec, { durable: false });
      return rec;
    });
    // the later choice: the ports into the record (and the primary endpoint's mappings) under
    // this root's lock, as the reservation would have made them
    const choose = (r: AttachmentRecord): Promise<void> => withLock(this.sys, this.st.lockFile, async () => {
      const bindings = await allocatePorts(this.st, publish);
      r.ports = bindings;
      r.endpoints[primaryIdx]!.portMappings = mappingsOf(bindings);
      this.st.writeRecord(r, { durable: false });
    });

    // Host ports are host-global: hold the host-wide lock from the choice of a port until
    // portmap's DNAT rule claims it, so two roots never pick the same one.
    const rec = publish.length > 0 ? null : await reserve();
    const doAttach = async (r: AttachmentRecord) => {
      this.st.step('record', containerId);
      try {
        for (const n of recs) await this.ensureBridge(n);
        await deleteNetns(this.sys, r.netnsName); // a leftover of a crash with this id
        await createNetns(this.sys, r.netnsName);
        this.st.step('netns', containerId);
        const first = opts.onNetns?.(netnsPath(this.sys, r.netnsName));
        if (first) await first.catch(() => undefined);
        const chosen = chooseLater ? choose(r) : undefined;
        chosen?.catch(() => undefined); // awaited by the primary endpoint's rules (or below)
        const rt = (ifName: string): CniRuntime => ({ containerId, netns: netnsPath(this.sys, r.netnsName), ifName });
        // `lo` up, as the loopback plugin does (one system call through the door, where the
        // plugin was a Go process), beside the first network's interface
        const loopback = loopbackUp(this.sys, r.netnsName)
          .then(() => this.st.step('loopback', containerId));
        // the published ports' rules are written beside the rest (addEndpointLink): the
        // container's side is ready before them (onReady), the attach done after them
        const rules: Promise<void>[] = [];
        const endpoints = (async () => {
          for (const ep of r.endpoints) {
            const link = await this.addEndpointLink(ep, { ...rt(ep.ifName), capabilityArgs: addCapabilities(ep) },
              ep === r.endpoints[primaryIdx] ? chosen : undefined);
            if (link.rules) {
              // `ports:<network>`: the endpoint's published ports have their rules
              const written = link.rules.then(() => this.st.step(`ports:${ep.network}`, containerId));
              written.catch(() => undefined); // awaited below; not unhandled meanwhile
              rules.push(written);
            }
            ep.state = 'added';
            ep.result = link.result;
            this.st.writeRecord(r);
            this.st.step(`add:${ep.network}`, containerId);
            if (!link.rules && ep.portMappings.length > 0) this.st.step(`ports:${ep.network}`, containerId); // the plugins wrote them
          }
        })();
        const settled = await Promise.allSettled([loopback, endpoints, chosen]);
        const failed = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
        if (failed) {
          await Promise.allSettled(rules); // no rule written after the teardown below
          throw failed.reason;
        }
        if (opts.onReady) {
          this.st.writeHostsOf(containerId);
          opts.onReady();
        }
        for (const x of await Promise.allSettled(rules)) if (x.status === 'rejected') throw x.reason;
        r.status = 'attached';
        delete r.owner;
        this.st.writeRecord(r);
        this.st.step('attached', containerId);
      } catch (e) {
        await teardown(this.st, r).catch(() => {});
        throw e;
      }
      await this.refreshHosts(r.containerId);
      return this.st.toAttachment(r);
    };
    if (rec) return doAttach(rec);
    return withLock(this.sys, this.st.globalLock, async () => doAttach(await reserve()));
  }

  /**
   * Undo a container's networking: CNI DEL of each network (reverse order, with the cached
   * ADD result as prevResult), netns deleted, ports and addresses released, peers' hosts
   * files updated. Idempotent: an unknown container or one half torn down is fine.
   */
  async detach(containerId: string): Promise<void> {
    const prefetched = this.prefetched.get(containerId);
    this.prefetched.delete(containerId);
    const rec = await withLock(this.sys, this.st.lockFile, () => {
      const r = this.st.readRecord(containerId);
      if (!r) return undefined;
      r.status = 'detaching';
      r.owner = `${process.pid} ${this.sys.processStartTime(process.pid) ?? ''}`;
      this.st.writeRecord(r);
      return r;
    });
    if (!rec) {
      // No record: at most a netns made outside the normal path.
      if (ID_RE.test(containerId)) await deleteNetns(this.sys, this.st.netnsNameFor(containerId)).catch(() => {});
      return;
    }
    await teardown(this.st, rec, prefetched);
    await this.refreshHosts();
  }

  private readonly prefetched = new Map<string, { key: string; saved: Promise<ExecResult> }>();

  /**
   * A container is stopping (signalled, not gone yet): read the iptables rules its `detach`
   * will remove now, beside the wait (~10 ms of a stop). The detach uses this reading only if
   * the container's endpoints are still those of now; it is the next `detach` of this
   * container in this process that uses it.
   */
  prefetchRules(containerId: string): void {
    const r = this.st.readRecord(containerId);
    if (!r || r.status !== 'attached' || r.endpoints.length === 0) return;
    const saved = this.sys.iptablesSave().catch((e: unknown) => ({ code: 1, stdout: '', stderr: String(e) }));
    this.prefetched.set(containerId, { key: endpointsKey(r), saved });
  }

  // ---------------------------------------------------------------- connect / disconnect

  /** A fixed address as host-local takes it (CIDR), checked against the subnet and the reservations (Docker's words). */
  private fixedAddress(n: NetworkRecord, ip: string): string {
    const a = parseIPv4(ip);
    const c = mustParseCidr(n.subnet);
    if (a === undefined) throw new StrataError('invalid_argument', `invalid IPv4 address: ${ip}`);
    if (!contains(c, a) || ip === n.gateway) throw new StrataError('invalid_argument', `Invalid address ${ip}: It does not belong to any of this network's subnets`);
    if (this.st.reservations(n.cniName).some((x) => x.ip === ip)) throw new StrataError('conflict', 'Address already in use');
    return `${ip}/${c.prefix}`;
  }

  /** `network connect NET CONTAINER` for a container that is attached (running). */
  async connect(containerId: string, network: string, opts: { aliases?: string[]; ip?: string } = {}): Promise<Endpoint> {
    const n = network === DEFAULT_NETWORK ? (await this.ensureDefault(), this.st.findNetwork(network)) : this.st.findNetwork(network);
    if (PREDEFINED.includes(network) && network !== DEFAULT_NETWORK) {
      throw new StrataError('failed_precondition', 'container cannot be disconnected from host network or connected to host network');
    }
    if (!n) throw new StrataError('not_found', `network ${network} not found`);
    const r = await withLock(this.sys, this.st.lockFile, () => {
      const rec = this.st.readRecord(containerId);
      if (!rec || rec.status !== 'attached') throw new StrataError('failed_precondition', `container ${containerId} has no network attachment`);
      if (rec.mode !== 'bridge') throw new StrataError('failed_precondition', `container ${containerId} has network mode none`);
      if (rec.endpoints.some((e) => e.networkId === n.id)) {
        throw new StrataError('conflict', `endpoint with name ${rec.name ?? containerId.slice(0, 12)} already exists in network ${n.name}`);
      }
      const used = new Set(rec.endpoints.map((e) => e.ifName));
      let i = 0;
      while (used.has(`eth${i}`)) i++;
      const hasPrimary = rec.endpoints.some((e) => (e.conflist.plugins[0]?.ipam as { routes?: unknown } | undefined)?.routes);
      const ep: EndpointRecord = {
        network: n.name, networkId: n.id, endpointId: urandom(32).toString('hex'), ifName: `eth${i}`, cniName: n.cniName,
        bridge: n.bridge, aliases: [...(opts.aliases ?? rec.aliases)], conflist: this.st.conflist(n, { primary: !hasPrimary && !n.internal }),
        state: 'pending', portMappings: [], ...(opts.ip ? { ip: this.fixedAddress(n, opts.ip) } : {}),
      };
      rec.endpoints.push(ep);
      this.st.writeRecord(rec);
      return rec;
    });
    const ep = r.endpoints.at(-1)!;
    try {
      await this.ensureBridge(n);
      ep.result = await this.addEndpoint(ep, { containerId, netns: netnsPath(this.sys, r.netnsName), ifName: ep.ifName, capabilityArgs: addCapabilities(ep) });
      ep.state = 'added';
      await withLock(this.sys, this.st.lockFile, () => {
        const cur = this.st.readRecord(containerId);
        if (!cur) return;
        const i = cur.endpoints.findIndex((e) => e.endpointId === ep.endpointId);
        if (i >= 0) cur.endpoints[i] = ep;
        this.st.writeRecord(cur);
      });
    } catch (e) {
      await this.disconnect(containerId, n.name).catch(() => {});
      throw e;
    }
    await this.refreshHosts();
    return this.st.endpointView(r, ep);
  }

  /** `network disconnect NET CONTAINER`: the intent first (markLeaving), then the teardown (finishLeaving). */
  async disconnect(containerId: string, network: string): Promise<void> {
    await this.markLeaving(containerId, network);
    await this.finishLeaving(containerId);
  }

  /**
   * The first step of a disconnect: the endpoint is marked leaving in the record, under the
   * lock. From then on inspect, network inspect and the container's attachment leave it out;
   * finishLeaving (of this call or of the next one to touch the container) tears it down.
   */
  async markLeaving(containerId: string, network: string): Promise<void> {
    const n = this.st.findNetwork(network);
    if (!n) throw new StrataError('not_found', `network ${network} not found`);
    await withLock(this.sys, this.st.lockFile, () => {
      const rec = this.st.readRecord(containerId);
      const ep = rec?.endpoints.find((e) => e.networkId === n.id);
      if (!rec || !ep) throw new StrataError('failed_precondition', `container ${containerId} is not connected to network ${n.name}`);
      if (ep.state === 'leaving') return;
      ep.state = 'leaving';
      this.st.writeRecord(rec);
      this.st.step(`leaving:${n.name}`, containerId);
    });
  }

  /** The networks a container is leaving (a disconnect begun and not finished). */
  leaving(containerId: string): string[] {
    return this.st.readRecord(containerId)?.endpoints.filter((e) => e.state === 'leaving').map((e) => e.network) ?? [];
  }

  /** The containers leaving a network (by name or id). */
  leavingFrom(network: string): string[] {
    const n = this.st.findNetwork(network);
    if (!n) return [];
    return this.st.readRecords().filter((r) => r.endpoints.some((e) => e.networkId === n.id && e.state === 'leaving')).map((r) => r.containerId);
  }

  /** Tear down every leaving endpoint of a container: CNI DEL (or a sweep), then out of the record. Idempotent. */
  async finishLeaving(containerId: string): Promise<void> {
    const rec = this.st.readRecord(containerId);
    const eps = rec?.endpoints.filter((e) => e.state === 'leaving') ?? [];
    if (!rec || eps.length === 0) return;
    for (const ep of eps) {
      const n = this.st.findNetwork(ep.networkId) ?? this.st.findNetwork(ep.network);
      const ns = netnsPath(this.sys, rec.netnsName);
      let sweep = !ep.result;
      try {
        await delNetworkList(ep.conflist, { containerId, netns: fs.existsSync(ns) ? ns : '', ifName: ep.ifName, capabilityArgs: { portMappings: ep.portMappings } }, ep.result ?? this.st.synthesizeResult(rec, ep, n), { cniPath: this.st.cniPath, sys: this.sys });
      } catch {
        sweep = true;
      }
      if (sweep) {
        const ip = this.st.endpointIp(rec, ep);
        await sweepNat(this.sys, (x) => x === ep.cniName, (c) => c === containerId);
        if (ip) await sweepForwardRules(this.sys, (x) => x === ip);
        this.st.releaseReservations(ep.cniName, (c, i) => c === containerId && i === ep.ifName);
      }
      await withLock(this.sys, this.st.lockFile, () => {
        const cur = this.st.readRecord(containerId);
        if (!cur) return;
        cur.endpoints = cur.endpoints.filter((e) => e.endpointId !== ep.endpointId);
        // Ports went with the endpoint that published them.
        if (ep.portMappings.length > 0) cur.ports = [];
        this.st.writeRecord(cur);
      });
    }
    await this.refreshHosts();
  }

  // ---------------------------------------------------------------- queries

  /** The attachment of a container, if it has one. */
  get(containerId: string): Attachment | undefined {
    const r = this.st.readRecord(containerId);
    return r ? this.st.toAttachment(r) : undefined;
  }

  /** CNI CHECK of every network of a container (each plugin verifies its part is in place). */
  async check(containerId: string): Promise<void> {
    const r = this.st.readRecord(containerId);
    if (!r) throw new StrataError('not_found', `container ${containerId} has no network attachment`);
    for (const ep of r.endpoints) {
      if (!ep.result) throw new StrataError('failed_precondition', `network ${ep.network} of ${containerId} is not set up`);
      await checkNetworkList(ep.conflist, { containerId, netns: netnsPath(this.sys, r.netnsName), ifName: ep.ifName, capabilityArgs: { portMappings: ep.portMappings } }, ep.result, {
        cniPath: this.st.cniPath,
        sys: this.sys,
        // portmap 1.1.1 CHECKs its IPv6 chain even for an IPv4-only container, where ADD
        // made none: that one failure says nothing.
        tolerate: (e) => e.plugin === 'portmap' && e.msg.startsWith('could not check ipv6 dnat'),
      });
    }
  }

  // ---------------------------------------------------------------- hosts / resolv.conf

  /**
   * The /etc/hosts content for a container: Docker's default block, --add-host records, its
   * own addresses with its hostname, and its peers on user-defined networks (name, aliases,
   * short id), which is how containers reach each other by name.
   */
  hostsFile(containerId: string): string {
    return this.st.hostsFile(containerId);
  }

  /**
   * Rewrite the hosts files (those given as hostsPath) of every attached container, or of
   * one, in place (see NetworkState.refreshHosts).
   */
  async refreshHosts(onlyContainer?: string): Promise<void> {
    this.st.refreshHosts(onlyContainer);
  }

  /** /etc/resolv.conf content for containers, from the host's (see buildResolvConf). */
  resolvConf(opts: ResolvConfOptions = {}, hostFile = '/etc/resolv.conf'): string {
    return hostResolvConf(opts, hostFile);
  }

  // ---------------------------------------------------------------- recovery

  /**
   * After a crash: detach every attachment whose container is not in `liveContainerIds`
   * (unless another live process is still attaching or detaching it), then sweep what no
   * record accounts for (see recovery.ts).
   */
  cleanupStale(liveContainerIds: Set<string>): Promise<CleanupReport> {
    return cleanupStale(this.st, liveContainerIds);
  }

  /**
   * Remove everything this root made on the host: every attachment, every network (the
   * default one too) with its bridge and rules. For `system reset`-like use and tests.
   */
  async destroy(): Promise<void> {
    await this.cleanupStale(new Set());
    await withLock(this.sys, this.st.lockFile, async () => {
      for (const n of this.st.readNetworks()) await this.dropNetwork(n);
    });
    rmTree(path.join(this.st.stateDir, 'ports.json'));
  }
}
