/**
 * `HostConfig` as Docker 20.10 (API 1.41) returns it from container inspect: every key, in
 * Docker's order, with Docker's defaults where the container's record has nothing (clients
 * such as the Docker SDK for Python read `LogConfig`, `Ulimits`, `RestartPolicy`... without
 * checking they are there). The record keeps only what was asked for.
 */
import type { HostConfig } from './create-spec.js';

/** Paths masked and made read-only in every unprivileged container (runtime/spec.ts applies the same). */
const MASKED_PATHS = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Docker's /dev/shm size when none is asked for. */
const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

function defaults(privileged: boolean): Record<string, unknown> {
  return {
    Binds: null,
    ContainerIDFile: '',
    LogConfig: { Type: 'json-file', Config: {} },
    NetworkMode: 'default',
    PortBindings: {},
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: false,
    VolumeDriver: '',
    VolumesFrom: null,
    CapAdd: null,
    CapDrop: null,
    CgroupnsMode: 'host',
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    GroupAdd: null,
    IpcMode: 'private',
    Cgroup: '',
    Links: null,
    OomScoreAdj: 0,
    PidMode: '',
    Privileged: false,
    PublishAllPorts: false,
    ReadonlyRootfs: false,
    SecurityOpt: null,
    UTSMode: '',
    UsernsMode: '',
    ShmSize: DEFAULT_SHM_SIZE,
    Runtime: 'runc',
    ConsoleSize: [0, 0],
    Isolation: '',
    CpuShares: 0,
    Memory: 0,
    NanoCpus: 0,
    CgroupParent: '',
    BlkioWeight: 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: [],
    BlkioDeviceWriteBps: [],
    BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [],
    CpuPeriod: 0,
    CpuQuota: 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: '',
    CpusetMems: '',
    Devices: [],
    DeviceCgroupRules: null,
    DeviceRequests: null,
    KernelMemory: 0,
    KernelMemoryTCP: 0,
    MemoryReservation: 0,
    MemorySwap: 0,
    MemorySwappiness: null,
    OomKillDisable: false,
    PidsLimit: null,
    Ulimits: [],
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    MaskedPaths: privileged ? null : [...MASKED_PATHS],
    ReadonlyPaths: privileged ? null : [...READONLY_PATHS],
  };
}

/**
 * The inspect view of a container's HostConfig: Docker's keys and defaults, the record's
 * values on top (a `null` in the record where Docker shows a list or object keeps Docker's
 * empty value), keys only Strata records (Tmpfs, Mounts, Init) after them.
 */
export function hostConfigView(hc: Partial<HostConfig>): Record<string, unknown> {
  const d = defaults(!!hc.Privileged);
  const out: Record<string, unknown> = {};
  const given = hc as Record<string, unknown>;
  for (const [k, v] of Object.entries(d)) {
    const mine = given[k];
    if (mine === undefined) out[k] = v;
    else if (mine === null && v !== null && typeof v === 'object') out[k] = v;
    else out[k] = mine;
  }
  // what the daemon fills in where clients send their zero values (docker CLI: "", 0, -1)
  const log = out.LogConfig as { Type?: string; Config?: Record<string, string> | null } | null;
  out.LogConfig = { Type: log?.Type || 'json-file', Config: log?.Config ?? {} };
  if (!out.CgroupnsMode) out.CgroupnsMode = 'host';
  if (!out.IpcMode) out.IpcMode = 'private';
  if (!out.ShmSize) out.ShmSize = DEFAULT_SHM_SIZE;
  if (!out.Runtime) out.Runtime = 'runc';
  if (typeof out.MemorySwappiness === 'number' && out.MemorySwappiness < 0) out.MemorySwappiness = null;
  if (typeof out.PidsLimit === 'number' && out.PidsLimit <= 0) out.PidsLimit = null;
  if (out.MaskedPaths === null && !hc.Privileged) out.MaskedPaths = [...MASKED_PATHS];
  if (out.ReadonlyPaths === null && !hc.Privileged) out.ReadonlyPaths = [...READONLY_PATHS];
  if (out.PortBindings === null) out.PortBindings = {};
  if (out.RestartPolicy && typeof out.RestartPolicy === 'object') {
    const rp = out.RestartPolicy as { Name?: string; MaximumRetryCount?: number };
    out.RestartPolicy = { Name: rp.Name || 'no', MaximumRetryCount: rp.MaximumRetryCount ?? 0 };
  }
  for (const [k, v] of Object.entries(given)) if (!(k in out) && v !== undefined) out[k] = v;
  return out;
}

/**
 * Docker moves `-v /path` (no host side: an anonymous volume) from Binds into
 * Config.Volumes, so that a commit of the container carries it in the image config.
 */
export function splitAnonymousBinds(binds: string[] | null | undefined): { binds: string[] | null; volumes: string[] } {
  const volumes: string[] = [];
  const rest: string[] = [];
  for (const b of binds ?? []) {
    if (!b.includes(':') && b.startsWith('/')) volumes.push(b);
    else rest.push(b);
  }
  return { binds: rest.length ? rest : null, volumes };
}
