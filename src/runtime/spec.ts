/**
 * OCI runtime spec (config.json) with Docker's default isolation:
 *
 * - new pid, mount, uts, ipc and network namespaces (no user, cgroup or time namespace on cgroup v1);
 * - Docker's 14 capabilities in the bounding/effective/permitted sets, empty inheritable and ambient
 *   (a non-root user ends up with empty permitted/effective: the kernel clears them at execve);
 * - the default seccomp allowlist (seccomp.ts), built for the container's capabilities;
 * - masked paths (/dev/null over files, an empty read-only tmpfs over dirs) and read-only /proc dirs;
 * - a tmpfs /dev with devpts, 64 MiB shm and mqueue; runc adds null, zero, full, random, urandom,
 *   tty and the ptmx/fd/stdio links; the device cgroup allows exactly Docker's list;
 * - read-only sysfs and cgroupfs, RLIMIT_NOFILE 1048576, no-new-privileges off.
 *
 * `privileged` lifts all of it: every capability the host can grant, no seccomp, no masking,
 * writable sysfs/cgroupfs, all host devices.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../base/errors.js';
import { writeFileAtomic, mkdirp } from '../base/fs.js';
import { resolveCapabilities } from './caps.js';
import { defaultSeccompProfile, loadSeccompProfile, type SeccompProfile } from './seccomp.js';
import { resolveUser, resolveGroups } from './user.js';

interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

interface OciDevice {
  type: 'c' | 'b' | 'p' | 'u';
  path: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: { uid: number; gid: number; additionalGids?: number[]; umask?: number };
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: { bounding?: string[]; effective?: string[]; inheritable?: string[]; permitted?: string[]; ambient?: string[] };
  rlimits?: { type: string; hard: number; soft: number }[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
}

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  domainname?: string;
  mounts: OciMount[];
  hooks?: { createRuntime?: { path: string; args?: string[]; timeout?: number }[] };
  linux: {
    namespaces: { type: string; path?: string }[];
    maskedPaths?: string[];
    readonlyPaths?: string[];
    resources?: {
      devices?: OciDeviceRule[];
      memory?: { limit?: number; swap?: number; reservation?: number; disableOOMKiller?: boolean };
      cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
      pids?: { limit: number };
    };
    cgroupsPath?: string;
    seccomp?: SeccompProfile;
    sysctl?: Record<string, string>;
    devices?: OciDevice[];
  };
}

/** A user mount: `{source, destination, options: ['rbind', 'ro']}` or `{type: 'tmpfs', destination}`. */
export interface MountOption {
  destination: string;
  source?: string;
  /** 'bind' (default when source is given) or 'tmpfs'. */
  type?: 'bind' | 'tmpfs';
  options?: string[];
}

export interface BuildSpecOptions {
  /** Container ID: names the cgroup (`/strata/<id>`) unless `cgroupsPath` is given. */
  id?: string;
  rootfs: string;
  /** Entrypoint + Cmd, already resolved. */
  args: string[];
  /** The image's and the user's env (KEY=VALUE); replaces the defaults PATH, HOSTNAME, TERM by key. */
  env?: string[];
  /** Appended last, replacing by key (e.g. engine-provided variables). */
  extraEnv?: string[];
  cwd?: string;
  /** `uid[:gid]` or `name[:group]`, resolved against the rootfs. */
  user?: string;
  groupAdd?: string[];
  hostname?: string;
  domainname?: string;
  tty?: boolean;
  readonlyRootfs?: boolean;
  mounts?: MountOption[];
  /** Bytes. */
  memory?: number;
  /** Bytes of memory+swap; -1 unlimited. Default (as Docker): twice `memory` when swap accounting exists. */
  memorySwap?: number;
  memoryReservation?: number;
  oomKillDisable?: boolean;
  /** Fractional CPUs: quota = cpus * period. */
  cpus?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: number;
  /** /dev/shm size in bytes (default 64 MiB). */
  shmSize?: number;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  noNewPrivileges?: boolean;
  /** 'default' (Docker's profile), 'unconfined', or a profile. */
  /** a Docker-format profile's JSON text (`--security-opt seccomp=FILE`) is filtered for the container's capabilities */
  seccomp?: 'default' | 'unconfined' | SeccompProfile | { profileJson: string };
  /**
   * Network namespace: undefined or 'new' = a fresh one (loopback only unless
   * something joins it), 'host' = the host's, or a path such as /var/run/netns/X.
   */
  network?: 'new' | 'host' | string;
  pidMode?: 'host';
  ipcMode?: 'host';
  utsMode?: 'host';
  hostsFile?: string;
  hostnameFile?: string;
  resolvConfFile?: string;
  cgroupsPath?: string;
  sysctls?: Record<string, string>;
  /** Extra rlimits (`--ulimit nofile=1024:2048` -> {name: 'nofile', soft: 1024, hard: 2048}). */
  ulimits?: { name: string; soft: number; hard: number }[];
  oomScoreAdj?: number;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** Initial terminal size. */
  consoleSize?: { height: number; width: number };
  /**
   * A createRuntime hook that holds `runc run` until the monitor opens its gate (a fifo):
   * `binary --gate-wait fifo` (the monitor's own binary; see native/monitor.c, "the gate").
   */
  gate?: { binary: string; fifo: string };
}

const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi',
  '/sys/firmware', '/sys/devices/virtual/powercap',
];

const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

/** Docker's device cgroup: deny all, then these (devices.list shows exactly this). */
const DEFAULT_DEVICE_RULES: readonly OciDeviceRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // console
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // tun
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // pts/*
];

const RLIMIT_NAMES: Record<string, string> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK', msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO', rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK', as: 'RLIMIT_AS',
};

/** Docker's ReplaceOrAppendEnvValues: later KEY=VALUE replace earlier ones in place; bare `KEY` removes. */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out = [...base];
  const keyOf = (kv: string) => (kv.includes('=') ? kv.slice(0, kv.indexOf('=')) : kv);
  for (const kv of overrides) {
    const key = keyOf(kv);
    const i = out.findIndex((e) => keyOf(e) === key);
    if (!kv.includes('=')) {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = kv;
    else out.push(kv);
  }
  return out;
}

/** Docker's container environment: PATH, HOSTNAME, TERM (tty), then the config's env. */
export function containerEnv(opts: { hostname?: string; tty?: boolean; env?: readonly string[]; extraEnv?: readonly string[] }): string[] {
  const base = [DEFAULT_PATH_ENV];
  if (opts.hostname) base.push(`HOSTNAME=${opts.hostname}`);
  if (opts.tty) base.push('TERM=xterm');
  return mergeEnv(mergeEnv(base, opts.env ?? []), opts.extraEnv ?? []);
}

function swapAccountingAvailable(): boolean {
  return fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes') || fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
}

/** Character and block devices of the host's /dev, as runc's GetDevices lists them (for --privileged). */
function hostDevices(dir = '/dev'): OciDevice[] {
  const out: OciDevice[] = [];
  const skipDirs = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);
  let entries: fs.Dirent[];
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return out; }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!skipDirs.has(e.name)) out.push(...hostDevices(p));
      continue;
    }
    if (e.name === 'console') continue;
    if (!e.isCharacterDevice() && !e.isBlockDevice()) continue;
    let st: fs.Stats;
    try { st = fs.statSync(p); } catch { continue; }
    const rdev = st.rdev;
    const major = Math.floor(rdev / 256) & 0xfff;
    const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00));
    out.push({ type: e.isCharacterDevice() ? 'c' : 'b', path: p, major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
  }
  return out;
}

let nofileLimit: number | undefined;
/**
 * Docker's containers get RLIMIT_NOFILE 1048576 (the daemon's limit). Raising a
 * hard limit needs CAP_SYS_RESOURCE, which some hosts (this one) lack, so cap it
 * at our own hard limit.
 */
function defaultNofile(): number {
  if (nofileLimit === undefined) {
    nofileLimit = 1048576;
    try {
      const m = /^Max open files\s+\S+\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
      if (m && m[1] !== 'unlimited') nofileLimit = Math.min(nofileLimit, Number(m[1]));
    } catch {
      // keep Docker's figure
    }
  }
  return nofileLimit;
}

function mountDepth(p: string): number {
  return path.posix.normalize(p).split('/').filter(Boolean).length;
}

/** Build the OCI runtime spec for a container. Pure except for reading the rootfs's passwd/group. */
export function buildSpec(opts: BuildSpecOptions): OciSpec {
  if (!opts.args || opts.args.length === 0) {
    throw new StrataError('invalid_argument', 'no command specified');
  }
  const privileged = !!opts.privileged;
  const user = resolveUser(opts.rootfs, opts.user);
  const extraGids = resolveGroups(opts.rootfs, opts.groupAdd ?? []);
  const additionalGids = [...user.additionalGids];
  for (const g of extraGids) if (!additionalGids.includes(g)) additionalGids.push(g);

  const caps = resolveCapabilities({ capAdd: opts.capAdd, capDrop: opts.capDrop, privileged });
  const env = containerEnv({ hostname: opts.hostname, tty: opts.tty, env: opts.env, extraEnv: opts.extraEnv });

  const nofile = defaultNofile();
  const rlimits = [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }];
  for (const u of opts.ulimits ?? []) {
    const type = RLIMIT_NAMES[u.name.toLowerCase()];
    if (!type) throw new StrataError('invalid_argument', `invalid ulimit type: ${u.name}`);
    const i = rlimits.findIndex((r) => r.type === type);
    const r = { type, soft: u.soft, hard: u.hard };
    if (i >= 0) rlimits[i] = r;
    else rlimits.push(r);
  }

  const process: OciProcess = {
    terminal: !!opts.tty,
    user: { uid: user.uid, gid: user.gid, ...(additionalGids.length ? { additionalGids } : {}) },
    args: [...opts.args],
    env,
    cwd: opts.cwd && opts.cwd !== '' ? opts.cwd : '/',
    capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [] },
    rlimits,
    noNewPrivileges: !!opts.noNewPrivileges,
    oomScoreAdj: opts.oomScoreAdj ?? 0,
  };
  if (opts.tty && opts.consoleSize) process.consoleSize = opts.consoleSize;
  if (!path.posix.isAbsolute(process.cwd)) {
    throw new StrataError('invalid_argument', `the working directory '${process.cwd}' is invalid, it needs to be an absolute path`);
  }

  const shmSize = opts.shmSize ?? 64 * 1024 * 1024;
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: privileged ? ['nosuid', 'noexec', 'nodev'] : ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: privileged ? ['nosuid', 'noexec', 'nodev'] : ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  ];
  if (opts.ipcMode !== 'host') {
    mounts.push({ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`] });
  } else {
    mounts.push({ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate'] });
  }

  const netFiles: [string, string | undefined][] = [
    ['/etc/resolv.conf', opts.resolvConfFile],
    ['/etc/hostname', opts.hostnameFile],
    ['/etc/hosts', opts.hostsFile],
  ];
  for (const [dest, src] of netFiles) {
    if (!src) continue;
    const o = ['rbind', 'rprivate'];
    if (opts.readonlyRootfs) o.push('ro');
    mounts.push({ destination: dest, type: 'bind', source: src, options: o });
  }

  const user_mounts: OciMount[] = [];
  for (const m of opts.mounts ?? []) {
    if (!path.posix.isAbsolute(m.destination)) {
      throw new StrataError('invalid_argument', `invalid mount config: mount path must be absolute: ${m.destination}`);
    }
    if (m.type === 'tmpfs') {
      const o = m.options && m.options.length ? [...m.options] : [];
      for (const d of ['noexec', 'nosuid', 'nodev']) {
        const neg = d === 'noexec' ? 'exec' : d === 'nosuid' ? 'suid' : 'dev';
        if (!o.includes(d) && !o.includes(neg)) o.push(d);
      }
      user_mounts.push({ destination: m.destination, type: 'tmpfs', source: 'tmpfs', options: o });
    } else {
      if (!m.source) throw new StrataError('invalid_argument', `invalid mount config: bind mount ${m.destination} needs a source`);
      const o = m.options && m.options.length ? [...m.options] : ['rbind', 'rw'];
      if (!o.includes('bind') && !o.includes('rbind')) o.unshift('rbind');
      if (!o.some((x) => /^r?(private|shared|slave)$/.test(x))) o.push('rprivate');
      user_mounts.push({ destination: m.destination, type: 'bind', source: m.source, options: o });
    }
  }
  // Docker sorts mounts by depth so that /a is mounted before /a/b.
  const replaced = new Set(user_mounts.map((m) => path.posix.normalize(m.destination)));
  const all = [...mounts.filter((m) => !replaced.has(m.destination)), ...user_mounts];
  all.sort((a, b) => mountDepth(a.destination) - mountDepth(b.destination));

  const namespaces: { type: string; path?: string }[] = [];
  if (opts.pidMode !== 'host') namespaces.push({ type: 'pid' });
  if (opts.network === 'host') {
    // no network namespace
  } else if (opts.network && opts.network !== 'new' && opts.network !== 'none' && opts.network !== 'bridge') {
    namespaces.push({ type: 'network', path: opts.network });
  } else {
    namespaces.push({ type: 'network' });
  }
  if (opts.ipcMode !== 'host') namespaces.push({ type: 'ipc' });
  if (opts.utsMode !== 'host') namespaces.push({ type: 'uts' });
  namespaces.push({ type: 'mount' });

  const sysctl: Record<string, string> = {};
  if (opts.network !== 'host') {
    sysctl['net.ipv4.ip_unprivileged_port_start'] = '0';
    sysctl['net.ipv4.ping_group_range'] = '0 2147483647';
  }
  Object.assign(sysctl, opts.sysctls ?? {});

  const resources: NonNullable<OciSpec['linux']['resources']> = {
    devices: privileged ? [{ allow: true, access: 'rwm' }] : DEFAULT_DEVICE_RULES.map((d) => ({ ...d })),
  };
  if (opts.memory !== undefined || opts.memoryReservation !== undefined || opts.oomKillDisable) {
    const mem: NonNullable<NonNullable<OciSpec['linux']['resources']>['memory']> = {};
    if (opts.memory !== undefined && opts.memory > 0) {
      if (opts.memory < 6 * 1024 * 1024) {
        throw new StrataError('invalid_argument', 'Minimum memory limit allowed is 6MB');
      }
      mem.limit = opts.memory;
      if (swapAccountingAvailable()) {
        if (opts.memorySwap === undefined || opts.memorySwap === 0) mem.swap = opts.memory * 2;
        else mem.swap = opts.memorySwap;
        if (mem.swap > 0 && mem.swap < mem.limit) {
          throw new StrataError('invalid_argument', 'Minimum memoryswap limit should be larger than memory limit, see usage');
        }
      }
    }
    if (opts.memoryReservation !== undefined) mem.reservation = opts.memoryReservation;
    if (opts.oomKillDisable) mem.disableOOMKiller = true;
    resources.memory = mem;
  }
  const cpu: NonNullable<NonNullable<OciSpec['linux']['resources']>['cpu']> = {};
  if (opts.cpus !== undefined && opts.cpus > 0) {
    cpu.period = 100000;
    cpu.quota = Math.round(opts.cpus * 100000);
  }
  if (opts.cpuPeriod) cpu.period = opts.cpuPeriod;
  if (opts.cpuQuota) cpu.quota = opts.cpuQuota;
  if (opts.cpuShares) cpu.shares = opts.cpuShares;
  if (opts.cpusetCpus) cpu.cpus = opts.cpusetCpus;
  if (opts.cpusetMems) cpu.mems = opts.cpusetMems;
  if (Object.keys(cpu).length) resources.cpu = cpu;
  if (opts.pidsLimit !== undefined && opts.pidsLimit !== 0) resources.pids = { limit: opts.pidsLimit < 0 ? -1 : opts.pidsLimit };

  const spec: OciSpec = {
    ociVersion: '1.0.2-dev',
    process,
    root: { path: opts.rootfs, readonly: !!opts.readonlyRootfs },
    mounts: all,
    linux: {
      namespaces,
      resources,
      sysctl,
    },
  };
  if (opts.gate) spec.hooks = { createRuntime: [{ path: opts.gate.binary, args: ['strata-monitor', '--gate-wait', opts.gate.fifo] }] };
  if (opts.hostname && opts.utsMode !== 'host') spec.hostname = opts.hostname;
  if (opts.domainname && opts.utsMode !== 'host') spec.domainname = opts.domainname;
  if (opts.cgroupsPath) spec.linux.cgroupsPath = opts.cgroupsPath;
  else if (opts.id) spec.linux.cgroupsPath = `/strata/${opts.id}`;

  const sc = opts.seccomp ?? 'default';
  const userProfile = typeof sc === 'object' && 'profileJson' in sc ? loadSeccompProfile(sc.profileJson, caps) : undefined;
  if (privileged) {
    spec.linux.devices = hostDevices();
    if (userProfile) spec.linux.seccomp = userProfile; // Docker: privileged is unconfined unless given a profile
  } else {
    spec.linux.maskedPaths = [...(opts.maskedPaths ?? DEFAULT_MASKED_PATHS)];
    spec.linux.readonlyPaths = [...(opts.readonlyPaths ?? DEFAULT_READONLY_PATHS)];
    if (sc === 'default') spec.linux.seccomp = defaultSeccompProfile(caps);
    else if (userProfile !== undefined) { if (userProfile) spec.linux.seccomp = userProfile; }
    else if (sc !== 'unconfined') spec.linux.seccomp = sc as SeccompProfile;
  }
  return spec;
}

/** Write `<bundle>/config.json` atomically. */
export function writeBundle(bundleDir: string, spec: OciSpec): string {
  mkdirp(bundleDir);
  const file = path.join(bundleDir, 'config.json');
  // written again at each start: no fsync (see writeFileAtomic)
  writeFileAtomic(file, JSON.stringify(spec, null, 2) + '\n', 0o600, { durable: false });
  return file;
}

export function readBundleSpec(bundleDir: string): OciSpec {
  return JSON.parse(fs.readFileSync(path.join(bundleDir, 'config.json'), 'utf8')) as OciSpec;
}
