/** Docker's JSON views of a container: `ps` filters and summary, ports, mounts, inspect. */
import { inspectLinks } from './links.js';
import * as path from 'node:path';
import { treeSize } from '../base/fs.js';
import { volumesOfContainer } from '../meta/volumes.js';
import { statusString, containerCommand, type PortSummary } from '../format/index.js';
import type { Container, ContainerSummary } from './container-model.js';
import type { ContainerCore } from './container-core.js';
import { imageLayers, resolveImage } from './images.js';
import { networksView as endpointsView, prefetchEndpoints } from './endpoints.js';
import { filterArgs, matchLabels } from './filters.js';
import { hostConfigView } from './inspect-shape.js';

/** The keys `ps --filter` and `GET /containers/json` accept (Docker's list). */
const CONTAINER_FILTERS = ['ancestor', 'before', 'expose', 'exited', 'health', 'id', 'isolation', 'is-task', 'label', 'name', 'network', 'publish', 'since', 'status', 'volume'];

/**
 * `ps`: newest first; running only unless `all` (or `last`); `filters` as `key=value`
 * (engine/filters.ts: values of one key OR-ed, keys AND-ed, every label required).
 */
export function listContainers(cs: ContainerCore, opts: { all?: boolean; last?: number; filters?: string[] } = {}): Container[] {
  let list = cs.all();
  const n = opts.last !== undefined && opts.last >= 0 ? opts.last : -1;
  const fa = filterArgs(opts.filters, CONTAINER_FILTERS);
  prefetchEndpoints(cs.store.db, list);
  const one = (k: string) => fa.get(k) ?? [];
  // Docker: filters on status imply all
  if (!opts.all && n < 0 && !one('status').length && !one('exited').length) list = list.filter((c) => cs.isLive(c));
  for (const k of ['before', 'since'] as const) {
    for (const v of one(k)) {
      const ref = cs.get(v);
      list = list.filter((c) => (k === 'before' ? c.row.seq < ref.row.seq : c.row.seq > ref.row.seq));
    }
  }
  const keys = [...fa.keys()].filter((k) => k !== 'before' && k !== 'since' && k !== 'label');
  list = list.filter((c) => matchLabels(fa, c.config.Labels) && keys.every((k) => one(k).some((v) => filterMatch(cs, c, k, v))));
  if (n >= 0) list = list.slice(0, n);
  return list;
}

function filterMatch(cs: ContainerCore, c: Container, k: string, v: string): boolean {
  switch (k) {
    case 'status': return c.row.state === v;
    case 'name': return new RegExp(v).test(c.name);
    case 'id': return c.id.startsWith(v);
    case 'exited': return c.row.state === 'exited' && String(c.row.exit_code) === v;
    case 'ancestor': return imageColumn(cs, c) === v || c.row.image_ref === v || c.row.image_id.includes(v);
    case 'network': return Object.keys(networksView(cs, c)).some((name) => name === v || (cs.network?.networkId?.(name) || '\0').startsWith(v));
    case 'volume': return mountsView(cs, c).some((m) => { const x = m as { Name?: string; Source?: string; Destination?: string }; return x.Name === v || x.Source === v || x.Destination === v; });
    case 'health': return v === 'none';
    case 'is-task': return v === 'false';
    case 'isolation': return v === 'default';
    case 'expose': return Object.keys(c.config.ExposedPorts ?? {}).some((p) => p === v || p === `${v}/tcp`);
    case 'publish': return (c.network.ports ?? []).some((p) => p.HostPort === v.split('/')[0] && (!v.includes('/') || p.ContainerPort.endsWith(v.slice(v.indexOf('/')))));
    default: return false;
  }
}

/** Published ports (and exposed ones without a binding) while the container runs, as Docker lists them. */
export function portSummaries(cs: ContainerCore, c: Container): PortSummary[] {
  const out: PortSummary[] = [];
  if (c.row.state !== 'running' && c.row.state !== 'paused') return out;
  const published = new Set<string>();
  for (const p of c.network.ports ?? []) {
    const [port, proto] = p.ContainerPort.split('/');
    out.push({ IP: p.HostIp || '0.0.0.0', PrivatePort: Number(port), PublicPort: Number(p.HostPort), Type: proto ?? 'tcp' });
    published.add(p.ContainerPort);
  }
  for (const k of Object.keys(c.config.ExposedPorts ?? {})) {
    if (published.has(k)) continue;
    const [port, proto] = k.split('/');
    out.push({ PrivatePort: Number(port), Type: proto ?? 'tcp' });
  }
  return out;
}

/** Docker's per-network endpoint objects (the same in `ps`/list and inspect): configured endpoints, with addresses while attached. */
function networksView(cs: ContainerCore, c: Container): Record<string, Record<string, unknown>> {
  const leaving = c.row.state === 'running' || c.row.state === 'paused' ? cs.network?.leaving?.(c.id) ?? [] : [];
  return endpointsView(cs.store.db, c, (n) => cs.network?.networkId?.(n) ?? '', leaving);
}

/** Docker's container summary (`GET /containers/json`, `ps`). Sizes only with `size`. */
export function containerSummary(cs: ContainerCore, c: Container, opts: { size?: boolean } = {}): ContainerSummary {
  const args = [...(c.config.Entrypoint ?? []), ...(c.config.Cmd ?? [])];
  const s: ContainerSummary = {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: imageColumn(cs, c),
    ImageID: c.row.image_id,
    Command: containerCommand(args[0] ?? '', args.slice(1)),
    Created: Math.floor(Date.parse(c.row.created) / 1000),
    Ports: portSummaries(cs, c),
    Labels: c.config.Labels ?? {},
    State: c.row.state,
    Status: statusString({ state: c.row.state as never, exitCode: c.row.exit_code, startedAt: c.row.started_at, finishedAt: c.row.finished_at }),
    HostConfig: { NetworkMode: c.hostConfig.NetworkMode },
    NetworkSettings: {
      Networks: networksView(cs, c),
    },
    Mounts: mountsView(cs, c),
  };
  if (opts.size) {
    const rw = treeSize(path.join(c.dir, 'upper'));
    s.SizeRw = rw;
    s.SizeRootFs = rw + imageLayers(cs.store, c.row.image_id).reduce((a, l) => a + l.size, 0);
  }
  return s;
}

export function inspectContainer(cs: ContainerCore, ref: string): Record<string, unknown> {
  const c = cs.get(ref);
  const r = c.row;
  const args = [...(c.config.Entrypoint ?? []), ...(c.config.Cmd ?? [])];
  const lower = cs.lowerDirs(c).join(':');
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const p of Object.keys(c.config.ExposedPorts ?? {})) ports[p] = null;
  for (const p of c.network.ports ?? []) (ports[p.ContainerPort] ??= []).push({ HostIp: p.HostIp, HostPort: p.HostPort });
  const nets = c.network.networks ?? {};
  const primary = Object.values(nets)[0];
  return {
    Id: c.id,
    Created: r.created,
    Path: args[0] ?? '',
    Args: args.slice(1),
    State: {
      Status: r.state, Running: r.state === 'running' || r.state === 'paused', Paused: r.state === 'paused',
      Restarting: r.state === 'restarting', OOMKilled: !!r.oom_killed, Dead: r.state === 'dead', Pid: r.pid,
      ExitCode: r.exit_code, Error: r.error, StartedAt: r.started_at, FinishedAt: r.finished_at,
    },
    Image: r.image_id,
    ResolvConfPath: path.join(c.dir, 'resolv.conf'),
    HostnamePath: path.join(c.dir, 'hostname'),
    HostsPath: path.join(c.dir, 'hosts'),
    LogPath: c.paths.logPath,
    Name: `/${c.name}`,
    RestartCount: r.restart_count,
    Driver: 'overlay',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: { ...hostConfigView(c.hostConfig), Links: inspectLinks(c, cs) },
    GraphDriver: { Data: { LowerDir: lower, MergedDir: path.join(c.dir, 'merged'), UpperDir: path.join(c.dir, 'upper'), WorkDir: path.join(c.dir, 'work') }, Name: 'overlay' },
    Mounts: mountsView(cs, c),
    Config: c.config,
    NetworkSettings: {
      Bridge: '', SandboxID: '', HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
      Ports: ports, SandboxKey: c.network.netns ?? '', SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
      EndpointID: primary?.EndpointID ?? '', Gateway: primary?.Gateway ?? '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
      IPAddress: primary?.IPAddress ?? '', IPPrefixLen: primary?.IPPrefixLen ?? 0, IPv6Gateway: '', MacAddress: primary?.MacAddress ?? '',
      Networks: networksView(cs, c),
    },
  };
}

function mountsView(cs: ContainerCore, c: Container): unknown[] {
  const out: unknown[] = [];
  const rows = volumesOfContainer(cs.store.db, c.id);
  for (const r of rows) out.push({ Type: 'volume', Name: r.volume, Source: path.join(cs.store.root, 'volumes', r.volume, '_data'), Destination: r.destination, Driver: 'local', Mode: '', RW: true, Propagation: '' });
  for (const b of c.hostConfig.Binds ?? []) {
    const [src, dst, mode] = b.split(':');
    if (src?.startsWith('/') && dst) out.push({ Type: 'bind', Source: src, Destination: dst, Mode: mode ?? '', RW: mode !== 'ro', Propagation: 'rprivate' });
  }
  return out;
}

/** Short image column for ps: the reference as typed when it still resolves to the same image. */
export function imageColumn(cs: ContainerCore, c: Container): string {
  try {
    const now = resolveImage(cs.store, c.row.image_ref);
    if (now.id === c.row.image_id) return c.row.image_ref;
  } catch { /* no longer resolves */ }
  return c.row.image_id.slice(7, 19);
}
