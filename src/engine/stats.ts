/**
 * Container resource usage in Docker's stats shape (API 1.41, `GET /containers/{id}/stats`,
 * `stats`): memory, cpu, blkio and pids from the container's cgroups, found through
 * /proc/<pid>/cgroup of its first process (v1 controllers, or the v2 unified path), and
 * network counters from /proc/<pid>/net/dev, which shows the container's network namespace.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Container, Containers } from './containers.js';
import { ZERO_TIME } from '../base/time.js';
import { bytesSize, humanSizeWithPrecision } from '../format/units.js';

interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

interface BlkioEntry { major: number; minor: number; op: string; value: number }

export interface StatsJson {
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: Record<string, BlkioEntry[] | null>;
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: { usage?: number; max_usage?: number; stats?: Record<string, number>; failcnt?: number; limit?: number };
  name: string;
  id: string;
  networks?: Record<string, { rx_bytes: number; rx_packets: number; rx_errors: number; rx_dropped: number; tx_bytes: number; tx_packets: number; tx_errors: number; tx_dropped: number }>;
}

const CGROUP_ROOT = '/sys/fs/cgroup';
const BLKIO_KEYS = ['io_service_bytes_recursive', 'io_serviced_recursive', 'io_queue_recursive', 'io_service_time_recursive', 'io_wait_time_recursive', 'io_merged_recursive', 'io_time_recursive', 'sectors_recursive'];

function read(file: string): string | undefined {
  try { return fs.readFileSync(file, 'utf8'); } catch { return undefined; }
}

function num(file: string): number | undefined {
  const t = read(file)?.trim();
  if (t === undefined || t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** controller -> cgroup directory of a process (v1 hierarchies by controller name; '' for v2). */
function cgroupDirs(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (read(`/proc/${pid}/cgroup`) ?? '').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, ctrls, rel] = m;
    if (ctrls === '') { out.set('', path.join(CGROUP_ROOT, fs.existsSync(path.join(CGROUP_ROOT, 'unified')) ? 'unified' : '', rel!)); continue; }
    for (const c of ctrls!.split(',')) {
      const name = c.replace(/^name=/, '');
      const dir = path.join(CGROUP_ROOT, ctrls!, rel!);
      out.set(name, fs.existsSync(dir) ? dir : path.join(CGROUP_ROOT, name, rel!));
    }
  }
  return out;
}

/** The host's CPU time in nanoseconds (/proc/stat's first line; USER_HZ is 100 on Linux). */
function systemCpuUsage(): number {
  const line = (read('/proc/stat') ?? '').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1, 8).map(Number);
  return f.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0) * 1e7;
}

function kv(text: string | undefined): Record<string, number> {
  const o: Record<string, number> = {};
  for (const l of (text ?? '').split('\n')) {
    const [k, v] = l.trim().split(/\s+/);
    if (k && v !== undefined && Number.isFinite(Number(v))) o[k] = Number(v);
  }
  return o;
}

function blkio(file: string): BlkioEntry[] | null {
  const t = read(file);
  if (t === undefined) return null;
  const out: BlkioEntry[] = [];
  for (const l of t.split('\n')) {
    const m = /^(\d+):(\d+)\s+(\S+)\s+(\d+)$/.exec(l.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

function emptyCpu(): CpuStats {
  return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
}

function netDev(pid: number): StatsJson['networks'] {
  const t = read(`/proc/${pid}/net/dev`);
  if (t === undefined) return undefined;
  const out: NonNullable<StatsJson['networks']> = {};
  for (const l of t.split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(l);
    if (!m || m[1] === 'lo') continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    out[m[1]!] = { rx_bytes: f[0]!, rx_packets: f[1]!, rx_errors: f[2]!, rx_dropped: f[3]!, tx_bytes: f[8]!, tx_packets: f[9]!, tx_errors: f[10]!, tx_dropped: f[11]! };
  }
  return out;
}

/** One sample of a running container (zeros, as Docker, for one that is not running). */
export function sampleStats(c: Container, pre?: StatsJson): StatsJson {
  const base: StatsJson = {
    read: ZERO_TIME, preread: pre?.read ?? ZERO_TIME, pids_stats: {}, blkio_stats: Object.fromEntries(BLKIO_KEYS.map((k) => [k, null])),
    num_procs: 0, storage_stats: {}, cpu_stats: emptyCpu(), precpu_stats: pre?.cpu_stats ?? emptyCpu(), memory_stats: {},
    name: `/${c.name}`, id: c.id,
  };
  const live = c.row.state === 'running' || c.row.state === 'paused';
  if (!live || !c.row.pid) return base;
  const dirs = cgroupDirs(c.row.pid);
  const unified = dirs.get('');
  base.read = new Date().toISOString();
  const mem = dirs.get('memory');
  if (mem && fs.existsSync(path.join(mem, 'memory.usage_in_bytes'))) {
    const stats = kv(read(path.join(mem, 'memory.stat')));
    const limit = num(path.join(mem, 'memory.limit_in_bytes'));
    base.memory_stats = {
      usage: num(path.join(mem, 'memory.usage_in_bytes')) ?? 0,
      max_usage: num(path.join(mem, 'memory.max_usage_in_bytes')) ?? 0,
      stats,
      failcnt: num(path.join(mem, 'memory.failcnt')) ?? 0,
      limit: Math.min(limit ?? Infinity, os.totalmem()),
    };
  } else if (unified && fs.existsSync(path.join(unified, 'memory.current'))) {
    const limit = num(path.join(unified, 'memory.max'));
    base.memory_stats = { usage: num(path.join(unified, 'memory.current')) ?? 0, stats: kv(read(path.join(unified, 'memory.stat'))), limit: Math.min(limit ?? Infinity, os.totalmem()) };
  }
  const cpu = dirs.get('cpuacct') ?? dirs.get('cpu');
  const online = os.cpus().length;
  if (cpu && fs.existsSync(path.join(cpu, 'cpuacct.usage'))) {
    const st = kv(read(path.join(cpu, 'cpuacct.stat')));
    const percpu = (read(path.join(cpu, 'cpuacct.usage_percpu')) ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
    const thr = kv(read(path.join(dirs.get('cpu') ?? cpu, 'cpu.stat')));
    base.cpu_stats = {
      cpu_usage: { total_usage: num(path.join(cpu, 'cpuacct.usage')) ?? 0, percpu_usage: percpu, usage_in_kernelmode: (st.system ?? 0) * 1e7, usage_in_usermode: (st.user ?? 0) * 1e7 },
      system_cpu_usage: systemCpuUsage(), online_cpus: online,
      throttling_data: { periods: thr.nr_periods ?? 0, throttled_periods: thr.nr_throttled ?? 0, throttled_time: thr.throttled_time ?? 0 },
    };
  } else if (unified && fs.existsSync(path.join(unified, 'cpu.stat'))) {
    const st = kv(read(path.join(unified, 'cpu.stat')));
    base.cpu_stats = {
      cpu_usage: { total_usage: (st.usage_usec ?? 0) * 1000, usage_in_kernelmode: (st.system_usec ?? 0) * 1000, usage_in_usermode: (st.user_usec ?? 0) * 1000 },
      system_cpu_usage: systemCpuUsage(), online_cpus: online,
      throttling_data: { periods: st.nr_periods ?? 0, throttled_periods: st.nr_throttled ?? 0, throttled_time: (st.throttled_usec ?? 0) * 1000 },
    };
  }
  const bl = dirs.get('blkio');
  if (bl) {
    base.blkio_stats = {
      io_service_bytes_recursive: blkio(path.join(bl, 'blkio.throttle.io_service_bytes_recursive')) ?? blkio(path.join(bl, 'blkio.throttle.io_service_bytes')),
      io_serviced_recursive: blkio(path.join(bl, 'blkio.throttle.io_serviced_recursive')) ?? blkio(path.join(bl, 'blkio.throttle.io_serviced')),
      io_queue_recursive: blkio(path.join(bl, 'blkio.io_queued_recursive')),
      io_service_time_recursive: blkio(path.join(bl, 'blkio.io_service_time_recursive')),
      io_wait_time_recursive: blkio(path.join(bl, 'blkio.io_wait_time_recursive')),
      io_merged_recursive: blkio(path.join(bl, 'blkio.io_merged_recursive')),
      io_time_recursive: blkio(path.join(bl, 'blkio.time_recursive')),
      sectors_recursive: blkio(path.join(bl, 'blkio.sectors_recursive')),
    };
  }
  const pids = dirs.get('pids') ?? unified;
  if (pids) {
    const current = num(path.join(pids, 'pids.current'));
    const limit = num(path.join(pids, 'pids.max'));
    base.pids_stats = { ...(current !== undefined ? { current } : {}), ...(limit !== undefined ? { limit } : {}) };
  }
  const nets = netDev(c.row.pid);
  if (nets && c.hostConfig.NetworkMode !== 'host') base.networks = nets;
  return base;
}

/**
 * Samples every second (Docker's collector interval) until `signal` aborts or the container
 * stops. `stream: false` gives one sample with `precpu_stats` filled (two reads a second
 * apart), `oneShot` one read at once.
 */
export async function* containerStats(engine: Containers, ref: string, opts: { stream?: boolean; oneShot?: boolean; signal?: AbortSignal; intervalMs?: number } = {}): AsyncGenerator<StatsJson> {
  const interval = opts.intervalMs ?? 1000;
  let c = engine.get(ref);
  const sleep = () => new Promise<void>((resolve) => {
    const t = setTimeout(resolve, interval);
    opts.signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
  if (opts.stream === false) {
    if (opts.oneShot) { yield sampleStats(c); return; }
    const first = sampleStats(c);
    if (first.read !== ZERO_TIME) await sleep();
    yield sampleStats(engine.get(c.id), first);
    return;
  }
  let pre: StatsJson | undefined;
  for (;;) {
    if (opts.signal?.aborted) return;
    const s = sampleStats(c, pre);
    yield s;
    if (s.read === ZERO_TIME && pre === undefined && !engine.isLive(c)) return;
    pre = s;
    await sleep();
    const now = engine.find(c.id);
    if (!now) return;
    c = engine.get(now.id);
  }
}

/** The docker CLI's figures for one sample (`docker stats` columns). */
interface StatsRow { ID: string; Container: string; Name: string; CPUPerc: string; MemUsage: string; MemPerc: string; NetIO: string; BlockIO: string; PIDs: string }

export function statsRow(s: StatsJson, ref?: string): StatsRow {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const sysDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const ms = s.memory_stats;
  const inactive = ms.stats?.total_inactive_file ?? ms.stats?.inactive_file;
  const mem = Math.max(0, (ms.usage ?? 0) - (inactive !== undefined && inactive < (ms.usage ?? 0) ? inactive : 0));
  const limit = ms.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) { rx += n.rx_bytes; tx += n.tx_bytes; }
  let rd = 0;
  let wr = 0;
  for (const e of s.blkio_stats.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === 'read') rd += e.value;
    else if (e.op.toLowerCase() === 'write') wr += e.value;
  }
  const live = s.read !== ZERO_TIME;
  const pct = (x: number) => `${x.toFixed(2)}%`;
  return {
    ID: s.id.slice(0, 12), Container: ref ?? s.id.slice(0, 12), Name: s.name.replace(/^\//, ''),
    CPUPerc: live ? pct(cpu) : '--', MemUsage: live ? `${bytesSize(mem)} / ${bytesSize(limit)}` : '-- / --',
    MemPerc: live ? pct(limit ? (mem / limit) * 100 : 0) : '--',
    NetIO: live ? `${humanSizeWithPrecision(rx, 3)} / ${humanSizeWithPrecision(tx, 3)}` : '--',
    BlockIO: live ? `${humanSizeWithPrecision(rd, 3)} / ${humanSizeWithPrecision(wr, 3)}` : '--',
    PIDs: live ? String(s.pids_stats.current ?? 0) : '--',
  };
}

export const STATS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
export const STATS_HEADERS = { ID: 'CONTAINER ID', Container: 'CONTAINER', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS' };
