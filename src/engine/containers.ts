/**
 * Container use cases: create, start, stop, kill, restart, rm, ps, inspect, logs, wait,
 * exec, pause, unpause, rename, top, prune. The CLI and the API both call these.
 *
 * A container is a row in `containers`, a directory `containers/<id>/` (OCI bundle:
 * config.json, upper/, work/, merged/ = rootfs, init/ = Docker's init layer, hosts,
 * hostname, resolv.conf, <id>-json.log, state.json, exit.json) and, while it runs, a
 * monitor process (native/monitor.c) that owns its stdio and records its exit.
 * The database is reconciled with the monitor's files whenever a container is read,
 * so `ps -a` tells the truth after monitors die or the machine restarts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { conflict, invalidArgument, notFound, StrataError } from '../base/errors.js';
import { mkdirp, rmTree, writeFileAtomic, treeSize } from '../base/fs.js';
import { VolumeStore, parseMounts } from './volumes.js';
import { diffUpper, buildExclude, type Change } from '../changes/index.js';
import { commitContainer, type CommitInput, type CommitResult } from './commit.js';
import { tx } from '../meta/db.js';
import { orderContainerConfig, rfc3339Nano } from '../image/config.js';
import type { ContainerConfig } from '../image/types.js';
import { mountOverlay, unmount, isMounted } from '../snapshot/index.js';
import { buildResolvConf } from '../network/index.js';
import {
  Runc, runtimeDirFor, buildSpec, writeBundle, startMonitor, monitorPaths, readExit, readState, waitExit,
  disableRestart, processAlive, execInContainer, readLogs, signalNumber, startContainer, resize as resizePty,
  type BuildSpecOptions, type MountOption, type ExecHandle, type MonitorPaths, type LogEntry,
} from '../runtime/index.js';
import { imageLayers, loadConfig, resolveImage, type ImageRow } from './images.js';
import { generateId, generateName, VALID_NAME } from './names.js';
import { defaultHostConfig, type CreateRequest, type HostConfig } from './create-spec.js';
import type { Store } from './store.js';
import { networksView, recordCreateEndpoints } from './endpoints.js';
import { filterArgs, matchLabels } from './filters.js';
import { hostConfigView, splitAnonymousBinds } from './inspect-shape.js';

/** The keys `ps --filter` and `GET /containers/json` accept (Docker's list). */
export const CONTAINER_FILTERS = ['ancestor', 'before', 'expose', 'exited', 'health', 'id', 'isolation', 'is-task', 'label', 'name', 'network', 'publish', 'since', 'status', 'volume'];
import { emitEvent } from './events.js';
import { statusString, containerCommand, type PortSummary } from '../format/index.js';

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export type ContainerStateName = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead' | 'removing';

export interface ContainerRow {
  id: string;
  name: string;
  image_id: string;
  image_ref: string;
  created: string;
  config: string;
  host_config: string;
  state: ContainerStateName;
  pid: number;
  monitor_pid: number;
  exit_code: number;
  error: string;
  started_at: string;
  finished_at: string;
  restart_count: number;
  network: string;
  seq: number;
}

/** The parsed view of a row. */
export interface Container {
  row: ContainerRow;
  id: string;
  name: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  network: NetworkState;
  dir: string;
  paths: MonitorPaths;
}

export interface NetworkState {
  mode?: string;
  netns?: string;
  ports?: { HostIp: string; HostPort: string; ContainerPort: string }[];
  networks?: Record<string, { IPAddress: string; IPPrefixLen: number; Gateway: string; MacAddress: string; NetworkID?: string; EndpointID?: string; Aliases?: string[] }>;
}

/** Optional networking, wired in by the network layer (bridge, ports). */
export interface NetworkDriver {
  attach(c: Container): Promise<NetworkState>;
  detach(c: Container): Promise<void>;
  resolvConf?(c?: Container): string;
  /** Throws Docker's error for an unknown network (at create time). */
  validate?(mode: string): void;
  /** A network's ID by name ('' when unknown). */
  networkId?(name: string): string;
}

export interface Volumes {
  /** Mounts for a container's -v/--mount/VOLUME entries; creates named and anonymous volumes. */
  mountsFor(c: Container, imageVolumes: string[]): MountOption[];
  release(c: Container, removeAnonymous: boolean): void;
}

/** Docker's container summary (list endpoint). */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: PortSummary[];
  Labels: Record<string, string>;
  State: string;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, unknown> };
  Mounts: unknown[];
  SizeRw?: number;
  SizeRootFs?: number;
}

let seqCounter = 0n;

/** Docker's init layer: mount points and files that never show up in diff. */
function makeInitLayer(dir: string): void {
  for (const d of ['dev/pts', 'dev/shm', 'proc', 'sys', 'etc']) mkdirp(path.join(dir, d));
  for (const f of ['.dockerenv', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'dev/console']) {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) fs.writeFileSync(p, '', { mode: 0o755 });
  }
  try { fs.symlinkSync('/proc/mounts', path.join(dir, 'etc/mtab')); } catch { /* exists */ }
}

export class Containers {
  readonly runc: Runc;
  readonly runtimeDir: string;
  readonly dir: string;
  network?: NetworkDriver;
  readonly volumes: VolumeStore;

  constructor(readonly store: Store) {
    this.runtimeDir = runtimeDirFor(store.root);
    this.runc = new Runc({ root: path.join(this.runtimeDir, 'runc') });
    this.dir = path.join(store.root, 'containers');
    mkdirp(this.dir, 0o710);
    this.volumes = new VolumeStore(store);
  }

  // ------------------------------------------------------------ lookup

  private view(row: ContainerRow): Container {
    const dir = path.join(this.dir, row.id);
    return {
      row, id: row.id, name: row.name, dir,
      config: JSON.parse(row.config) as ContainerConfig,
      hostConfig: JSON.parse(row.host_config) as HostConfig,
      network: JSON.parse(row.network) as NetworkState,
      paths: monitorPaths(dir, this.runtimeDir, row.id),
    };
  }

  /** Full ID, then exact name, then a unique ID prefix (Docker's order). */
  find(ref: string): Container | undefined {
    const db = this.store.db;
    const name = ref.replace(/^\//, '');
    let row = db.prepare('SELECT * FROM containers WHERE id = ?').get(ref) as ContainerRow | undefined;
    row ??= db.prepare('SELECT * FROM containers WHERE name = ?').get(name) as ContainerRow | undefined;
    if (!row && /^[a-f0-9]+$/.test(ref)) {
      const rows = db.prepare('SELECT * FROM containers WHERE id >= ? AND id < ? LIMIT 2').all(ref, ref + 'g') as ContainerRow[];
      if (rows.length > 1) throw invalidArgument(`multiple IDs found with provided prefix: ${ref}`);
      row = rows[0];
    }
    return row ? this.view(row) : undefined;
  }

  get(ref: string): Container {
    const c = this.find(ref);
    if (!c) throw notFound(`No such container: ${ref}`);
    return this.refresh(c);
  }

  all(): Container[] {
    const rows = this.store.db.prepare('SELECT * FROM containers ORDER BY seq DESC').all() as ContainerRow[];
    return rows.map((r) => this.refresh(this.view(r)));
  }

  /** Containers using an image (for rmi and df). */
  usingImage(imageId: string): { id: string; running: boolean }[] {
    const rows = this.store.db.prepare('SELECT id, state FROM containers WHERE image_id = ?').all(imageId) as { id: string; state: string }[];
    return rows.map((r) => ({ id: r.id, running: r.state === 'running' || r.state === 'paused' || r.state === 'restarting' }));
  }

  /** Update only while the row is in one of `states`; false when another process got there first. */
  private updateFrom(id: string, states: string[], fields: Partial<ContainerRow>): boolean {
    const keys = Object.keys(fields);
    const r = this.store.db.prepare(`UPDATE containers SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id AND state IN (${states.map((_, i) => `@s${i}`).join(', ')})`)
      .run({ ...fields, id, ...Object.fromEntries(states.map((v, i) => [`s${i}`, v])) });
    return r.changes > 0;
  }

  /** Announce a container event (journal + in-process bus). */
  private event(c: Container, action: string, extra: Record<string, string> = {}): void {
    emitEvent(this.store, 'container', action, c.id, { ...(c.config.Labels ?? {}), image: c.row.image_ref, name: c.name, ...extra });
  }

  private update(id: string, fields: Partial<ContainerRow>): void {
    const keys = Object.keys(fields);
    if (!keys.length) return;
    this.store.db.prepare(`UPDATE containers SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({ ...fields, id });
  }

  /**
   * Bring the row in line with the monitor's files: a finished container becomes exited
   * (rootfs unmounted, network released); a monitor that died without a record means the
   * container died with it.
   */
  refresh(c: Container): Container {
    const st = c.row.state;
    if (st !== 'running' && st !== 'paused' && st !== 'restarting') return c;
    const exit = readExit(c.paths.exitFile);
    let fields: Partial<ContainerRow> | undefined;
    if (exit) {
      fields = { state: 'exited', exit_code: exit.exitCode, finished_at: exit.finishedAt || rfc3339Nano(), pid: 0, restart_count: exit.restartCount ?? c.row.restart_count, error: exit.error ?? '' };
      if (exit.startedAt) fields.started_at = exit.startedAt;
    } else if (!processAlive(c.row.monitor_pid)) {
      const s = readState(c.paths.stateFile);
      fields = { state: 'exited', exit_code: s?.status === 'exited' ? s.exitCode : 255, finished_at: s?.finishedAt && s.finishedAt !== ZERO_TIME ? s.finishedAt : rfc3339Nano(), pid: 0, error: s?.status === 'exited' ? '' : 'the container monitor exited unexpectedly' };
    } else {
      const s = readState(c.paths.stateFile);
      if (s && s.status === 'restarting' && st !== 'restarting') fields = { state: 'restarting', restart_count: s.restartCount };
      else if (s && s.status === 'running' && st === 'restarting') fields = { state: 'running', pid: s.pid, started_at: s.startedAt, restart_count: s.restartCount };
      else if (s && s.status === 'running' && s.pid !== c.row.pid && st === 'running') fields = { pid: s.pid, started_at: s.startedAt, restart_count: s.restartCount };
    }
    if (!fields) return c;
    if (fields.state === 'exited') {
      // one process records the exit (and announces it), however many notice it
      if (!this.updateFrom(c.id, [st], fields)) return this.find(c.id) ?? c;
      this.event(c, 'die', { exitCode: String(fields.exit_code ?? 0) });
    } else this.update(c.id, fields);
    const row = { ...c.row, ...fields } as ContainerRow;
    const next = this.view(row);
    if (row.state === 'exited') {
      // release the rootfs, network and runc state; `settle()` waits for it before the next step
      this.track(c.id, (async () => {
        await this.releaseRuntime(next);
        if (next.hostConfig.AutoRemove) await this.destroy(next, { volumes: true });
      })());
    }
    return next;
  }

  private readonly cleanups = new Map<string, Promise<void>>();

  private track(id: string, p: Promise<void>): void {
    const prev = this.cleanups.get(id) ?? Promise.resolve();
    const next = prev.then(() => p).catch(() => { /* best effort: retried on the next read */ });
    this.cleanups.set(id, next);
    void next.then(() => { if (this.cleanups.get(id) === next) this.cleanups.delete(id); });
  }

  /** Wait for background clean-up of one container (or all). */
  async settle(id?: string): Promise<void> {
    if (id) { await this.cleanups.get(id); return; }
    while (this.cleanups.size) await Promise.all([...this.cleanups.values()]);
  }

  // ------------------------------------------------------------ create

  create(req: CreateRequest, name?: string): Container {
    if (!req.Image) throw invalidArgument('no image specified');
    const image = resolveImage(this.store, req.Image);
    const imgCfg = loadConfig(this.store, image.id).config;
    const id = generateId();
    const db = this.store.db;
    if (name !== undefined && name !== '') {
      if (!VALID_NAME.test(name)) throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      name = name.replace(/^\//, '');
    }
    const hc: HostConfig = { ...defaultHostConfig(), ...req.HostConfig } as HostConfig;
    const anon = splitAnonymousBinds(hc.Binds);
    if (anon.volumes.length) {
      hc.Binds = anon.binds;
      req = { ...req, Volumes: { ...(req.Volumes ?? {}), ...Object.fromEntries(anon.volumes.map((v) => [v, {}])) } };
    }
    parseMounts(hc); // Docker's -v/--mount errors, before anything is made
    this.network?.validate?.(hc.NetworkMode);
    for (const n of Object.keys(req.NetworkingConfig?.EndpointsConfig ?? {})) if (n !== hc.NetworkMode && n !== 'default') this.network?.validate?.(n);
    const cfg = mergeConfig(req, imgCfg, id);
    const dir = path.join(this.dir, id);
    const created = rfc3339Nano();
    const seq = Number(process.hrtime.bigint() % 1000000000000n) + Date.now() * 1000 + Number(seqCounter++);
    mkdirp(dir, 0o710);
    try {
      for (const d of ['upper', 'work', 'merged', 'init']) mkdirp(path.join(dir, d), 0o755);
      makeInitLayer(path.join(dir, 'init'));
      if (cfg.WorkingDir) {
        // Docker creates the working directory at create time: it shows up in diff
        const wd = path.join(dir, 'upper', cfg.WorkingDir);
        if (!existsInLayers(this.store, image, cfg.WorkingDir)) mkdirp(wd, 0o755);
      }
      tx(db, () => {
        if (name) {
          const other = db.prepare('SELECT id FROM containers WHERE name = ?').get(name) as { id: string } | undefined;
          if (other) throw conflict(`Conflict. The container name "/${name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`);
        } else {
          name = generateName((n) => !!db.prepare('SELECT 1 FROM containers WHERE name = ?').get(n));
        }
        db.prepare(`INSERT INTO containers (id, name, image_id, image_ref, created, config, host_config, seq)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(id, name, image.id, req.Image, created, JSON.stringify(cfg), JSON.stringify(hc), seq);
        recordCreateEndpoints(db, id, hc.NetworkMode, req.NetworkingConfig?.EndpointsConfig);
      });
    } catch (e) {
      rmTree(dir);
      throw e;
    }
    const made = this.get(id);
    this.event(made, 'create');
    return made;
  }

  // ------------------------------------------------------------ start

  private imageStack(c: Container): string[] {
    const layers = imageLayers(this.store, c.row.image_id);
    return layers.map((l) => this.store.layerDir(l.diffId)).reverse();
  }

  lowerDirs(c: Container): string[] {
    return [path.join(c.dir, 'init'), ...this.imageStack(c)];
  }

  /** Mount the container's root filesystem (idempotent). */
  async mountRootfs(c: Container): Promise<string> {
    const merged = path.join(c.dir, 'merged');
    if (!isMounted(merged)) {
      await mountOverlay({ lowerDirs: this.lowerDirs(c), upperDir: path.join(c.dir, 'upper'), workDir: path.join(c.dir, 'work'), target: merged, linkDir: path.join(this.store.root, 'l') });
    }
    return merged;
  }

  /** Unmount, release the network and runc state (after the container stopped for good). */
  async releaseRuntime(c: Container): Promise<void> {
    // the monitor deletes the runc state before it writes exit.json: only a monitor that died leaves it
    if (!readExit(c.paths.exitFile)) {
      try { await this.runc.delete(c.id, { force: true }); } catch { /* never created, or already gone */ }
    }
    if (this.network && c.hostConfig.NetworkMode !== 'host') {
      // idempotent, and also undoes a half-made attachment (a failed start)
      await this.network.detach(c);
      if (c.network.netns) this.update(c.id, { network: JSON.stringify({ mode: c.network.mode }) });
    }
    const merged = path.join(c.dir, 'merged');
    if (isMounted(merged)) await unmount(merged);
    for (const f of fs.readdirSync(c.dir).filter((n) => n.startsWith('exec-'))) fs.rmSync(path.join(c.dir, f), { force: true });
  }

  /** Build the bundle and the spec; returns what the monitor needs. */
  async prepare(c: Container): Promise<{ spec: BuildSpecOptions }> {
    const rootfs = await this.mountRootfs(c);
    const cfg = c.config;
    const hc = c.hostConfig;
    const args = [...(cfg.Entrypoint ?? []), ...(cfg.Cmd ?? [])].filter((a, i) => !(i === 0 && a === '' && (cfg.Entrypoint?.length ?? 0) === 1));
    if (!args.length) throw invalidArgument('No command specified');
    let net: NetworkState = { mode: hc.NetworkMode };
    const mode = hc.NetworkMode;
    const hostname = cfg.Hostname || c.id.slice(0, 12);
    writeFileAtomic(path.join(c.dir, 'hostname'), `${hostname}\n`);
    writeFileAtomic(path.join(c.dir, 'resolv.conf'), this.network?.resolvConf?.(c) ?? buildResolvConf(readHostResolvConf()));
    if (this.network && mode !== 'host' && !mode.startsWith('container:')) {
      net = await this.network.attach(c);
      this.update(c.id, { network: JSON.stringify(net) });
    }
    // the network layer keeps /etc/hosts of attached containers (peers by name); others get Docker's default
    if (!net.netns) writeFileAtomic(path.join(c.dir, 'hosts'), defaultHosts(hostname, hc.ExtraHosts ?? []));
    const imgVolumes = Object.keys(cfg.Volumes ?? {});
    const mounts: MountOption[] = this.volumes.mountsFor(c, imgVolumes);
    for (const [dst, opts] of Object.entries(hc.Tmpfs ?? {})) {
      mounts.push({ destination: dst, type: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...(opts ? opts.split(',') : [])] });
    }
    for (const m of hc.Mounts ?? []) {
      if (m.Type === 'tmpfs') {
        const o = ['nosuid', 'nodev', 'noexec'];
        if (m.TmpfsOptions?.SizeBytes) o.push(`size=${m.TmpfsOptions.SizeBytes}`);
        mounts.push({ destination: m.Target, type: 'tmpfs', options: o });
      }
    }
    const spec: BuildSpecOptions = {
      id: c.id,
      rootfs,
      args,
      env: cfg.Env ?? [],
      cwd: cfg.WorkingDir || '/',
      hostname,
      tty: cfg.Tty,
      readonlyRootfs: hc.ReadonlyRootfs,
      mounts,
      privileged: hc.Privileged,
      capAdd: hc.CapAdd ?? [],
      capDrop: hc.CapDrop ?? [],
      noNewPrivileges: (hc.SecurityOpt ?? []).some((s) => /^no-new-privileges(:true|=true)?$/.test(s)),
      hostsFile: path.join(c.dir, 'hosts'),
      hostnameFile: path.join(c.dir, 'hostname'),
      resolvConfFile: path.join(c.dir, 'resolv.conf'),
      network: mode === 'host' ? 'host' : net.netns ?? 'new',
    };
    if (cfg.User) spec.user = cfg.User;
    if (hc.Memory) spec.memory = hc.Memory;
    if (hc.NanoCpus) spec.cpus = hc.NanoCpus / 1e9;
    if (hc.PidsLimit && hc.PidsLimit > 0) spec.pidsLimit = hc.PidsLimit;
    if (hc.ShmSize) spec.shmSize = hc.ShmSize;
    if ((hc.SecurityOpt ?? []).some((s) => /^seccomp[=:]unconfined$/.test(s))) spec.seccomp = 'unconfined';
    writeBundle(c.dir, buildSpec(spec));
    return { spec };
  }

  private restartPolicy(hc: HostConfig): string {
    const p = hc.RestartPolicy?.Name || 'no';
    return p === 'on-failure' && hc.RestartPolicy.MaximumRetryCount ? `on-failure:${hc.RestartPolicy.MaximumRetryCount}` : p;
  }

  /**
   * Start a created or exited container under a new monitor. With `deferStart` the
   * container is created and started only when an attached client says so.
   */
  async start(ref: string, opts: { deferStart?: boolean } = {}): Promise<Container> {
    let c = this.get(ref);
    await this.settle(c.id);
    if (!this.find(c.id)) throw notFound(`No such container: ${ref}`);
    if (this.isDeferred(c) && !opts.deferStart) {
      // created under its monitor for an attached client (run without -d): start it now
      const { pid } = await startContainer(c.paths.socketPath);
      this.markStarted(c.id, pid);
      return this.get(c.id);
    }
    if (c.row.state === 'running' || c.row.state === 'restarting') return c;
    if (c.row.state === 'paused') throw conflict(`cannot start a paused container, try unpause instead`);
    // what a previous run left (a created container has nothing: a failed start releases itself)
    if (c.row.state !== 'created') await this.releaseRuntime(c).catch(() => undefined);
    try {
      await this.prepare(c);
      c = this.get(c.id);
      const started = await startMonitor({
        id: c.id, ...c.paths, runtime: this.runc, tty: c.config.Tty, openStdin: c.config.OpenStdin,
        restart: this.restartPolicy(c.hostConfig), deferStart: !!opts.deferStart,
      });
      this.update(c.id, { state: 'running', pid: started.pid, monitor_pid: started.monitorPid, started_at: opts.deferStart ? c.row.started_at : rfc3339Nano(), exit_code: 0, error: '' });
      if (!opts.deferStart) this.event(c, 'start');
    } catch (e) {
      this.update(c.id, { error: e instanceof Error ? e.message : String(e) });
      await this.releaseRuntime(this.get(c.id)).catch(() => undefined);
      throw e;
    }
    return this.get(c.id);
  }

  setNetworkState(id: string, net: NetworkState): void {
    this.update(id, { network: JSON.stringify(net) });
  }

  /** Record the real start once a deferred container was started by its monitor. */
  markStarted(id: string, pid: number): void {
    this.update(id, { pid, started_at: rfc3339Nano() });
    const c = this.find(id);
    if (c) this.event(c, 'start');
  }

  /** Created under its monitor with `deferStart`, waiting for the attached client's start. */
  isDeferred(c: Container): boolean {
    if (c.row.state !== 'running') return false;
    return readState(c.paths.stateFile)?.status === 'created';
  }

  /**
   * The attached client went away before starting a deferred container: undo the deferred
   * creation (runc container, monitor, mounts, network) and make it `created` again, as if
   * the attach never happened.
   */
  async abandonDeferred(ref: string): Promise<void> {
    const c = this.get(ref);
    if (!this.isDeferred(c)) return;
    // first the row, so that nobody records the exit this causes as a run of the container
    if (!this.updateFrom(c.id, ['running'], { state: 'created', pid: 0, monitor_pid: 0, exit_code: 0, error: '', started_at: c.row.started_at, finished_at: c.row.finished_at })) return;
    // tracked: a start that comes meanwhile waits for this (settle)
    this.track(c.id, (async () => {
      await disableRestart(c.paths.socketPath).catch(() => undefined);
      try { await this.runc.delete(c.id, { force: true }); } catch { /* gone */ }
      await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, intervalMs: 20 }).catch(() => undefined);
      for (const f of [c.paths.exitFile, c.paths.stateFile]) fs.rmSync(f, { force: true });
      await this.releaseRuntime(c);
    })());
    await this.settle(c.id);
  }

  /** Running for Docker's purposes (start answers 304): live and not waiting for a deferred start. */
  isRunning(c: Container): boolean {
    return this.isLive(c) && !this.isDeferred(c);
  }

  // ------------------------------------------------------------ stop / kill

  isLive(c: Container): boolean {
    return c.row.state === 'running' || c.row.state === 'paused' || c.row.state === 'restarting';
  }

  /** SIGTERM (or the image's StopSignal), then SIGKILL after `timeout` seconds. */
  async stop(ref: string, timeout?: number): Promise<Container> {
    let c = this.get(ref);
    await this.settle(c.id);
    if (!this.isLive(c)) return c;
    await disableRestart(c.paths.socketPath).catch(() => undefined);
    if (c.row.state === 'paused') await this.runc.resume(c.id).catch(() => undefined);
    const t = timeout ?? c.config.StopTimeout ?? 10;
    const sig = c.config.StopSignal || 'TERM';
    try { await this.runc.kill(c.id, sig.replace(/^SIG/, '')); } catch { /* already gone */ }
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), Math.max(0, t) * 1000);
    try {
      await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, signal: ac.signal, intervalMs: 20 });
    } catch {
      try { await this.runc.kill(c.id, 'KILL', { all: true }); } catch { /* gone */ }
      await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, intervalMs: 20 }).catch(() => undefined);
    } finally {
      clearTimeout(timer);
    }
    c = this.get(c.id);
    await this.settle(c.id);
    await this.releaseRuntime(c).catch(() => undefined);
    this.event(c, 'stop');
    return c;
  }

  async kill(ref: string, signal = 'KILL'): Promise<Container> {
    const c = this.get(ref);
    if (c.row.state !== 'running' && c.row.state !== 'paused') {
      throw conflict(`Cannot kill container: ${ref}: Container ${c.id} is not running`);
    }
    let sig: number;
    try { sig = signalNumber(signal); } catch { throw invalidArgument(`Invalid signal: ${signal}`); }
    if (sig === 9 || sig === 15) await disableRestart(c.paths.socketPath).catch(() => undefined);
    await this.runc.kill(c.id, String(sig));
    this.event(c, 'kill', { signal: String(sig) });
    if (sig === 9) await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, intervalMs: 20 }).catch(() => undefined);
    return this.get(c.id);
  }

  async restart(ref: string, timeout?: number): Promise<Container> {
    await this.stop(ref, timeout);
    return this.start(ref);
  }

  async pause(ref: string): Promise<void> {
    const c = this.get(ref);
    if (c.row.state === 'paused') throw conflict(`Container ${c.id} is already paused`);
    if (c.row.state !== 'running') throw conflict(`Container ${c.id} is not running`);
    await this.runc.pause(c.id);
    this.update(c.id, { state: 'paused' });
    this.event(c, 'pause');
  }

  async unpause(ref: string): Promise<void> {
    const c = this.get(ref);
    if (c.row.state !== 'paused') throw conflict(`Container ${c.id} is not paused`);
    await this.runc.resume(c.id);
    this.update(c.id, { state: 'running' });
    this.event(c, 'unpause');
  }

  /**
   * Docker's wait conditions: `not-running` (default) answers at once for a container that
   * is not running; `next-exit` waits for an exit that happens after the call (a created or
   * exited container must be started first); `removed` waits until the container is gone
   * (`run --rm`). Returns the exit code; rejects with `unavailable` when `signal` aborts.
   */
  async wait(ref: string, opts: { condition?: 'not-running' | 'next-exit' | 'removed'; signal?: AbortSignal } = {}): Promise<number> {
    const cond = opts.condition ?? 'not-running';
    let c = this.get(ref);
    const id = c.id;
    if (cond === 'not-running' && !this.isLive(c)) return c.row.exit_code;
    const baseline = c.row.finished_at;
    let exited = !this.isLive(c) && cond === 'removed' ? c.row.exit_code : undefined;
    for (;;) {
      if (opts.signal?.aborted) throw new StrataError('unavailable', 'wait aborted');
      if (this.isLive(c)) {
        await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, intervalMs: 50, ...(opts.signal ? { signal: opts.signal } : {}) })
          .catch(() => undefined);
      } else if (cond === 'not-running') {
        return c.row.exit_code;
      } else if (exited === undefined && (cond !== 'next-exit' || c.row.finished_at !== baseline) && c.row.state !== 'created') {
        exited = c.row.exit_code;
        if (cond !== 'removed') return exited;
      } else {
        await new Promise<void>((resolve) => setTimeout(resolve, 50));
      }
      const now = this.find(id);
      if (!now) {
        if (cond === 'removed') return exited ?? 0;
        throw notFound(`No such container: ${ref}`);
      }
      c = this.refresh(now);
    }
  }

  // ------------------------------------------------------------ remove

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const c = this.get(ref);
    await this.settle(c.id);
    if (!this.find(c.id)) return; // auto-removed meanwhile
    if (this.isLive(c)) {
      if (!opts.force) throw conflict(`You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`);
      await disableRestart(c.paths.socketPath).catch(() => undefined);
      if (c.row.state === 'paused') await this.runc.resume(c.id).catch(() => undefined);
      try { await this.runc.kill(c.id, 'KILL', { all: true }); } catch { /* gone */ }
      await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, intervalMs: 20 }).catch(() => undefined);
    }
    const after = this.find(c.id);
    if (!after) return;
    this.refresh(after);
    await this.settle(c.id);
    const still = this.find(c.id);
    if (still) await this.destroy(still, opts);
  }

  private async destroy(c: Container, opts: { volumes?: boolean }): Promise<void> {
    this.update(c.id, { state: 'removing' });
    await this.releaseRuntime(c);
    this.volumes.release(c, !!opts.volumes);
    this.store.db.prepare('DELETE FROM containers WHERE id = ?').run(c.id);
    rmTree(c.dir);
    fs.rmSync(c.paths.socketPath, { force: true });
    this.event(c, 'destroy');
  }

  async prune(): Promise<{ deleted: string[]; reclaimed: number }> {
    const out = { deleted: [] as string[], reclaimed: 0 };
    for (const c of this.all()) {
      if (c.row.state !== 'exited' && c.row.state !== 'created' && c.row.state !== 'dead') continue;
      out.reclaimed += treeSize(path.join(c.dir, 'upper'));
      await this.destroy(c, { volumes: false });
      out.deleted.push(c.id);
    }
    return out;
  }

  rename(ref: string, newName: string): void {
    const c = this.get(ref);
    const name = newName.replace(/^\//, '');
    if (!VALID_NAME.test(name)) throw invalidArgument(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (name === c.name) throw invalidArgument('Renaming a container with the same name as its current name');
    tx(this.store.db, () => {
      const other = this.store.db.prepare('SELECT id FROM containers WHERE name = ?').get(name) as { id: string } | undefined;
      if (other) throw conflict(`Error when allocating new name: Conflict. The container name "/${name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`);
      this.update(c.id, { name });
    });
    this.event({ ...c, name }, 'rename', { oldName: `/${c.name}` });
  }

  // ------------------------------------------------------------ exec / logs / top

  /** The container an exec goes into: running, not paused (409 otherwise). */
  execTarget(ref: string): Container {
    const c = this.get(ref);
    if (c.row.state === 'paused') throw conflict(`Container ${c.id} is paused, unpause the container before exec`);
    if (c.row.state !== 'running' || this.isDeferred(c)) throw conflict(`Container ${c.id} is not running`);
    return c;
  }

  /** A new exec ID (the API hands it out at exec create, before the process runs). */
  newExecId(): string {
    return generateId();
  }

  async exec(ref: string, opts: { args: string[]; env?: string[]; user?: string; workdir?: string; tty?: boolean; detach?: boolean; stdin?: boolean; privileged?: boolean; rows?: number; cols?: number; inheritStdio?: boolean; execId?: string }): Promise<ExecHandle & { execId: string }> {
    const c = this.execTarget(ref);
    const execId = opts.execId ?? generateId();
    const e: Parameters<typeof execInContainer>[2] = { args: opts.args, tty: !!opts.tty, detach: !!opts.detach, stdin: !!opts.stdin, bundle: c.dir };
    if (opts.env) e.env = opts.env;
    if (opts.user) e.user = opts.user;
    if (opts.workdir) e.cwd = opts.workdir;
    if (opts.privileged) e.privileged = true;
    if (opts.rows) e.rows = opts.rows;
    if (opts.cols) e.cols = opts.cols;
    if (opts.inheritStdio) e.inheritStdio = true;
    const handle = await execInContainer(this.runc, c.id, e);
    this.store.db.prepare('INSERT INTO execs (id, container_id, created, user, workdir, argv, env, tty, running) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)')
      .run(execId, c.id, rfc3339Nano(), opts.user ?? c.config.User ?? '', opts.workdir ?? c.config.WorkingDir ?? '', JSON.stringify(opts.args), JSON.stringify(opts.env ?? []), opts.tty ? 1 : 0);
    const wait = handle.wait.bind(handle);
    let done: Promise<number> | undefined;
    const recordWait = () => (done ??= wait().then((code) => {
      this.store.db.prepare('UPDATE execs SET exit_code = ?, running = 0 WHERE id = ?').run(code, execId);
      return code;
    }));
    return Object.assign(handle, { execId, wait: recordWait });
  }

  /** The execs recorded for a container (provenance). */
  execsOf(id: string): { created: string; user: string; workdir: string; argv: string[]; exitCode: number | null }[] {
    return (this.store.db.prepare('SELECT created, user, workdir, argv, exit_code FROM execs WHERE container_id = ? ORDER BY created').all(id) as { created: string; user: string; workdir: string; argv: string; exit_code: number | null }[])
      .map((r) => ({ created: r.created, user: r.user, workdir: r.workdir, argv: JSON.parse(r.argv) as string[], exitCode: r.exit_code }));
  }

  logs(ref: string, opts: { follow?: boolean; tail?: number | 'all'; since?: string | number | Date; until?: string | number | Date; signal?: AbortSignal; stdout?: boolean; stderr?: boolean }): AsyncGenerator<LogEntry> {
    const c = this.get(ref);
    const o: Parameters<typeof readLogs>[1] = {};
    if (opts.stdout === false) o.stdout = false;
    if (opts.stderr === false) o.stderr = false;
    if (opts.tail !== undefined) o.tail = opts.tail;
    if (opts.since !== undefined) o.since = opts.since;
    if (opts.until !== undefined) o.until = opts.until;
    if (opts.follow && this.isLive(c)) {
      const ac = new AbortController();
      opts.signal?.addEventListener('abort', () => ac.abort());
      o.follow = true;
      o.signal = ac.signal;
      void waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, signal: ac.signal }).catch(() => undefined).then(() => setTimeout(() => ac.abort(), 100));
    }
    return readLogs(c.paths.logPath, o);
  }

  /** Set the container's pty size (kept by the monitor until the pty exists); no-op without a tty. */
  async resize(ref: string, rows: number, cols: number): Promise<void> {
    const c = this.get(ref);
    if (!this.isLive(c)) throw conflict(`Container ${c.id} is not running`);
    if (!c.config.Tty) return;
    if (!(rows > 0) || !(cols > 0)) throw invalidArgument(`invalid terminal size ${rows}x${cols}`);
    await resizePty(c.paths.socketPath, rows, cols);
  }

  // ------------------------------------------------------------ listing

  /**
   * `ps`: newest first; running only unless `all` (or `last`); `filters` as `key=value`
   * (status, name, id, exited, ancestor, label, before, since).
   */
  list(opts: { all?: boolean; last?: number; filters?: string[] } = {}): Container[] {
    let list = this.all();
    const n = opts.last !== undefined && opts.last >= 0 ? opts.last : -1;
    const fa = filterArgs(opts.filters, CONTAINER_FILTERS);
    const one = (k: string) => fa.get(k) ?? [];
    // Docker: filters on status imply all
    if (!opts.all && n < 0 && !one('status').length && !one('exited').length) list = list.filter((c) => this.isLive(c));
    for (const k of ['before', 'since'] as const) {
      for (const v of one(k)) {
        const ref = this.get(v);
        list = list.filter((c) => (k === 'before' ? c.row.seq < ref.row.seq : c.row.seq > ref.row.seq));
      }
    }
    // several values of one key: any may match (label: all must); different keys: all must match
    const keys = [...fa.keys()].filter((k) => k !== 'before' && k !== 'since' && k !== 'label');
    list = list.filter((c) => matchLabels(fa, c.config.Labels) && keys.every((k) => one(k).some((v) => this.filterMatch(c, k, v))));
    if (n >= 0) list = list.slice(0, n);
    return list;
  }

  private filterMatch(c: Container, k: string, v: string): boolean {
    switch (k) {
      case 'status': return c.row.state === v;
      case 'name': return new RegExp(v).test(c.name);
      case 'id': return c.id.startsWith(v);
      case 'exited': return c.row.state === 'exited' && String(c.row.exit_code) === v;
      case 'ancestor': return this.imageColumn(c) === v || c.row.image_ref === v || c.row.image_id.includes(v);
      case 'network': return Object.keys(this.networksView(c)).some((name) => name === v || (this.network?.networkId?.(name) ?? '\0').startsWith(v));
      case 'volume': return this.mountsView(c).some((m) => { const x = m as { Name?: string; Source?: string; Destination?: string }; return x.Name === v || x.Source === v || x.Destination === v; });
      case 'health': return v === 'none';
      case 'is-task': return v === 'false';
      case 'isolation': return v === 'default';
      case 'expose': return Object.keys(c.config.ExposedPorts ?? {}).some((p) => p === v || p === `${v}/tcp`);
      case 'publish': return (c.network.ports ?? []).some((p) => p.HostPort === v.split('/')[0] && (!v.includes('/') || p.ContainerPort.endsWith(v.slice(v.indexOf('/')))));
      default: return false;
    }
  }

  /** Published ports (and exposed ones without a binding) while the container runs, as Docker lists them. */
  portSummaries(c: Container): PortSummary[] {
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

  /** Docker's container summary (`GET /containers/json`, `ps`). Sizes only with `size`. */
  summary(c: Container, opts: { size?: boolean } = {}): ContainerSummary {
    const args = [...(c.config.Entrypoint ?? []), ...(c.config.Cmd ?? [])];
    const s: ContainerSummary = {
      Id: c.id,
      Names: [`/${c.name}`],
      Image: this.imageColumn(c),
      ImageID: c.row.image_id,
      Command: containerCommand(args[0] ?? '', args.slice(1)),
      Created: Math.floor(Date.parse(c.row.created) / 1000),
      Ports: this.portSummaries(c),
      Labels: c.config.Labels ?? {},
      State: c.row.state,
      Status: statusString({ state: c.row.state as never, exitCode: c.row.exit_code, startedAt: c.row.started_at, finishedAt: c.row.finished_at }),
      HostConfig: { NetworkMode: c.hostConfig.NetworkMode },
      NetworkSettings: { Networks: this.networksView(c) },
      Mounts: this.mountsView(c),
    };
    if (opts.size) {
      const rw = treeSize(path.join(c.dir, 'upper'));
      s.SizeRw = rw;
      s.SizeRootFs = rw + imageLayers(this.store, c.row.image_id).reduce((a, l) => a + l.size, 0);
    }
    return s;
  }

  async top(ref: string, psArgs: string[] = ['-ef']): Promise<{ titles: string[]; processes: string[][] }> {
    const c = this.get(ref);
    if (c.row.state !== 'running' && c.row.state !== 'paused') throw conflict(`Container ${c.id} is not running`);
    return this.runc.top(c.id, psArgs);
  }

  // ------------------------------------------------------------ diff / commit

  /** Mount points whose contents never enter diff or commit: volumes, binds, tmpfs. */
  hiddenMounts(c: Container): string[] {
    return [...this.volumes.mountTable(c).map((m) => m.destination), ...Object.keys(c.hostConfig.Tmpfs ?? {}),
      ...(c.hostConfig.Mounts ?? []).filter((m) => m.Type === 'tmpfs').map((m) => m.Target)];
  }

  /** `docker diff`: the changes in the container's upper dir (running, paused or stopped). */
  diff(ref: string): { changes: Change[]; upperDir: string } {
    const c = this.get(ref);
    const upperDir = path.join(c.dir, 'upper');
    return { changes: diffUpper(upperDir, this.lowerDirs(c), { hide: this.hiddenMounts(c) }), upperDir };
  }

  /**
   * `docker commit`: the upper dir becomes one new layer on the container's image. A running
   * container is frozen while the layer is taken (unless pause is false); one the user paused
   * stays paused.
   */
  async commit(ref: string, opts: { author?: string; message?: string; changes?: string[]; pause?: boolean; reference?: string; exclude?: string[]; excludeNoise?: boolean; timestamp?: Date | number }): Promise<CommitResult> {
    const c = this.get(ref);
    const input: CommitInput = {
      upperDir: path.join(c.dir, 'upper'),
      imageId: c.row.image_id,
      imageRef: c.row.image_ref,
      containerId: c.id,
      containerConfig: c.config,
      execs: this.execsOf(c.id).map((e) => ({ created: e.created, user: e.user, workdir: e.workdir, argv: e.argv })),
    };
    if (opts.author) input.author = opts.author;
    if (opts.message) input.message = opts.message;
    if (opts.changes?.length) input.changes = opts.changes;
    if (opts.reference) input.reference = opts.reference;
    if (opts.timestamp !== undefined) input.timestamp = opts.timestamp;
    const exclude = buildExclude({ patterns: opts.exclude ?? [], noise: !!opts.excludeNoise });
    if (exclude) input.exclude = exclude;
    if (opts.pause !== false && c.row.state === 'running') {
      input.pause = () => this.runc.pause(c.id);
      input.unpause = () => this.runc.resume(c.id);
    }
    const r = await commitContainer(this.store, input);
    this.event(c, 'commit', { imageID: r.id, ...(opts.message ? { comment: opts.message } : {}) });
    return r;
  }

  // ------------------------------------------------------------ inspect

  inspect(ref: string): Record<string, unknown> {
    const c = this.get(ref);
    const r = c.row;
    const args = [...(c.config.Entrypoint ?? []), ...(c.config.Cmd ?? [])];
    const lower = this.lowerDirs(c).join(':');
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
        Restarting: r.state === 'restarting', OOMKilled: false, Dead: r.state === 'dead', Pid: r.pid,
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
      HostConfig: hostConfigView(c.hostConfig),
      GraphDriver: { Data: { LowerDir: lower, MergedDir: path.join(c.dir, 'merged'), UpperDir: path.join(c.dir, 'upper'), WorkDir: path.join(c.dir, 'work') }, Name: 'overlay' },
      Mounts: this.mountsView(c),
      Config: c.config,
      NetworkSettings: {
        Bridge: '', SandboxID: '', HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
        Ports: ports, SandboxKey: c.network.netns ?? '', SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
        EndpointID: primary?.EndpointID ?? '', Gateway: primary?.Gateway ?? '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
        IPAddress: primary?.IPAddress ?? '', IPPrefixLen: primary?.IPPrefixLen ?? 0, IPv6Gateway: '', MacAddress: primary?.MacAddress ?? '',
        Networks: this.networksView(c),
      },
    };
  }

  /** `NetworkSettings.Networks`: the configured endpoints, with addresses while attached. */
  networksView(c: Container): Record<string, Record<string, unknown>> {
    return networksView(this.store.db, c, (n) => this.network?.networkId?.(n) ?? '');
  }

  private mountsView(c: Container): unknown[] {
    const out: unknown[] = [];
    const rows = this.store.db.prepare('SELECT volume, destination FROM container_volumes WHERE container_id = ?').all(c.id) as { volume: string; destination: string }[];
    for (const r of rows) out.push({ Type: 'volume', Name: r.volume, Source: path.join(this.store.root, 'volumes', r.volume, '_data'), Destination: r.destination, Driver: 'local', Mode: '', RW: true, Propagation: '' });
    for (const b of c.hostConfig.Binds ?? []) {
      const [src, dst, mode] = b.split(':');
      if (src?.startsWith('/') && dst) out.push({ Type: 'bind', Source: src, Destination: dst, Mode: mode ?? '', RW: mode !== 'ro', Propagation: 'rprivate' });
    }
    return out;
  }

  /** Short image column for ps: the reference as typed when it still resolves to the same image. */
  imageColumn(c: Container): string {
    try {
      const now = resolveImage(this.store, c.row.image_ref);
      if (now.id === c.row.image_id) return c.row.image_ref;
    } catch { /* no longer resolves */ }
    return c.row.image_id.slice(7, 19);
  }
}

/** Docker's Config for a new container: the image's config with the request on top. */
function mergeConfig(req: CreateRequest, img: ContainerConfig | null, id: string): ContainerConfig {
  const base = img ?? orderContainerConfig({});
  const env = [...(base.Env ?? [])];
  for (const e of req.Env ?? []) {
    const k = e.split('=')[0];
    const i = env.findIndex((x) => x.split('=')[0] === k);
    if (i >= 0) env[i] = e; else env.push(e);
  }
  let entrypoint = base.Entrypoint;
  let cmd = base.Cmd;
  if (req.Entrypoint !== undefined && req.Entrypoint !== null) {
    entrypoint = req.Entrypoint.length === 1 && req.Entrypoint[0] === '' ? null : req.Entrypoint;
    cmd = req.Cmd ?? null; // Docker: a new entrypoint drops the image's CMD
  } else if (req.Cmd && req.Cmd.length) cmd = req.Cmd;
  const exposed = { ...(base.ExposedPorts ?? {}), ...(req.ExposedPorts ?? {}) };
  const volumes = { ...(base.Volumes ?? {}), ...(req.Volumes ?? {}) };
  return orderContainerConfig({
    Hostname: req.Hostname || id.slice(0, 12),
    Domainname: req.Domainname ?? '',
    User: req.User || base.User || '',
    AttachStdin: !!req.AttachStdin,
    AttachStdout: !!req.AttachStdout,
    AttachStderr: !!req.AttachStderr,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: !!req.Tty,
    OpenStdin: !!req.OpenStdin,
    StdinOnce: !!req.StdinOnce,
    Env: env.length ? env : null,
    Cmd: cmd,
    Image: req.Image,
    Volumes: Object.keys(volumes).length ? volumes : null,
    WorkingDir: req.WorkingDir || base.WorkingDir || '',
    Entrypoint: entrypoint,
    OnBuild: base.OnBuild ?? null,
    Labels: { ...(base.Labels ?? {}), ...(req.Labels ?? {}) },
    ...(req.StopSignal || base.StopSignal ? { StopSignal: req.StopSignal || base.StopSignal } : {}),
    ...(req.StopTimeout !== undefined ? { StopTimeout: req.StopTimeout } : {}),
  } as Partial<ContainerConfig>);
}

function existsInLayers(store: Store, image: ImageRow, p: string): boolean {
  for (const l of imageLayers(store, image.id)) {
    try { fs.lstatSync(path.join(store.layerDir(l.diffId), p)); return true; } catch { /* next */ }
  }
  return false;
}

function defaultHosts(hostname: string, extra: string[]): string {
  let s = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';
  for (const e of extra) { const i = e.lastIndexOf(':'); if (i > 0) s += `${e.slice(i + 1)}\t${e.slice(0, i)}\n`; }
  s += `127.0.1.1\t${hostname}\n`;
  return s;
}

function readHostResolvConf(): string {
  try { return fs.readFileSync('/etc/resolv.conf', 'utf8'); } catch { return ''; }
}



