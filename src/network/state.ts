/**
 * The network state of one root: its records on disk (networks, attachments, host-local
 * reservations), the host-global names derived from its root tag, and the views built from
 * them. See manager.ts for the layout of `stateDir`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError, errnoCode } from '../base/errors.js';
import { sha256Hex } from '../base/sha256.js';
import { mkdirp, writeFileAtomic } from '../base/fs.js';
import type { Sys } from '../sys/index.js';
import { CNI_VERSION, type CniConfList, type CniResult } from './cni.js';
import { netnsPath } from './host.js';
import { buildHostsFile, type HostsEntry } from './hosts-files.js';
import { formatCidr, mustParseCidr, parseIPv4 } from './ipv4.js';
import { removeNetworkRules } from './iptables.js';
import type { PortBinding } from './ports.js';
import {
  DEFAULT_NETWORK, DEFAULT_STATE_DIR, type Attachment, type Endpoint, type NetworkInfo,
} from './types.js';

/** A bridge network as stored: the public shape without what follows from being stored, plus its MTU. */
export type NetworkRecord = Omit<NetworkInfo, 'driver' | 'scope' | 'predefined'> & { mtu: number };

export interface EndpointRecord {
  network: string;
  networkId: string;
  endpointId: string;
  ifName: string;
  cniName: string;
  bridge: string;
  aliases: string[];
  /** The configuration list as run for ADD: DEL and CHECK get the same. */
  conflist: CniConfList;
  /**
   * pending: ADD started (and may have half-happened); added: ADD returned `result`;
   * leaving: a disconnect has begun (every view hides it; the next command on the container
   * or the network finishes the teardown).
   */
  state: 'pending' | 'added' | 'leaving';
  /** The address asked for (CIDR), when fixed. */
  ip?: string;
  result?: CniResult;
  portMappings: PortMapEntry[];
}

export interface AttachmentRecord {
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

export interface PortMapEntry { hostPort: number; containerPort: number; protocol: string; hostIP?: string; }

export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
export const PREDEFINED = ['bridge', 'host', 'none'];

export function readJson<T>(file: string): T | undefined {
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
  return sha256Hex(abs).slice(0, 6); // not node:crypto: every container command derives this
}

interface NetworkStateOptions {
  rootTag?: string;
  cniPath: string;
  sys: Sys;
  onStep?: (step: string, containerId: string) => void;
}

export class NetworkState {
  readonly stateDir: string;
  readonly rootTag: string;
  readonly cniPath: string;
  readonly sys: Sys;
  private readonly onStep?: (step: string, containerId: string) => void;

  constructor(stateDir: string, opts: NetworkStateOptions) {
    this.stateDir = path.resolve(stateDir);
    const tag = opts.rootTag ?? deriveRootTag(this.stateDir);
    if (tag !== '' && (!/^[a-z0-9]{1,6}$/.test(tag) || tag.startsWith('rata'))) {
      throw new StrataError('invalid_argument', `invalid network root tag "${tag}": 1 to 6 of [a-z0-9], not starting with "rata"`);
    }
    this.rootTag = tag;
    this.cniPath = opts.cniPath;
    this.sys = opts.sys;
    this.onStep = opts.onStep;
    for (const d of ['networks', 'cni', 'ipam', 'containers']) mkdirp(path.join(this.stateDir, d), 0o700);
  }

  /**
   * Markers in the run dir (a tmpfs: gone at boot) that rules were made since boot: a bridge's
   * (by its name) or portmap's shared chains ('portmap', no bridge's name): no iptables-save per
   * container start while they are there.
   */
  private rulesMarker(name: string): string { return path.join(this.sys.runDir, 'strata', 'netrules', name); }
  rulesMade(name: string): boolean { return fs.existsSync(this.rulesMarker(name)); }
  markRulesMade(name: string): void {
    const marker = this.rulesMarker(name);
    mkdirp(path.dirname(marker), 0o700);
    fs.writeFileSync(marker, '');
  }

  /** Remove a bridge's iptables rules and their marker. */
  async dropNetworkRules(bridge: string): Promise<void> {
    fs.rmSync(this.rulesMarker(bridge), { force: true });
    await removeNetworkRules(this.sys, bridge);
  }

  /** The host-wide lock, under the kernel door's run dir (/run/strata/network.lock). */
  get globalLock(): string { return path.join(this.sys.runDir, 'strata', 'network.lock'); }

  /** An attachment record, if the container has one. */
  readRecord(containerId: string): AttachmentRecord | undefined {
    return readJson<AttachmentRecord>(this.ctrFile(containerId));
  }

  // ---------------------------------------------------------------- naming

  /** Prefix of every CNI network name of this root (iptables comments carry it). */
  get cniPrefix(): string { return this.rootTag ? `strata-${this.rootTag}.` : 'strata.'; }
  /** Prefix of this root's named netns in /run/netns. */
  get netnsPrefix(): string { return this.rootTag ? `st${this.rootTag}-` : 'strata-'; }
  /** Name of the default network's bridge. */
  get defaultBridge(): string { return this.rootTag ? `st${this.rootTag}` : 'strata0'; }

  userBridgeName(id: string): string {
    return this.rootTag ? `st${this.rootTag}-${id.slice(0, 6)}` : `strata-${id.slice(0, 8)}`;
  }

  /** Is `link` a bridge name this root would use? */
  isOurBridgeName(link: string): boolean {
    if (link === this.defaultBridge) return true;
    return this.rootTag ? new RegExp(`^st${this.rootTag}-[0-9a-f]{6}$`).test(link) : /^strata-[0-9a-f]{8}$/.test(link);
  }

  netnsNameFor(containerId: string): string { return `${this.netnsPrefix}${containerId.slice(0, 12)}`; }

  get lockFile(): string { return path.join(this.stateDir, 'lock'); }
  netFile(name: string): string { return path.join(this.stateDir, 'networks', `${name}.json`); }
  /** A network being removed: its record under this name is hidden from every view (see NetworkManager.dropNetwork). */
  removingFile(name: string): string { return path.join(this.stateDir, 'networks', `${name}.removing`); }
  conflistFile(name: string): string { return path.join(this.stateDir, 'cni', `${name}.conflist`); }
  ctrFile(id: string): string { return path.join(this.stateDir, 'containers', `${id}.json`); }
  ipamDir(): string { return path.join(this.stateDir, 'ipam'); }

  step(step: string, id: string): void { this.onStep?.(step, id); }

  // ---------------------------------------------------------------- records

  readNetworks(): NetworkRecord[] {
    const dir = path.join(this.stateDir, 'networks');
    return fs.readdirSync(dir).filter((f) => f.endsWith('.json'))
      .map((f) => readJson<NetworkRecord>(path.join(dir, f)))
      .filter((r): r is NetworkRecord => !!r);
  }

  /** Networks whose removal began and did not finish (a killed `network rm`). */
  readRemovals(): Array<{ record: NetworkRecord; marker: string }> {
    const dir = path.join(this.stateDir, 'networks');
    const out: Array<{ record: NetworkRecord; marker: string }> = [];
    for (const f of fs.readdirSync(dir)) {
      if (!f.endsWith('.removing')) continue;
      const marker = path.join(dir, f);
      const record = readJson<NetworkRecord>(marker);
      if (record) out.push({ record, marker });
      else fs.rmSync(marker, { force: true });
    }
    return out;
  }

  readRecords(): AttachmentRecord[] {
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

  /**
   * `durable: false`: renamed into place without fsync, for the record of an attachment that has
   * made nothing yet (its reservation): a machine crash takes the kernel's side with it, and the
   * start-up sweep finds what no record accounts for (host-local's reservations, rules).
   */
  writeRecord(r: AttachmentRecord, opts: { durable?: boolean } = {}): void {
    writeFileAtomic(this.ctrFile(r.containerId), JSON.stringify(r, null, 1), 0o644, opts);
  }

  predefinedInfo(name: 'host' | 'none'): NetworkInfo {
    return {
      id: sha256Hex(`strata-network/${this.rootTag}/${name}`), // not node:crypto: stop and rm list the networks
      name, driver: name === 'host' ? 'host' : 'null', scope: 'local', created: new Date(0).toISOString(),
      subnet: '', gateway: '', internal: false, bridge: '', cniName: '', labels: {}, predefined: true,
    };
  }

  toInfo(r: NetworkRecord): NetworkInfo {
    return {
      id: r.id, name: r.name, driver: 'bridge', scope: 'local', created: r.created, subnet: r.subnet,
      gateway: r.gateway, internal: r.internal, bridge: r.bridge, cniName: r.cniName, labels: { ...r.labels },
      predefined: r.name === DEFAULT_NETWORK,
    };
  }

  /** Look a network up as Docker does: exact name, exact id, then a unique id prefix. */
  findNetwork(ref: string): NetworkRecord | undefined {
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

  conflist(n: NetworkRecord, opts: { primary: boolean }): CniConfList {
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
      // outbound NAT is one rule per network (ensureNetworkRules), not a chain per container
      ipMasq: false,
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
    // Forwarding and Docker's isolation between bridge networks are per network too
    // (ensureNetworkRules): no firewall plugin. Endpoints attached before keep the list they
    // were added with (their record holds it), so their DEL removes what their ADD made.
    return { cniVersion: CNI_VERSION, name: n.cniName, plugins };
  }

  writeConflist(n: NetworkRecord): void {
    writeFileAtomic(this.conflistFile(n.name), JSON.stringify(this.conflist(n, { primary: true }), null, 2) + '\n');
  }

  synthesizeResult(r: AttachmentRecord, ep: EndpointRecord, n: NetworkRecord | undefined): CniResult | undefined {
    const ip = this.endpointIp(r, ep);
    if (!ip || !n) return undefined;
    const prefix = mustParseCidr(n.subnet).prefix;
    return {
      cniVersion: CNI_VERSION,
      interfaces: [{ name: ep.bridge }, { name: ep.ifName, sandbox: netnsPath(this.sys, r.netnsName) }],
      ips: [{ interface: 1, address: `${ip}/${prefix}`, gateway: n.gateway }],
    };
  }

  /** The endpoint's IPv4 address: from its result, else from host-local's reservation. */
  endpointIp(r: AttachmentRecord, ep: EndpointRecord): string | undefined {
    const fromResult = ep.result?.ips?.find((i) => i.address.includes('.'))?.address.split('/')[0];
    if (fromResult) return fromResult;
    return this.reservations(ep.cniName).find((x) => x.containerId === r.containerId && x.ifName === ep.ifName)?.ip;
  }

  /** host-local's reservations: files named by address holding "containerId\r\nifName". */
  reservations(cniName: string): Array<{ ip: string; containerId: string; ifName: string; file: string }> {
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

  releaseReservations(cniName: string, match: (containerId: string, ifName: string) => boolean): number {
    let n = 0;
    for (const x of this.reservations(cniName)) {
      if (match(x.containerId, x.ifName)) { fs.rmSync(x.file, { force: true }); n++; }
    }
    return n;
  }

  /** Addresses held by attachments other than `except`. */
  liveIps(except?: string): Set<string> {
    const out = new Set<string>();
    for (const r of this.readRecords()) {
      if (r.containerId === except) continue;
      for (const ep of r.endpoints) { const ip = this.endpointIp(r, ep); if (ip) out.add(ip); }
    }
    return out;
  }


  endpointView(r: AttachmentRecord, ep: EndpointRecord): Endpoint {
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

  toAttachment(r: AttachmentRecord): Attachment {
    return {
      containerId: r.containerId, mode: r.mode, netnsPath: netnsPath(this.sys, r.netnsName), netnsName: r.netnsName,
      endpoints: r.endpoints.filter((ep) => ep.state !== 'leaving').map((ep) => this.endpointView(r, ep)), ports: r.ports.map((p) => ({ ...p })),
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

  /** The hosts file of one container, as it is to be, written in place (before it is recorded attached). */
  writeHostsOf(containerId: string): void {
    const r = this.readRecord(containerId);
    if (r) this.rewriteHosts(r);
  }

  /** A record's hosts file (its hostsPath) rewritten in place when its content changed. */
  private rewriteHosts(r: AttachmentRecord): void {
    if (!r.hostsPath) return;
    const content = this.hostsFile(r.containerId);
    try {
      if (fs.readFileSync(r.hostsPath, 'utf8') === content) return;
    } catch { /* not there yet */ }
    try {
      mkdirp(path.dirname(r.hostsPath));
      fs.writeFileSync(r.hostsPath, content, { mode: 0o644 });
    } catch { /* the container's directory is gone: nothing to update */ }
  }

  /**
   * Rewrite the hosts files (those given as hostsPath) of every attached container, or of
   * one. Written in place, not renamed: a bind mount keeps pointing at the old inode.
   */
  refreshHosts(onlyContainer?: string): void {
    for (const r of this.readRecords()) {
      if (!r.hostsPath || r.status !== 'attached') continue;
      const peersOfChanged = onlyContainer === undefined || r.containerId === onlyContainer ||
        r.endpoints.some((e) => e.network !== DEFAULT_NETWORK);
      if (peersOfChanged) this.rewriteHosts(r);
    }
  }
}
