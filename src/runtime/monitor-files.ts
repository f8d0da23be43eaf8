/**
 * The files a container monitor (native/monitor.c) writes, and waiting on them.
 *
 * Files (paths chosen by the caller; `monitorPaths()` gives the defaults):
 * Files the monitor writes (paths chosen by the caller; `monitorPaths()` gives the defaults):
 *   <container dir>/<id>-json.log  json-file log, Docker's format, one entry per line
 *   <container dir>/state.json     {status, pid, monitorPid, startedAt, finishedAt, exitCode, restartCount, oomKilled, error}
 *                                  rewritten atomically at every transition (created/running/restarting/exited)
 *   <container dir>/exit.json      {exitCode, finishedAt, startedAt, restartCount, oomKilled, error}
 *                                  written atomically (fsync + rename) once the container is done for good
 *   <container dir>/init.pid       runc's pid file
 *   <container dir>/runc.log       runc's JSON log (errors of create/start)
 *   <runtime dir>/s/<id>.sock      attach/control socket (unix stream), removed on exit
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError, errnoCode } from '../base/errors.js';
import { linuxSys, type Sys } from '../sys/index.js';

export interface MonitorPaths {
  bundle: string;
  logPath: string;
  stateFile: string;
  exitFile: string;
  pidFile: string;
  runcLog: string;
  socketPath: string;
  /** The fifo of a gated start (`MonitorOptions.gate`): there only while `runc run` waits on it. */
  gateFile: string;
  /** The fifo a monitor spawned early waits on (`spawnMonitorEarly`): there only until it reads it. */
  goFile: string;
}

/** Unix socket paths must fit in 108 bytes (sun_path), with room for the monitor's "-con" console socket. */
export const SOCKET_PATH_MAX = 100;

/**
 * Default file layout for a container: files in its own directory (which is
 * also the OCI bundle), the socket under the per-root runtime dir.
 */
export function monitorPaths(containerDir: string, runtimeDir: string, id: string): MonitorPaths {
  let sock = path.join(runtimeDir, 's', `${id}.sock`);
  if (Buffer.byteLength(sock) > SOCKET_PATH_MAX) {
    sock = path.join(runtimeDir, 's', `${createHash('sha256').update(id).digest('hex').slice(0, 24)}.sock`);
  }
  return {
    bundle: containerDir,
    logPath: path.join(containerDir, `${id}-json.log`),
    stateFile: path.join(containerDir, 'state.json'),
    exitFile: path.join(containerDir, 'exit.json'),
    pidFile: path.join(containerDir, 'init.pid'),
    runcLog: path.join(containerDir, 'runc.log'),
    socketPath: sock,
    gateFile: path.join(containerDir, 'gate'),
    goFile: path.join(containerDir, 'go'),
  };
}

export interface ExitInfo {
  exitCode: number;
  finishedAt: string;
  startedAt: string;
  restartCount: number;
  oomKilled: boolean;
  /** Start error text (runc's), empty after a normal exit. */
  error: string;
}

interface MonitorState extends ExitInfo {
  status: 'created' | 'running' | 'restarting' | 'exited';
  pid: number;
  monitorPid: number;
}


function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return null;
    if (e instanceof SyntaxError) return null;
    throw e;
  }
}

/** The exit record, or null while the container has not finished for good. */
export function readExit(file: string): ExitInfo | null {
  return readJson<ExitInfo>(file);
}

export function readState(file: string): MonitorState | null {
  return readJson<MonitorState>(file);
}


/**
 * Wait for the exit file. Rejects with `unavailable` if the monitor dies
 * without writing it (killed -9), so a caller never waits forever.
 */
export function waitExit(exitFile: string, opts: { monitorPid?: number; signal?: AbortSignal; intervalMs?: number; sys?: Sys } = {}): Promise<ExitInfo> {
  return waitFor(exitFile, () => readExit(exitFile) ?? undefined, opts);
}

/**
 * Until the container has stopped for good: its monitor's state.json says `exited` (written
 * just before the monitor's `runc delete`, ~25 ms ahead of exit.json) or exit.json is there.
 * What runs in the container is gone then: its network and rootfs can be released while the
 * monitor finishes. Rejects like `waitExit`.
 */
export async function waitStopped(exitFile: string, stateFile: string, opts: { monitorPid?: number; signal?: AbortSignal; intervalMs?: number; sys?: Sys } = {}): Promise<void> {
  await waitFor(exitFile, () => (readExit(exitFile) || readState(stateFile)?.status === 'exited' ? true : undefined), opts);
}

/** Poll `check` on every change in the exit file's directory (inotify) and every `intervalMs`. */
async function waitFor<T>(exitFile: string, check: () => T | undefined, opts: { monitorPid?: number; signal?: AbortSignal; intervalMs?: number; sys?: Sys }): Promise<T> {
  const sys = opts.sys ?? linuxSys;
  const interval = opts.intervalMs ?? 50;
  let watcher: fs.FSWatcher | undefined;
  let wake: (() => void) | undefined;
  try {
    watcher = fs.watch(path.dirname(exitFile), () => wake?.());
  } catch {
    // polling only
  }
  try {
    for (;;) {
      const info = check();
      if (info !== undefined) return info;
      if (opts.signal?.aborted) throw new StrataError('unavailable', 'wait aborted');
      if (opts.monitorPid && !sys.processAlive(opts.monitorPid)) {
        const again = check();
        if (again !== undefined) return again;
        throw new StrataError('unavailable', 'monitor exited without recording an exit code');
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, interval);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  } finally {
    watcher?.close();
  }
}
