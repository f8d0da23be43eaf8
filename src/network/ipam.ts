/**
 * host-local's part of a bridge ADD, done in-process (NetworkManager's bridgeAdd): which IPAM
 * configurations qualify, and an address reserved in host-local's own store, as the plugin
 * reserves it, so that the plugin (a fixed address, a DEL) and Strata share that store.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError, errnoCode } from '../base/errors.js';
import { contains, formatIPv4, parseCidr, parseIPv4, type Cidr } from './ipv4.js';

/** A host-local configuration with one plain range: what reserveAddress and the addon's ifaceUp do. */
interface PlainRange {
  dataDir: string;
  subnet: Cidr;
  gateway: number;
  /** the configured routes: default routes through the gateway, none with a gateway of its own */
  routes: Array<{ dst: string }>;
}

interface HostLocalConf { type?: string; dataDir?: string; ranges?: Array<Array<Record<string, string>>>; routes?: Array<{ dst: string; gw?: string }> }

/**
 * A bridge plugin's `ipam` when it is host-local over one range of a subnet and a gateway in it,
 * with a data dir and default routes only; anything else (more ranges, a range's start or end,
 * other routes, other keys) undefined: the plugin does it.
 */
export function plainHostLocal(conf: unknown): PlainRange | undefined {
  const ipam = conf as HostLocalConf | undefined;
  if (ipam?.type !== 'host-local' || !ipam.dataDir) return undefined;
  if (!Object.keys(ipam).every((k) => ['type', 'dataDir', 'ranges', 'routes'].includes(k))) return undefined;
  const routes = ipam.routes ?? [];
  if (!routes.every((r) => r.dst === '0.0.0.0/0' && !r.gw)) return undefined;
  const range = ipam.ranges?.length === 1 && ipam.ranges[0]!.length === 1 ? ipam.ranges[0]![0]! : undefined;
  if (!range || !Object.keys(range).every((k) => k === 'subnet' || k === 'gateway')) return undefined;
  const subnet = parseCidr(range.subnet ?? '');
  const gateway = range.gateway !== undefined ? parseIPv4(range.gateway) : undefined;
  if (!subnet || gateway === undefined || !contains(subnet, gateway) || subnet.prefix > 30) return undefined;
  return { dataDir: ipam.dataDir, subnet, gateway, routes: routes.map((r) => ({ dst: r.dst })) };
}

/**
 * Reserve the next free address of `subnet` in host-local's store `dir`, as host-local does: the
 * one after last_reserved_ip.0 (wrapping; from the subnet's first host), the network, the
 * broadcast and the gateway skipped, a file made with O_EXCL (two reservers never get the same
 * one) holding "containerId\r\nifName", then last_reserved_ip.0 updated. Host-local's own lock
 * serializes only its scan: the exclusive create is what makes an address taken.
 */
export function reserveAddress(dir: string, subnet: Cidr, gateway: number, containerId: string, ifName: string): number {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const first = subnet.base + 1;
  const last = subnet.base + 2 ** (32 - subnet.prefix) - 2;
  const span = last - first + 1;
  let lastReserved: number | undefined;
  try { lastReserved = parseIPv4(fs.readFileSync(path.join(dir, 'last_reserved_ip.0'), 'utf8').trim()); } catch { /* none yet */ }
  const start = lastReserved !== undefined && lastReserved >= first && lastReserved <= last ? lastReserved + 1 : first;
  for (let i = 0; i < span; i++) {
    const ip = first + ((start - first + i) % span);
    if (ip === gateway) continue;
    let fd: number;
    try {
      fd = fs.openSync(path.join(dir, formatIPv4(ip)), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    } catch (e) {
      if (errnoCode(e) === 'EEXIST') continue;
      throw e;
    }
    try { fs.writeSync(fd, `${containerId}\r\n${ifName}`); } finally { fs.closeSync(fd); }
    fs.writeFileSync(path.join(dir, 'last_reserved_ip.0'), formatIPv4(ip), { mode: 0o644 });
    return ip;
  }
  throw new StrataError('unavailable', `plugin type="host-local" failed (add): failed to allocate for range 0: no IP addresses available in range set: ${formatIPv4(first)}-${formatIPv4(last)}`);
}
