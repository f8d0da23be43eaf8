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
import type { Sys } from '../sys/index.js';

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

async function iptablesSave(sys: Sys, table: string): Promise<SavedTable> {
  const r = await sys.iptablesSave(table);
  if (r.code !== 0) return { chains: [], rules: [] };
  return parseSave(r.stdout, table).get(table) ?? { chains: [], rules: [] };
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
 * are fine (a concurrent removal: the rest is deleted one at a time).
 */
export async function removeContainerRules(sys: Sys, networks: ReadonlySet<string>, containerId: string, ips: ReadonlySet<string>): Promise<void> {
  const saved = await sys.iptablesSave();
  const tables = saved.code === 0 ? parseSave(saved.stdout, '') : new Map<string, SavedTable>();
  const nat = tables.get('nat') ?? { chains: [], rules: [] };
  const filter = tables.get('filter') ?? { chains: [], rules: [] };
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

/** Remove the `same-bridge` isolation rules of one bridge. */
export async function removeIsolationRules(sys: Sys, bridge: string): Promise<void> {
  const filter = await iptablesSave(sys, 'filter');
  const dels = filter.rules.filter((r) =>
    (r.chain === 'CNI-ISOLATION-STAGE-1' || r.chain === 'CNI-ISOLATION-STAGE-2') &&
    (r.spec.startsWith(`-i ${bridge} `) || r.spec.startsWith(`-o ${bridge} `)));
  await applyDeletions(sys, 'filter', dels, []);
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
