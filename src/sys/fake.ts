/**
 * FakeSys: a recording `Sys` with a small in-memory model of the host, for unit tests
 * that run without root and without touching the kernel.
 *
 * Every call is appended to `calls` as `{ op, args }`. The model keeps what the logic above
 * reads back: mounted targets, links and their addresses, named netns (as empty files under
 * `runDir/netns`, so path checks work), iptables tables (rule text as iptables-save prints
 * it), sysctls, xattrs, device nodes, live pids with start times, the OCI runtime's
 * containers, and monitors. The CNI plugins are emulated just enough (loopback, bridge with
 * host-local reservations, portmap DNAT rules, firewall forward rules) for attach/detach
 * bookkeeping; `cniHandler` replaces that.
 *
 * Failures are injected with `failNext(op, error)`: the next call of `op` throws (or, for
 * calls that report exit codes, exits 1 with the message on stderr).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { StrataError } from '../base/errors.js';
import type {
  CniExecRequest, ExecResult, MountInfo, MountRequest, NodeKind, PtyProcess, PtySpawnOptions, RuntimeRunOptions,
  DirScan, DirStats, PoolHasher, RuntimeSpawnOptions, Sys, Timespec,
} from './types.js';

interface SysCall { op: string; args: unknown[] }

interface FakeRuntimeContainer { id: string; status: 'created' | 'running' | 'paused' | 'stopped'; pid: number; bundle: string; created: string }

interface FakeMonitor {
  id: string;
  monitorPid: number;
  pid: number;
  socketPath: string;
  stateFile: string;
  exitFile: string;
  pidFile: string;
  startedAt: string;
  server?: net.Server;
}

interface IptTable { chains: string[]; rules: string[] }

const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
const fail = (stderr: string, code = 1): ExecResult => ({ code, stdout: '', stderr });

/** The subcommand of a runc command line and its arguments (global options skipped). */
function runtimeCommand(args: readonly string[]): { cmd: string; rest: string[] } {
  const a = [...args];
  while (a.length && a[0]!.startsWith('--')) {
    const flag = a.shift()!;
    if (!flag.includes('=') && ['--root', '--log', '--log-format'].includes(flag)) a.shift();
  }
  return { cmd: a.shift() ?? '', rest: a };
}

function flagValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

const SIGNUMS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, TERM: 15, STOP: 19, CONT: 18 };

export class FakeSys implements Sys {
  readonly calls: SysCall[] = [];
  readonly runDir: string;
  /** Mounted targets (absolute) and how. */
  readonly mounts = new Map<string, MountRequest>();
  /** Targets whose plain unmount fails with "target is busy". */
  readonly busy = new Set<string>();
  readonly links = new Map<string, { addrs: string[]; up: boolean; mac?: string; mtu?: number }>();
  readonly tables = new Map<string, IptTable>();
  readonly sysctls = new Map<string, string>();
  /** "proto ip:port" a host process listens on. */
  readonly listening = new Set<string>();
  readonly xattrs = new Map<string, Map<string, Buffer>>();
  readonly nodes: Array<{ path: string; kind: NodeKind; mode: number; major: number; minor: number }> = [];
  /** Live pids and their start times. */
  readonly pids = new Map<number, string>();
  readonly containers = new Map<string, FakeRuntimeContainer>();
  readonly monitors = new Map<string, FakeMonitor>();
  /** JSON `ip -j -4 route show` prints. */
  routes: Array<{ dst?: string; dev?: string }> = [];
  /** Replaces the plugin emulation: return undefined to fall back to it. */
  cniHandler?: (type: string, command: string, conf: Record<string, unknown>, env: Record<string, string>) => ExecResult | undefined;
  /** Exit code of a fake `runc exec` child. */
  execExitCode = 0;
  private readonly failures = new Map<string, Error>();
  private nextPid = 40000;
  private startSeq = 1000;

  constructor(opts: { runDir?: string } = {}) {
    this.runDir = opts.runDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fakesys-'));
    fs.mkdirSync(path.join(this.runDir, 'netns'), { recursive: true });
    this.pids.set(process.pid, 'self');
    this.links.set('lo', { addrs: ['127.0.0.1/8'], up: true });
  }

  /** Calls of one operation, in order. */
  callsOf(op: string): unknown[][] {
    return this.calls.filter((c) => c.op === op).map((c) => c.args);
  }

  /** The next call of `op` fails with `error`. */
  failNext(op: string, error: Error): void {
    this.failures.set(op, error);
  }

  /** A new live process; returns its pid. */
  spawnPid(): number {
    const pid = this.nextPid++;
    this.pids.set(pid, String(this.startSeq++));
    return pid;
  }

  /** The process exits (or is killed). */
  killPid(pid: number): void {
    this.pids.delete(pid);
  }

  /** Stop the fake monitors' sockets (end of a test). */
  close(): void {
    for (const m of this.monitors.values()) m.server?.close();
  }

  private record(op: string, args: unknown[]): void {
    this.calls.push({ op, args });
    const f = this.failures.get(op);
    if (f) {
      this.failures.delete(op);
      throw f;
    }
  }

  /** Like record, but an injected failure becomes a non-zero exit. */
  private recordExec(op: string, args: unknown[]): ExecResult | undefined {
    try {
      this.record(op, args);
      return undefined;
    } catch (e) {
      return fail((e as Error).message);
    }
  }

  // ---------------------------------------------------------------- mounts

  async mount(req: MountRequest): Promise<void> {
    this.record('mount', [req]);
    this.mounts.set(path.resolve(req.target), { ...req });
  }

  async unmount(target: string, opts: { detach?: boolean } = {}): Promise<void> {
    this.record('unmount', [target, opts]);
    const t = path.resolve(target);
    if (!this.mounts.has(t)) throw new Error(`umount: ${t}: not mounted.`);
    if (this.busy.has(t) && !opts.detach) throw new Error(`umount: ${t}: target is busy.`);
    this.mounts.delete(t);
  }

  readMountInfo(): MountInfo[] {
    this.record('readMountInfo', []);
    let id = 100;
    return [...this.mounts.values()].map((m) => ({
      mountId: id++, parentId: 1, mountPoint: path.resolve(m.target), options: m.readonly ? 'ro' : 'rw',
      fsType: m.type === 'bind' ? 'none' : m.type, source: m.source, superOptions: m.data ?? '',
    }));
  }

  // ---------------------------------------------------------------- network

  private netnsFile(name: string): string { return path.join(this.runDir, 'netns', name); }

  async ip(args: readonly string[]): Promise<ExecResult> {
    const failed = this.recordExec('ip', [[...args]]);
    if (failed) return failed;
    const a = args.filter((x) => x !== '-j' && x !== '-4');
    const [obj, verb] = a;
    if (obj === '-n' && a.slice(2).join(' ') === 'link set lo up') {
      // a namespace's own links are not modelled: only that it exists
      if (!fs.existsSync(this.netnsFile(a[1]!))) return fail(`Cannot open network namespace "${a[1]}": No such file or directory`);
      return ok();
    }
    if (obj === 'netns') {
      const name = a[2]!;
      const f = this.netnsFile(name);
      if (verb === 'add') {
        if (fs.existsSync(f)) return fail(`Cannot create namespace file "${f}": File exists`);
        fs.writeFileSync(f, '');
        return ok();
      }
      if (verb === 'delete') {
        if (!fs.existsSync(f)) return fail(`Cannot remove namespace file "${f}": No such file or directory`);
        fs.rmSync(f);
        return ok();
      }
    }
    if (obj === 'link') {
      const name = a[2]!;
      if (verb === 'add') {
        if (this.links.has(name)) return fail('RTNETLINK answers: File exists', 2);
        this.links.set(name, { addrs: [], up: false, mac: flagValue(a, 'address'), mtu: Number(flagValue(a, 'mtu')) || undefined });
        return ok();
      }
      if (verb === 'delete') {
        if (!this.links.delete(name)) return fail(`Cannot find device "${name}"`);
        return ok();
      }
      if (verb === 'set') {
        const l = this.links.get(name);
        if (!l) return fail(`Cannot find device "${name}"`);
        l.up = a.includes('up');
        return ok();
      }
    }
    if (obj === 'addr' && verb === 'add') {
      const l = this.links.get(flagValue(a, 'dev') ?? '');
      if (!l) return fail('Cannot find device');
      if (l.addrs.includes(a[2]!)) return fail('RTNETLINK answers: File exists', 2);
      l.addrs.push(a[2]!);
      return ok();
    }
    if (obj === 'route' && verb === 'show') {
      return ok(JSON.stringify(a.includes('default') ? this.routes.filter((r) => r.dst === 'default') : this.routes));
    }
    if (obj === 'addr' && verb === 'show') {
      return ok(JSON.stringify([...this.links].map(([ifname, l]) => ({
        ifname, addr_info: l.addrs.map((c) => ({ family: 'inet', local: c.split('/')[0], prefixlen: Number(c.split('/')[1]) })),
      }))));
    }
    return fail(`fake ip: unsupported ${args.join(' ')}`);
  }

  /** Each command as `ip` would run it, in order; code 1 when any failed (`-force`). */
  async ipBatch(commands: readonly (readonly string[])[]): Promise<ExecResult> {
    const failed = this.recordExec('ipBatch', [commands.map((c) => [...c])]);
    if (failed) return failed;
    let code = 0;
    let stderr = '';
    for (const c of commands) {
      const r = await this.ip(c);
      if (r.code !== 0) { code = 1; stderr += r.stderr; }
    }
    return { code, stdout: '', stderr };
  }

  listLinks(): string[] {
    return [...this.links.keys()];
  }

  listNetns(): string[] {
    return fs.readdirSync(path.join(this.runDir, 'netns'));
  }

  private table(name: string): IptTable {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = { chains: [], rules: [] }));
    return t;
  }

  /** Add rules as `iptables -A` would (test set-up). */
  addRule(table: string, chain: string, spec: string): void {
    const t = this.table(table);
    if (!t.chains.includes(chain)) t.chains.push(chain);
    t.rules.push(`${chain} ${spec}`);
  }

  /** Rules of a table as `CHAIN SPEC` lines. */
  rules(table: string): string[] {
    return [...(this.tables.get(table)?.rules ?? [])];
  }

  async iptablesSave(table?: string): Promise<ExecResult> {
    const failed = this.recordExec('iptablesSave', [table]);
    if (failed) return failed;
    const one = (name: string) => {
      const t = this.table(name);
      return [`*${name}`, ...t.chains.map((c) => `:${c} - [0:0]`), ...t.rules.map((r) => `-A ${r}`), 'COMMIT'];
    };
    const names = table ? [table] : [...this.tables.keys()];
    return ok([...names.flatMap(one), ''].join('\n'));
  }

  async iptablesRestore(text: string): Promise<ExecResult> {
    const failed = this.recordExec('iptablesRestore', [text]);
    if (failed) return failed;
    // all or nothing, as iptables-restore commits a table at once
    const work = new Map([...this.tables].map(([k, v]) => [k, { chains: [...v.chains], rules: [...v.rules] }]));
    let cur: IptTable | undefined;
    for (const line of text.split('\n')) {
      if (!line || line === 'COMMIT') continue;
      if (line.startsWith('*')) {
        const name = line.slice(1);
        if (!work.has(name)) work.set(name, { chains: [], rules: [] });
        cur = work.get(name);
        continue;
      }
      if (!cur) return fail('iptables-restore: no table');
      const m = /^-([ADNFXI]) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return fail(`iptables-restore: bad line ${line}`);
      const [, op, chain, spec] = m;
      const rule = `${chain} ${spec ?? ''}`;
      if (op === 'A') { if (!cur.chains.includes(chain!)) cur.chains.push(chain!); cur.rules.push(rule); }
      if (op === 'I') {
        // -I CHAIN POS SPEC: before the chain's POS-th rule (after its last when there are fewer)
        const im = /^(\d+) (.*)$/.exec(spec ?? '');
        if (!im) return fail(`iptables-restore: bad line ${line}`);
        if (!cur.chains.includes(chain!)) cur.chains.push(chain!);
        const own = cur.rules.map((r, i) => [r, i] as const).filter(([r]) => r.startsWith(`${chain} `));
        const at = own[Number(im[1]) - 1]?.[1] ?? (own.length ? own[own.length - 1]![1] + 1 : cur.rules.length);
        cur.rules.splice(at, 0, `${chain} ${im[2]}`);
      }
      if (op === 'D') {
        const i = cur.rules.indexOf(rule);
        if (i < 0) return fail(`iptables-restore: line failed: ${line}`);
        cur.rules.splice(i, 1);
      }
      if (op === 'N') { if (cur.chains.includes(chain!)) return fail('Chain already exists'); cur.chains.push(chain!); }
      if (op === 'F') { if (!cur.chains.includes(chain!)) return fail('No chain'); cur.rules = cur.rules.filter((r) => !r.startsWith(`${chain} `)); }
      if (op === 'X') {
        if (!cur.chains.includes(chain!)) return fail('No chain');
        cur.chains = cur.chains.filter((c) => c !== chain);
      }
    }
    this.tables.clear();
    for (const [k, v] of work) this.tables.set(k, v);
    return ok();
  }

  async cniExec(req: CniExecRequest): Promise<ExecResult> {
    const failed = this.recordExec('cniExec', [req]);
    if (failed) return failed;
    const type = path.basename(req.plugin);
    const command = req.env.CNI_COMMAND ?? '';
    const conf = JSON.parse(req.stdin || '{}') as Record<string, unknown>;
    const custom = this.cniHandler?.(type, command, conf, req.env);
    if (custom) return custom;
    return this.emulatePlugin(type, command, conf, req.env);
  }

  private emulatePlugin(type: string, command: string, conf: Record<string, unknown>, env: Record<string, string>): ExecResult {
    const cid = env.CNI_CONTAINERID ?? '';
    const ifName = env.CNI_IFNAME ?? '';
    const prev = conf.prevResult as { ips?: Array<{ address: string }> } | undefined;
    const version = String(conf.cniVersion ?? '1.0.0');
    const ipOf = () => prev?.ips?.find((i) => i.address.includes('.'))?.address.split('/')[0] ?? '';
    if (type === 'loopback') {
      return ok(command === 'ADD' ? JSON.stringify({ cniVersion: version, interfaces: [{ name: 'lo', sandbox: env.CNI_NETNS }], ips: [{ interface: 0, address: '127.0.0.1/8' }] }) : '');
    }
    if (type === 'bridge') {
      const ipam = conf.ipam as { dataDir: string; ranges: Array<Array<{ subnet: string; gateway: string }>> };
      const range = ipam.ranges[0]![0]!;
      const dir = path.join(ipam.dataDir, String(conf.name));
      const bridge = String(conf.bridge);
      if (command === 'ADD') {
        if (!this.links.has(bridge)) this.links.set(bridge, { addrs: [], up: true });
        fs.mkdirSync(dir, { recursive: true });
        const [base, prefix] = range.subnet.split('/');
        const parts = base!.split('.').map(Number);
        let chosen = '';
        for (let host = 2; host < 250 && !chosen; host++) {
          const ip = `${parts[0]}.${parts[1]}.${parts[2]}.${parts[3]! + host}`;
          if (ip === range.gateway || fs.existsSync(path.join(dir, ip))) continue;
          chosen = ip;
        }
        fs.writeFileSync(path.join(dir, chosen), `${cid}\r\n${ifName}`);
        const mac = '02:42:' + createHash('sha256').update(cid + ifName).digest('hex').slice(0, 8).match(/../g)!.join(':');
        return ok(JSON.stringify({
          cniVersion: version,
          interfaces: [{ name: bridge, mac: '02:00:00:00:00:01' }, { name: `veth${cid.slice(0, 6)}` }, { name: ifName, mac, sandbox: env.CNI_NETNS }],
          ips: [{ interface: 2, address: `${chosen}/${prefix}`, gateway: range.gateway }],
        }));
      }
      if (command === 'DEL') {
        for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
          const [c, i] = fs.readFileSync(path.join(dir, f), 'utf8').split(/\r?\n/);
          if (c === cid && i === ifName) fs.rmSync(path.join(dir, f));
        }
      }
      return ok();
    }
    if (type === 'portmap') {
      const chain = `CNI-DN-${createHash('sha256').update(`${conf.name} ${cid}`).digest('hex').slice(0, 24)}`;
      const comment = `-m comment --comment "dnat name: \\"${conf.name}\\" id: \\"${cid}\\""`;
      if (command === 'ADD') {
        const maps = ((conf.runtimeConfig as { portMappings?: Array<{ hostPort: number; containerPort: number; protocol: string; hostIP?: string }> } | undefined)?.portMappings) ?? [];
        if (maps.length) {
          this.addRule('nat', 'CNI-HOSTPORT-DNAT', `${comment} -j ${chain}`);
          for (const m of maps) {
            this.addRule('nat', chain, `${m.hostIP ? `-d ${m.hostIP}/32 ` : ''}-p ${m.protocol} -m ${m.protocol} --dport ${m.hostPort} -j DNAT --to-destination ${ipOf()}:${m.containerPort}`);
          }
        }
        return ok(JSON.stringify(conf.prevResult ?? {}));
      }
      if (command === 'DEL') {
        const t = this.table('nat');
        t.rules = t.rules.filter((r) => !r.startsWith(`${chain} `) && !r.endsWith(`-j ${chain}`));
        t.chains = t.chains.filter((c) => c !== chain);
      }
      return ok();
    }
    if (type === 'firewall') {
      const ip = ipOf();
      if (command === 'ADD') {
        if (ip) this.addRule('filter', 'CNI-FORWARD', `-s ${ip}/32 -j ACCEPT`);
        return ok(JSON.stringify(conf.prevResult ?? {}));
      }
      if (command === 'DEL' && ip) {
        const t = this.table('filter');
        t.rules = t.rules.filter((r) => r !== `CNI-FORWARD -s ${ip}/32 -j ACCEPT`);
      }
      return ok();
    }
    return { code: 1, stdout: JSON.stringify({ code: 1, msg: `failed to find plugin "${type}"` }), stderr: '' };
  }

  writeSysctl(key: string, value: string): void {
    this.record('writeSysctl', [key, value]);
    this.sysctls.set(key, value);
  }

  readSysctl(key: string): string | undefined {
    this.record('readSysctl', [key]);
    return this.sysctls.get(key);
  }

  async canBind(hostIp: string, port: number, protocol: string): Promise<boolean> {
    this.record('canBind', [hostIp, port, protocol]);
    return !this.listening.has(`${protocol} ${hostIp}:${port}`) && !this.listening.has(`${protocol} 0.0.0.0:${port}`) &&
      !(hostIp === '0.0.0.0' && [...this.listening].some((l) => l.startsWith(`${protocol} `) && l.endsWith(`:${port}`)));
  }

  // ---------------------------------------------------------------- files

  mknod(p: string, kind: NodeKind, mode: number, major: number, minor: number): void {
    this.record('mknod', [p, kind, mode, major, minor]);
    // an empty regular file stands in for the node, so renames and links work
    fs.writeFileSync(p, '', { flag: 'wx', mode });
    this.nodes.push({ path: p, kind, mode, major, minor });
  }

  /** Applied to the real file, with Node's microseconds (the model keeps no times of its own). */
  setTimes(target: string | Buffer | number, atime: Timespec, mtime: Timespec): void {
    this.record('setTimes', [target, atime, mtime]);
    const s = (t: Timespec) => (t.nsec === 0 ? t.sec : t.sec + (t.nsec - (t.nsec % 1000) + 500) / 1e9);
    if (typeof target === 'number') fs.futimesSync(target, s(atime), s(mtime));
    else fs.lutimesSync(target, s(atime), s(mtime));
  }

  lgetxattr(p: string, name: string): Buffer | null {
    this.record('lgetxattr', [p, name]);
    return this.xattrs.get(p)?.get(name) ?? null;
  }

  lsetxattr(p: string, name: string, value: Uint8Array | string): void {
    this.record('lsetxattr', [p, name, value]);
    let m = this.xattrs.get(p);
    if (!m) this.xattrs.set(p, (m = new Map()));
    m.set(name, Buffer.from(value));
  }

  llistxattr(p: string): string[] {
    this.record('llistxattr', [p]);
    return [...(this.xattrs.get(p)?.keys() ?? [])];
  }

  lremovexattr(p: string, name: string): void {
    this.record('lremovexattr', [p, name]);
    if (!this.xattrs.get(p)?.delete(name)) throw new Error('No data available (os error 61)');
  }

  copyTree(src: string, dst: string): void {
    this.record('copyTree', [src, dst]);
    fs.cpSync(src, dst, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  }

  spreadSubdirs(dir: string): void {
    this.record('spreadSubdirs', [dir]);
  }

  /** The model has no addon: callers take the readdir + lstat path. */
  lstatDir(dir: string): DirStats | null {
    this.record('lstatDir', [dir]);
    return null;
  }

  lstatDirAsync(dir: string): Promise<DirStats> | null {
    this.record('lstatDirAsync', [dir]);
    return null;
  }

  readInto(path: string | Buffer): number | null {
    this.record('readInto', [path]);
    return null;
  }

  poolHasher(): PoolHasher | null {
    return null;
  }

  scanDir(dir: string | Buffer): DirScan | null {
    this.record('scanDir', [dir]);
    return null;
  }

  // ---------------------------------------------------------------- processes

  async runtimeRun(binary: string, args: readonly string[], opts: RuntimeRunOptions = {}): Promise<ExecResult> {
    return this.runtimeCall('runtimeRun', binary, args, opts);
  }

  runtimeRunSync(binary: string, args: readonly string[]): ExecResult {
    return this.runtimeCall('runtimeRunSync', binary, args, {});
  }

  private runtimeCall(op: string, binary: string, args: readonly string[], opts: RuntimeRunOptions): ExecResult {
    const failed = this.recordExec(op, [binary, [...args], opts]);
    if (failed) return failed;
    const { cmd, rest } = runtimeCommand(args);
    const positional = rest.filter((x, i) => !x.startsWith('-') && !['--bundle', '--pid-file', '--console-socket', '--format', '--process'].includes(rest[i - 1] ?? ''));
    const id = (cmd === 'kill' ? positional[0] : positional.at(-1)) ?? '';
    const c = this.containers.get(id);
    const missing = fail(`container "${id}" does not exist`);
    switch (cmd) {
      case 'create': {
        if (c) return fail(`container with id exists: ${id}`);
        const pid = this.spawnPid();
        this.containers.set(id, { id, status: 'created', pid, bundle: flagValue(rest, '--bundle') ?? '', created: new Date().toISOString() });
        const pidFile = flagValue(rest, '--pid-file');
        if (pidFile) fs.writeFileSync(pidFile, String(pid));
        return ok();
      }
      case 'start':
        if (!c) return missing;
        if (c.status !== 'created') return fail('cannot start a container that has stopped');
        c.status = 'running';
        return ok();
      case 'state':
        if (!c) return missing;
        return ok(JSON.stringify({ ociVersion: '1.0.2', id, pid: c.status === 'stopped' ? 0 : c.pid, status: c.status, bundle: c.bundle, rootfs: path.join(c.bundle, 'rootfs'), created: c.created }));
      case 'list':
        return ok(JSON.stringify([...this.containers.values()].map((x) => ({ id: x.id, pid: x.pid, status: x.status, bundle: x.bundle, rootfs: '', created: x.created }))));
      case 'kill': {
        if (!c) return missing;
        if (c.status === 'stopped') return fail('container not running');
        const sig = positional[1] ?? 'TERM';
        const num = /^\d+$/.test(sig) ? Number(sig) : SIGNUMS[sig.replace(/^SIG/, '')] ?? 15;
        if (num === 18 || num === 19 || num === 28 || num === 17) return ok();
        this.stopContainer(id, 128 + num);
        return ok();
      }
      case 'delete':
        if (!c) return missing;
        if (c.status === 'running' && !rest.includes('--force')) return fail('cannot delete container that is not stopped: running');
        if (c.status !== 'stopped') this.stopContainer(id, 137);
        this.containers.delete(id);
        return ok();
      case 'pause':
        if (!c) return missing;
        if (c.status !== 'running') return fail('container not running');
        c.status = 'paused';
        return ok();
      case 'resume':
        if (!c) return missing;
        if (c.status !== 'paused') return fail('container not paused');
        c.status = 'running';
        return ok();
      case 'ps':
        if (!c) return missing;
        return ok(JSON.stringify(c.status === 'stopped' ? [] : [c.pid]));
      default:
        return fail(`fake runtime: unsupported ${cmd}`);
    }
  }

  /** The container's init exits with `exitCode`: its pid dies, its monitor records the exit. */
  stopContainer(id: string, exitCode: number): void {
    const c = this.containers.get(id);
    if (c) {
      c.status = 'stopped';
      this.pids.delete(c.pid);
    }
    const m = this.monitors.get(id);
    if (m) {
      const finishedAt = new Date().toISOString();
      const exit = { exitCode, finishedAt, startedAt: m.startedAt, restartCount: 0, oomKilled: false, error: '' };
      fs.writeFileSync(m.stateFile, JSON.stringify({ ...exit, status: 'exited', pid: 0, monitorPid: m.monitorPid }));
      fs.writeFileSync(m.exitFile, JSON.stringify(exit));
      // the monitor deletes the runc state before it writes exit.json
      this.containers.delete(id);
      this.pids.delete(m.monitorPid);
      m.server?.close();
      fs.rmSync(m.socketPath, { force: true });
      this.monitors.delete(id);
    }
  }

  runtimeSpawn(binary: string, args: readonly string[], opts: RuntimeSpawnOptions): ChildProcess {
    this.record('runtimeSpawn', [binary, [...args], opts]);
    // a harmless process that exits with the configured status
    return spawn(process.execPath, ['-e', `process.exit(${this.execExitCode})`], { stdio: opts.stdio });
  }

  canExecReplace(): boolean {
    return false; // as without the addon: the caller spawns
  }

  execReplace(binary: string, args: readonly string[], opts: { stdin: boolean }): never {
    this.record('execReplace', [binary, [...args], opts]);
    throw new StrataError('internal', 'execve: not in the fake');
  }

  spawnInherit(binary: string, args: readonly string[], opts: { stdin: boolean }): null {
    this.record('spawnInherit', [binary, [...args], opts]);
    return null; // as without the addon: the caller spawns through runtimeSpawn
  }

  async runtimeSpawnPty(binary: string, args: readonly string[], opts: PtySpawnOptions): Promise<PtyProcess> {
    this.record('runtimeSpawnPty', [binary, [...args], opts]);
    const exitCode = this.execExitCode;
    let onExit: ((e: { exitCode: number }) => void) | undefined;
    setImmediate(() => onExit?.({ exitCode }));
    return { pid: this.spawnPid(), onData: () => {}, onExit: (fn) => { onExit = fn; }, write: () => {}, resize: () => {}, kill: () => {} };
  }

  /**
   * A monitor without a process: the container "runs" in the runtime model, state.json is
   * written as native/monitor.c writes it, and the control socket answers start, norestart,
   * status and resize. `runtimeRun(kill)` or `stopContainer` ends it with an exit record.
   */
  async launchMonitor(binary: string, args: readonly string[]): Promise<string> {
    this.record('launchMonitor', [binary, [...args]]);
    const go = flagValue(args, '--go');
    if (go) {
      // spawned before its bundle: it waits for 'g' in the go file (a fifo for the real one);
      // 'x', or the file gone, is a cancel: nothing is made
      const word = await new Promise<string>((resolve) => {
        const poll = (): void => {
          let s = '';
          try { s = fs.readFileSync(go, 'latin1'); } catch { resolve('x'); return; }
          if (s) resolve(s[0]!);
          else setTimeout(poll, 2);
        };
        poll();
      });
      if (word !== 'g') return 'err 125 the start was cancelled before the container was created\n';
    }
    const id = flagValue(args, '--id')!;
    // --gate: runc run waits in the bundle's hook for "start", as a deferred create does
    const gated = args.includes('--gate');
    const deferred = args.includes('--defer-start') || gated;
    const m: FakeMonitor = {
      id, monitorPid: this.spawnPid(), pid: this.spawnPid(), socketPath: flagValue(args, '--socket')!,
      stateFile: flagValue(args, '--state')!, exitFile: flagValue(args, '--exit-file')!, pidFile: flagValue(args, '--pid-file')!,
      startedAt: new Date().toISOString(),
    };
    if (this.containers.has(id)) return `err 1 container with id exists: ${id}`;
    this.containers.set(id, { id, status: deferred ? 'created' : 'running', pid: m.pid, bundle: flagValue(args, '--bundle') ?? '', created: m.startedAt });
    this.monitors.set(id, m);
    fs.writeFileSync(m.pidFile, String(m.pid));
    const writeState = (status: string) => fs.writeFileSync(m.stateFile, JSON.stringify({
      status, pid: m.pid, monitorPid: m.monitorPid, startedAt: m.startedAt, finishedAt: '0001-01-01T00:00:00Z',
      exitCode: 0, restartCount: 0, oomKilled: false, error: '',
    }));
    writeState(deferred ? 'created' : 'running');
    fs.mkdirSync(path.dirname(m.socketPath), { recursive: true });
    fs.rmSync(m.socketPath, { force: true });
    m.server = net.createServer((sock) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        buf += d;
        if (!buf.includes('\n')) return;
        const cmd = buf.trim().split(' ')[0];
        const c = this.containers.get(id);
        if (cmd === 'start') {
          if (c) c.status = 'running';
          writeState('running');
          sock.end(`ok ${m.pid}\n`);
        } else if (cmd === 'status') {
          sock.end(JSON.stringify({ status: c?.status === 'created' ? 'created' : 'running', pid: m.pid, monitorPid: m.monitorPid, restartCount: 0, exitCode: 0, startedAt: m.startedAt }));
        } else if (cmd === 'norestart' || cmd === 'resize') {
          sock.end('ok\n');
        } else {
          sock.end('err 1 unsupported by the fake monitor\n');
        }
      });
    });
    await new Promise<void>((resolve) => m.server!.listen(m.socketPath, () => resolve()));
    m.server.unref();
    return gated ? `gated 0 ${m.monitorPid}\n` : `${deferred ? 'created' : 'ok'} ${m.pid} ${m.monitorPid}\n`;
  }

  /** A daemon without a process: a live pid that exits 0 at once, as a self-forking daemon's parent. */
  spawnDaemon(binary: string, args: readonly string[]): { pid: number; exited: Promise<number | null> } {
    this.record('spawnDaemon', [binary, [...args]]);
    return { pid: this.spawnPid(), exited: Promise.resolve(0) };
  }

  signal(pid: number, signal: 'SIGHUP' | 'SIGTERM' | 'SIGKILL'): boolean {
    this.record('signal', [pid, signal]);
    if (!this.pids.has(pid)) return false;
    if (signal !== 'SIGHUP') this.pids.delete(pid);
    return true;
  }

  async ps(args: readonly string[]): Promise<string> {
    this.record('ps', [[...args]]);
    const lines = ['UID          PID    PPID  C STIME TTY          TIME CMD'];
    for (const c of this.containers.values()) {
      if (c.status !== 'stopped') lines.push(`root       ${c.pid}       1  0 10:00 ?        00:00:00 init process`);
    }
    return lines.join('\n') + '\n';
  }

  processAlive(pid: number, startTime?: string): boolean {
    this.record('processAlive', [pid, startTime]);
    if (!Number.isInteger(pid) || pid <= 0) return false;
    const st = this.pids.get(pid);
    if (st === undefined) return false;
    return !startTime || st === startTime;
  }

  processStartTime(pid: number): string | undefined {
    this.record('processStartTime', [pid]);
    return this.pids.get(pid);
  }
}
