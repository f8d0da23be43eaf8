/**
 * Name resolution on user-defined networks with aardvark-dns (Debian's `aardvark-dns`,
 * Podman's resolver): one process per state dir, listening on port 53 of each network's
 * gateway, with one configuration file per network (first line: the gateway; then one line
 * per container: `ID IPv4s IPv6s names`). It answers A records for the names of the
 * networks the asking container is on (so networks stay isolated), every address of a name
 * several containers share, and forwards other names to the host's resolvers. A rewrite of
 * the files and a SIGHUP is seen at once; with no file left the process is stopped.
 *
 * aardvark-dns 1.4 answers by the address a query arrives at, not by who asks: any
 * container could ask another network's gateway. Firewall rules (iptables.ts
 * `syncDnsScopeRules`) keep each gateway's resolver to its own bridge. The daemon is
 * started and signalled through the kernel door (`Sys.spawnDaemon`, `Sys.signal`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { mkdirp, writeFileAtomic } from '../base/fs.js';
import { withLock } from './lock.js';
import { syncDnsScopeRules } from './iptables.js';
import { linuxSys, type Sys } from '../sys/index.js';

const AARDVARK_PATHS = ['/usr/lib/podman/aardvark-dns', '/usr/libexec/podman/aardvark-dns'];

/** The aardvark-dns binary, if installed. */
export function findAardvark(): string | undefined {
  if (process.env.STRATA_NO_DNS) return undefined;
  return AARDVARK_PATHS.find((p) => fs.existsSync(p));
}

interface DnsRecord { id: string; ipv4: string[]; names: string[] }
/** `bridge`: the network's Linux bridge; only queries arriving through it are answered. */
export interface DnsNetwork { name: string; gateway: string; bridge?: string; records: DnsRecord[] }

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function fileText(n: DnsNetwork): string {
  let s = `${n.gateway}\n`;
  for (const r of n.records) {
    const names = [...new Set(r.names.filter((x) => NAME_RE.test(x)))];
    if (!names.length || !r.ipv4.length) continue;
    s += `${r.id} ${r.ipv4.join(',')}  ${names.join(',')}\n`;
  }
  return s;
}

/** A live aardvark-dns (a recycled pid running something else is not ours). */
function alive(sys: Sys, pid: number): boolean {
  if (!sys.processAlive(pid)) return false;
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('aardvark-dns'); } catch { return true; }
}

export class Aardvark {
  /** `dir`: this root's configuration directory (only network files and aardvark's pid file go there). */
  constructor(readonly dir: string, readonly binary: string, readonly port = 53, readonly sys: Sys = linuxSys) {}

  private get pidFile(): string { return path.join(this.dir, 'aardvark.pid'); }
  private get lockFile(): string { return `${this.dir}.lock`; }
  /** Names this root's firewall rules. */
  private get tag(): string { return createHash('sha256').update(path.resolve(this.dir)).digest('hex').slice(0, 8); }

  /** The server's pid, when it runs. */
  pid(): number | undefined {
    let pid = 0;
    try { pid = Number(fs.readFileSync(this.pidFile, 'utf8').trim()); } catch { return undefined; }
    return alive(this.sys, pid) ? pid : undefined;
  }

  /**
   * Make the configuration exactly `nets` (those without records dropped) and have the server
   * see it. Given as a function, the records are read under the lock: of two syncs racing
   * (two containers of a network removed at once), the one that runs last writes what holds
   * last, never what the other one read before the first wrote. `then` runs under the lock
   * too (the engine rewrites the hosts records of links there, for the same reason).
   */
  async sync(records: readonly DnsNetwork[] | (() => readonly DnsNetwork[]), then?: () => void): Promise<void> {
    await withLock(this.sys, this.lockFile, async () => {
      try { await this.syncLocked(typeof records === 'function' ? records() : records); } finally { then?.(); }
    });
  }

  private async syncLocked(nets: readonly DnsNetwork[]): Promise<void> {
    mkdirp(this.dir, 0o700);
    const wanted = new Map(nets.filter((n) => n.gateway && n.records.length).map((n) => [n.name, fileText(n)]));
    let changed = false;
    for (const f of fs.readdirSync(this.dir)) {
      if (f === 'aardvark.pid' || f.startsWith('.')) continue;
      if (!wanted.has(f)) { fs.rmSync(path.join(this.dir, f), { force: true }); changed = true; }
    }
    for (const [name, text] of wanted) {
      const file = path.join(this.dir, name);
      let cur: string | undefined;
      try { cur = fs.readFileSync(file, 'utf8'); } catch { /* new */ }
      if (cur === text) continue;
      writeFileAtomic(file, text);
      changed = true;
    }
    const pid = this.pid();
    // before the server answers on a new gateway, only its own bridge may ask it
    const scopes = nets.filter((n) => wanted.has(n.name) && n.bridge).map((n) => ({ gateway: n.gateway, bridge: n.bridge! }));
    await this.syncRules(scopes);
    if (wanted.size === 0) {
      if (pid) await this.kill(pid);
      return;
    }
    if (!pid) await this.start();
    else if (changed) this.sys.signal(pid, 'SIGHUP');
  }

  /**
   * The scope rules become `scopes`. With none wanted and none left by the last sync (the
   * marker file says so), nothing is read: a container on the default bridge stops without an
   * `iptables-save` (~10 ms). The marker goes before rules are added, so a sync killed
   * half-way leaves the full check to the next one.
   */
  private async syncRules(scopes: Array<{ gateway: string; bridge: string }>): Promise<void> {
    const none = path.join(this.dir, '.no-scope-rules');
    if (scopes.length === 0 && fs.existsSync(none)) return;
    if (scopes.length > 0) fs.rmSync(none, { force: true });
    await syncDnsScopeRules(this.sys, this.tag, scopes, this.port);
    if (scopes.length === 0) fs.writeFileSync(none, '');
  }

  /** Stop the server and remove its configuration. */
  async stop(): Promise<void> {
    await withLock(this.sys, this.lockFile, async () => {
      const pid = this.pid();
      if (pid) await this.kill(pid);
      await syncDnsScopeRules(this.sys, this.tag, [], this.port);
      fs.rmSync(this.dir, { recursive: true, force: true });
    });
  }

  private async kill(pid: number): Promise<void> {
    if (!this.sys.signal(pid, 'SIGTERM')) return;
    for (let i = 0; i < 100 && alive(this.sys, pid); i++) await new Promise((r) => setTimeout(r, 20));
    if (alive(this.sys, pid)) this.sys.signal(pid, 'SIGKILL');
    fs.rmSync(this.pidFile, { force: true });
  }

  /** aardvark-dns daemonizes itself and writes its pid file once its servers listen. */
  private async start(): Promise<void> {
    fs.rmSync(this.pidFile, { force: true });
    const { exited } = this.sys.spawnDaemon(this.binary, ['--config', this.dir, '-p', String(this.port), 'run']);
    const deadline = Date.now() + 5000;
    for (;;) {
      if (this.pid()) return;
      if (Date.now() > deadline) throw new Error(`aardvark-dns did not start (config ${this.dir})`);
      const code = await Promise.race([exited, new Promise<'wait'>((r) => setTimeout(() => r('wait'), 10))]);
      if (code === 'wait') continue;
      if (code !== 0 && !this.pid()) throw new Error(`aardvark-dns exited with ${code}`);
      await new Promise((r) => setTimeout(r, 10)); // the daemon writes its pid file after the parent exits
    }
  }
}
