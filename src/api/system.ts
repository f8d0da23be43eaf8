/** `/_ping`, `/version`, `/info`, `/system/df`, `/events`. */
import * as os from 'node:os';
import { VERSION } from '../base/version.js';
import { StrataError } from '../base/errors.js';
import { toNanos, type EngineEvent } from '../engine/index.js';
import { API_VERSION, MIN_API_VERSION, commonHeaders, sendJson, parseFilters, filterMap } from './http.js';
import type { Ctx, Route } from './route.js';

function ping(ctx: Ctx): void {
  const body = ctx.req.method === 'HEAD' ? '' : 'OK';
  ctx.res.writeHead(200, {
    ...commonHeaders(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length,
    'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache',
  });
  ctx.res.end(body);
}

function kernel(): string {
  return os.release();
}

function arch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

function version(ctx: Ctx): void {
  sendJson(ctx.res, 200, {
    Platform: { Name: 'Strata' },
    Version: VERSION, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: '', GoVersion: `node${process.versions.node}`,
    Os: 'linux', Arch: arch(), KernelVersion: kernel(), BuildTime: '',
  });
}

function info(ctx: Ctx): void {
  const n = ctx.engine.system.info();
  sendJson(ctx.res, 200, {
    ID: '', Containers: n.containers, ContainersRunning: n.running, ContainersPaused: n.paused, ContainersStopped: n.containers - n.running - n.paused,
    Images: n.images, Driver: 'overlay', DriverStatus: [['Backing Filesystem', 'overlay']],
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'none'], Authorization: null, Log: ['json-file'] },
    MemoryLimit: true, SwapLimit: true, KernelMemory: false, KernelMemoryTCP: false, CpuCfsPeriod: true, CpuCfsQuota: true,
    CPUShares: true, CPUSet: true, PidsLimit: true, IPv4Forwarding: true, BridgeNfIptables: true, BridgeNfIp6tables: true,
    OomKillDisable: true, Debug: false, NFd: 0, NGoroutines: 0, SystemTime: new Date().toISOString(), LoggingDriver: 'json-file',
    CgroupDriver: 'cgroupfs', CgroupVersion: '2', NEventsListener: 0, KernelVersion: kernel(), OperatingSystem: 'Strata', OSVersion: '',
    OSType: 'linux', Architecture: os.machine(), IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: { InsecureRegistryCIDRs: ['127.0.0.0/8'], IndexConfigs: {}, Mirrors: [] },
    NCPU: os.cpus().length, MemTotal: os.totalmem(), DockerRootDir: n.root, HttpProxy: '', HttpsProxy: '', NoProxy: '',
    Name: os.hostname(), Labels: [], ExperimentalBuild: false, ServerVersion: VERSION,
    Runtimes: { runc: { path: 'runc' } }, DefaultRuntime: 'runc',
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: true, Isolation: '', SecurityOptions: ['name=seccomp,profile=default'], Warnings: null,
  });
}

function df(ctx: Ctx): void {
  const du = ctx.engine.system.df();
  sendJson(ctx.res, 200, {
    LayersSize: du.layersSize,
    Images: du.imageSummaries,
    Containers: du.containers,
    Volumes: du.volumes.map((v) => v.view),
    BuildCache: du.buildCache.map((c) => ({
      ID: c.id, Parent: '', Type: c.type, Description: c.description, InUse: c.inUse, Shared: c.shared, Size: c.size,
      CreatedAt: new Date(c.created).toISOString(), LastUsedAt: new Date(c.lastUsed).toISOString(), UsageCount: c.usageCount,
    })),
    BuilderSize: du.buildCache.reduce((a, c) => a + c.size, 0),
  });
}

/** Docker's event message (both the old and the new field names). */
function eventMessage(e: EngineEvent): Record<string, unknown> {
  const time = Number(e.timeNano / 1_000_000_000n);
  const m: Record<string, unknown> = {};
  if (e.type === 'container') {
    m.status = e.action;
    m.id = e.id;
    if (e.attributes.image) m.from = e.attributes.image;
  }
  return { ...m, Type: e.type, Action: e.action, Actor: { ID: e.id, Attributes: e.attributes }, scope: 'local', time, timeNano: Number(e.timeNano) };
}

const EVENT_FILTERS = ['config', 'container', 'daemon', 'event', 'image', 'label', 'network', 'node', 'plugin', 'scope', 'secret', 'service', 'type', 'volume'];

/** Docker's event filters: values of one key OR-ed, keys AND-ed, every label required. */
function eventMatches(e: EngineEvent, f: Map<string, string[]>): boolean {
  const any = (k: string, test: (v: string) => boolean) => !f.has(k) || f.get(k)!.some(test);
  const name = e.attributes.name ?? '';
  return any('type', (v) => v === e.type)
    && any('event', (v) => v === e.action || e.action.startsWith(`${v}:`))
    && any('container', (v) => (e.type === 'container' && (e.id === v || e.id.startsWith(v) || name === v || name === v.replace(/^\//, '')))
      || (e.type === 'network' && e.attributes.container !== undefined && e.attributes.container.startsWith(v)))
    && any('image', (v) => (e.type === 'image' && (e.id === v || name === v)) || (e.type === 'container' && e.attributes.image === v))
    && any('network', (v) => e.type === 'network' && (e.id.startsWith(v) || name === v))
    && any('volume', (v) => e.type === 'volume' && (e.id === v || name === v))
    && any('scope', (v) => v === 'local')
    && any('daemon', () => false) && any('plugin', () => false) && any('node', () => false)
    && any('service', () => false) && any('secret', () => false) && any('config', () => false)
    && (f.get('label') ?? []).every((v) => { const i = v.indexOf('='); return i < 0 ? v in e.attributes : e.attributes[v.slice(0, i)] === v.slice(i + 1); });
}

function timeParam(v: string | null): bigint | undefined {
  if (!v) return undefined;
  return toNanos(v);
}

/**
 * `/events`: with `since`, the journal from then on first; then new events as they come
 * (from this server and from CLI processes sharing the store) until `until` or the client leaves.
 */
async function events(ctx: Ctx): Promise<void> {
  const events = ctx.engine.events;
  const f = filterMap(parseFilters(ctx.query.get('filters')));
  for (const k of f.keys()) if (!EVENT_FILTERS.includes(k)) throw new StrataError('invalid_argument', `Invalid filter '${k}'`);
  const since = timeParam(ctx.query.get('since'));
  const until = timeParam(ctx.query.get('until'));
  ctx.res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
  ctx.res.flushHeaders();
  const ac = new AbortController();
  const stop = () => ac.abort();
  ctx.res.on('close', stop);
  ctx.server.closing.signal.addEventListener('abort', stop);
  let seq = events.last();
  const send = (e: EngineEvent): boolean => {
    if (until !== undefined && e.timeNano >= until) { ac.abort(); return false; }
    if (eventMatches(e, f)) ctx.res.write(JSON.stringify(eventMessage(e)) + '\n');
    return true;
  };
  try {
    if (since !== undefined) {
      for (const e of events.read({ sinceNano: since })) { if (e.seq > seq) break; if (!send(e)) break; }
    }
    const nowNano = BigInt(Date.now()) * 1_000_000n;
    if (!ac.signal.aborted && (until === undefined || until > nowNano)) {
      let timer: NodeJS.Timeout | undefined;
      if (until !== undefined) timer = setTimeout(stop, Number((until - nowNano) / 1_000_000n));
      await events.follow(seq, (e) => { seq = e.seq; send(e); }, ac.signal);
      if (timer) clearTimeout(timer);
    }
  } finally {
    ctx.server.closing.signal.removeEventListener('abort', stop);
    ctx.res.end();
  }
}

export function systemRoutes(): Route[] {
  return [
    { method: 'GET', re: /^\/_ping$/, handler: ping },
    { method: 'HEAD', re: /^\/_ping$/, handler: ping },
    { method: 'GET', re: /^\/version$/, handler: version },
    { method: 'GET', re: /^\/info$/, handler: info },
    { method: 'GET', re: /^\/system\/df$/, handler: df },
    { method: 'GET', re: /^\/events$/, handler: events },
  ];
}
