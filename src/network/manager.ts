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
 * and the loopback plugin once for `lo`. Internal networks leave out portmap, the default
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
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';
import { StrataError, errnoCode } from '../base/errors.js';
import { mkdirp, rmTree, writeFileAtomic } from '../base/fs.js';
import {
  addNetworkList, checkNetworkList, delNetworkList, CNI_VERSION, DEFAULT_CNI_PATH,
  type CniConfList, type CniResult, type CniRuntime,
} from './cni.js';
import { buildHostsFile, buildResolvConf, type HostsEntry, type ResolvConfOptions } from './files.js';
import {
  createBridge, createNetns, defaultRouteMtu, deleteLink, deleteNetns, hostUsedPrefixes, linkExists,
  listLinks, listNetns, netnsPath,
} from './host.js';
import {
  claimedHostPorts, removeIsolationRules, sweepForwardRules, sweepNat,
} from './iptables.js';
import {
  contains, defaultPools, formatCidr, formatIPv4, mustParseCidr, overlaps, parseIPv4, type Cidr,
} from './ipv4.js';
import { withLock } from './lock.js';
import type { PortBinding, PortSpec, Protocol } from './ports.js';

export const DEFAULT_STATE_DIR = '/var/lib/strata/network';
/** Host-wide lock for what all roots share: subnet choice and host port allocation. */
export const GLOBAL_LOCK = '/run/strata/network.lock';
export const DEFAULT_NETWORK = 'bridge';

export interface NetworkInfo {
  id: string;
  name: string;
  /** Docker's driver names: 'bridge' for CNI bridge networks, 'host' and 'null' for the built-ins. */
  driver: 'bridge' | 'host' | 'null';
  scope: 'local';
  /** RFC 3339. */
  created: string;
  /** '' for host and none. */
  subnet: string;
  gateway: string;
  internal: boolean;
  /** The Linux bridge ('' for host and none). */
  bridge: string;
  /** The `name` of its CNI configuration list (appears in iptables comments). */
  cniName: string;
  labels: Record<string, string>;
  /** bridge, host and none cannot be removed. */
  predefined: boolean;
}

export interface NetworkEndpointInfo { name: string; endpointId: string; macAddress: string; ipv4Address: string; ipv6Address: string; }
export interface NetworkInspect extends NetworkInfo { containers: Record<string, NetworkEndpointInfo>; }

export interface CreateNetworkOptions {
  /** CIDR; default: the first Docker default pool free on this host. */
  subnet?: string;
  /** Default: the first address of the subnet. */
  gateway?: string;
  /** No outside access: no default route, no masquerading, no published ports. */
  internal?: boolean;
  labels?: Record<string, string>;
}

export interface Endpoint {
  network: string;
  networkId: string;
  endpointId: string;
  /** Interface name inside the container: eth0, eth1, ... */
  ifName: string;
  ipAddress: string;
  prefixLen: number;
  gateway: string;
  macAddress: string;
  bridge: string;
  aliases: string[];
}

export interface Attachment {
  containerId: string;
  /** 'bridge' for CNI networks (or 'none': loopback only); 'host': no namespace of its own. */
  mode: 'bridge' | 'none' | 'host';
  /** Put in the OCI spec's network namespace entry; '' in host mode. */
  netnsPath: string;
  netnsName: string;
  endpoints: Endpoint[];
  /** Published ports as set up: hostIp '0.0.0.0' for all addresses, chosen host ports filled in. */
  ports: PortBinding[];
}

export interface AttachOptions {
  /** The container's hostname for its own /etc/hosts line (default: first 12 chars of the id). */
  hostname?: string;
  domainname?: string;
  /** The container's name: what peers on user-defined networks resolve. */
  name?: string;
  /** Extra names peers resolve (network-scoped aliases in Docker). */
  aliases?: string[];
  /** A fixed IPv4 address on the (single) network attached; default: the next free one. */
  ip?: string;
  /** `--add-host` records for the hosts file. */
  extraHosts?: HostsEntry[];
  /**
   * A file to keep as the container's /etc/hosts (the engine bind-mounts it). Written now
   * and rewritten in place (same inode) whenever peers join or leave.
   */
  hostsPath?: string;
}

export interface NetworkManagerOptions {
  /** Per-root tag for host-global names ([a-z0-9]{1,6}); '' is the default root's. Default: derived from stateDir. */
  rootTag?: string;
  /** Subnet of the default `bridge` network; default: the first free Docker default pool. */
  defaultSubnet?: string;
  /** Where the CNI plugins are (default /usr/lib/cni). */
  cniPath?: string;
  /** Called at each step of attach/detach with its name; tests use it to crash at a precise point. */
  onStep?: (step: string, containerId: string) => void;
}

export interface CleanupReport { containers: string[]; netns: string[]; reservations: number; rules: number; bridges: string[]; }

interface NetworkRecord {
  id: string;
  name: string;
  created: string;
  subnet: string;
  gateway: string;
  internal: boolean;
  bridge: string;
  cniName: string;
  mtu: number;
  labels: Record<string, string>;
}

interface EndpointRecord {
  network: string;
  networkId: string;
  endpointId: string;
  ifName: string;
  cniName: string;
  bridge: string;
  aliases: string[];
  /** The configuration list as run for ADD: DEL and CHECK get the same. */
  conflist: CniConfList;
  /** pending: ADD started (and may have half-happened); added: ADD returned `result`. */
  state: 'pending' | 'added';
  /** The address asked for (CIDR), when fixed. */
  ip?: string;
  result?: CniResult;
  portMappings: PortMapEntry[];
}

interface AttachmentRecord {
  containerId: string;
  mode: 'bridge' | 'none';
  netnsName: string;
  status: 'attaching' | 'attached' | 'detaching';
  /** "pid starttime" of the process working on it while attaching/detaching. */
  owner?: string;
  hostname: string;
  domainname?: string;
  name?: string;
  aliases: string[];
  extraHosts: HostsEntry[];
  hostsPath?: string;
  ports: PortBinding[];
  endpoints: EndpointRecord[];
  created: string;
}

interface PortMapEntry { hostPort: number; containerPort: number; protocol: string; hostIP?: string; }

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const PREDEFINED = ['bridge', 'host', 'none'];

function procStart(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function ownerAlive(owner: string | undefined): boolean {
  if (!owner) return false;
  const [pidS, start] = owner.split(' ');
  const pid = Number(pidS);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try { process.kill(pid, 0); } catch (e) { if (errnoCode(e) !== 'EPERM') return false; }
  return !start || procStart(pid) === start;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** Derive the root tag: '' for the default root, else 6 hex digits of the state dir's hash. */
export function deriveRootTag(stateDir: string): string {
  const abs = path.resolve(stateDir);
  if (abs === DEFAULT_STATE_DIR) return '';
  return createHash('sha256').update(abs).digest('hex').slice(0, 6);
}

export class NetworkManager {
  readonly stateDir: string;
  readonly rootTag: string;
  private readonly cniPath: string;
  private readonly defaultSubnet?: string;
  private readonly onStep?: (step: string, containerId: string) => void;

  constructor(stateDir: string, opts: NetworkManagerOptions = {}) {
    this.stateDir = path.resolve(stateDir);
    const tag = opts.rootTag ?? deriveRootTag(this.stateDir);
    if (tag !== '' && (!/^[a-z0-9]{1,6}$/.test(tag) || tag.startsWith('rata'))) {
      throw new StrataError('invalid_argument', `invalid network root tag "${tag}": 1 to 6 of [a-z0-9], not starting with "rata"`);
    }
    this.rootTag = tag;
    this.cniPath = opts.cniPath ?? DEFAULT_CNI_PATH;
    this.defaultSubnet = opts.defaultSubnet;
    this.onStep = opts.onStep;
    for (const d of ['networks', 'cni', 'ipam', 'containers']) mkdirp(path.join(this.stateDir, d), 0o700);
  }

  // ---------------------------------------------------------------- naming

  /** Prefix of every CNI network name of this root (iptables comments carry it). */
  get cniPrefix(): string { return this.rootTag ? `strata-${this.rootTag}.` : 'strata.'; }
  /** Prefix of this root's named netns in /run/netns. */
  get netnsPrefix(): string { return this.rootTag ? `st${this.rootTag}-` : 'strata-'; }
  /** Name of the default network's bridge. */
  get defaultBridge(): string { return this.rootTag ? `st${this.rootTag}` : 'strata0'; }

  private userBridgeName(id: string): string {
    return this.rootTag ? `st${this.rootTag}-${id.slice(0, 6)}` : `strata-${id.slice(0, 8)}`;
  }

  /** Is `link` a bridge name this root would use? */
  private isOurBridgeName(link: string): boolean {
    if (link === this.defaultBridge) return true;
    return this.rootTag ? new RegExp(`^st${this.rootTag}-[0-9a-f]{6}$`).test(link) : /^strata-[0-9a-f]{8}$/.test(link);
  }

  netnsNameFor(containerId: string): string { return `${this.netnsPrefix}${containerId.slice(0, 12)}`; }

  private get lockFile(): string { return path.join(this.stateDir, 'lock'); }
  private netFile(name: string): string { return path.join(this.stateDir, 'networks', `${name}.json`); }
  private conflistFile(name: string): string { return path.join(this.stateDir, 'cni', `${name}.conflist`); }
  private ctrFile(id: string): string { return path.join(this.stateDir, 'containers', `${id}.json`); }
  private ipamDir(): string { return path.join(this.stateDir, 'ipam'); }

  private step(step: string, id: string): void { this.onStep?.(step, id); }

  // ---------------------------------------------------------------- records

  private readNetworks(): NetworkRecord[] {
    const dir = path.join(this.stateDir, 'networks');
    return fs.readdirSync(dir).filter((f) => f.endsWith('.json'))
      .map((f) => readJson<NetworkRecord>(path.join(dir, f)))
      .filter((r): r is NetworkRecord => !!r);
  }

  private readRecords(): AttachmentRecord[] {
    const dir = path.join(this.stateDir, 'containers');
    const out: AttachmentRecord[] = [];
    for (const f of fs.readdirSync(dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const r = readJson<AttachmentRecord>(path.join(dir, f));
        if (r) out.push(r);
      } catch { /* a torn write cannot happen (atomic rename); skip anything unreadable */ }
    }
    return out;
  }

  private writeRecord(r: AttachmentRecord): void {
    writeFileAtomic(this.ctrFile(r.containerId), JSON.stringify(r, null, 1));
  }

  private predefinedInfo(name: 'host' | 'none'): NetworkInfo {
    return {
      id: createHash('sha256').update(`strata-network/${this.rootTag}/${name}`).digest('hex'),
      name, driver: name === 'host' ? 'host' : 'null', scope: 'local', created: new Date(0).toISOString(),
      subnet: '', gateway: '', internal: false, bridge: '', cniName: '', labels: {}, predefined: true,
    };
  }

  private toInfo(r: NetworkRecord): NetworkInfo {
    return {
      id: r.id, name: r.name, driver: 'bridge', scope: 'local', created: r.created, subnet: r.subnet,
      gateway: r.gateway, internal: r.internal, bridge: r.bridge, cniName: r.cniName, labels: { ...r.labels },
      predefined: r.name === DEFAULT_NETWORK,
    };
  }

  /** Look a network up as Docker does: exact name, exact id, then a unique id prefix. */
  private findNetwork(ref: string): NetworkRecord | undefined {
    const all = this.readNetworks();
    const byName = all.find((n) => n.name === ref);
    if (byName) return byName;
    const byId = all.find((n) => n.id === ref);
    if (byId) return byId;
    const pref = all.filter((n) => ref.length > 0 && n.id.startsWith(ref));
    if (pref.length > 1) throw new StrataError('conflict', `network ${ref} is ambiguous (${pref.length} matches found based on ID prefix)`);
    return pref[0];
  }

  // ---------------------------------------------------------------- conflists

  private conflist(n: NetworkRecord, opts: { primary: boolean }): CniConfList {
    const cidr = mustParseCidr(n.subnet);
    const ipam: Record<string, unknown> = {
      type: 'host-local',
      dataDir: this.ipamDir(),
      ranges: [[{ subnet: formatCidr(cidr), gateway: n.gateway }]],
    };
    // One default route per container: on its first non-internal network only.
    if (!n.internal && opts.primary) ipam.routes = [{ dst: '0.0.0.0/0' }];
    const plugins: CniConfList['plugins'] = [{
      type: 'bridge',
      bridge: n.bridge,
      isGateway: !n.internal,
      ipMasq: !n.internal,
      hairpinMode: true,
      mtu: n.mtu,
      // a fixed address (`--ip`, EndpointConfig.IPAMConfig) reaches host-local as runtimeConfig.ips
      capabilities: { ips: true },
      ipam,
    }];
    if (!n.internal) {
      // snat (default true) marks localhost and hairpin connections for masquerade and sets
      // route_localnet on the bridge: what makes http://127.0.0.1:HOSTPORT reach the
      // container without Docker's userland proxy.
      plugins.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true });
    }
    // ingressPolicy same-bridge: Docker's isolation between bridge networks.
    plugins.push({ type: 'firewall', backend: 'iptables', ingressPolicy: 'same-bridge' });
    return { cniVersion: CNI_VERSION, name: n.cniName, plugins };
  }

  private writeConflist(n: NetworkRecord): void {
    writeFileAtomic(this.conflistFile(n.name), JSON.stringify(this.conflist(n, { primary: true }), null, 2) + '\n');
  }

  // ---------------------------------------------------------------- networks

  /** The default `bridge` network, created on first use. */
  async ensureDefault(): Promise<NetworkInfo> {
    const existing = readJson<NetworkRecord>(this.netFile(DEFAULT_NETWORK));
    if (existing) {
      await this.ensureBridge(existing);
      return this.toInfo(existing);
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
    const mtu = await defaultRouteMtu();
    // Subnet choice and bridge creation happen under the host-wide lock: another root picking
    // at the same time sees this bridge's route once we release.
    return withLock(GLOBAL_LOCK, () => withLock(this.lockFile, async () => {
      const existing = readJson<NetworkRecord>(this.netFile(name));
      if (existing) {
        if (isDefault) { await this.ensureBridge(existing); return this.toInfo(existing); }
        throw new StrataError('conflict', `network with name ${name} already exists`);
      }
      const ours = this.readNetworks().map((n) => mustParseCidr(n.subnet));
      let subnet: Cidr;
      if (wanted) {
        if (ours.some((c) => overlaps(c, wanted))) throw new StrataError('conflict', 'Pool overlaps with other one on this address space');
        subnet = wanted;
      } else {
        const used = [...ours, ...(await hostUsedPrefixes())];
        const free = defaultPools().find((p) => !used.some((u) => overlaps(u, p)));
        if (!free) {
          throw new StrataError('failed_precondition', 'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
        }
        subnet = free;
      }
      const gw = gateway ?? subnet.base + 1;
      let id = randomBytes(32).toString('hex');
      let bridge = isDefault ? this.defaultBridge : this.userBridgeName(id);
      const links = new Set(listLinks());
      for (let i = 0; !isDefault && links.has(bridge) && i < 100; i++) {
        id = randomBytes(32).toString('hex');
        bridge = this.userBridgeName(id);
      }
      const rec: NetworkRecord = {
        id, name, created: new Date().toISOString(), subnet: formatCidr(subnet), gateway: formatIPv4(gw),
        internal: !!opts.internal, bridge, cniName: `${this.cniPrefix}${name}`, mtu, labels: { ...(opts.labels ?? {}) },
      };
      // Record first, bridge second: a crash in between leaves a record whose bridge is made
      // again on next use, never a bridge without a record.
      writeFileAtomic(this.netFile(name), JSON.stringify(rec, null, 1));
      this.writeConflist(rec);
      try {
        await this.ensureBridge(rec);
      } catch (e) {
        fs.rmSync(this.netFile(name), { force: true });
        fs.rmSync(this.conflistFile(name), { force: true });
        await deleteLink(bridge).catch(() => {});
        throw e;
      }
      return this.toInfo(rec);
    }));
  }

  private async ensureBridge(n: NetworkRecord): Promise<void> {
    const c = mustParseCidr(n.subnet);
    if (linkExists(n.bridge)) return;
    await createBridge(n.bridge, `${n.gateway}/${c.prefix}`, n.mtu);
  }

  /** `network ls`: bridge, host, none and the user-defined networks, by name. */
  list(): NetworkInfo[] {
    const out = this.readNetworks().map((r) => this.toInfo(r));
    out.push(this.predefinedInfo('host'), this.predefinedInfo('none'));
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** `network inspect`: by name, id or unique id prefix; with the attached containers. */
  inspect(ref: string): NetworkInspect {
    if (ref === 'host' || ref === 'none') return { ...this.predefinedInfo(ref), containers: {} };
    const n = this.findNetwork(ref);
    if (!n) throw new StrataError('not_found', `No such network: ${ref}`);
    const containers: Record<string, NetworkEndpointInfo> = {};
    for (const r of this.readRecords()) {
      for (const ep of r.endpoints) {
        if (ep.networkId !== n.id) continue;
        const v = this.endpointView(r, ep);
        containers[r.containerId] = {
          name: r.name ?? r.containerId.slice(0, 12), endpointId: ep.endpointId, macAddress: v.macAddress,
          ipv4Address: v.ipAddress ? `${v.ipAddress}/${v.prefixLen}` : '', ipv6Address: '',
        };
      }
    }
    return { ...this.toInfo(n), containers };
  }

  /** `network rm`: refused while containers are attached; removes the bridge and its isolation rules. */
  async remove(ref: string): Promise<void> {
    if (PREDEFINED.includes(ref)) throw new StrataError('failed_precondition', `${ref} is a pre-defined network and cannot be removed`);
    await withLock(this.lockFile, async () => {
      const n = this.findNetwork(ref);
      if (!n) throw new StrataError('not_found', `No such network: ${ref}`);
      if (n.name === DEFAULT_NETWORK) throw new StrataError('failed_precondition', `${n.name} is a pre-defined network and cannot be removed`);
      if (this.readRecords().some((r) => r.endpoints.some((e) => e.networkId === n.id))) {
        throw new StrataError('conflict', `error while removing network: network ${n.name} id ${n.id} has active endpoints`);
      }
      await this.dropNetwork(n);
    });
  }

  private async dropNetwork(n: NetworkRecord): Promise<void> {
    await deleteLink(n.bridge);
    await removeIsolationRules(n.bridge);
    rmTree(path.join(this.ipamDir(), n.cniName));
    fs.rmSync(this.conflistFile(n.name), { force: true });
    fs.rmSync(this.netFile(n.name), { force: true });
  }

  /**
   * `network prune`: remove user-defined networks not in `inUse` (the engine passes the
   * names of networks any container, running or not, refers to) and with no attachment.
   * Returns the removed names, sorted.
   */
  async prune(inUse: Set<string>): Promise<string[]> {
    return withLock(this.lockFile, async () => {
      const attached = new Set(this.readRecords().flatMap((r) => r.endpoints.map((e) => e.networkId)));
      const removed: string[] = [];
      for (const n of this.readNetworks()) {
        if (n.name === DEFAULT_NETWORK || inUse.has(n.name) || inUse.has(n.id) || attached.has(n.id)) continue;
        await this.dropNetwork(n);
        removed.push(n.name);
      }
      return removed.sort();
    });
  }

  // ---------------------------------------------------------------- ports

  /** Ports this root has handed out, from the attachment records. */
  private bookedPorts(exceptContainer?: string): PortBinding[] {
    return this.readRecords().filter((r) => r.containerId !== exceptContainer).flatMap((r) => r.ports);
  }

  /**
   * Resolve requested specs to bindings: explicit host ports must be free, port 0 (or a host
   * range) gets a free one. Free means: not booked by this root, not claimed by any CNI
   * portmap rule on the host, and bindable right now (nothing on the host listens there).
   */
  private async allocatePorts(specs: readonly PortSpec[]): Promise<PortBinding[]> {
    if (specs.length === 0) return [];
    const taken: Array<{ hostIp: string; hostPort: number; protocol: string }> = [...this.bookedPorts(), ...(await claimedHostPorts())];
    const clash = (ip: string, port: number, proto: string) =>
      taken.some((t) => t.protocol === proto && t.hostPort === port && (t.hostIp === ip || t.hostIp === '0.0.0.0' || ip === '0.0.0.0'));
    const out: PortBinding[] = [];
    const statePath = path.join(this.stateDir, 'ports.json');
    const state = readJson<{ lastEphemeral?: number }>(statePath) ?? {};
    const [lo, hi] = ephemeralRange();
    for (const s of specs) {
      const hostIp = s.hostIp === '' ? '0.0.0.0' : s.hostIp;
      if (net.isIP(hostIp) !== 4) {
        throw new StrataError('invalid_argument', `cannot publish on ${s.hostIp}: Strata networks are IPv4 only`);
      }
      if (s.containerPort <= 0) throw new StrataError('invalid_argument', `Invalid containerPort: ${s.containerPort}`);
      let chosen: number | undefined;
      if (s.hostPort !== 0 && s.hostPortEnd === undefined) {
        if (clash(hostIp, s.hostPort, s.protocol) || !(await canBind(hostIp, s.hostPort, s.protocol))) {
          throw new StrataError('conflict', `Bind for ${hostIp}:${s.hostPort} failed: port is already allocated`);
        }
        chosen = s.hostPort;
      } else if (s.hostPortEnd !== undefined) {
        for (let p = s.hostPort; p <= s.hostPortEnd && chosen === undefined; p++) {
          if (!clash(hostIp, p, s.protocol) && (await canBind(hostIp, p, s.protocol))) chosen = p;
        }
        if (chosen === undefined) throw new StrataError('conflict', `Bind for ${hostIp}:${s.hostPort}-${s.hostPortEnd} failed: port is already allocated`);
      } else {
        // Docker's allocator: round robin through the ephemeral range from the last one given.
        const span = hi - lo + 1;
        const startAt = state.lastEphemeral !== undefined && state.lastEphemeral >= lo && state.lastEphemeral < hi ? state.lastEphemeral + 1 : lo;
        for (let i = 0; i < span && chosen === undefined; i++) {
          const p = lo + ((startAt - lo + i) % span);
          if (!clash(hostIp, p, s.protocol) && (await canBind(hostIp, p, s.protocol))) chosen = p;
        }
        if (chosen === undefined) throw new StrataError('conflict', 'all ports are allocated');
        state.lastEphemeral = chosen;
      }
      taken.push({ hostIp, hostPort: chosen, protocol: s.protocol });
      out.push({ hostIp, hostPort: chosen, containerPort: s.containerPort, protocol: s.protocol });
    }
    writeFileAtomic(statePath, JSON.stringify(state));
    return out;
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
        const n = this.findNetwork(name);
        if (!n) throw new StrataError('not_found', `network ${name} not found`);
        recs.push(n);
      }
    }
    const primaryIdx = recs.findIndex((n) => !n.internal);
    const publish = primaryIdx >= 0 ? ports : [];

    const reserve = async (): Promise<AttachmentRecord> => withLock(this.lockFile, async () => {
      const old = readJson<AttachmentRecord>(this.ctrFile(containerId));
      if (old) throw new StrataError('conflict', `container ${containerId} already has a network attachment`);
      const bindings = await this.allocatePorts(publish);
      const mappings: PortMapEntry[] = bindings.map((b) => ({
        hostPort: b.hostPort, containerPort: b.containerPort, protocol: b.protocol,
        ...(b.hostIp !== '0.0.0.0' ? { hostIP: b.hostIp } : {}),
      }));
      const rec: AttachmentRecord = {
        containerId, mode, netnsName: this.netnsNameFor(containerId), status: 'attaching',
        owner: `${process.pid} ${procStart(process.pid)}`,
        hostname: opts.hostname ?? containerId.slice(0, 12), domainname: opts.domainname, name: opts.name,
        aliases: [...(opts.aliases ?? [])], extraHosts: [...(opts.extraHosts ?? [])], hostsPath: opts.hostsPath,
        ports: bindings, created: new Date().toISOString(),
        endpoints: recs.map((n, i) => ({
          network: n.name, networkId: n.id, endpointId: randomBytes(32).toString('hex'), ifName: `eth${i}`,
          cniName: n.cniName, bridge: n.bridge, aliases: [...(opts.aliases ?? [])],
          conflist: this.conflist(n, { primary: i === primaryIdx }), state: 'pending',
          ...(opts.ip && recs.length === 1 ? { ip: this.fixedAddress(n, opts.ip) } : {}),
          portMappings: i === primaryIdx ? mappings : [],
        })),
      };
      this.writeRecord(rec);
      return rec;
    });

    // Host ports are host-global: hold the host-wide lock from the choice of a port until
    // portmap's DNAT rule claims it, so two roots never pick the same one.
    const rec = publish.length > 0 ? null : await reserve();
    const doAttach = async (r: AttachmentRecord) => {
      this.step('record', containerId);
      try {
        for (const n of recs) await this.ensureBridge(n);
        await deleteNetns(r.netnsName); // a leftover of a crash with this id
        await createNetns(r.netnsName);
        this.step('netns', containerId);
        const rt = (ifName: string): CniRuntime => ({ containerId, netns: netnsPath(r.netnsName), ifName });
        await addNetworkList({ cniVersion: CNI_VERSION, name: `${this.cniPrefix}loopback`, plugins: [{ type: 'loopback' }] }, rt('lo'), { cniPath: this.cniPath });
        this.step('loopback', containerId);
        for (const ep of r.endpoints) {
          const result = await addNetworkList(ep.conflist, { ...rt(ep.ifName), capabilityArgs: { portMappings: ep.portMappings, ...(ep.ip ? { ips: [ep.ip] } : {}) } }, { cniPath: this.cniPath });
          ep.state = 'added';
          ep.result = result;
          this.writeRecord(r);
          this.step(`add:${ep.network}`, containerId);
        }
        r.status = 'attached';
        delete r.owner;
        this.writeRecord(r);
        this.step('attached', containerId);
      } catch (e) {
        await this.teardown(r).catch(() => {});
        throw e;
      }
      await this.refreshHosts(r.containerId);
      return this.toAttachment(r);
    };
    if (rec) return doAttach(rec);
    return withLock(GLOBAL_LOCK, async () => doAttach(await reserve()));
  }

  /**
   * Undo a container's networking: CNI DEL of each network (reverse order, with the cached
   * ADD result as prevResult), netns deleted, ports and addresses released, peers' hosts
   * files updated. Idempotent: an unknown container or one half torn down is fine.
   */
  async detach(containerId: string): Promise<void> {
    const rec = await withLock(this.lockFile, () => {
      const r = readJson<AttachmentRecord>(this.ctrFile(containerId));
      if (!r) return undefined;
      r.status = 'detaching';
      r.owner = `${process.pid} ${procStart(process.pid)}`;
      this.writeRecord(r);
      return r;
    });
    if (!rec) {
      // No record: at most a netns made outside the normal path.
      if (ID_RE.test(containerId)) await deleteNetns(this.netnsNameFor(containerId)).catch(() => {});
      return;
    }
    await this.teardown(rec);
    await this.refreshHosts();
  }

  /** DEL + netns delete + sweeps + record removal. Never throws for what is already gone. */
  private async teardown(r: AttachmentRecord): Promise<void> {
    const ns = netnsPath(r.netnsName);
    const nsExists = fs.existsSync(ns);
    let needSweep = !nsExists;
    const nets = new Map(this.readNetworks().map((n) => [n.id, n]));
    for (const ep of [...r.endpoints].reverse()) {
      const prev = ep.result ?? this.synthesizeResult(r, ep, nets.get(ep.networkId));
      if (!ep.result) needSweep = true;
      try {
        await delNetworkList(ep.conflist, { containerId: r.containerId, netns: nsExists ? ns : '', ifName: ep.ifName, capabilityArgs: { portMappings: ep.portMappings } }, prev, { cniPath: this.cniPath });
      } catch {
        // A DEL that fails (e.g. its netns is gone) is followed by the sweeps below.
        needSweep = true;
      }
      this.step(`del:${ep.network}`, r.containerId);
    }
    await deleteNetns(r.netnsName);
    this.step('netns-deleted', r.containerId);
    if (needSweep) {
      const id = r.containerId;
      await sweepNat((n) => n.startsWith(this.cniPrefix), (c) => c === id);
      const ips = new Set(r.endpoints.map((ep) => this.endpointIp(r, ep)).filter((x): x is string => !!x));
      const live = this.liveIps(id);
      await sweepForwardRules((ip) => ips.has(ip) && !live.has(ip));
      for (const ep of r.endpoints) this.releaseReservations(ep.cniName, (cid, ifn) => cid === id && ifn === ep.ifName);
    }
    await withLock(this.lockFile, () => fs.rmSync(this.ctrFile(r.containerId), { force: true }));
  }

  /** A prevResult for DEL when ADD's result was never saved: the address from host-local's reservation. */
  private synthesizeResult(r: AttachmentRecord, ep: EndpointRecord, n: NetworkRecord | undefined): CniResult | undefined {
    const ip = this.endpointIp(r, ep);
    if (!ip || !n) return undefined;
    const prefix = mustParseCidr(n.subnet).prefix;
    return {
      cniVersion: CNI_VERSION,
      interfaces: [{ name: ep.bridge }, { name: ep.ifName, sandbox: netnsPath(r.netnsName) }],
      ips: [{ interface: 1, address: `${ip}/${prefix}`, gateway: n.gateway }],
    };
  }

  /** The endpoint's IPv4 address: from its result, else from host-local's reservation. */
  private endpointIp(r: AttachmentRecord, ep: EndpointRecord): string | undefined {
    const fromResult = ep.result?.ips?.find((i) => i.address.includes('.'))?.address.split('/')[0];
    if (fromResult) return fromResult;
    return this.reservations(ep.cniName).find((x) => x.containerId === r.containerId && x.ifName === ep.ifName)?.ip;
  }

  /** host-local's reservations: files named by address holding "containerId\r\nifName". */
  private reservations(cniName: string): Array<{ ip: string; containerId: string; ifName: string; file: string }> {
    const dir = path.join(this.ipamDir(), cniName);
    let files: string[];
    try { files = fs.readdirSync(dir); } catch { return []; }
    const out: Array<{ ip: string; containerId: string; ifName: string; file: string }> = [];
    for (const f of files) {
      if (parseIPv4(f) === undefined) continue;
      try {
        const [cid, ifn] = fs.readFileSync(path.join(dir, f), 'utf8').split(/\r?\n/);
        out.push({ ip: f, containerId: (cid ?? '').trim(), ifName: (ifn ?? '').trim(), file: path.join(dir, f) });
      } catch { /* released meanwhile */ }
    }
    return out;
  }

  private releaseReservations(cniName: string, match: (containerId: string, ifName: string) => boolean): number {
    let n = 0;
    for (const x of this.reservations(cniName)) {
      if (match(x.containerId, x.ifName)) { fs.rmSync(x.file, { force: true }); n++; }
    }
    return n;
  }

  /** Addresses held by attachments other than `except`. */
  private liveIps(except?: string): Set<string> {
    const out = new Set<string>();
    for (const r of this.readRecords()) {
      if (r.containerId === except) continue;
      for (const ep of r.endpoints) { const ip = this.endpointIp(r, ep); if (ip) out.add(ip); }
    }
    return out;
  }

  /** A fixed address as host-local takes it (CIDR), checked against the subnet and the reservations (Docker's words). */
  private fixedAddress(n: NetworkRecord, ip: string): string {
    const a = parseIPv4(ip);
    const c = mustParseCidr(n.subnet);
    if (a === undefined) throw new StrataError('invalid_argument', `invalid IPv4 address: ${ip}`);
    if (!contains(c, a) || ip === n.gateway) throw new StrataError('invalid_argument', `Invalid address ${ip}: It does not belong to any of this network's subnets`);
    if (this.reservations(n.cniName).some((x) => x.ip === ip)) throw new StrataError('conflict', 'Address already in use');
    return `${ip}/${c.prefix}`;
  }

  // ---------------------------------------------------------------- connect / disconnect

  /** `network connect NET CONTAINER` for a container that is attached (running). */
  async connect(containerId: string, network: string, opts: { aliases?: string[]; ip?: string } = {}): Promise<Endpoint> {
    const n = network === DEFAULT_NETWORK ? (await this.ensureDefault(), this.findNetwork(network)) : this.findNetwork(network);
    if (PREDEFINED.includes(network) && network !== DEFAULT_NETWORK) {
      throw new StrataError('failed_precondition', 'container cannot be disconnected from host network or connected to host network');
    }
    if (!n) throw new StrataError('not_found', `network ${network} not found`);
    const r = await withLock(this.lockFile, () => {
      const rec = readJson<AttachmentRecord>(this.ctrFile(containerId));
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
        network: n.name, networkId: n.id, endpointId: randomBytes(32).toString('hex'), ifName: `eth${i}`, cniName: n.cniName,
        bridge: n.bridge, aliases: [...(opts.aliases ?? rec.aliases)], conflist: this.conflist(n, { primary: !hasPrimary && !n.internal }),
        state: 'pending', portMappings: [], ...(opts.ip ? { ip: this.fixedAddress(n, opts.ip) } : {}),
      };
      rec.endpoints.push(ep);
      this.writeRecord(rec);
      return rec;
    });
    const ep = r.endpoints.at(-1)!;
    try {
      await this.ensureBridge(n);
      ep.result = await addNetworkList(ep.conflist, { containerId, netns: netnsPath(r.netnsName), ifName: ep.ifName, capabilityArgs: { portMappings: [], ...(ep.ip ? { ips: [ep.ip] } : {}) } }, { cniPath: this.cniPath });
      ep.state = 'added';
      await withLock(this.lockFile, () => {
        const cur = readJson<AttachmentRecord>(this.ctrFile(containerId));
        if (!cur) return;
        const i = cur.endpoints.findIndex((e) => e.endpointId === ep.endpointId);
        if (i >= 0) cur.endpoints[i] = ep;
        this.writeRecord(cur);
      });
    } catch (e) {
      await this.disconnect(containerId, n.name).catch(() => {});
      throw e;
    }
    await this.refreshHosts();
    return this.endpointView(r, ep);
  }

  /** `network disconnect NET CONTAINER`. */
  async disconnect(containerId: string, network: string): Promise<void> {
    const n = this.findNetwork(network);
    if (!n) throw new StrataError('not_found', `network ${network} not found`);
    const found = await withLock(this.lockFile, () => {
      const rec = readJson<AttachmentRecord>(this.ctrFile(containerId));
      const ep = rec?.endpoints.find((e) => e.networkId === n.id);
      if (!rec || !ep) throw new StrataError('failed_precondition', `container ${containerId} is not connected to network ${n.name}`);
      return { rec, ep };
    });
    const { rec, ep } = found;
    const ns = netnsPath(rec.netnsName);
    let sweep = !ep.result;
    try {
      await delNetworkList(ep.conflist, { containerId, netns: fs.existsSync(ns) ? ns : '', ifName: ep.ifName, capabilityArgs: { portMappings: ep.portMappings } }, ep.result ?? this.synthesizeResult(rec, ep, n), { cniPath: this.cniPath });
    } catch {
      sweep = true;
    }
    if (sweep) {
      const ip = this.endpointIp(rec, ep);
      await sweepNat((x) => x === ep.cniName, (c) => c === containerId);
      if (ip) await sweepForwardRules((x) => x === ip);
      this.releaseReservations(ep.cniName, (c, i) => c === containerId && i === ep.ifName);
    }
    await withLock(this.lockFile, () => {
      const cur = readJson<AttachmentRecord>(this.ctrFile(containerId));
      if (!cur) return;
      cur.endpoints = cur.endpoints.filter((e) => e.endpointId !== ep.endpointId);
      // Ports went with the endpoint that published them.
      if (ep.portMappings.length > 0) cur.ports = [];
      this.writeRecord(cur);
    });
    await this.refreshHosts();
  }

  // ---------------------------------------------------------------- queries

  /** The attachment of a container, if it has one. */
  get(containerId: string): Attachment | undefined {
    const r = readJson<AttachmentRecord>(this.ctrFile(containerId));
    return r ? this.toAttachment(r) : undefined;
  }

  /** CNI CHECK of every network of a container (each plugin verifies its part is in place). */
  async check(containerId: string): Promise<void> {
    const r = readJson<AttachmentRecord>(this.ctrFile(containerId));
    if (!r) throw new StrataError('not_found', `container ${containerId} has no network attachment`);
    for (const ep of r.endpoints) {
      if (!ep.result) throw new StrataError('failed_precondition', `network ${ep.network} of ${containerId} is not set up`);
      await checkNetworkList(ep.conflist, { containerId, netns: netnsPath(r.netnsName), ifName: ep.ifName, capabilityArgs: { portMappings: ep.portMappings } }, ep.result, {
        cniPath: this.cniPath,
        // portmap 1.1.1 CHECKs its IPv6 chain even for an IPv4-only container, where ADD
        // made none: that one failure says nothing.
        tolerate: (e) => e.plugin === 'portmap' && e.msg.startsWith('could not check ipv6 dnat'),
      });
    }
  }

  private endpointView(r: AttachmentRecord, ep: EndpointRecord): Endpoint {
    const res = ep.result;
    const ipEntry = res?.ips?.find((i) => i.address.includes('.'));
    const iface = ipEntry?.interface !== undefined ? res?.interfaces?.[ipEntry.interface] : res?.interfaces?.find((i) => i.sandbox);
    const [ip, prefix] = (ipEntry?.address ?? '').split('/');
    return {
      network: ep.network, networkId: ep.networkId, endpointId: ep.endpointId, ifName: ep.ifName,
      ipAddress: ip ?? '', prefixLen: prefix ? Number(prefix) : 0, gateway: ipEntry?.gateway ?? '',
      macAddress: iface?.mac ?? '', bridge: ep.bridge, aliases: [...ep.aliases],
    };
  }

  private toAttachment(r: AttachmentRecord): Attachment {
    return {
      containerId: r.containerId, mode: r.mode, netnsPath: netnsPath(r.netnsName), netnsName: r.netnsName,
      endpoints: r.endpoints.map((ep) => this.endpointView(r, ep)), ports: r.ports.map((p) => ({ ...p })),
    };
  }

  // ---------------------------------------------------------------- hosts / resolv.conf

  /**
   * The /etc/hosts content for a container: Docker's default block, --add-host records, its
   * own addresses with its hostname, and its peers on user-defined networks (name, aliases,
   * short id), which is how containers reach each other by name.
   */
  hostsFile(containerId: string): string {
    const all = this.readRecords();
    const me = all.find((r) => r.containerId === containerId);
    if (!me) throw new StrataError('not_found', `container ${containerId} has no network attachment`);
    const ips = me.endpoints.map((ep) => this.endpointView(me, ep).ipAddress).filter((x) => x);
    const myNets = new Map(me.endpoints.filter((e) => e.network !== DEFAULT_NETWORK).map((e) => [e.networkId, e]));
    const peers: HostsEntry[] = [];
    for (const r of all) {
      if (r.containerId === containerId || r.status === 'detaching') continue;
      for (const ep of r.endpoints) {
        if (!myNets.has(ep.networkId)) continue;
        const ip = this.endpointView(r, ep).ipAddress;
        if (!ip) continue;
        const names = [...new Set([...(r.name ? [r.name] : []), ...ep.aliases, r.containerId.slice(0, 12)])];
        peers.push({ ip, names });
        break; // one line per peer: the first network we share
      }
    }
    peers.sort((a, b) => (a.names[0]! < b.names[0]! ? -1 : a.names[0]! > b.names[0]! ? 1 : 0));
    return buildHostsFile({ hostname: me.hostname, domainname: me.domainname, ips, peers, extraHosts: me.extraHosts });
  }

  /**
   * Rewrite the hosts files (those given as hostsPath) of every attached container, or of
   * one. Written in place, not renamed: a bind mount keeps pointing at the old inode.
   */
  async refreshHosts(onlyContainer?: string): Promise<void> {
    for (const r of this.readRecords()) {
      if (!r.hostsPath || r.status !== 'attached') continue;
      const peersOfChanged = onlyContainer === undefined || r.containerId === onlyContainer ||
        r.endpoints.some((e) => e.network !== DEFAULT_NETWORK);
      if (!peersOfChanged) continue;
      const content = this.hostsFile(r.containerId);
      try {
        if (fs.readFileSync(r.hostsPath, 'utf8') === content) continue;
      } catch { /* not there yet */ }
      try {
        mkdirp(path.dirname(r.hostsPath));
        fs.writeFileSync(r.hostsPath, content, { mode: 0o644 });
      } catch { /* the container's directory is gone: nothing to update */ }
    }
  }

  /** /etc/resolv.conf content for containers, from the host's (see buildResolvConf). */
  resolvConf(opts: ResolvConfOptions = {}, hostFile = '/etc/resolv.conf'): string {
    let host = '';
    try { host = fs.readFileSync(hostFile, 'utf8'); } catch { /* none: defaults */ }
    // systemd-resolved's stub (127.0.0.53) is useless inside a container; its upstream list is not.
    if (/^\s*nameserver\s+127\.0\.0\.53\s*$/m.test(host) && hostFile === '/etc/resolv.conf') {
      try { host = fs.readFileSync('/run/systemd/resolve/resolv.conf', 'utf8'); } catch { /* keep the stub file */ }
    }
    return buildResolvConf(host, opts);
  }

  // ---------------------------------------------------------------- recovery

  /**
   * After a crash: detach every attachment whose container is not in `liveContainerIds`
   * (unless another live process is still attaching or detaching it), then sweep what no
   * record accounts for: this root's netns, host-local reservations, iptables rules that
   * name this root's networks, forward rules for this root's addresses, and bridges of
   * networks that no longer exist.
   */
  async cleanupStale(liveContainerIds: Set<string>): Promise<CleanupReport> {
    const report: CleanupReport = { containers: [], netns: [], reservations: 0, rules: 0, bridges: [] };
    for (const r of this.readRecords()) {
      if (liveContainerIds.has(r.containerId)) continue;
      if (r.status !== 'attached' && ownerAlive(r.owner)) continue;
      await this.teardown(r);
      report.containers.push(r.containerId);
    }
    // Look at the host first and at the records second: an attach in flight writes its
    // record before making anything, so it is never mistaken for a leftover.
    const nsNames = listNetns().filter((n) => n.startsWith(this.netnsPrefix) && n.length <= this.netnsPrefix.length + 12);
    const nets = this.readNetworks();
    const resv = nets.flatMap((n) => this.reservations(n.cniName).map((x) => ({ ...x, cniName: n.cniName })));
    const links = listLinks();
    const records = this.readRecords();
    const known = new Set(records.map((r) => r.containerId));
    const knownNs = new Set(records.map((r) => r.netnsName));
    const keep = (cid: string) => known.has(cid) || liveContainerIds.has(cid);

    for (const ns of nsNames) {
      if (knownNs.has(ns)) continue;
      const id12 = ns.slice(this.netnsPrefix.length);
      if ([...liveContainerIds].some((c) => c.startsWith(id12))) continue;
      await deleteNetns(ns);
      report.netns.push(ns);
    }
    for (const x of resv) {
      if (keep(x.containerId)) continue;
      fs.rmSync(x.file, { force: true });
      report.reservations++;
    }
    report.rules += await sweepNat((n) => n.startsWith(this.cniPrefix), (c) => !keep(c));
    const subnets = nets.map((n) => mustParseCidr(n.subnet));
    const liveIps = this.liveIps();
    for (const x of this.readNetworks().flatMap((n) => this.reservations(n.cniName))) liveIps.add(x.ip);
    report.rules += await sweepForwardRules((ip) => {
      const v = parseIPv4(ip);
      return v !== undefined && subnets.some((c) => contains(c, v)) && !liveIps.has(ip);
    });
    const bridges = new Set(nets.map((n) => n.bridge));
    for (const l of links) {
      if (!this.isOurBridgeName(l) || bridges.has(l)) continue;
      await deleteLink(l);
      await removeIsolationRules(l);
      report.bridges.push(l);
    }
    return report;
  }

  /**
   * Remove everything this root made on the host: every attachment, every network (the
   * default one too) with its bridge and rules. For `system reset`-like use and tests.
   */
  async destroy(): Promise<void> {
    await this.cleanupStale(new Set());
    await withLock(this.lockFile, async () => {
      for (const n of this.readNetworks()) await this.dropNetwork(n);
    });
    rmTree(path.join(this.stateDir, 'ports.json'));
  }
}

function ephemeralRange(): [number, number] {
  try {
    const [a, b] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (a && b && a <= b) return [a, b];
  } catch { /* fall through */ }
  return [32768, 60999];
}

/** Can this process bind hostIp:port for this protocol right now? */
export function canBind(hostIp: string, port: number, protocol: Protocol | string): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const s = dgram.createSocket('udp4');
      s.once('error', () => { try { s.close(); } catch { /* closed */ } resolve(false); });
      s.bind({ address: hostIp, port, exclusive: true }, () => s.close(() => resolve(true)));
      return;
    }
    if (protocol === 'sctp') { resolve(true); return; }
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: hostIp, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

