/**
 * Undoing a container's networking, and recovery after a crash: CNI DEL with the cached
 * (or a reconstructed) ADD result — done in-process for a completed ADD of Strata's own plugin
 * list (`quickDel`), by the plugins otherwise — netns deleted, then sweeps of what a DEL could not
 * remove (nat and forward rules, host-local reservations), and at start-up of everything
 * of this root that no record accounts for.
 */
import * as fs from 'node:fs';
import { delNetworkList } from './cni.js';
import { deleteLink, deleteNetns, netnsPath } from './host.js';
import { removeContainerRules, sweepForwardRules, sweepNat } from './iptables.js';
import { contains, mustParseCidr, parseIPv4 } from './ipv4.js';
import { withLock } from './lock.js';
import type { AttachmentRecord, EndpointRecord, NetworkState } from './state.js';
import type { CleanupReport } from './types.js';
import type { ExecResult } from '../sys/index.js';

/** Is the process recorded as working on an attachment ("pid starttime") still running? */
function ownerAlive(st: NetworkState, owner: string | undefined): boolean {
  if (!owner) return false;
  const [pidS, start] = owner.split(' ');
  const pid = Number(pidS);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  return st.sys.processAlive(pid, start || undefined);
}

/** Plugins whose DEL `quickDel` does in-process (bridge: its IPv4 masquerade, veth and host-local reservation). */
const QUICK_PLUGINS = new Set(['bridge', 'portmap', 'firewall']);

/**
 * Can this endpoint's CNI DEL be done without running the plugins? When its ADD completed
 * (the result names the host-side veth and the address), the netns is still there, the list
 * is Strata's own (bridge + host-local, portmap, firewall with the iptables backend) and no
 * UDP/SCTP port is published (portmap's conntrack handling of those stays with portmap).
 */
function quickDelOk(ep: EndpointRecord): boolean {
  if (ep.state !== 'added' || !ep.result) return false;
  if (!ep.conflist.plugins.every((p) => QUICK_PLUGINS.has(p.type) && (p.type !== 'firewall' || p.backend === 'iptables') &&
    (p.type !== 'bridge' || (p.ipam as { type?: string } | undefined)?.type === 'host-local'))) return false;
  return ep.portMappings.every((m) => m.protocol === 'tcp');
}

/**
 * CNI DEL of these endpoints without the plugins, with the same effect: their iptables rules
 * (bridge masquerade, portmap DNAT chain, firewall accepts) in one iptables-restore; the veth
 * pair, deleted from its host end (as the bridge plugin deletes it from the container end);
 * host-local's reservations. The plugins cost ~35 processes and most of a `stop`.
 */
async function quickDel(st: NetworkState, r: AttachmentRecord, eps: EndpointRecord[], withNetns: boolean, saved?: Promise<ExecResult>): Promise<void> {
  const sys = st.sys;
  const id = r.containerId;
  const live = st.liveIps(id);
  const ips = new Set(eps.map((ep) => st.endpointIp(r, ep)).filter((x): x is string => !!x && !live.has(x)));
  const links = new Set(sys.listLinks());
  const veths = eps.map((ep) => ep.result?.interfaces?.find((i) => !i.sandbox && i.name !== ep.bridge && /^veth[0-9a-z]+$/.test(i.name))?.name)
    .filter((v): v is string => !!v && links.has(v));
  // One ip process for the veths (and the netns, when every endpoint went this way), beside the
  // rules: independent kernel objects. A veth gone already, or taken with its netns, leaves
  // nothing either way; a netns left over is deleted by the caller.
  const ipCmds = [...veths.map((v) => ['link', 'delete', v]), ...(withNetns && /^[\w.-]+$/.test(r.netnsName) ? [['netns', 'delete', r.netnsName]] : [])];
  await Promise.all([removeContainerRules(sys, new Set(eps.map((ep) => ep.cniName)), id, ips, saved), ipCmds.length > 0 ? sys.ipBatch(ipCmds) : undefined]);
  for (const ep of eps) st.releaseReservations(ep.cniName, (cid, ifn) => cid === id && ifn === ep.ifName);
}

/**
 * What `teardown` can use of an `iptables-save` taken earlier (`saved`): only while the
 * endpoints are those it was taken for (`endpointsKey`), as their rules are then unchanged.
 */
export function endpointsKey(r: AttachmentRecord): string {
  return r.endpoints.map((ep) => `${ep.endpointId}:${ep.state}`).join(' ');
}

/** DEL + netns delete + sweeps + record removal. Never throws for what is already gone. */
export async function teardown(st: NetworkState, r: AttachmentRecord, prefetched?: { key: string; saved: Promise<ExecResult> }): Promise<void> {
  const sys = st.sys;
  const ns = netnsPath(sys, r.netnsName);
  const nsExists = fs.existsSync(ns);
  let needSweep = !nsExists;
  const nets = new Map(st.readNetworks().map((n) => [n.id, n]));
  const quick = nsExists ? r.endpoints.filter(quickDelOk) : [];
  if (quick.length > 0) {
    try {
      await quickDel(st, r, quick, quick.length === r.endpoints.length, prefetched?.key === endpointsKey(r) ? prefetched.saved : undefined);
    } catch {
      needSweep = true;
    }
    for (const ep of [...quick].reverse()) st.step(`del:${ep.network}`, r.containerId);
  }
  for (const ep of [...r.endpoints].reverse()) {
    if (quick.includes(ep)) continue;
    const prev = ep.result ?? st.synthesizeResult(r, ep, nets.get(ep.networkId));
    if (!ep.result) needSweep = true;
    try {
      await delNetworkList(ep.conflist, { containerId: r.containerId, netns: nsExists ? ns : '', ifName: ep.ifName, capabilityArgs: { portMappings: ep.portMappings } }, prev, { cniPath: st.cniPath, sys });
    } catch {
      // A DEL that fails (e.g. its netns is gone) is followed by the sweeps below.
      needSweep = true;
    }
    st.step(`del:${ep.network}`, r.containerId);
  }
  await deleteNetns(sys, r.netnsName);
  st.step('netns-deleted', r.containerId);
  if (needSweep) {
    const id = r.containerId;
    await sweepNat(sys, (n) => n.startsWith(st.cniPrefix), (c) => c === id);
    const ips = new Set(r.endpoints.map((ep) => st.endpointIp(r, ep)).filter((x): x is string => !!x));
    const live = st.liveIps(id);
    await sweepForwardRules(sys, (ip) => ips.has(ip) && !live.has(ip));
    for (const ep of r.endpoints) st.releaseReservations(ep.cniName, (cid, ifn) => cid === id && ifn === ep.ifName);
  }
  await withLock(sys, st.lockFile, () => fs.rmSync(st.ctrFile(r.containerId), { force: true }));
}

/**
 * After a crash: detach every attachment whose container is not in `liveContainerIds`
 * (unless another live process is still attaching or detaching it), then sweep what no
 * record accounts for: this root's netns, host-local reservations, iptables rules that
 * name this root's networks, forward rules for this root's addresses, and bridges of
 * networks that no longer exist.
 */
export async function cleanupStale(st: NetworkState, liveContainerIds: Set<string>): Promise<CleanupReport> {
  const sys = st.sys;
  const report: CleanupReport = { containers: [], netns: [], reservations: 0, rules: 0, bridges: [] };
  for (const r of st.readRecords()) {
    if (liveContainerIds.has(r.containerId)) continue;
    if (r.status !== 'attached' && ownerAlive(st, r.owner)) continue;
    await teardown(st, r);
    report.containers.push(r.containerId);
  }
  // Look at the host first and at the records second: an attach in flight writes its
  // record before making anything, so it is never mistaken for a leftover.
  const nsNames = sys.listNetns().filter((n) => n.startsWith(st.netnsPrefix) && n.length <= st.netnsPrefix.length + 12);
  const nets = st.readNetworks();
  const resv = nets.flatMap((n) => st.reservations(n.cniName).map((x) => ({ ...x, cniName: n.cniName })));
  const links = sys.listLinks();
  const records = st.readRecords();
  const known = new Set(records.map((r) => r.containerId));
  const knownNs = new Set(records.map((r) => r.netnsName));
  const keep = (cid: string) => known.has(cid) || liveContainerIds.has(cid);

  for (const ns of nsNames) {
    if (knownNs.has(ns)) continue;
    const id12 = ns.slice(st.netnsPrefix.length);
    if ([...liveContainerIds].some((c) => c.startsWith(id12))) continue;
    await deleteNetns(sys, ns);
    report.netns.push(ns);
  }
  for (const x of resv) {
    if (keep(x.containerId)) continue;
    fs.rmSync(x.file, { force: true });
    report.reservations++;
  }
  report.rules += await sweepNat(sys, (n) => n.startsWith(st.cniPrefix), (c) => !keep(c));
  const subnets = nets.map((n) => mustParseCidr(n.subnet));
  const liveIps = st.liveIps();
  for (const x of st.readNetworks().flatMap((n) => st.reservations(n.cniName))) liveIps.add(x.ip);
  report.rules += await sweepForwardRules(sys, (ip) => {
    const v = parseIPv4(ip);
    return v !== undefined && subnets.some((c) => contains(c, v)) && !liveIps.has(ip);
  });
  const bridges = new Set(nets.map((n) => n.bridge));
  for (const l of links) {
    if (!st.isOurBridgeName(l) || bridges.has(l)) continue;
    await deleteLink(sys, l);
    await st.dropNetworkRules(l);
    report.bridges.push(l);
  }
  return report;
}
