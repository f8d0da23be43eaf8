/**
 * Launching a container monitor (native/monitor.c), which creates the container with the
 * OCI runtime, owns its stdio, log and exit code, and serves the control/attach socket.
 * The monitor is started through the kernel door (`Sys.launchMonitor`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { StrataError } from '../base/errors.js';
import { mkdirp } from '../base/fs.js';
import { nativeBinary } from '../base/native.js';
import { attach, attachTerminal, type AttachSession } from './attach.js';
import { startContainer } from './monitor-control.js';
import { SOCKET_PATH_MAX, waitExit, type ExitInfo, type MonitorPaths } from './monitor-files.js';
import { Runc, RuntimeError, runtimeError } from './runc.js';
import { readBundleSpec } from './spec.js';

export interface MonitorOptions extends Partial<MonitorPaths> {
  id: string;
  bundle: string;
  socketPath: string;
  exitFile: string;
  stateFile: string;
  pidFile: string;
  /** json-file log; omit for no log (`--log-driver none`). */
  logPath?: string;
  /** rotate the log once it reaches this many bytes (`--log-opt max-size`) */
  logMaxSize?: number;
  /** files kept, the current one included (`--log-opt max-file`, default 1) */
  logMaxFile?: number;
  runtime?: Runc;
  /** Default: the bundle's `process.terminal`. */
  tty?: boolean;
  /** Keep the container's stdin open for attach clients (`-i`). */
  openStdin?: boolean;
  /** `no` | `always` | `unless-stopped` | `on-failure[:N]` */
  restart?: string;
  /**
   * Create the container but start it only on `startContainer(socketPath)`,
   * so a foreground client can attach before the first byte of output.
   */
  deferStart?: boolean;
  /**
   * Create and start with one `runc run --detach`. With `gate` (a fifo path, which the
   * bundle's createRuntime hook waits on: `gateHook`), runc run waits in the hook until
   * `startContainer(socketPath)`: the container is made while its network is attached.
   */
  run?: boolean;
  gate?: string;
  /** A fifo the monitor waits on for 'g' before it creates anything (see `spawnMonitorEarly`). */
  go?: string;
  /** Path of the strata-monitor binary (default: $STRATA_MONITOR or native/build/strata-monitor). */
  monitorBinary?: string;
}

interface MonitorStarted {
  /** Host PID of the container's init process (0 while gated). */
  pid: number;
  /** `runc run` waits for `startContainer` (MonitorOptions.gate). */
  gated?: boolean;
  /** PID of the monitor daemon. */
  monitorPid: number;
}

const RESTART_RE = /^(no|always|unless-stopped|on-failure(:\d+)?)$/;

/** The spec's hook for a gated start (`MonitorOptions.gate`): the monitor's binary waits on the fifo. */
export function gateHook(fifo: string, monitorBinary?: string): { binary: string; fifo: string } {
  return { binary: monitorBinary ?? monitorBinaryPath(), fifo };
}

/** Path of the compiled monitor. */
function monitorBinaryPath(): string {
  if (process.env.STRATA_MONITOR) return process.env.STRATA_MONITOR;
  const file = nativeBinary('strata-monitor');
  if (file) return file;
  throw new StrataError('failed_precondition', 'strata-monitor is not built: run scripts/build-native.sh');
}

function parseSyncLine(line: string): MonitorStarted {
  const m = /^(ok|created|gated) (\d+) (\d+)/.exec(line);
  if (m) return m[1] === 'gated' ? { pid: 0, monitorPid: Number(m[3]), gated: true } : { pid: Number(m[2]), monitorPid: Number(m[3]) };
  const e = /^err (\d+) ?(.*)$/s.exec(line);
  if (e) {
    const detail = e[2]!.trim();
    const err = runtimeError('create', '', detail, 1);
    // the monitor's exit status wins over our text heuristics
    throw new RuntimeError(err.code, err.message, detail, Number(e[1]) || err.exitCode);
  }
  throw new StrataError('internal', `monitor: unexpected reply ${JSON.stringify(line)}`);
}

/**
 * Start a monitor (and through it the container). Resolves once the container
 * is running (or created, with `deferStart`); rejects with a RuntimeError whose
 * `exitCode` is 127/126/125 if runc could not start it (for example
 * `exec: "nosuch": executable file not found in $PATH`).
 */
export async function startMonitor(opts: MonitorOptions): Promise<MonitorStarted> {
  const runtime = opts.runtime ?? new Runc();
  if (opts.restart && !RESTART_RE.test(opts.restart)) {
    throw new StrataError('invalid_argument', `invalid restart policy format: ${opts.restart}`);
  }
  if (Buffer.byteLength(opts.socketPath) > SOCKET_PATH_MAX) {
    throw new StrataError('invalid_argument', `socket path too long: ${opts.socketPath}`);
  }
  mkdirp(path.dirname(opts.socketPath), 0o700);
  mkdirp(runtime.root, 0o700);
  for (const f of [opts.exitFile, opts.stateFile]) fs.rmSync(f, { force: true });
  const args = [
    '--runtime', runtime.binary,
    '--root', runtime.root,
    '--id', opts.id,
    '--bundle', opts.bundle,
    '--pid-file', opts.pidFile,
    '--socket', opts.socketPath,
    '--state', opts.stateFile,
    '--exit-file', opts.exitFile,
    '--sync-fd', '3',
  ];
  if (opts.logPath) args.push('--log', opts.logPath);
  if (opts.logPath && opts.logMaxSize) args.push('--log-max-size', String(opts.logMaxSize), '--log-max-file', String(opts.logMaxFile ?? 1));
  if (opts.runcLog) args.push('--runc-log', opts.runcLog);
  // the monitor must match the spec: runc refuses a terminal without a console socket
  const tty = opts.tty ?? readBundleSpec(opts.bundle).process.terminal === true;
  if (tty) args.push('--tty');
  if (opts.openStdin) args.push('--stdin');
  if (opts.deferStart) args.push('--defer-start');
  else if (opts.gate) args.push('--gate', opts.gate);
  else if (opts.run) args.push('--run');
  if (opts.go) args.push('--go', opts.go);
  if (opts.restart) args.push('--restart', opts.restart);

  const bin = opts.monitorBinary ?? monitorBinaryPath();
  const line = await runtime.sys.launchMonitor(bin, args);
  if (!line) throw new StrataError('internal', 'monitor exited without reporting');
  return parseSyncLine(line.trim());
}

export interface EarlyMonitor {
  /** The bundle is written: create the container (at most once). */
  go(): void;
  /** Nothing is to be created: the monitor exits, having made nothing (idempotent). */
  cancel(): void;
  /** startMonitor's result once the monitor reports: after `go`, or an error after `cancel`. */
  started: Promise<MonitorStarted>;
}

/**
 * Spawn the monitor before its bundle is written, so that its start-up (a daemon, its socket
 * and log: ~15 ms here) overlaps the caller's work; it waits on the fifo `goFile` until `go()`.
 * This process holds the fifo open for writing from before the spawn until the monitor reports,
 * so the monitor reads 'g', or EOF once the caller cancels or dies.
 */
export function spawnMonitorEarly(opts: MonitorOptions & { goFile: string }): EarlyMonitor {
  const runtime = opts.runtime ?? new Runc();
  fs.rmSync(opts.goFile, { force: true });
  runtime.sys.mknod(opts.goFile, 'fifo', 0o600, 0, 0);
  let fd: number | undefined = fs.openSync(opts.goFile, fs.constants.O_RDWR);
  const close = (): void => {
    if (fd === undefined) return;
    fs.closeSync(fd);
    fd = undefined;
  };
  let started: Promise<MonitorStarted>;
  try {
    started = startMonitor({ ...opts, runtime, go: opts.goFile });
  } catch (e) {
    close();
    fs.rmSync(opts.goFile, { force: true });
    throw e;
  }
  started = started.finally(() => {
    close();
    fs.rmSync(opts.goFile, { force: true });
  });
  let told = false;
  return {
    go: () => {
      if (fd === undefined || told) return;
      told = true;
      fs.writeSync(fd, 'g');
    },
    // 'x' before the close: the monitor reads a cancel whether or not it has opened the fifo yet
    cancel: () => {
      if (fd !== undefined && !told) {
        told = true;
        try { fs.writeSync(fd, 'x'); } catch { /* closing is enough */ }
      }
      close();
    },
    started,
  };
}

export interface ForegroundOptions extends MonitorOptions {
  stdin?: Readable | null;
  stdout?: Writable | null;
  stderr?: Writable | null;
  /** Close the container's stdin when `stdin` ends (`docker run -i`). */
  closeStdin?: boolean;
  /** Attach as a terminal (stdin/stdout must be TTY streams; requires `tty`). */
  terminal?: boolean;
  /** Called once the container runs (e.g. to record the PID). */
  onStarted?: (started: MonitorStarted) => void;
}

/**
 * Docker's foreground `run`: create under a monitor, attach, then start, so
 * no output is lost; resolves with the exit code once the exit file is
 * written. The container still belongs to its monitor: if this process dies
 * the container lives on, detached.
 */
export async function runForeground(opts: ForegroundOptions): Promise<ExitInfo> {
  const runtime = opts.runtime ?? new Runc();
  opts = { ...opts, runtime };
  const created = await startMonitor({ ...opts, deferStart: true });
  let session: AttachSession;
  if (opts.terminal) {
    session = await attachTerminal(opts.socketPath, {
      stdin: opts.stdin as NodeJS.ReadStream,
      stdout: opts.stdout as NodeJS.WriteStream,
      openStdin: opts.openStdin,
    });
  } else {
    session = await attach(opts.socketPath, {
      tty: !!opts.tty,
      stdin: opts.openStdin ? opts.stdin : null,
      stdout: opts.stdout,
      stderr: opts.stderr,
      closeStdin: opts.closeStdin,
    });
  }
  try {
    const { pid } = await startContainer(opts.socketPath);
    opts.onStarted?.({ pid, monitorPid: created.monitorPid });
  } catch (e) {
    session.close();
    await waitExit(opts.exitFile, { monitorPid: created.monitorPid, sys: runtime.sys }).catch(() => undefined);
    throw e;
  }
  await session.done;
  return waitExit(opts.exitFile, { monitorPid: created.monitorPid, sys: runtime.sys });
}
