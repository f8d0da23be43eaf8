/**
 * Helpers for the network tests: temp roots with their own tag, "containers" made of a
 * netns plus busybox httpd (the runtime module is built elsewhere), HTTP over loopback
 * or to container addresses of the test's own networks, and host snapshots that tell
 * whether a test left anything of its own behind.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { NetworkManager, type NetworkManagerOptions } from '../../src/network/index.js';
import { parseCidr, parseIPv4, contains } from '../../src/network/ipv4.js';

export function randomId(): string {
  return randomBytes(32).toString('hex');
}

/** A tag that cannot start with "rata" (reserved so default-root names never clash). */
export function randomTag(): string {
  return `t${randomBytes(3).toString('hex').slice(0, 5)}`;
}

export interface TestRoot {
  dir: string;
  tag: string;
  nm: NetworkManager;
  /** Names of host-side veths seen in CNI results (checked gone at the end). */
  veths: Set<string>;
  cleanup(): Promise<void>;
}

export function makeRoot(opts: Omit<NetworkManagerOptions, 'rootTag'> = {}): TestRoot {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-net-'));
  const tag = randomTag();
  const nm = new NetworkManager(path.join(dir, 'network'), { ...opts, rootTag: tag });
  const root: TestRoot = {
    dir, tag, nm, veths: new Set(),
    async cleanup() {
      await nm.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return root;
}

/** Remember the host-side veth names of a container's endpoints (from the saved CNI results). */
export function noteVeths(root: TestRoot, containerId: string): void {
  const f = path.join(root.nm.stateDir, 'containers', `${containerId}.json`);
  const rec = JSON.parse(fs.readFileSync(f, 'utf8')) as { endpoints: Array<{ result?: { interfaces?: Array<{ name: string; sandbox?: string }> } }> };
  for (const ep of rec.endpoints) {
    for (const i of ep.result?.interfaces ?? []) if (!i.sandbox && i.name.startsWith('veth')) root.veths.add(i.name);
  }
}

export interface HostSnapshot { links: string[]; netns: string[]; rules: string[]; }

export function snapshot(): HostSnapshot {
  const links = fs.readdirSync('/sys/class/net').sort();
  let netns: string[] = [];
  try { netns = fs.readdirSync('/run/netns').sort(); } catch { /* none */ }
  const rules = [...execFileSync('iptables-save', { encoding: 'utf8' }).split('\n')]
    .filter((l) => l.startsWith('-A ') || l.startsWith(':'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
  return { links, netns, rules };
}

/**
 * What `after` has that `before` had not and that belongs to this root: its bridges, veths
 * it saw, its netns, rules naming its CNI networks, its bridges or addresses of its subnets.
 * (Other test files and other roots may run at the same time: only our own things count.
 * The shared CNI chains — CNI-HOSTPORT-*, CNI-FORWARD, CNI-ADMIN, CNI-ISOLATION-STAGE-* and
 * their fixed rules — stay, as with every CNI runtime, and name nothing of ours.)
 */
export function leftovers(root: TestRoot, before: HostSnapshot, after: HostSnapshot, subnets: string[]): string[] {
  const bridgeRe = new RegExp(`^st${root.tag}(-[0-9a-f]{6})?$`);
  const out: string[] = [];
  const bl = new Set(before.links);
  for (const l of after.links) if (!bl.has(l) && (bridgeRe.test(l) || root.veths.has(l))) out.push(`link ${l}`);
  for (const v of root.veths) if (after.links.includes(v)) out.push(`veth ${v}`);
  const bn = new Set(before.netns);
  for (const n of after.netns) if (!bn.has(n) && n.startsWith(`st${root.tag}-`)) out.push(`netns ${n}`);
  const br = new Set(before.rules);
  const cidrs = subnets.map((s) => parseCidr(s)!);
  const inOurs = (ip: string) => { const v = parseIPv4(ip); return v !== undefined && cidrs.some((c) => contains(c, v)); };
  const added = after.rules.filter((r) => !br.has(r));
  const ourRules = new Set<string>();
  const ourChains = new Set<string>();
  for (const r of added) {
    const ips = [...r.matchAll(/(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!);
    const ours = r.includes(root.nm.cniPrefix) || new RegExp(`\\b(st${root.tag}(-[0-9a-f]{6})?)\\b`).test(r) || ips.some(inOurs);
    if (!ours) continue;
    ourRules.add(r);
    const j = / -j (CNI-(?:DN-)?[0-9a-f]{20,})/.exec(r);
    if (j) ourChains.add(j[1]!);
    const a = /^-A (CNI-(?:DN-)?[0-9a-f]{20,}) /.exec(r);
    if (a) ourChains.add(a[1]!);
  }
  // Per-container chains reached from our rules, and everything in them.
  for (const r of added) {
    const chain = r.startsWith(':') ? r.slice(1).split(' ')[0]! : r.split(' ')[1]!;
    if (ourChains.has(chain)) ourRules.add(r);
  }
  for (const r of ourRules) out.push(`rule ${r}`);
  return out;
}

/** A "container": a process in the netns. */
export function spawnInNetns(netnsName: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', netnsName, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await done;
}

export function pageDir(root: TestRoot, name: string, content: string): string {
  const d = path.join(root.dir, `www-${name}`);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, 'index.html'), content);
  return d;
}

/** busybox httpd -f -p 80 -h DIR inside the netns; resolves when it answers on containerIp:80. */
export async function startHttpd(netnsName: string, dir: string, containerIp: string): Promise<ChildProcess> {
  const child = spawnInNetns(netnsName, ['busybox', 'httpd', '-f', '-p', '80', '-h', dir]);
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      await httpGet(`http://${containerIp}:80/`, 500);
      return child;
    } catch (e) {
      if (Date.now() > deadline) { await stopProcess(child); throw e; }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

export function httpGet(url: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${url}: HTTP ${res.statusCode}`));
        else resolve(Buffer.concat(chunks).toString());
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
    req.on('error', reject);
  });
}

/** Run a command inside a netns with a time limit; resolves with exit code and output. */
export function execInNetns(netnsName: string, args: string[], timeoutMs = 5000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('timeout', ['-s', 'KILL', String(Math.ceil(timeoutMs / 1000)), 'ip', 'netns', 'exec', netnsName, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

/** A host port in 20000-29999 that is free now (random, so parallel runs rarely meet). */
export async function pickFreePort(): Promise<number> {
  const { canBind } = await import('../../src/network/index.js');
  for (let i = 0; i < 200; i++) {
    const p = 20000 + Math.floor(Math.random() * 10000);
    if (await canBind('0.0.0.0', p, 'tcp')) return p;
  }
  throw new Error('no free port');
}

/** The host's first global IPv4 address that is not loopback and not on our bridges. */
export function hostAddress(): string | undefined {
  const out = execFileSync('ip', ['-j', '-4', 'addr', 'show', 'scope', 'global'], { encoding: 'utf8' });
  const links = JSON.parse(out) as Array<{ ifname: string; addr_info: Array<{ local: string }> }>;
  for (const l of links) {
    if (l.ifname.startsWith('st') || l.ifname.startsWith('strata') || l.ifname.startsWith('veth')) continue;
    const a = l.addr_info[0]?.local;
    if (a) return a;
  }
  return undefined;
}

/**
 * A test root whose teardown removes it and then checks the host holds nothing of it (netns,
 * links, rules, subnets): `subnets` lists the subnets the test used beyond the root's own.
 */
export function cleanRoot(t: { after: (fn: () => Promise<void>) => void }): { root: TestRoot; subnets: string[] } {
  const before = snapshot();
  const root = makeRoot();
  const subnets: string[] = [];
  t.after(async () => {
    subnets.push(...root.nm.list().map((n) => n.subnet).filter((s) => s));
    await root.cleanup();
    assert.deepEqual(leftovers(root, before, snapshot(), subnets), [], 'the test left host state behind');
  });
  return { root, subnets };
}
