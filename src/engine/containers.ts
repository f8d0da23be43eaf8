/**
 * Container use cases: create, start, stop, kill, restart, rm, ps, inspect, logs, wait,
 * exec, pause, unpause, rename, top, diff, commit, prune. The facade the engine hands to the
 * doors: each operation lives in its own file (container-create.ts, container-start.ts,
 * container-stop.ts, container-remove.ts, container-exec.ts, container-views.ts) over the
 * shared core (container-core.ts: rows, reconciliation, release).
 */
import * as path from 'node:path';
import { conflict, invalidArgument } from '../base/errors.js';
import { diffUpper, buildExclude, type Change } from '../changes/index.js';
import { execsOfContainer } from '../meta/execs.js';
import { waitExit, readLogs, resize as resizePty, type BuildSpecOptions, type ExecHandle, type LogEntry } from '../runtime/index.js';
import type { PortSummary } from '../format/index.js';
import { commitContainer, type CommitInput, type CommitResult } from './commit.js';
import type { Container, ContainerSummary } from './container-model.js';
import { ContainerCore } from './container-core.js';
import { createContainer } from './container-create.js';
import { abandonDeferred, prepareBundle, startContainer } from './container-start.js';
import { killContainer, pauseContainer, stopContainer, unpauseContainer, waitContainer } from './container-stop.js';
import { pruneContainers, removeContainer, renameContainer } from './container-remove.js';
import { execIn, execTarget, foldExecs } from './container-exec.js';
import { containerSummary, imageColumn, inspectContainer, listContainers, portSummaries } from './container-views.js';
import { generateId } from './names.js';
import type { CreateRequest } from './create-spec.js';
import { holdFreeze, releaseFreeze } from './freeze.js';
import { resolveImage } from './images.js';
import { ensureImageDirs } from './layer-dirs.js';

export type { Container, ContainerSummary } from './container-model.js';

type ExecOptions = Parameters<typeof execIn>[2];

export class Containers extends ContainerCore {
  /** Pass a signal the client received on to the container's process (best effort). */
  forwardSignal(id: string, signal: string): void {
    this.runc.kill(id, signal).catch(() => undefined);
  }

  /** Create a container (its image's layer dirs are made first when they are not yet: layer-dirs.ts). */
  async create(req: CreateRequest, name?: string): Promise<Container> {
    let imageId: string | undefined;
    try { imageId = req.Image ? resolveImage(this.store, req.Image).id : undefined; } catch { /* createContainer says why */ }
    if (imageId) await ensureImageDirs(this.store, imageId);
    return createContainer(this, req, name);
  }

  /** Build the bundle and the spec and join the networks (nothing is created in the runtime). */
  prepare(c: Container): Promise<{ spec: BuildSpecOptions }> { return prepareBundle(this, c); }

  /**
   * Start a created or exited container under a new monitor. With `deferStart` the
   * container is created and started only when an attached client says so.
   */
  start(ref: string, opts: { deferStart?: boolean } = {}): Promise<Container> { return startContainer(this, ref, opts); }

  /** The attached client went away before starting a deferred container: make it `created` again. */
  abandonDeferred(ref: string): Promise<void> { return abandonDeferred(this, ref); }

  /** Running for Docker's purposes (start answers 304): live and not waiting for a deferred start. */
  isRunning(c: Container): boolean {
    return this.isLive(c) && !this.isDeferred(c);
  }

  /** SIGTERM (or the image's StopSignal), then SIGKILL after `timeout` seconds. */
  stop(ref: string, timeout?: number): Promise<Container> { return stopContainer(this, ref, timeout); }

  kill(ref: string, signal = 'KILL'): Promise<Container> { return killContainer(this, ref, signal); }

  async restart(ref: string, timeout?: number): Promise<Container> {
    await this.stop(ref, timeout);
    return this.start(ref);
  }

  pause(ref: string): Promise<void> { return pauseContainer(this, ref); }

  unpause(ref: string): Promise<void> { return unpauseContainer(this, ref); }

  /** Docker's wait conditions (`not-running`, `next-exit`, `removed`); returns the exit code. */
  wait(ref: string, opts: { condition?: 'not-running' | 'next-exit' | 'removed'; signal?: AbortSignal } = {}): Promise<number> { return waitContainer(this, ref, opts); }

  remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> { return removeContainer(this, ref, opts); }

  prune(filters?: readonly string[]): Promise<{ deleted: string[]; reclaimed: number }> { return pruneContainers(this, filters); }

  rename(ref: string, newName: string): void { renameContainer(this, ref, newName); }

  // ------------------------------------------------------------ exec / logs / top

  /** The container an exec goes into: running, not paused (409 otherwise). */
  execTarget(ref: string): Container { return execTarget(this, ref); }

  /** A new exec ID (the API hands it out at exec create, before the process runs). */
  newExecId(): string {
    return generateId();
  }

  exec(ref: string, opts: ExecOptions): Promise<ExecHandle & { execId: string }> { return execIn(this, ref, opts); }

  /** The execs recorded for a container (provenance), with those still in files beside its bundle. */
  execsOf(id: string, dir = this.get(id).dir): { created: string; user: string; workdir: string; argv: string[]; exitCode: number | null }[] {
    foldExecs(this.store.db, id, dir);
    return execsOfContainer(this.store.db, id);
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
      void waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, signal: ac.signal, sys: this.sys }).catch(() => undefined).then(() => setTimeout(() => ac.abort(), 100));
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

  async top(ref: string, psArgs: string[] = ['-ef']): Promise<{ titles: string[]; processes: string[][] }> {
    const c = this.get(ref);
    if (c.row.state !== 'running' && c.row.state !== 'paused') throw conflict(`Container ${c.id} is not running`);
    return this.runc.top(c.id, psArgs);
  }

  // ------------------------------------------------------------ listing and views

  /** `ps`: newest first; running only unless `all` (or `last`); `filters` as `key=value`. */
  list(opts: { all?: boolean; last?: number; filters?: string[] } = {}): Container[] { return listContainers(this, opts); }

  /** Published ports (and exposed ones without a binding) while the container runs. */
  portSummaries(c: Container): PortSummary[] { return portSummaries(this, c); }

  /** Docker's container summary (`GET /containers/json`, `ps`). Sizes only with `size`. */
  summary(c: Container, opts: { size?: boolean } = {}): ContainerSummary { return containerSummary(this, c, opts); }

  inspect(ref: string): Record<string, unknown> { return inspectContainer(this, ref); }

  /** Short image column for ps: the reference as typed when it still resolves to the same image. */
  imageColumn(c: Container): string { return imageColumn(this, c); }

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
      execs: this.execsOf(c.id, c.dir).map((e) => ({ created: e.created, user: e.user, workdir: e.workdir, argv: e.argv })),
    };
    if (opts.author) input.author = opts.author;
    if (opts.message) input.message = opts.message;
    if (opts.changes?.length) input.changes = opts.changes;
    if (opts.reference) input.reference = opts.reference;
    if (opts.timestamp !== undefined) input.timestamp = opts.timestamp;
    const exclude = buildExclude({ patterns: opts.exclude ?? [], noise: !!opts.excludeNoise });
    if (exclude) input.exclude = exclude;
    if (opts.pause !== false && c.row.state === 'running') {
      input.pause = async () => {
        holdFreeze(c.dir, 'commit');
        try {
          await this.runc.pause(c.id);
        } catch (e) {
          releaseFreeze(c.dir);
          // it exited or was removed (rm -f) between the look above and the freeze: Docker's answer
          const st = await this.runc.state(c.id).catch(() => undefined);
          if (st === null || st?.status === 'stopped') throw conflict(`Container ${c.id} is not running`);
          throw e;
        }
      };
      input.unpause = async () => {
        try {
          await this.runc.resume(c.id);
        } catch (e) {
          // removed (rm -f) or thawed by someone else while frozen: the layer was taken all the same
          const st = await this.runc.state(c.id).catch(() => undefined);
          if (st === undefined || (st && st.status === 'paused')) throw e;
        }
        releaseFreeze(c.dir);
      };
    }
    const r = await commitContainer(this.store, input);
    this.event(c, 'commit', { imageID: r.id, ...(opts.message ? { comment: opts.message } : {}) });
    return r;
  }
}
