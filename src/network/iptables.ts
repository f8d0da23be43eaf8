/**
 * Reading and sweeping the iptables rules the CNI plugins leave. The plugins add their own
 * rules; a container's teardown removes them here in one `iptables-restore`
 * (`removeContainerRules`, see recovery.ts), and this file also does what the plugins cannot:
 *  - find host ports that any CNI portmap on this host has already claimed (portmap does
 *    not bind the port, so a bind test alone does not see them);
 *  - remove rules a DEL could not (the bridge plugin finds the container's addresses for
 *    its masquerade rules inside the netns: a netns lost in a crash leaks them; the
 *    firewall plugin needs the ADD result: a crash before it was saved leaks its rules);
 *  - remove the per-bridge isolation rules of the firewall plugin's `same-bridge` policy,
 *    which it never removes ("can't be sure whether the bridge is still in use": Strata
 *    can, when it removes the network).
 * Edits go through `iptables-restore --noflush`, which takes rule text exactly as
 * `iptables-save` prints it (quoted comments included).
 */
import { sha512Hex, type ExecResult, type Sys } from '../sys/index.js';

interface SavedRule { table: string; chain: string; spec: string; }
interface SavedTable { chains: string[]; rules: SavedRule[]; }

/** `iptables-save` output by table (`*TABLE` starts one). */
function parseSave(text: string, first: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let table = first;
  let out: SavedTable = { chains: [], rules: [] };
  tables.set(table, out);
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      out = tables.get(table) ?? { chains: [], rules: [] };
      tables.set(table, out);
    } else if (line.startsWith(':')) out.chains.push(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const sp = rest.indexOf(' ');
      out.rules.push({ table, chain: rest.slice(0, sp), spec: rest.slice(sp + 1) });
    }
  }
  return tables;
}

const NO_TABLE: SavedTable = { chains: [], rules: [] };

/** The tables of one `iptables-save` (of `table` only, when given), by name; empty ones when it failed. */
async function savedTables(sys: Sys, table?: string, prefetched?: Promise<ExecResult>): Promise<(name: string) => SavedTable> {
  const r = await (prefetched ?? sys.iptablesSave(table));
  const tables = r.code === 0 ? parseSave(r.stdout, table ?? '') : new Map<string, SavedTable>();
  return (name) => tables.get(name) ?? NO_TABLE;
}

/**
 * iptables-restore of `lines(tables)` ([] when nothing is missing), `tables` from a fresh
 * `iptables-save` (of `table` only, when given), or undefined on the first try when
 * `trustFirst` (no save). A refused restore (a chain made or gone meanwhile) is redone from a
 * new save, three tries in all.
 */
async function restoreMissing(sys: Sys, table: string | undefined, lines: (tables?: (name: string) => SavedTable) => string[], trustFirst = false): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const text = lines(trustFirst && attempt === 0 ? undefined : await savedTables(sys, table));
    if (text.length === 0) return;
    const r = await sys.iptablesRestore([...text, ''].join('\n'));
    if (r.code === 0) return;
    if (attempt >= 2) throw new Error(`iptables-restore: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
}

/** Is this rule (as iptables-save prints it) in the chain? */
function hasRule(t: SavedTable, chain: string, spec: string): boolean {
  return t.rules.some((r) => r.chain === chain && r.spec === spec);
}

async function iptablesSave(sys: Sys, table: string): Promise<SavedTable> {
  return (await savedTables(sys, table))(table);
}

/** Apply deletions atomically per table; tolerate rules/chains already gone by retrying one by one. */
async function applyDeletions(sys: Sys, table: string, ruleDeletes: SavedRule[], chainDeletes: string[]): Promise<void> {
  if (ruleDeletes.length === 0 && chainDeletes.length === 0) return;
  const lines = [`*${table}`, ...ruleDeletes.map((r) => `-D ${r.chain} ${r.spec}`), ...chainDeletes.flatMap((c) => [`-F ${c}`, `-X ${c}`]), 'COMMIT', ''];
  const r = await sys.iptablesRestore(lines.join('\n'));
  if (r.code === 0) return;
  // Something was gone already (a concurrent DEL): do what is left one at a time.
  for (const d of ruleDeletes) {
    await sys.iptablesRestore(`*${table}\n-D ${d.chain} ${d.spec}\nCOMMIT\n`);
  }
  for (const c of chainDeletes) {
    await sys.iptablesRestore(`*${table}\n-F ${c}\n-X ${c}\nCOMMIT\n`);
  }
}

/** The `name: "NET" id: "CID"` comment the bridge and portmap plugins put on their rules. */
const COMMENT_RE = /--comment "(?:dnat )?name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\""/;

function ruleOwner(spec: string): { network: string; containerId: string } | undefined {
  const m = COMMENT_RE.exec(spec);
  return m ? { network: m[1]!, containerId: m[2]! } : undefined;
}

function jumpTarget(spec: string): string | undefined {
  const m = / -j (\S+)/.exec(` ${spec}`);
  return m?.[1];
}

/** The nat rules (and per-container chains they jump to) owned by matching networks and containers. */
function natDeletions(nat: SavedTable, isOurs: (network: string) => boolean, isStale: (containerId: string) => boolean): { ruleDeletes: SavedRule[]; chainDeletes: string[] } {
  const dels: SavedRule[] = [];
  const chains = new Set<string>();
  for (const r of nat.rules) {
    const o = ruleOwner(r.spec);
    if (!o || !isOurs(o.network) || !isStale(o.containerId)) continue;
    dels.push(r);
    const t = jumpTarget(r.spec);
    if (t && /^CNI-(DN-)?[0-9a-f]{20,}$/.test(t)) chains.add(t);
  }
  // Rules inside the chains go with -F; only rules of other chains need -D.
  const ruleDeletes = dels.filter((r) => !chains.has(r.chain));
  // A chain may still be referenced by a rule we did not select (never for these
  // hash-named per-container chains); keep such a chain.
  const stillReferenced = new Set(nat.rules.filter((r) => !dels.includes(r)).map((r) => jumpTarget(r.spec)).filter((t): t is string => !!t));
  const chainDeletes = [...chains].filter((c) => nat.chains.includes(c) && !stillReferenced.has(c));
  return { ruleDeletes, chainDeletes };
}

/** The firewall plugin's CNI-FORWARD accept rules for matching addresses. */
function forwardDeletions(filter: SavedTable, isStaleIp: (ip: string) => boolean): SavedRule[] {
  return filter.rules.filter((r) => {
    if (r.chain !== 'CNI-FORWARD') return false;
    const m = /^-[sd] (\d+\.\d+\.\d+\.\d+)\/32 /.exec(r.spec);
    return !!m && isStaleIp(m[1]!);
  });
}

/**
 * Remove nat rules whose comment names a network for which `isOurs(network)` holds and a
 * container for which `isStale(containerId)` holds, with the per-container chains they jump
 * to (CNI-xxxx of the bridge plugin's masquerade, CNI-DN-xxxx of portmap).
 */
export async function sweepNat(sys: Sys, isOurs: (network: string) => boolean, isStale: (containerId: string) => boolean): Promise<number> {
  const { ruleDeletes, chainDeletes } = natDeletions(await iptablesSave(sys, 'nat'), isOurs, isStale);
  await applyDeletions(sys, 'nat', ruleDeletes, chainDeletes);
  return ruleDeletes.length + chainDeletes.length;
}

/** Remove the firewall plugin's CNI-FORWARD accept rules for these container addresses. */
export async function sweepForwardRules(sys: Sys, isStaleIp: (ip: string) => boolean): Promise<number> {
  const dels = forwardDeletions(await iptablesSave(sys, 'filter'), isStaleIp);
  await applyDeletions(sys, 'filter', dels, []);
  return dels.length;
}

/**
 * What CNI DEL of bridge (masquerade), portmap and firewall removes from iptables for one
 * container, in one `iptables-restore` for both tables instead of the ~30 iptables processes the
 * three plugins run (their IPv6 passes and chain re-creations are no-ops for an IPv4-only
 * container): the nat rules naming one of `networks` and `containerId` in their comment, the
 * per-container chains they jump to, and the CNI-FORWARD rules of `ips`. Rules already gone
 * are fine (a concurrent removal: the rest is deleted one at a time). `prefetched`: an
 * `iptables-save` taken while the container was stopping (its rules stay as they are until
 * its endpoints change, which the caller checks).
 */
export async function removeContainerRules(sys: Sys, networks: ReadonlySet<string>, containerId: string, ips: ReadonlySet<string>, prefetched?: Promise<ExecResult>): Promise<void> {
  const tables = await savedTables(sys, undefined, prefetched);
  const nat = tables('nat');
  const filter = tables('filter');
  const n = natDeletions(nat, (x) => networks.has(x), (c) => c === containerId);
  const f = forwardDeletions(filter, (ip) => ips.has(ip));
  const text = (table: string, rules: SavedRule[], chains: string[]) => rules.length === 0 && chains.length === 0 ? []
    : [`*${table}`, ...rules.map((r) => `-D ${r.chain} ${r.spec}`), ...chains.flatMap((c) => [`-F ${c}`, `-X ${c}`]), 'COMMIT'];
  const lines = [...text('nat', n.ruleDeletes, n.chainDeletes), ...text('filter', f, [])];
  if (lines.length === 0) return;
  const r = await sys.iptablesRestore([...lines, ''].join('\n'));
  if (r.code === 0) return;
  await applyDeletions(sys, 'nat', n.ruleDeletes, n.chainDeletes);
  await applyDeletions(sys, 'filter', f, []);
}

interface ClaimedPort { hostIp: string; hostPort: number; protocol: string; }

/**
 * Host ports that CNI portmap DNAT rules claim on this host, whoever made them (another
 * Strata root, nerdctl, Podman with CNI). From rules like
 * `-A CNI-DN-xxx [-d 127.0.0.1/32] -p tcp -m tcp --dport 8080 -j DNAT --to-destination ...`.
 */
export async function claimedHostPorts(sys: Sys): Promise<ClaimedPort[]> {
  const nat = await iptablesSave(sys, 'nat');
  const out: ClaimedPort[] = [];
  for (const r of nat.rules) {
    if (!r.chain.startsWith('CNI-DN-') || !/ -j DNAT /.test(` ${r.spec} `)) continue;
    const p = / -p (\S+) /.exec(` ${r.spec} `);
    const port = / --dport (\d+) /.exec(` ${r.spec} `);
    if (!p || !port) continue;
    const d = / -d (\S+?)(?:\/32)? /.exec(` ${r.spec} `);
    out.push({ hostIp: d ? d[1]! : '0.0.0.0', hostPort: Number(port[1]), protocol: p[1]! });
  }
  return out;
}


/** One network whose resolver answers only containers on its own bridge. */
interface DnsScope { gateway: string; bridge: string }

const DNS_COMMENT_RE = /--comment "?strata-dns (\S+) (\S+) ([^"\s]+)"?/;

/**
 * The resolver listens on each network's gateway address, and the host routes a container's
 * packet to any of its own addresses: a container on network A could ask network B's
 * gateway about B's containers. One REJECT rule per network and protocol in the filter
 * INPUT chain refuses DNS to the gateway from anywhere but its own bridge (the host's own
 * queries, from local addresses, stay allowed). `tag` names this root's rules (in their
 * comment); the rules become exactly `scopes` (none: all of this root's go).
 */
export async function syncDnsScopeRules(sys: Sys, tag: string, scopes: readonly DnsScope[], port = 53): Promise<void> {
  const filter = await iptablesSave(sys, 'filter');
  const comment = (s: DnsScope) => `strata-dns ${tag} ${s.gateway} ${s.bridge}`;
  const wanted = new Map<string, DnsScope>();
  for (const s of scopes) for (const proto of ['udp', 'tcp']) wanted.set(`${proto} ${comment(s)}`, s);
  const dels: SavedRule[] = [];
  for (const r of filter.rules) {
    if (r.chain !== 'INPUT') continue;
    const m = DNS_COMMENT_RE.exec(r.spec);
    if (!m || m[1] !== tag) continue;
    const proto = / -p (udp|tcp) /.exec(` ${r.spec} `)?.[1] ?? '';
    const key = `${proto} strata-dns ${m[1]} ${m[2]} ${m[3]}`;
    if (wanted.has(key) && / --dport (\d+) /.exec(` ${r.spec} `)?.[1] === String(port)) wanted.delete(key); // in place already
    else dels.push(r);
  }
  await applyDeletions(sys, 'filter', dels, []);
  if (!wanted.size) return;
  const adds = [...wanted.entries()].map(([key, s]) => {
    const proto = key.split(' ')[0]!;
    return `-I INPUT 1 -d ${s.gateway}/32 ! -i ${s.bridge} -p ${proto} -m ${proto} --dport ${port} -m addrtype ! --src-type LOCAL -m comment --comment "${comment(s)}" -j REJECT`;
  });
  const r = await sys.iptablesRestore(['*filter', ...adds, 'COMMIT', ''].join('\n'));
  if (r.code !== 0) throw new Error(`iptables-restore: ${r.stderr.trim()}`);
}

// ---------------------------------------------------------------- per-network rules

const FIREWALL = 'CNI firewall plugin rules';
const ISOLATION = 'CNI firewall plugin rules (ingressPolicy: same-bridge)';
const ADMIN = 'CNI firewall plugin admin overrides';

/** What one bridge network needs in iptables (see ensureNetworkRules). */
interface NetworkRules { bridge: string; subnet: string; masquerade: boolean }

/** Rule specs as `iptables-save` prints them, so a saved ruleset tells what is there already. */
function networkSpecs(n: NetworkRules): { accept: string[]; iso1: string; iso2: string; masq: string } {
  const b = n.bridge;
  return {
    accept: [`-o ${b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, `-i ${b} -j ACCEPT`],
    iso1: `-i ${b} ! -o ${b} -m comment --comment "${ISOLATION}" -j CNI-ISOLATION-STAGE-2`,
    iso2: `-o ${b} -m comment --comment "${ISOLATION}" -j DROP`,
    masq: `-s ${n.subnet} ! -d 224.0.0.0/4 ! -o ${b} -m comment --comment "strata masquerade ${b}" -j MASQUERADE`,
  };
}

/** The iptables-restore lines that add what `saved` lacks of one network's rules ([] when none). */
function missingNetworkRules(tables: (name: string) => SavedTable, n: NetworkRules): string[] {
  const filter = tables('filter');
  const nat = tables('nat');
  const s = networkSpecs(n);
  const f: string[] = [];
  for (const c of ['CNI-FORWARD', 'CNI-ADMIN', 'CNI-ISOLATION-STAGE-1', 'CNI-ISOLATION-STAGE-2']) if (!filter.chains.includes(c)) f.push(`-N ${c}`);
  // FORWARD: the isolation stage first, then the accepts (as the firewall plugin orders them)
  const fwd = filter.rules.filter((r) => r.chain === 'FORWARD');
  const isoJump = `-m comment --comment "${ISOLATION}" -j CNI-ISOLATION-STAGE-1`;
  const fwJump = `-m comment --comment "${FIREWALL}" -j CNI-FORWARD`;
  const isoAt = fwd.findIndex((r) => r.spec === isoJump);
  if (!fwd.some((r) => r.spec === fwJump)) f.push(`-I FORWARD ${isoAt >= 0 ? isoAt + 2 : 1} ${fwJump}`);
  if (isoAt < 0) f.push(`-I FORWARD 1 ${isoJump}`);
  const adminJump = `-m comment --comment "${ADMIN}" -j CNI-ADMIN`;
  if (!hasRule(filter, 'CNI-FORWARD', adminJump)) f.push(`-I CNI-FORWARD 1 ${adminJump}`);
  for (const a of s.accept) if (!hasRule(filter, 'CNI-FORWARD', a)) f.push(`-A CNI-FORWARD ${a}`);
  const ret = `-m comment --comment "${ISOLATION}" -j RETURN`;
  for (const c of ['CNI-ISOLATION-STAGE-1', 'CNI-ISOLATION-STAGE-2']) if (!hasRule(filter, c, ret)) f.push(`-A ${c} ${ret}`);
  if (!hasRule(filter, 'CNI-ISOLATION-STAGE-1', s.iso1)) f.push(`-I CNI-ISOLATION-STAGE-1 1 ${s.iso1}`);
  if (!hasRule(filter, 'CNI-ISOLATION-STAGE-2', s.iso2)) f.push(`-I CNI-ISOLATION-STAGE-2 1 ${s.iso2}`);
  const out = f.length ? ['*filter', ...f, 'COMMIT'] : [];
  if (n.masquerade && !hasRule(nat, 'POSTROUTING', s.masq)) out.push('*nat', `-A POSTROUTING ${s.masq}`, 'COMMIT');
  return out;
}

/**
 * A bridge network's forwarding, isolation and outbound NAT, once per network in one
 * iptables-restore, where the CNI firewall plugin (forward accepts and `same-bridge`
 * isolation) and the bridge plugin's ipMasq added rules per container: ~45 iptables processes
 * per container start, most of its network set-up. The same effect per bridge, as Docker has
 * it: traffic from the bridge is accepted, to it only when related to a connection (or
 * DNAT'd by a published port, which the host's own traffic reaches without FORWARD), never
 * between two bridges; leaving the host it is masqueraded. Idempotent: only what is missing is
 * added; a chain made meanwhile by someone else makes the restore fail, and it is redone.
 */
export async function ensureNetworkRules(sys: Sys, n: NetworkRules): Promise<void> {
  await restoreMissing(sys, undefined, (tables) => missingNetworkRules(tables!, n));
}

/** Remove one bridge's rules: its isolation, forward accepts and masquerade (and the firewall plugin's isolation rules of it). */
export async function removeNetworkRules(sys: Sys, bridge: string): Promise<void> {
  const tables = await savedTables(sys);
  const filter = tables('filter');
  const nat = tables('nat');
  const f = filter.rules.filter((r) =>
    (r.chain === 'CNI-ISOLATION-STAGE-1' || r.chain === 'CNI-ISOLATION-STAGE-2' || r.chain === 'CNI-FORWARD') &&
    (r.spec.startsWith(`-i ${bridge} `) || r.spec.startsWith(`-o ${bridge} `)));
  const masq = nat.rules.filter((r) => r.chain === 'POSTROUTING' && r.spec.includes(`--comment "strata masquerade ${bridge}"`));
  await applyDeletions(sys, 'filter', f, []);
  await applyDeletions(sys, 'nat', masq, []);
}

// ---------------------------------------------------------------- published ports

/** One published TCP port of a container (the portmap plugin's runtime entry). */
interface PortmapRule { hostPort: number; containerPort: number; hostIP?: string }

/** portmap's per-container chain name: CNI-DN- and the start of sha512(network + container id), 28 characters. */
export function portmapChain(network: string, containerId: string): string {
  return `CNI-DN-${sha512Hex(network + containerId)}`.slice(0, 28);
}

/** The chains and rules every container's chain hangs from (portmap with snat, mark bit 13). */
function portmapBase(nat: SavedTable): string[] {
  const out: string[] = [];
  const has = (chain: string, spec: string): boolean => hasRule(nat, chain, spec);
  for (const c of ['CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-DNAT']) if (!nat.chains.includes(c)) out.push(`-N ${c}`);
  const mark = '-m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000';
  if (!has('CNI-HOSTPORT-SETMARK', mark)) out.push(`-A CNI-HOSTPORT-SETMARK ${mark}`);
  const masq = '-m mark --mark 0x2000/0x2000 -j MASQUERADE';
  if (!has('CNI-HOSTPORT-MASQ', masq)) out.push(`-A CNI-HOSTPORT-MASQ ${masq}`);
  const masqJump = '-m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ';
  if (!has('POSTROUTING', masqJump)) out.push(`-I POSTROUTING 1 ${masqJump}`);
  const dnatJump = '-m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT';
  for (const c of ['PREROUTING', 'OUTPUT']) if (!has(c, dnatJump)) out.push(`-A ${c} ${dnatJump}`);
  return out;
}

/**
 * What the portmap plugin (1.1, `snat: true`) adds for a container's published TCP ports, as
 * the same rules in one iptables-restore instead of its ~19 iptables processes: a chain
 * CNI-DN-<hash> with, per port, the hairpin and localhost masquerade marks and the DNAT, and
 * its jump from CNI-HOSTPORT-DNAT commented `dnat name: "NET" id: "CID"` (so the plugin's DEL,
 * Strata's in-process DEL and every root's search for claimed ports see them as portmap's).
 * `subnet`: the container's network (CIDR); `known`: the shared chains were seen since boot
 * (no iptables-save first; if they went meanwhile, the restore fails and is redone with one).
 */
export async function addPortmapRules(sys: Sys, o: { network: string; containerId: string; ip: string; subnet: string; ports: PortmapRule[]; known: boolean }): Promise<void> {
  const chain = portmapChain(o.network, o.containerId);
  const rules: string[] = [`-N ${chain}`];
  for (const p of o.ports) {
    const dst = p.hostIP && p.hostIP !== '0.0.0.0' ? `-d ${p.hostIP}/32 ` : '';
    const base = `-p tcp -m tcp --dport ${p.hostPort}`;
    rules.push(`-A ${chain} -s ${o.subnet} ${dst}${base} -j CNI-HOSTPORT-SETMARK`);
    rules.push(`-A ${chain} -s 127.0.0.1/32 ${dst}${base} -j CNI-HOSTPORT-SETMARK`);
    rules.push(`-A ${chain} ${dst}${base} -j DNAT --to-destination ${o.ip}:${p.containerPort}`);
  }
  const comment = `-m comment --comment "dnat name: \\"${o.network}\\" id: \\"${o.containerId}\\""`;
  const ports = o.ports.map((p) => p.hostPort);
  for (let i = 0; i < ports.length; i += 15) rules.push(`-A CNI-HOSTPORT-DNAT -p tcp ${comment} -m multiport --dports ${ports.slice(i, i + 15).join(',')} -j ${chain}`);
  await restoreMissing(sys, 'nat', (tables) => {
    if (!tables) return ['*nat', ...rules, 'COMMIT'];
    const nat = tables('nat');
    const base = portmapBase(nat);
    if (!nat.chains.includes(chain)) return ['*nat', ...base, ...rules, 'COMMIT'];
    // a chain of this container left by a crash: made anew, as the plugin's set-up would
    const stale = nat.rules.filter((x) => x.chain === 'CNI-HOSTPORT-DNAT' && jumpTarget(x.spec) === chain).map((x) => `-D ${x.chain} ${x.spec}`);
    return ['*nat', ...base, ...stale, `-F ${chain}`, ...rules.slice(1), 'COMMIT'];
  }, o.known);
}
