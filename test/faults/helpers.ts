/**
 * Fault helpers: CLI processes killed with SIGKILL at chosen moments, a
 * seeded random source (the seed is printed, so a failing run can be
 * replayed with STRATA_FAULT_SEED), and the store's health after each kill.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { deriveRootTag } from '../../src/network/index.js';
import { CLI, containerRoot, strata, strataOk } from '../helpers.js';
import { strataAsyncOk } from '../registry/helpers.js';

/** mulberry32: small, seedable, good enough to spread kill moments. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function faultSeed(): number {
  const env = process.env.STRATA_FAULT_SEED;
  const seed = env && /^\d+$/.test(env) ? Number(env) : Math.floor(Math.random() * 2 ** 31);
  console.log(`fault seed ${seed} (STRATA_FAULT_SEED=${seed} replays it)`);
  return seed;
}

export interface KillResult { killed: boolean; code: number | null; ms: number; }

/** Run the CLI and SIGKILL it after `delayMs` (unless it finished first). */
export function runAndKill(root: string, args: string[], delayMs: number, env: Record<string, string> = {}): Promise<KillResult> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, STRATA_ROOT: root, ...env } as NodeJS.ProcessEnv, stdio: 'ignore' });
  let killed = false;
  const timer = setTimeout(() => { killed = child.kill('SIGKILL'); }, delayMs);
  return new Promise((resolve) => child.on('exit', (code, signal) => {
    clearTimeout(timer);
    resolve({ killed: killed && signal === 'SIGKILL', code, ms: performance.now() - t0 });
  }));
}

/** How long a command takes here (ms), to spread kill moments over its whole run. */
export async function timeOf(root: string, args: string[]): Promise<number> {
  const r = await runAndKill(root, args, 10 * 60_000);
  if (r.code !== 0) throw new Error(`strata ${args.join(' ')} exited ${r.code}`);
  return r.ms;
}

export interface Health { problems: string[]; garbage: number; kinds: string[]; }

/** `system check`: problems (integrity) and the count of reclaimable leftovers. */
export function health(root: string): Health {
  const r = strata(root, ['system', 'check']);
  const lines = r.stdout.split('\n');
  const problems = lines.filter((l) => /^problem|: .*(missing|does not match|no blob)/.test(l));
  if (r.code !== 0 || !/no problems/.test(r.stdout)) problems.push(`system check exited ${r.code}: ${r.stdout.trim().split('\n').pop()} ${r.stderr.trim()}`);
  const garbage = lines.filter((l) => l.startsWith('garbage: '));
  return { problems, garbage: garbage.length, kinds: garbage.map((l) => l.replace(/^garbage: /, '').replace(/[0-9a-f]{64}/g, '<hex>').replace(/tmp\/\S+/, 'tmp/<entry>')) };
}

/** Network leftovers naming a container: its netns and iptables rules. */
export function networkLeftovers(containerId: string): string[] {
  const short = containerId.slice(0, 12);
  let netns: string[] = [];
  try { netns = fs.readdirSync('/run/netns').filter((n) => n.includes(short)); } catch { /* none */ }
  const rules = execFileSync('iptables-save', { encoding: 'utf8' }).split('\n').filter((l) => l.includes(short) || l.includes(containerId));
  return [...netns.map((n) => `netns ${n}`), ...rules.map((r) => `rule ${r}`)];
}

/** Tally per operation, printed as one line for bench/RESULTS.md. */
export class Tally {
  kills = 0;
  finished = 0;
  problems: string[] = [];
  garbage = 0;
  constructor(readonly op: string) {}
  line(): string {
    return `faults ${this.op}: ${this.kills} killed, ${this.finished} finished before the kill, ${this.problems.length} problems, ${this.garbage} reclaimable leftovers seen`;
  }
}

/** An image of two layers (busybox and 8 MB of random data with a marker) pushed to `ref`. */
export async function seedImage(t: { after(fn: () => void | Promise<void>): void }, ref: string, env: Record<string, string>): Promise<void> {
  const seed = containerRoot(t);
  strataOk(seed, ['run', '--name', 'seed', '--network', 'none', 'busybox', 'sh', '-c', 'dd if=/dev/urandom of=/data bs=1M count=8 2>/dev/null; echo marker > /marker']);
  strataOk(seed, ['commit', 'seed', ref]);
  await strataAsyncOk(seed, ['push', ref], { env });
}

export interface Host { links: string[]; netns: string[]; rules: string[]; }

/** This root's links (bridges), netns and iptables rules: the ones carrying its tag. */
export function hostState(root: string): Host {
  const tag = deriveRootTag(path.join(root, 'network'));
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString().split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((l) => l.startsWith(`st${tag}`));
  const netns = execFileSync('ip', ['netns', 'list']).toString().split('\n').map((l) => l.split(' ')[0]!).filter((l) => l.startsWith(`st${tag}`));
  const rules = execFileSync('iptables-save').toString().split('\n').filter((l) => l.includes(`strata-${tag}.`) || l.includes(`st${tag}`));
  return { links, netns, rules };
}

/** system check after a kill, added to the tally. */
export function record(tally: Tally, r: string, what: string): void {
  const h = health(r);
  tally.garbage += h.garbage;
  if (h.kinds.length) console.log(`leftovers: ${[...new Set(h.kinds)].join('; ')}`);
  tally.problems.push(...h.problems.map((p) => `${what}: ${p}`));
}

/** A volume with 300 small files in 30 directories, written from the host (fast). */
export function fillVolume(r: string, name: string): void {
  const data = strataOk(r, ['volume', 'inspect', '--format', '{{.Mountpoint}}', name]).trim();
  for (let d = 0; d < 30; d++) {
    fs.mkdirSync(path.join(data, `d${d}`));
    for (let f = 0; f < 10; f++) fs.writeFileSync(path.join(data, `d${d}`, `f${f}`), `${name} ${d} ${f}\n`);
  }
}

export const volumes = (r: string): string[] => strataOk(r, ['volume', 'ls', '-q']).split('\n').filter(Boolean);

/** A listed volume is whole enough to use: a container mounts it and counts its files. */
export function usableVolume(r: string, name: string): string | undefined {
  const run = strata(r, ['run', '--rm', '--network', 'none', '-v', `${name}:/v`, 'busybox', 'sh', '-c', 'find /v -type f | wc -l']);
  return run.code === 0 ? undefined : `listed but not usable: ${run.stderr.trim()}`;
}
