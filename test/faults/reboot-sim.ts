/**
 * What a reboot does to a store, done to one STRATA_ROOT only: every process of its
 * containers, their monitors (and any `strata serve` the caller names) killed, the
 * container cgroups gone, every mount under the root unmounted, and the runtime directory
 * /run/strata-<hash> (runc state, sockets) removed. The root's network namespaces, bridges
 * and iptables rules are left as they were, so that the next command must sweep them.
 *
 * Also: what of a root's host network state is left (netns, veths on its bridges, rules
 * naming its networks or containers, mounts), to tell whether anything leaked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mountsUnder } from '../helpers.js';

export function runtimeDir(root: string): string {
  return `/run/strata-${createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 12)}`;
}

/** The tag the network layer derives for a root's state dir (names of its netns, bridges, CNI networks). */
export function networkNames(root: string): { netnsPrefix: string; bridgePrefix: string; cniPrefix: string } {
  // read the names back from what the root itself recorded, so the test does not restate the derivation
  const dir = path.join(root, 'network', 'networks');
  let bridge = '';
  try {
    for (const f of fs.readdirSync(dir)) {
      const rec = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { name?: string; bridge?: string; cniName?: string };
      if (rec.name === 'bridge' && rec.bridge) bridge = rec.bridge;
    }
  } catch { /* no networks yet */ }
  const t = bridge.startsWith('st') ? bridge.slice(2) : '';
  return { netnsPrefix: t ? `st${t}-` : 'strata-', bridgePrefix: bridge || 'strata0', cniPrefix: t ? `strata-${t}.` : 'strata.' };
}

function pidsOf(cmdlineNeedle: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes(cmdlineNeedle)) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

function cgroupDirs(id: string): string[] {
  const out: string[] = [];
  const base = '/sys/fs/cgroup';
  for (const ctl of fs.readdirSync(base)) {
    for (const p of [path.join(base, ctl, 'strata', id), path.join(base, 'strata', id)]) if (fs.existsSync(p)) out.push(p);
  }
  return [...new Set(out)];
}

function containerIds(root: string): string[] {
  try { return fs.readdirSync(path.join(root, 'containers')).filter((n) => /^[0-9a-f]{64}$/.test(n)); } catch { return []; }
}

/**
 * What a reboot also does to the network: the root's netns (under /run/netns, a tmpfs),
 * its bridges and veths, and its iptables rules are gone.
 */
export function dropHostNetwork(root: string): void {
  const n = networkNames(root);
  let netns: string[] = [];
  try { netns = fs.readdirSync('/run/netns').filter((x) => x.startsWith(n.netnsPrefix)); } catch { /* none */ }
  for (const ns of netns) execFileSync('ip', ['netns', 'delete', ns]);
  for (const l of fs.readdirSync('/sys/class/net')) {
    if (l === n.bridgePrefix || l.startsWith(`${n.bridgePrefix}-`)) execFileSync('ip', ['link', 'delete', l]);
  }
  const ids = containerIds(root);
  for (const table of ['nat', 'filter']) {
    const lines = execFileSync('iptables-save', ['-t', table], { encoding: 'utf8' }).split('\n');
    const ours = (l: string) => l.includes(`"${n.cniPrefix}`) || ids.some((id) => l.includes(id)) || new RegExp(`\\b${n.bridgePrefix}(-[0-9a-f]{6})?\\b`).test(l);
    const chains = new Set<string>();
    for (const l of lines.filter((x) => x.startsWith('-A ') && ours(x))) {
      const j = / -j (CNI-(?:DN-)?[0-9a-f]{20,})/.exec(l);
      if (j) chains.add(j[1]!);
      const args = l.slice(3).match(/"(?:[^"\\]|\\.)*"|\S+/g)!.map((a) => (a.startsWith('"') ? a.slice(1, -1).replace(/\\"/g, '"') : a));
      if (/^CNI-(?:DN-)?[0-9a-f]{20,}$/.test(args[0]!)) continue; // whole chain goes below
      try { execFileSync('iptables', ['-t', table, '-D', ...args], { stdio: 'ignore' }); } catch { /* gone */ }
    }
    for (const c of chains) {
      try { execFileSync('iptables', ['-t', table, '-F', c], { stdio: 'ignore' }); execFileSync('iptables', ['-t', table, '-X', c], { stdio: 'ignore' }); } catch { /* gone */ }
    }
  }
}

/** Kill, unmount, forget: the root as it is after a power cut and a boot. */
export async function simulateReboot(root: string, extraPids: number[] = [], opts: { network?: boolean } = {}): Promise<void> {
  const ids = containerIds(root);
  // container processes: everything in their cgroups (pids controller or any other)
  const pids = new Set<number>(extraPids);
  for (const id of ids) {
    for (const cg of cgroupDirs(id)) {
      try { for (const p of fs.readFileSync(path.join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) pids.add(Number(p)); } catch { /* gone */ }
    }
  }
  // monitors and runc processes name the container dir (bundle) or the runtime dir
  for (const p of pidsOf(path.join(root, 'containers'))) pids.add(p);
  for (const p of pidsOf(runtimeDir(root))) pids.add(p);
  pids.delete(process.pid);
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  const deadline = Date.now() + 5000;
  while ([...pids].some((p) => fs.existsSync(`/proc/${p}`) && !/^State:\s+Z/m.test(safeRead(`/proc/${p}/status`))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  // frozen cgroups keep their processes: thaw so that the kill lands
  for (const id of ids) for (const cg of cgroupDirs(id)) { try { fs.writeFileSync(path.join(cg, 'freezer.state'), 'THAWED'); } catch { /* not a freezer */ } }
  for (const id of ids) {
    for (const cg of cgroupDirs(id)) {
      for (let i = 0; i < 100; i++) {
        try { fs.rmdirSync(cg); break; } catch { await new Promise((r) => setTimeout(r, 20)); }
      }
    }
  }
  // every mount under the root, deepest first
  for (const m of mountsUnder(root).sort((a, b) => b.length - a.length)) {
    try { execFileSync('umount', ['-l', m], { stdio: 'ignore' }); } catch { /* already gone */ }
  }
  fs.rmSync(runtimeDir(root), { recursive: true, force: true });
  if (opts.network) dropHostNetwork(root);
}

function safeRead(f: string): string {
  try { return fs.readFileSync(f, 'utf8'); } catch { return ''; }
}

export interface HostLeftovers { netns: string[]; bridgePorts: string[]; rules: string[]; mounts: string[]; runtime: string[] }

/**
 * The root's host state that belongs to containers: its netns, the interfaces plugged into
 * its bridges, iptables rules naming its CNI networks or one of `ids`, mounts under it.
 */
export function hostState(root: string, ids: string[]): HostLeftovers {
  const n = networkNames(root);
  let netns: string[] = [];
  try { netns = fs.readdirSync('/run/netns').filter((x) => x.startsWith(n.netnsPrefix)); } catch { /* none */ }
  const bridgePorts: string[] = [];
  for (const l of fs.readdirSync('/sys/class/net')) {
    if (l !== n.bridgePrefix && !l.startsWith(`${n.bridgePrefix}-`)) continue;
    try { bridgePorts.push(...fs.readdirSync(`/sys/class/net/${l}/brif`).map((p) => `${l}:${p}`)); } catch { /* not a bridge */ }
  }
  const rules = execFileSync('iptables-save', { encoding: 'utf8' }).split('\n')
    .filter((l) => l.startsWith('-A ') && (ids.some((id) => l.includes(id)) || l.includes(`"${n.cniPrefix}`) || l.includes(`name: "${n.cniPrefix}`)));
  const mounts = mountsUnder(path.join(root, 'containers'));
  let runtime: string[] = [];
  try { runtime = fs.readdirSync(path.join(runtimeDir(root), 'runc')); } catch { /* none */ }
  return { netns: netns.sort(), bridgePorts: bridgePorts.sort(), rules, mounts, runtime };
}
