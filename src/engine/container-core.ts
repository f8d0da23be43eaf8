/**
 * The container engine's core: rows and their parsed views, reconciliation of a row with
 * the monitor's files, background clean-up, and the rootfs/network/runtime release. The
 * operations (container-create.ts, container-start.ts, container-stop.ts, …) work on it;
 * containers.ts is the facade the doors call.
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
import { conflict, invalidArgument, notFound } from '../base/errors.js';
import { rmTree } from '../base/fs.js';
import { rfc3339Nano, ZERO_TIME } from '../image/config.js';
import { mountOverlay, unmount, isMounted, removeShortLink } from '../snapshot/index.js';
import { Runc, runtimeDirFor, monitorPaths, readExit, readState, disableRestart } from '../runtime/index.js';
import { linuxSys, type Sys } from '../sys/index.js';
import {
  allContainers, containerById, containerByName, containersByIdPrefix, containersOfImage, deleteContainer,
  updateContainer, updateContainerFrom, updateContainerWhere, type ContainerRow,
} from '../meta/containers.js';
import type { Container, NetworkDriver, NetworkState } from './container-model.js';
import type { ContainerConfig } from '../image/types.js';
import type { HostConfig } from './create-spec.js';
import { imageStack } from './diff.js';
import type { VolumeStore } from './volumes.js';
import type { StoreRoot } from './store-root.js';
import { emitEvent } from './events.js';
import { reconcileFreeze } from './freeze.js';

/** The error of a container whose monitor died without recording an exit (killed, or the host went down). */
const MONITOR_DIED = 'the container monitor exited unexpectedly';

export class ContainerCore {
  readonly runc: Runc;
  readonly runtimeDir: string;
  readonly dir: string;
  network?: NetworkDriver;

  constructor(readonly store: StoreRoot, readonly volumes: VolumeStore, readonly sys: Sys = linuxSys) {
    this.runtimeDir = runtimeDirFor(store.root, sys.runDir);
    this.runc = new Runc({ root: path.join(this.runtimeDir, 'runc'), sys });
    this.dir = path.join(store.root, 'containers');
    store.makeSpreadDir(this.dir, 0o710);
  }

  // ------------------------------------------------------------ lookup

  view(row: ContainerRow): Container {
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
    let row = containerById(db, ref);
    row ??= containerByName(db, ref.replace(/^\//, ''));
    if (!row && /^[a-f0-9]+$/.test(ref)) {
      const rows = containersByIdPrefix(db, ref);
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
    return allContainers(this.store.db).map((r) => this.refresh(this.view(r)));
  }

  /** Containers using an image (for rmi and df). */
  usingImage(imageId: string): { id: string; running: boolean }[] {
    return containersOfImage(this.store.db, imageId).map((r) => ({ id: r.id, running: r.state === 'running' || r.state === 'paused' || r.state === 'restarting' }));
  }

  /** Update only while the row is in one of `states`; false when another process got there first. */
  updateFrom(id: string, states: string[], fields: Partial<ContainerRow>): boolean {
    return updateContainerFrom(this.store.db, id, states, fields);
  }

  update(id: string, fields: Partial<ContainerRow>): void {
    updateContainer(this.store.db, id, fields);
  }

  /** Announce a container event (journal + in-process bus). */
  event(c: Container, action: string, extra: Record<string, string> = {}): void {
    emitEvent(this.store, 'container', action, c.id, { ...(c.config.Labels ?? {}), image: c.row.image_ref, name: c.name, ...extra });
  }

  setNetworkState(id: string, net: NetworkState): void {
    this.update(id, { network: JSON.stringify(net) });
  }

  isLive(c: Container): boolean {
    return c.row.state === 'running' || c.row.state === 'paused' || c.row.state === 'restarting';
  }

  /** Created under its monitor with `deferStart`, waiting for the attached client's start. */
  isDeferred(c: Container): boolean {
    if (c.row.state !== 'running') return false;
    return readState(c.paths.stateFile)?.status === 'created';
  }

  /** Record the real start once a deferred container was started by its monitor. */
  markStarted(id: string, pid: number): void {
    this.update(id, { pid, started_at: rfc3339Nano() });
    const c = this.find(id);
    if (c) this.event(c, 'start');
  }

  // ------------------------------------------------------------ reconciliation

  /**
   * Bring the row in line with the monitor's files: a finished container becomes exited
   * (rootfs unmounted, network released); a monitor that died without a record means the
   * container died with it.
   */
  refresh(c: Container): Container {
    let st = c.row.state;
    if (st !== 'running' && st !== 'paused' && st !== 'restarting') return c;
    // a commit/cp/pause/unpause killed while it held the freezer: runc says what is true
    const fixed = st === 'restarting' ? undefined : reconcileFreeze(c.dir, st, this.runc, c.id);
    if (fixed && fixed !== st) {
      if (this.updateFrom(c.id, [st], { state: fixed })) this.event(c, fixed === 'running' ? 'unpause' : 'pause');
      c = this.view({ ...c.row, state: fixed });
      st = fixed;
    }
    const exit = readExit(c.paths.exitFile);
    let fields: Partial<ContainerRow> | undefined;
    if (exit) {
      fields = { state: 'exited', exit_code: exit.exitCode, finished_at: exit.finishedAt || rfc3339Nano(), pid: 0, restart_count: exit.restartCount ?? c.row.restart_count, error: exit.error ?? '', oom_killed: exit.oomKilled ? 1 : 0 };
      if (exit.startedAt) fields.started_at = exit.startedAt;
    } else if (!this.sys.processAlive(c.row.monitor_pid)) {
      const s = readState(c.paths.stateFile);
      fields = { state: 'exited', exit_code: s?.status === 'exited' ? s.exitCode : 255, finished_at: s?.finishedAt && s.finishedAt !== ZERO_TIME ? s.finishedAt : rfc3339Nano(), pid: 0, error: s?.status === 'exited' ? '' : MONITOR_DIED, oom_killed: s?.oomKilled ? 1 : 0 };
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
      const done = this.isReleased(c);
      this.track(c.id, (async () => {
        if (!done) await this.releaseRuntime(next);
        if (next.hostConfig.AutoRemove) await this.destroy(next, { volumes: true });
      })());
    }
    return next;
  }

  private readonly cleanups = new Map<string, Promise<void>>();

  /** Run clean-up of one container in the background, after any already queued for it. */
  track(id: string, p: Promise<void>): void {
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

  // ------------------------------------------------------------ root filesystem and release

  lowerDirs(c: Container): string[] {
    return [path.join(c.dir, 'init'), ...imageStack(this.store, c.row.image_id)];
  }

  /** Mount the container's root filesystem (idempotent). */
  async mountRootfs(c: Container): Promise<string> {
    const merged = path.join(c.dir, 'merged');
    if (!isMounted(merged, this.sys)) {
      await mountOverlay({ lowerDirs: this.lowerDirs(c), upperDir: path.join(c.dir, 'upper'), workDir: path.join(c.dir, 'work'), target: merged, linkDir: path.join(this.store.root, 'l'), sys: this.sys });
    }
    return merged;
  }

  /**
   * Unmount, release the network and runc state (after the container stopped for good).
   * `monitorDeletes`: the monitor has said the container stopped and is deleting the runc
   * state itself (stop and rm release side by side with that, then wait for exit.json).
   */
  async releaseRuntime(c: Container, opts: { monitorDeletes?: boolean } = {}): Promise<void> {
    // the monitor deletes the runc state before it writes exit.json: only a monitor that died leaves it
    if (!opts.monitorDeletes && !readExit(c.paths.exitFile)) {
      // a monitor still waiting to start its container (a start killed midway): its runc run,
      // held in the bundle's gate, is not a container runc can delete yet; told not to restart,
      // the monitor makes that run fail in its hook, and ends
      if (readState(c.paths.stateFile)?.status === 'created') await disableRestart(c.paths.socketPath).catch(() => undefined);
      try { await this.runc.delete(c.id, { force: true }); } catch { /* never created, or already gone */ }
    }
    const merged = path.join(c.dir, 'merged');
    // the network and the root filesystem are released side by side (nothing runs in either now)
    await Promise.all([
      (async () => {
        if (!this.network || c.hostConfig.NetworkMode === 'host') return;
        // idempotent, and also undoes a half-made attachment (a failed start)
        await this.network.detach(c);
        if (c.network.netns) this.update(c.id, { network: JSON.stringify({ mode: c.network.mode }) });
      })(),
      (async () => { if (isMounted(merged, this.sys)) await unmount(merged, this.sys); })(),
    ]);
    let names: string[] = [];
    try { names = fs.readdirSync(c.dir); } catch { /* removed meanwhile */ }
    for (const f of names.filter((n) => n.startsWith('exec-'))) fs.rmSync(path.join(c.dir, f), { force: true });
  }

  /** Container runs (by monitor pid) this process has released in full after their exit record. */
  private readonly released = new Map<string, number>();

  /**
   * The run of `c` that just ended was released by this process (stop or rm -f, beside the
   * monitor's runc delete): a refresh or a removal need not go over it again (~3 ms each).
   * Keyed by the run's monitor, which has ended for good: a container started again has
   * another one, and is released again after its next exit.
   */
  markReleased(c: Container): void {
    this.released.set(c.id, c.row.monitor_pid);
  }

  private isReleased(c: Container): boolean {
    return this.released.get(c.id) === c.row.monitor_pid;
  }

  private readonly destroying = new Map<string, Promise<void>>();

  /**
   * Release everything and delete the row, the directory and the sockets. One remover at a
   * time: the row's move to `removing` is the claim. Another process that is removing it
   * makes this a conflict (Docker's "already in progress"); one that died while removing
   * leaves the work to whoever comes next. Within this process a second call waits for the first.
   */
  async destroy(c: Container, opts: { volumes?: boolean }): Promise<void> {
    const running = this.destroying.get(c.id);
    if (running) return running;
    const p = this.claimAndDestroy(c, opts);
    this.destroying.set(c.id, p);
    try { await p; } finally { this.destroying.delete(c.id); }
  }

  private async claimAndDestroy(c: Container, opts: { volumes?: boolean }): Promise<void> {
    const me = process.pid;
    if (!this.updateFrom(c.id, ['created', 'running', 'paused', 'restarting', 'exited', 'dead'], { state: 'removing', remover_pid: me })) {
      const row = containerById(this.store.db, c.id);
      if (!row) return; // removed by another process meanwhile
      if (row.state === 'removing' && row.remover_pid !== me && this.sys.processAlive(row.remover_pid)) {
        throw conflict(`removal of container ${c.id} is already in progress`);
      }
      // the remover is gone (killed mid-way): take the work over, unless another process just did
      if (!updateContainerWhere(this.store.db, c.id, { state: 'removing', remover_pid: row.remover_pid }, { remover_pid: me })) {
        throw conflict(`removal of container ${c.id} is already in progress`);
      }
    }
    if (!this.isReleased(c)) await this.releaseRuntime(c);
    this.released.delete(c.id);
    this.volumes.release(c, !!opts.volumes);
    // The dir leaves containers/ in one rename before the row goes, so a removal killed at any
    // point leaves either the row (the next rm takes over) or a trash dir in tmp/ that the
    // next command's sweep deletes (its owner's pid is dead) - never a dir nothing lists.
    let trash = path.join(this.store.tmpDir, `${me}-rm-${c.id.slice(0, 12)}`);
    try { fs.renameSync(c.dir, trash); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EXDEV') trash = c.dir; // containers/ on another filesystem: delete in place
      else if (code !== 'ENOENT') throw e;
    }
    deleteContainer(this.store.db, c.id);
    removeShortLink(path.join(this.store.root, 'l'), path.join(c.dir, 'init')); // or l/<short> dangles
    rmTree(trash);
    fs.rmSync(c.paths.socketPath, { force: true });
    this.event(c, 'destroy');
  }
}
