/**
 * The one door to the kernel: every mount, namespace, link, firewall rule, CNI plugin run,
 * sysctl, device node, xattr, privileged copy, runtime spawn and process-liveness check goes
 * through a `Sys`. `linuxSys` (sys/linux.ts) is the real implementation; `FakeSys`
 * (sys/fake.ts) records every call and keeps a small in-memory model of the host, so the
 * logic above can be unit-tested without root.
 *
 * The contract is deliberately close to the tools Strata drives (mount(8), ip(8),
 * iptables-save/-restore, the CNI exec protocol, runc's command line): callers keep the
 * interpretation of exit codes and messages, which is what the behaviour depends on.
 *
 * A worked example, the life of a container's root filesystem and network namespace:
 *
 *   await sys.mount({ type: 'overlay', source: 'overlay', target: merged, data, cwd: root });
 *   await sys.ip(['netns', 'add', 'strata-0123456789ab']);
 *   await sys.runtimeRun('runc', ['--root', r, 'state', id]);
 *   sys.processAlive(monitorPid);               // the liveness rule below
 *   await sys.ip(['netns', 'delete', 'strata-0123456789ab']);
 *   await sys.unmount(merged);                   // busy: unmount(merged, { detach: true })
 *
 * See README.md beside this file for the whole surface in one table.
 */
import type { ChildProcess, StdioOptions } from 'node:child_process';

/** The outcome of a program run to completion (never a rejection for a non-zero exit). */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A line of /proc/self/mountinfo. */
export interface MountInfo {
  mountId: number;
  parentId: number;
  mountPoint: string;
  options: string;
  fsType: string;
  source: string;
  superOptions: string;
}

export interface MountRequest {
  /** 'overlay', 'tmpfs', or 'bind' for a bind mount of `source`. */
  type: 'overlay' | 'tmpfs' | 'bind';
  /** 'overlay' / 'tmpfs' for those; the directory to bind for 'bind'. */
  source: string;
  target: string;
  /** The `-o` option string (overlay: lowerdir=...,upperdir=...). */
  data?: string;
  readonly?: boolean;
  /** Working directory of the call (overlay: relative `lowerdir=l/...` entries resolve against it). */
  cwd?: string;
}

export type NodeKind = 'char' | 'block' | 'fifo';

/** A time with nanoseconds, as a tar header or stat(2) gives it. */
export interface Timespec { sec: number; nsec: number; }

/**
 * Sys.lstatDir's answer: entry names in directory order, each followed by a NUL byte, in one
 * Buffer (no string per entry: a cached build hashes a listing whole), 7 lstat fields each.
 */
export interface DirStats { names: Buffer; fields: Float64Array }

/**
 * Sys.scanDir's answer: names as in DirStats, SCAN_FIELDS numbers each (mode, uid, gid, size,
 * mtime s, mtime ns, inode, device, links, rdev major, rdev minor) and each entry's xattrs
 * (undefined for none).
 */
export interface DirScan { names: Buffer; fields: Float64Array; xattrs: Array<Array<[string, Buffer]> | undefined> }

export const SCAN_FIELDS = 11;

/** Sys.poolHasher's answer: one sha256, fed on the thread pool by calls that run one at a time, in order. */
export interface PoolHasher {
  /** add `buf` to the hash on the thread pool; buf must stay unchanged until the promise settles */
  update(buf: Buffer): Promise<void>;
  /** 'sha256:<hex>' of what the settled updates added */
  digest(): string;
}

export interface RuntimeRunOptions {
  /** Bytes for the runtime's stdin; otherwise stdin is /dev/null. */
  input?: string | Buffer;
}

export interface RuntimeSpawnOptions {
  stdio: StdioOptions;
}

/** A process started on this process's stdio (Sys.spawnInherit). */
export interface InheritedChild {
  pid: number;
  /** Resolves once it exited: its exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: number | null }>;
}

/** A process under a pseudo-terminal (runc exec --tty). */
export interface PtyProcess {
  readonly pid: number;
  onData(fn: (d: string | Buffer) => void): void;
  onExit(fn: (e: { exitCode: number; signal?: number }) => void): void;
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  kill(signal?: string): void;
}

export interface PtySpawnOptions {
  cols: number;
  rows: number;
  env: Record<string, string>;
}

export interface CniExecRequest {
  /** Absolute path of the plugin binary. */
  plugin: string;
  /** CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH, PATH. */
  env: Record<string, string>;
  /** The plugin's configuration (JSON) on stdin. */
  stdin: string;
  timeoutMs?: number;
}

export interface Sys {
  /** Host directory for runtime state (`/run`): netns bind mounts, runtime dirs, host-wide locks. */
  readonly runDir: string;

  // ---------------------------------------------------------------- mounts
  /** mount(8). Rejects with the tool's message. */
  mount(req: MountRequest): Promise<void>;
  /** umount(8); `detach` is umount -l (MNT_DETACH). Rejects with the tool's message ("not mounted", "target is busy"...). */
  unmount(target: string, opts?: { detach?: boolean }): Promise<void>;
  /** The mount table of this process's mount namespace. */
  readMountInfo(): MountInfo[];
  /**
   * Whether `target` (not following a last symlink) is the root of a mount, from statx(2)'s
   * STATX_ATTR_MOUNT_ROOT; undefined where that cannot be told (the caller reads the mount table).
   */
  isMountRoot?(target: string): boolean | undefined;

  // ---------------------------------------------------------------- network
  /** ip(8) with these arguments (link, addr, route, netns). Never rejects on a non-zero exit. */
  ip(args: readonly string[]): Promise<ExecResult>;
  /**
   * Several ip(8) commands in one process (`ip -force -batch -`: each runs even when one
   * before it failed; the exit code is non-zero when any did). Arguments contain no blanks.
   */
  ipBatch(commands: readonly (readonly string[])[]): Promise<ExecResult>;
  /** Network interfaces of the host (/sys/class/net). */
  listLinks(): string[];
  /** Named network namespaces (/run/netns). */
  listNetns(): string[];
  /** `iptables-save -t TABLE`; every table without one. */
  iptablesSave(table?: string): Promise<ExecResult>;
  /** `iptables-restore -w --noflush` with these rules on stdin. */
  iptablesRestore(rules: string): Promise<ExecResult>;
  /** Run a CNI plugin binary (the CNI exec protocol). */
  cniExec(req: CniExecRequest): Promise<ExecResult>;
  /**
   * In the netns bound at `netnsFile`: `address`/`netmask` (and its broadcast) on `ifName`, the
   * link up, and a default route through `gateway` unless it is ''. Absent where it cannot be
   * done without a program (the CNI plugins do it then).
   */
  ifaceUp?(netnsFile: string, ifName: string, address: string, netmask: string, gateway: string): void;
  /** Write /proc/sys/KEY (e.g. `net/ipv6/conf/br0/accept_ra`). Throws when it cannot. */
  writeSysctl(key: string, value: string): void;
  /** Read /proc/sys/KEY, trimmed; undefined when it cannot be read. */
  readSysctl(key: string): string | undefined;
  /** Can this process bind hostIp:port for this protocol right now (nothing on the host listens)? */
  canBind(hostIp: string, port: number, protocol: string): Promise<boolean>;

  // ---------------------------------------------------------------- files
  /** Create a device node or FIFO at an ASCII path that does not exist yet (mode: permission bits). */
  mknod(path: string, kind: NodeKind, mode: number, major: number, minor: number): void;
  /**
   * Set access and modification times with nanoseconds: utimensat(2) on a path (a symlink
   * itself, never followed) or futimens(2) on an open fd. Node's utimes keeps microseconds;
   * so does this where the native addon is not built.
   */
  setTimes(target: string | Buffer | number, atime: Timespec, mtime: Timespec): void;
  /** lgetxattr(2): null when the attribute is absent. Throws errors whose message ends in "(os error N)". */
  lgetxattr(path: string, name: string): Buffer | null;
  /** lsetxattr(2). */
  lsetxattr(path: string, name: string, value: Uint8Array | string): void;
  /** llistxattr(2). */
  llistxattr(path: string): string[];
  /** lremovexattr(2). */
  lremovexattr(path: string, name: string): void;
  /** `cp -a SRC/. DST/`: a tree with owners, modes, times, xattrs and device nodes (volume copy-up). */
  copyTree(src: string, dst: string): void;
  /**
   * Mark a directory so the filesystem spreads the directories made in it over its allocation
   * groups (ext4's top-directory flag, `chattr +T`); nothing where the filesystem has no such flag.
   */
  spreadSubdirs(dir: string): void;
  /**
   * A directory's entries (not . and ..) with lstat(2) fields, from one call (readdir and
   * fstatat(2) in the addon, without a Stats object per entry): `fields` holds 7 numbers per
   * name (mode, size, mtime s, mtime ns, ctime s, ctime ns, inode). null where the addon is not
   * built: the caller uses readdir and lstat. Throws as readdir does.
   */
  lstatDir(dir: string): DirStats | null;
  /** lstatDir on the thread pool (a build lists the context while it does other work); null where the addon is not built. Rejects as readdir does. */
  lstatDirAsync(dir: string): Promise<DirStats> | null;
  /**
   * What packing a directory needs of each entry, from one call: lstat fields and xattrs
   * (native/scan.c). null where the addon is not built: the caller uses readdir, lstat and
   * llistxattr. Throws as readdir (or lstat, llistxattr) does.
   */
  scanDir(dir: string | Buffer): DirScan | null;
  /**
   * A regular file's first `len` bytes into buf at off, without following a symlink, in one
   * call (native/scan.c): the count read (less than len when the file is shorter now), -1 when
   * path is no longer the inode `ino` of device `dev`. null where the addon is not built.
   */
  readInto(path: string | Buffer, ino: number, dev: number, buf: Buffer, off: number, len: number): number | null;
  /** A sha256 computed on the thread pool (native/hash.c); null where the addon is not built. */
  poolHasher(): PoolHasher | null;

  // ---------------------------------------------------------------- processes
  /** Run the OCI runtime (`binary`, runc's command line) to completion. */
  runtimeRun(binary: string, args: readonly string[], opts?: RuntimeRunOptions): Promise<ExecResult>;
  /** The same, blocking: for callers that cannot wait (a state read inside a synchronous refresh, a signal handler). */
  runtimeRunSync(binary: string, args: readonly string[]): ExecResult;
  /** Start the OCI runtime with these stdio; the caller owns the child (`runc exec`). */
  runtimeSpawn(binary: string, args: readonly string[], opts: RuntimeSpawnOptions): ChildProcess;
  /**
   * Start a helper on this process's own stdio (stdin on /dev/null unless `stdin`), without
   * child_process (posix_spawn through the addon: its first spawn costs 12-17 ms here): the
   * CLI's `exec`. Null where the addon is not built.
   */
  spawnInherit(binary: string, args: readonly string[], opts: { stdin: boolean }): InheritedChild | null;
  /** Whether execReplace can be done here (the addon is built). */
  canExecReplace(): boolean;
  /**
   * Replace this process with binary (execve), on this process's stdio as spawnInherit starts
   * a helper (stdin on /dev/null unless `stdin`): the CLI's `exec`. Returns only by throwing,
   * this process as it was.
   */
  execReplace(binary: string, args: readonly string[], opts: { stdin: boolean }): never;
  /** Start the OCI runtime under a pseudo-terminal (`runc exec --tty`). */
  runtimeSpawnPty(binary: string, args: readonly string[], opts: PtySpawnOptions): Promise<PtyProcess>;
  /**
   * Start a container monitor (native/monitor.c) detached, and resolve with the line it
   * writes on fd 3 once the container is created or running (`ok PID MONITORPID`,
   * `created ...`, `err STATUS MESSAGE`); '' when it wrote nothing.
   */
  launchMonitor(binary: string, args: readonly string[]): Promise<string>;
  /**
   * Start a helper daemon (aardvark-dns) detached from this process: stdio ignored, cwd `/`,
   * its own process group. `exited` resolves with the exit code of the started process (a
   * daemon that forks itself exits 0 once its child runs), null when a signal ended it, -1
   * when it could not be started.
   */
  spawnDaemon(binary: string, args: readonly string[]): { pid: number; exited: Promise<number | null> };
  /** kill(2) a helper daemon (SIGHUP: reload; SIGTERM, SIGKILL: stop); false when there is no such process. */
  signal(pid: number, signal: 'SIGHUP' | 'SIGTERM' | 'SIGKILL'): boolean;
  /** ps(1) with these arguments (`docker top`); rejects with ps's message on a non-zero exit. */
  ps(args: readonly string[]): Promise<string>;
  /**
   * The liveness rule, the one every caller uses: a pid is alive when it is > 0, kill(pid, 0)
   * does not fail with ESRCH (EPERM means it exists under another user: alive), it is not a
   * zombie (state Z or X in /proc/PID/stat), and, when `startTime` is given, its start time
   * (field 22 of /proc/PID/stat) is that one (a recycled pid is not the process we knew).
   * When /proc/PID/stat cannot be read for another reason than its absence, kill's answer stands.
   */
  processAlive(pid: number, startTime?: string): boolean;
  /** Field 22 of /proc/PID/stat (start time in clock ticks since boot), as text; undefined when gone. */
  processStartTime(pid: number): string | undefined;
}
