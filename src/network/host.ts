/**
 * What the host already uses (routes, addresses, nameservers, links, named netns) and the
 * few things Strata makes there itself: bridges at network create, and the netns of each
 * container. Everything goes through the kernel door (`Sys.ip`, `Sys.listLinks`...).
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { StrataError } from '../base/errors.js';
import type { Sys } from '../sys/index.js';
import { parseCidr, parseIPv4, type Cidr } from './ipv4.js';
import { buildResolvConf, parseResolvConf, type ResolvConfOptions } from './hosts-files.js';

interface IpRoute { dst?: string; dev?: string; type?: string; }
interface IpAddr { ifname: string; mtu?: number; addr_info?: Array<{ family: string; local: string; prefixlen: number }>; }

/** `ip ARGS`, requiring exit 0; the error names the command and carries stderr. */
async function ipOk(sys: Sys, args: readonly string[]): Promise<string> {
  const r = await sys.ip(args);
  if (r.code !== 0) {
    throw new StrataError('internal', `ip ${args.join(' ')}: exit ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}

/**
 * Every IPv4 prefix in use on the host: routes of all tables (the default route excluded),
 * interface addresses with their prefix, and nameservers (Docker avoids pools that would
 * hide the resolver).
 */
export async function hostUsedPrefixes(sys: Sys): Promise<Cidr[]> {
  const used: Cidr[] = [];
  const routes = JSON.parse((await ipOk(sys, ['-j', '-4', 'route', 'show', 'table', 'all'])) || '[]') as IpRoute[];
  for (const r of routes) {
    if (!r.dst || r.dst === 'default') continue;
    const c = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
    // The local table's 127.0.0.0/8 is loopback; keep it (a pool there makes no sense either).
    if (c) used.push(c);
  }
  const addrs = JSON.parse((await ipOk(sys, ['-j', '-4', 'addr', 'show'])) || '[]') as IpAddr[];
  for (const a of addrs) {
    for (const i of a.addr_info ?? []) {
      if (i.family !== 'inet') continue;
      const c = parseCidr(`${i.local}/${i.prefixlen}`);
      if (c) used.push(c);
    }
  }
  try {
    for (const ns of parseResolvConf(fs.readFileSync('/etc/resolv.conf', 'utf8')).nameservers) {
      const ip = parseIPv4(ns);
      if (ip !== undefined) used.push({ base: ip, prefix: 32 });
    }
  } catch { /* no resolv.conf: nothing to avoid */ }
  return used;
}

/** MTU of the interface carrying the default route (1500 when there is none). */
export async function defaultRouteMtu(sys: Sys): Promise<number> {
  try {
    const routes = JSON.parse((await ipOk(sys, ['-j', '-4', 'route', 'show', 'default'])) || '[]') as IpRoute[];
    const dev = routes.find((r) => r.dev)?.dev;
    if (!dev) return 1500;
    const mtu = Number(fs.readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8').trim());
    return Number.isFinite(mtu) && mtu > 0 ? mtu : 1500;
  } catch {
    return 1500;
  }
}

export function linkExists(sys: Sys, name: string): boolean {
  return sys.listLinks().includes(name);
}

/**
 * Create a bridge with its gateway address, up. The CNI bridge plugin adopts an existing
 * bridge of that name (and keeps its address when it is the gateway it would set), so
 * creating it here changes nothing for the plugin. Why here: Docker creates the bridge
 * when the network is created, which puts the subnet in the routing table at once, and the
 * next subnet choice (this root's or another's) sees it.
 */
export async function createBridge(sys: Sys, name: string, gatewayCidr: string, mtu: number): Promise<void> {
  if (!linkExists(sys, name)) {
    // A fixed address: a Linux bridge otherwise takes the lowest address of its ports, so it
    // would change as containers come and go (and CNI CHECK compares it with ADD's result).
    const mac = '02:' + createHash('sha256').update(name).digest('hex').slice(0, 10).match(/../g)!.join(':');
    const r = await sys.ip(['link', 'add', name, 'address', mac, 'mtu', String(mtu), 'type', 'bridge']);
    if (r.code !== 0 && !linkExists(sys, name)) throw new Error(`ip link add ${name}: ${r.stderr.trim()}`);
  }
  // The plugin disables router advertisements on its bridges; do the same up front.
  try { sys.writeSysctl(`net/ipv6/conf/${name}/accept_ra`, '0'); } catch { /* no IPv6 */ }
  const r = await sys.ip(['addr', 'add', gatewayCidr, 'dev', name]);
  if (r.code !== 0 && !/File exists|Address already assigned/i.test(r.stderr)) {
    throw new Error(`ip addr add ${gatewayCidr} dev ${name}: ${r.stderr.trim()}`);
  }
  await ipOk(sys, ['link', 'set', name, 'up']);
}

/** Delete a link; gone already is fine. */
export async function deleteLink(sys: Sys, name: string): Promise<void> {
  if (!linkExists(sys, name)) return;
  const r = await sys.ip(['link', 'delete', name]);
  if (r.code !== 0 && linkExists(sys, name)) throw new Error(`ip link delete ${name}: ${r.stderr.trim()}`);
}

/** Where `ip netns` keeps named namespaces: /run/netns/NAME. */
export function netnsPath(sys: Sys, name: string): string {
  return `${sys.runDir}/netns/${name}`;
}

/** `ip netns add`: a new network namespace bind-mounted at /run/netns/NAME. */
export async function createNetns(sys: Sys, name: string): Promise<string> {
  await ipOk(sys, ['netns', 'add', name]);
  return netnsPath(sys, name);
}

/** `lo` up in a named namespace: what the CNI loopback plugin's ADD does. */
export async function loopbackUp(sys: Sys, name: string): Promise<void> {
  await ipOk(sys, ['-n', name, 'link', 'set', 'lo', 'up']);
}

/** `ip netns delete`: unmount and unlink; gone already is fine. */
export async function deleteNetns(sys: Sys, name: string): Promise<void> {
  if (!fs.existsSync(netnsPath(sys, name))) return;
  const r = await sys.ip(['netns', 'delete', name]);
  if (r.code !== 0 && fs.existsSync(netnsPath(sys, name))) throw new Error(`ip netns delete ${name}: ${r.stderr.trim()}`);
}

/**
 * /etc/resolv.conf content for containers, from the host's `hostFile` (see buildResolvConf);
 * systemd-resolved's stub file is replaced by its upstream list.
 */
export function hostResolvConf(opts: ResolvConfOptions = {}, hostFile = '/etc/resolv.conf'): string {
  let host = '';
  try { host = fs.readFileSync(hostFile, 'utf8'); } catch { /* none: defaults */ }
  // systemd-resolved's stub (127.0.0.53) is useless inside a container; its upstream list is not.
  if (/^\s*nameserver\s+127\.0\.0\.53\s*$/m.test(host) && hostFile === '/etc/resolv.conf') {
    try { host = fs.readFileSync('/run/systemd/resolve/resolv.conf', 'utf8'); } catch { /* keep the stub file */ }
  }
  return buildResolvConf(host, opts);
}
