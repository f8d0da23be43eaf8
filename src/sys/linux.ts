/**
 * The real kernel door. Node has no mount(2), mknod(2) or netlink, so most operations run
 * the host's tools (util-linux mount/umount, coreutils mknod and cp, iproute2 ip,
 * iptables-save/-restore, the CNI plugins, runc, procps ps) with an argument vector, never
 * through a shell; xattrs go through @napi-rs/xattr, which acts on a symlink itself
 * (l*xattr semantics). Tools are looked up in PATH with the sbin directories added.
 */
import { createHash } from 'node:crypto';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { getAttributeSync, listAttributesSync, removeAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import { StrataError, errnoCode } from '../base/errors.js';
import { parseProcStat } from '../base/proc.js';
import { nativeBinary } from '../base/native.js';
import type {
  CniExecRequest, ExecResult, InheritedChild, MountInfo, MountRequest, NodeKind, PtyProcess, PtySpawnOptions, RuntimeRunOptions,
  DirScan, DirStats, PoolHasher, RuntimeSpawnOptions, Sys, Timespec,
} from './types.js';
import { parseMountInfo } from './mountinfo.js';

/** PATH with the sbin directories added: ip, iptables and the plugins' helpers live there. */
export function sbinPath(base = process.env.PATH ?? ''): string {
  const parts = base.split(':').filter((p) => p);
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (!parts.includes(d)) parts.push(d);
  return parts.join(':');
}

interface ProgramOptions { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; }

const found = new Map<string, string | null>();

/** A bare program name looked up in `pathVar` as spawn does (remembered: the tools do not move). */
function lookPath(file: string, pathVar: string): string | null {
  if (file.includes('/')) return file;
  const key = `${pathVar}\0${file}`;
  let hit = found.get(key);
  if (hit === undefined) {
    hit = null;
    for (const dir of pathVar.split(':')) {
      const candidate = path.join(dir || '.', file);
      try { fs.accessSync(candidate, fs.constants.X_OK); if (fs.statSync(candidate).isFile()) { hit = candidate; break; } } catch { /* next */ }
    }
    found.set(key, hit);
  }
  return hit;
}

/**
 * A program to completion through the addon (posix_spawn on the thread pool: ~2 ms a program
 * where child_process takes ~5, and ~17 for the first of a process); null without it.
 */
function runNative(file: string, args: readonly string[], env: NodeJS.ProcessEnv | null, input: string | Buffer | undefined, timeoutMs: number, fd3 = false): Promise<ExecResult> | null {
  const a = sysAddon();
  if (!a?.run) return null;
  const exe = lookPath(file, env?.PATH ?? process.env.PATH ?? '');
  if (!exe) return Promise.reject(Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT', errno: -2, syscall: `spawn ${file}`, path: file }));
  const envp = env ? Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${v}`) : null;
  return a.run(exe, [file, ...args], envp, input === undefined ? null : typeof input === 'string' ? Buffer.from(input) : input, timeoutMs, fd3)
    .then(([code, signal, stdout, stderr]) => ({ code: code ?? (signal ? 128 : 1), stdout: stdout.toString(), stderr: stderr.toString() }));
}

/** Run a program; resolve with its exit code and output (never rejects on a non-zero exit). */
function runProgram(file: string, args: readonly string[], opts: ProgramOptions = {}): Promise<ExecResult> {
  const env = opts.env ?? { ...process.env, PATH: sbinPath() };
  return runNative(file, args, env, opts.input ?? '', opts.timeoutMs ?? 0) ?? new Promise((resolve, reject) => {
    // spawn looks a bare name up in the PATH of the child's env.
    const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => { if (timer) clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    // A program that exits before reading stdin gives EPIPE; its exit code tells the story.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** mount/umount: reject with the tool's own message (readable, unlike a bare errno). */
function runMountTool(cmd: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (err) {
        const msg = (stderr || err.message).trim();
        reject(Object.assign(new Error(msg), { exitCode: (err as { code?: unknown }).code }));
      } else resolve();
    });
  });
}

/** The errno of an @napi-rs/xattr error ("... (os error 95)"). */
export function xattrErrno(e: unknown): number | undefined {
  const m = /\(os error (\d+)\)/.exec(e instanceof Error ? e.message : String(e));
  return m ? Number(m[1]) : undefined;
}

/** native/sys.c, built by scripts/build-native.sh: mknod(2) and utimensat(2)/futimens(2). */
interface SysAddon {
  mknod(path: string | Buffer, mode: number, major: number, minor: number): void;
  utimens(path: string | Buffer | null, fd: number, aSec: number, aNsec: number, mSec: number, mNsec: number): void;
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount(target: string, flags: number): void;
  topdir(path: string): boolean;
  lstatdir(path: string): [Buffer, Float64Array];
  lstatdirAsync?(path: string): Promise<[Buffer, Float64Array]>;
  sha256New?(): object;
  writeHash?(fd: number, buf: Buffer, state: object | null): Promise<void>;
  sha256Hex?(state: object): string;
  readinto?(path: string | Buffer, ino: number, dev: number, buf: Buffer, off: number, len: number): number;
  lstatdirx?(path: string | Buffer): [Buffer, Float64Array, Array<Array<[string, Buffer]> | undefined>];
  spawnInherit?(file: string, args: readonly string[], stdinNull: boolean): number;
  execReplace?(file: string, args: readonly string[], stdinNull: boolean): never;
  netnsAdd?(dir: string, name: string): void;
  tcpBindable?(ip: string, port: number): boolean;
  loUp?(file: string): void;
  sha512Hex?(s: string): string;
  waitAsync?(pid: number): Promise<[number | null, number | null]>;
  run?(file: string, args: readonly string[], env: string[] | null, input: Buffer | null, timeoutMs: number, fd3: boolean): Promise<[number | null, number | null, Buffer, Buffer]>;
  request?(socketPath: string, line: string, timeoutMs: number): Promise<string>;
  mountRoot?(path: string): boolean | null;
  ifaceUp?(file: string, ifName: string, address: string, netmask: string, gateway: string): void;
}

const MS_RDONLY = 1;
const MS_BIND = 4096;
const MNT_DETACH = 2;
/** overlay's mount data must fit in one page with its NUL */
const MOUNT_DATA_MAX = 4095;

/** Overlay options whose lowerdir/upperdir/workdir are relative to `cwd`, made absolute (mount(2) has no cwd of its own). */
function absoluteOverlayData(data: string, cwd: string): string {
  return data.split(',').map((opt) => {
    const eq = opt.indexOf('=');
    if (eq < 0) return opt;
    const key = opt.slice(0, eq);
    if (key !== 'lowerdir' && key !== 'upperdir' && key !== 'workdir') return opt;
    return `${key}=${opt.slice(eq + 1).split(':').map((d) => (d.startsWith('/') ? d : path.join(cwd, d))).join(':')}`;
  }).join(',');
}

let addon: SysAddon | null | undefined;

/** The addon, loaded on first use from native/build/ of this checkout; null when it is not built. */
/** Hex SHA-512 of a short string: the addon's, or node:crypto's (~6 ms to load) without it. */
export function sha512Hex(s: string): string {
  const a = sysAddon();
  return a?.sha512Hex ? a.sha512Hex(s) : createHash('sha512').update(s).digest('hex');
}

/**
 * One command line to a unix stream socket and its whole reply (until the peer closes), on the
 * thread pool through the addon (Node's net and stream not loaded: ~10 ms of a start's main
 * thread); undefined without the addon. Fails as a socket would (`code` ENOENT, ECONNREFUSED,
 * ETIMEDOUT after timeoutMs).
 */
export function unixRequest(socketPath: string, line: string, timeoutMs: number): Promise<string> | undefined {
  return sysAddon()?.request?.(socketPath, line, timeoutMs);
}

/** Whether unixRequest goes through the addon. */
export function hasUnixRequest(): boolean {
  return typeof sysAddon()?.request === 'function';
}

function sysAddon(): SysAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  const file = nativeBinary('strata-sys.node');
  if (file) {
    const m = { exports: {} as SysAddon };
    try { process.dlopen(m, file); addon = m.exports; } catch { /* another Node's build: the tools instead */ }
  }
  return addon;
}

/**
 * Seconds as the double Node's utimes calls take (without the addon). libuv keeps only whole
 * microseconds (it truncates tv_nsec), and a double near 2^31 s is only precise to ~240 ns:
 * aiming at the middle of the microsecond makes the result exactly the microsecond-truncated time.
 */
function utimesSeconds(t: Timespec): number {
  return t.nsec === 0 ? t.sec : t.sec + (t.nsec - (t.nsec % 1000) + 500) / 1e9;
}

/** coreutils' mknod by absolute path (never through PATH, and never a binary from an image). */
function findMknod(): string {
  const bin = lookPath('mknod', '/usr/bin:/bin');
  if (!bin) throw new StrataError('unavailable', 'cannot create device nodes: /usr/bin/mknod (coreutils) is missing');
  return bin;
}

function readDir(dir: string): string[] {
  try { return fs.readdirSync(dir); } catch { return []; }
}

class LinuxSys implements Sys {
  readonly runDir = '/run';

  async mount(req: MountRequest): Promise<void> {
    const native = sysAddon();
    // mount(2) in-process when the options can be given with absolute paths within a page
    // (mount(8) in `cwd` otherwise: its relative lowerdirs are what keep long stacks in a page)
    const data = req.data && req.cwd && req.type === 'overlay' ? absoluteOverlayData(req.data, req.cwd) : req.data ?? '';
    if (native && Buffer.byteLength(data) <= MOUNT_DATA_MAX && !/[,:\\]/.test(req.cwd ?? '')) {
      try {
        if (req.type === 'bind') {
          native.mount(req.source, req.target, '', MS_BIND, '');
          // a read-only bind is a remount of the bind (what mount(8) does for `--bind -r`)
          if (req.readonly) native.mount('none', req.target, '', MS_BIND | MS_RDONLY | 32 /* MS_REMOUNT */, '');
        } else {
          native.mount(req.source, req.target, req.type, req.readonly ? MS_RDONLY : 0, data);
        }
      } catch (e) {
        throw Object.assign(new Error(`mount: ${req.target}: ${(e as Error).message}`), { exitCode: 32 });
      }
      return;
    }
    const args = req.type === 'bind'
      ? ['--bind', req.source]
      : ['-t', req.type, req.source];
    if (req.data) args.push('-o', req.data);
    if (req.readonly) args.push('-r');
    args.push(req.target);
    await runMountTool('mount', args, req.cwd);
  }

  async unmount(target: string, opts: { detach?: boolean } = {}): Promise<void> {
    const native = sysAddon();
    if (native) {
      try {
        native.umount(target, opts.detach ? MNT_DETACH : 0);
      } catch (e) {
        // umount(8)'s words, which callers read ("not mounted", "no mount point", "busy")
        const code = errnoCode(e);
        const msg = code === 'EINVAL' ? `umount: ${target}: not mounted.` : code === 'ENOENT' ? `umount: ${target}: no mount point specified.`
          : code === 'EBUSY' ? `umount: ${target}: target is busy.` : `umount: ${target}: ${(e as Error).message}`;
        throw Object.assign(new Error(msg), { exitCode: 32 });
      }
      return;
    }
    await runMountTool('umount', opts.detach ? ['-l', target] : [target]);
  }

  /** The addon's own function (it needs no `this`); absent without the addon. */
  get ifaceUp(): SysAddon['ifaceUp'] {
    return sysAddon()?.ifaceUp;
  }

  readMountInfo(): MountInfo[] {
    return parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  }

  isMountRoot(target: string): boolean | undefined {
    try {
      const r = sysAddon()?.mountRoot?.(target);
      return r === null ? undefined : r;
    } catch { return undefined; } // gone, or not reachable: the mount table says
  }

  ip(args: readonly string[]): Promise<ExecResult> {
    // `ip netns add NAME` through the addon (no program: ~4 ms less on run's way to its netns)
    const a = sysAddon();
    if (a?.netnsAdd && args.length === 3 && args[0] === 'netns' && args[1] === 'add' && /^[A-Za-z0-9_.-]+$/.test(args[2]!)) {
      try {
        a.netnsAdd(`${this.runDir}/netns`, args[2]!);
        return Promise.resolve({ code: 0, stdout: '', stderr: '' });
      } catch (e) {
        return Promise.resolve({ code: 1, stdout: '', stderr: `Cannot create namespace "${args[2]}": ${(e as Error).message}\n` });
      }
    }
    // `ip -n NAME link set lo up` too (a Go CNI plugin did it before: ~10 ms of CPU)
    if (a?.loUp && args.length === 6 && args[0] === '-n' && /^[A-Za-z0-9_.-]+$/.test(args[1]!) && args.slice(2).join(' ') === 'link set lo up') {
      try {
        a.loUp(`${this.runDir}/netns/${args[1]!}`);
        return Promise.resolve({ code: 0, stdout: '', stderr: '' });
      } catch (e) {
        return Promise.resolve({ code: 1, stdout: '', stderr: `${(e as Error).message}\n` });
      }
    }
    return runProgram('ip', args);
  }

  ipBatch(commands: readonly (readonly string[])[]): Promise<ExecResult> {
    for (const c of commands) for (const a of c) if (a === '' || /[\s"'\\#]/.test(a)) throw new StrataError('invalid_argument', `ip batch: unusable argument ${JSON.stringify(a)}`);
    return runProgram('ip', ['-force', '-batch', '-'], { input: commands.map((c) => c.join(' ')).join('\n') + '\n' });
  }

  listLinks(): string[] {
    return readDir('/sys/class/net');
  }

  listNetns(): string[] {
    return readDir(`${this.runDir}/netns`);
  }

  iptablesSave(table?: string): Promise<ExecResult> {
    return runProgram('iptables-save', table ? ['-t', table] : []);
  }

  iptablesRestore(rules: string): Promise<ExecResult> {
    return runProgram('iptables-restore', ['-w', '--noflush'], { input: rules });
  }

  cniExec(req: CniExecRequest): Promise<ExecResult> {
    return runProgram(req.plugin, [], { env: req.env, input: req.stdin, timeoutMs: req.timeoutMs });
  }

  writeSysctl(key: string, value: string): void {
    fs.writeFileSync(`/proc/sys/${key}`, value);
  }

  readSysctl(key: string): string | undefined {
    try { return fs.readFileSync(`/proc/sys/${key}`, 'utf8').trim(); } catch { return undefined; }
  }

  canBind(hostIp: string, port: number, protocol: string): Promise<boolean> {
    return new Promise((resolve) => {
      if (protocol === 'udp') {
        const s = dgram.createSocket('udp4');
        s.once('error', () => { try { s.close(); } catch { /* closed */ } resolve(false); });
        s.bind({ address: hostIp, port, exclusive: true }, () => s.close(() => resolve(true)));
        return;
      }
      if (protocol === 'sctp') { resolve(true); return; }
      // through the addon: a bind and a listen, without loading Node's net and dns (~5-10 ms)
      const a = sysAddon();
      if (a?.tcpBindable && /^\d{1,3}(\.\d{1,3}){3}$/.test(hostIp)) { resolve(a.tcpBindable(hostIp, port)); return; }
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen({ host: hostIp, port, exclusive: true }, () => srv.close(() => resolve(true)));
    });
  }

  mknod(path: string, kind: NodeKind, mode: number, major: number, minor: number): void {
    const native = sysAddon();
    if (native) {
      const type = kind === 'fifo' ? fs.constants.S_IFIFO : kind === 'char' ? fs.constants.S_IFCHR : fs.constants.S_IFBLK;
      try {
        native.mknod(path, type | (mode & 0o7777), kind === 'fifo' ? 0 : major, kind === 'fifo' ? 0 : minor);
      } catch (e) {
        throw new StrataError('internal', `mknod ${kind} ${major},${minor} failed: ${(e as Error).message}`, { cause: e });
      }
      // mknod(2) applies the umask; the tool's -m does not
      if ((mode & 0o7777 & process.umask()) !== 0) fs.chmodSync(path, mode & 0o7777);
      return;
    }
    const args = ['-m', (mode & 0o7777).toString(8), '--', path, kind === 'fifo' ? 'p' : kind === 'char' ? 'c' : 'b'];
    if (kind !== 'fifo') args.push(String(major), String(minor));
    try {
      execFileSync(findMknod(), args, { stdio: ['ignore', 'ignore', 'pipe'], env: {} });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
      throw new StrataError('internal', `mknod ${kind} ${major},${minor} failed: ${stderr || (e as Error).message}`, { cause: e });
    }
  }

  setTimes(target: string | Buffer | number, atime: Timespec, mtime: Timespec): void {
    const native = sysAddon();
    if (native) {
      if (typeof target === 'number') native.utimens(null, target, atime.sec, atime.nsec, mtime.sec, mtime.nsec);
      else native.utimens(target, 0, atime.sec, atime.nsec, mtime.sec, mtime.nsec);
      return;
    }
    if (typeof target === 'number') fs.futimesSync(target, utimesSeconds(atime), utimesSeconds(mtime));
    else fs.lutimesSync(target, utimesSeconds(atime), utimesSeconds(mtime));
  }

  lgetxattr(path: string, name: string): Buffer | null {
    return getAttributeSync(path, name);
  }

  lsetxattr(path: string, name: string, value: Uint8Array | string): void {
    setAttributeSync(path, name, value);
  }

  llistxattr(path: string): string[] {
    return listAttributesSync(path);
  }

  lremovexattr(path: string, name: string): void {
    removeAttributeSync(path, name);
  }

  copyTree(src: string, dst: string): void {
    execFileSync('cp', ['-a', `${src}/.`, `${dst}/`]);
  }

  lstatDir(dir: string): DirStats | null {
    const a = sysAddon();
    if (!a?.lstatdir) return null;
    const [names, fields] = a.lstatdir(dir);
    return { names, fields };
  }

  readInto(path: string | Buffer, ino: number, dev: number, buf: Buffer, off: number, len: number): number | null {
    const a = sysAddon();
    return a?.readinto ? a.readinto(path, ino, dev, buf, off, len) : null;
  }

  poolHasher(): PoolHasher | null {
    const a = sysAddon();
    if (!a?.sha256New || !a.writeHash || !a.sha256Hex) return null;
    const state = a.sha256New();
    const { writeHash, sha256Hex } = a;
    return { update: (buf) => writeHash(-1, buf, state), digest: () => `sha256:${sha256Hex(state)}` };
  }

  scanDir(dir: string | Buffer): DirScan | null {
    const a = sysAddon();
    if (!a?.lstatdirx) return null;
    const [names, fields, xattrs] = a.lstatdirx(dir);
    return { names, fields, xattrs };
  }

  lstatDirAsync(dir: string): Promise<DirStats> | null {
    const a = sysAddon();
    if (!a?.lstatdirAsync) return null;
    return a.lstatdirAsync(dir).then(([names, fields]) => ({ names, fields }));
  }

  spreadSubdirs(dir: string): void {
    // FS_IOC_SETFLAGS has no Node binding: the addon's ioctl, else chattr (e2fsprogs). Other
    // filesystems refuse: fine.
    const a = sysAddon();
    if (a?.topdir) {
      try { a.topdir(dir); } catch { /* gone, or not a directory: nothing to spread */ }
      return;
    }
    try { execFileSync('chattr', ['+T', dir], { stdio: 'ignore' }); } catch { /* not ext2/3/4, or no chattr */ }
  }

  runtimeRunSync(binary: string, args: readonly string[]): ExecResult {
    const r = spawnSync(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 10_000 });
    if (r.error && !r.stdout) throw new StrataError('failed_precondition', `cannot run ${binary}: ${r.error.message}`, { cause: r.error });
    return { code: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  runtimeRun(binary: string, args: readonly string[], opts: RuntimeRunOptions = {}): Promise<ExecResult> {
    const cannot = (e: Error) => new StrataError('failed_precondition', `cannot run ${binary}: ${e.message}`, { cause: e });
    const native = runNative(binary, args, null, opts.input, 0);
    if (native) return native.catch((e: Error) => { throw cannot(e); });
    return new Promise((resolve, reject) => {
      const child = spawn(binary, args, { stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (e) => reject(cannot(e)));
      child.on('close', (status, signal) => resolve({ code: status ?? (signal ? 128 : 1), stdout, stderr }));
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  }

  runtimeSpawn(binary: string, args: readonly string[], opts: RuntimeSpawnOptions) {
    return spawn(binary, args, { stdio: opts.stdio });
  }

  spawnInherit(binary: string, args: readonly string[], opts: { stdin: boolean }): InheritedChild | null {
    const a = sysAddon();
    if (!a?.spawnInherit || !a.waitAsync) return null;
    const pid = a.spawnInherit(binary, [binary, ...args], !opts.stdin);
    return { pid, exited: a.waitAsync(pid).then(([code, signal]) => ({ code, signal })) };
  }

  canExecReplace(): boolean {
    return !!sysAddon()?.execReplace;
  }

  execReplace(binary: string, args: readonly string[], opts: { stdin: boolean }): never {
    const a = sysAddon();
    if (!a?.execReplace) throw new StrataError('internal', 'execve: the native addon is not built');
    return a.execReplace(binary, [binary, ...args], !opts.stdin);
  }

  async runtimeSpawnPty(binary: string, args: readonly string[], opts: PtySpawnOptions): Promise<PtyProcess> {
    const pty = await import('@lydell/node-pty');
    const term = pty.spawn(binary, [...args], { name: 'xterm', cols: opts.cols, rows: opts.rows, cwd: '/', env: opts.env, encoding: null });
    return {
      pid: term.pid,
      onData: (fn) => { term.onData(fn as (d: string) => void); },
      onExit: (fn) => { term.onExit(fn); },
      write: (d) => term.write(d as string),
      resize: (cols, rows) => term.resize(cols, rows),
      kill: (sig) => term.kill(sig),
    };
  }

  async launchMonitor(binary: string, args: readonly string[]): Promise<string> {
    // through the addon: spawned in a session of its own, its fd 3 read until the daemon closes it
    const native = runNative(binary, args, null, undefined, 0, true);
    if (native) return native.then((r) => r.stdout, (e: Error) => { throw new StrataError('failed_precondition', `cannot start monitor ${binary}: ${e.message}`); });
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    const sync = child.stdio[3] as Readable;
    let line = '';
    sync.setEncoding('utf8');
    sync.on('data', (d: string) => (line += d));
    await Promise.all([
      new Promise<void>((resolve) => sync.on('close', () => resolve())),
      new Promise<void>((resolve, reject) => {
        child.on('error', (e) => reject(new StrataError('failed_precondition', `cannot start monitor ${binary}: ${e.message}`)));
        child.on('exit', () => resolve());
      }),
    ]);
    child.unref();
    return line;
  }

  spawnDaemon(binary: string, args: readonly string[]): { pid: number; exited: Promise<number | null> } {
    const child = spawn(binary, [...args], { stdio: 'ignore', detached: true, cwd: '/' });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(-1));
    });
    child.unref();
    return { pid: child.pid ?? 0, exited };
  }

  signal(pid: number, signal: 'SIGHUP' | 'SIGTERM' | 'SIGKILL'): boolean {
    if (!Number.isInteger(pid) || pid <= 0) return false;
    try { process.kill(pid, signal); return true; } catch { return false; }
  }

  ps(args: readonly string[]): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const child = spawn('ps', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let s = '';
      let e = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (s += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (e += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(s) : reject(new StrataError('invalid_argument', `ps: ${e.trim()}`))));
    });
  }

  processAlive(pid: number, startTime?: string): boolean {
    if (!Number.isInteger(pid) || pid <= 0) return false;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if (errnoCode(e) !== 'EPERM') return false; // ESRCH: no such process
    }
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch (e) {
      // gone between the two checks; anything else (hidepid): kill's answer stands
      return errnoCode(e) !== 'ENOENT' && errnoCode(e) !== 'ESRCH';
    }
    const st = parseProcStat(text);
    if (!st) return true;
    if (st.state === 'Z' || st.state === 'X') return false;
    return !startTime || st.startTime === startTime;
  }

  processStartTime(pid: number): string | undefined {
    try {
      return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.startTime;
    } catch {
      return undefined;
    }
  }
}

/** The real implementation: what the engine uses unless it is given another `Sys`. */
export const linuxSys: Sys = new LinuxSys();
