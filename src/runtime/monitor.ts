/**
 * TypeScript side of the per-container monitor (native/monitor.c).
 *
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
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import { StrataError, errnoCode } from '../base/errors.js';
import { mkdirp } from '../base/fs.js';
import { Runc, RuntimeError, runtimeError, startErrorExitCode } from './runc.js';
import { readBundleSpec } from './spec.js';

export interface MonitorPaths {
  bundle: string;
  logPath: string;
  stateFile: string;
  exitFile: string;
  pidFile: string;
  runcLog: string;
  socketPath: string;
}

/** Unix socket paths must fit in 108 bytes (sun_path), with room for the monitor's "-con" console socket. */
const SOCKET_PATH_MAX = 100;

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
  };
}

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
  /** Path of the strata-monitor binary (default: $STRATA_MONITOR or native/build/strata-monitor). */
  monitorBinary?: string;
}

export interface MonitorStarted {
  /** Host PID of the container's init process. */
  pid: number;
  /** PID of the monitor daemon. */
  monitorPid: number;
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

export interface MonitorState extends ExitInfo {
  status: 'created' | 'running' | 'restarting' | 'exited';
  pid: number;
  monitorPid: number;
}

const RESTART_RE = /^(no|always|unless-stopped|on-failure(:\d+)?)$/;

/** Path of the compiled monitor. */
export function monitorBinaryPath(): string {
  if (process.env.STRATA_MONITOR) return process.env.STRATA_MONITOR;
  // dist/src/runtime/monitor.js or src/runtime/monitor.ts -> repo root
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'native', 'build', 'strata-monitor');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new StrataError('failed_precondition', 'strata-monitor is not built: run scripts/build-native.sh');
}

function parseSyncLine(line: string): MonitorStarted {
  const m = /^(ok|created) (\d+) (\d+)/.exec(line);
  if (m) return { pid: Number(m[2]), monitorPid: Number(m[3]) };
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
  if (opts.restart) args.push('--restart', opts.restart);

  const bin = opts.monitorBinary ?? monitorBinaryPath();
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  const sync = child.stdio[3] as Readable;
  let line = '';
  sync.setEncoding('utf8');
  sync.on('data', (d: string) => (line += d));
  await Promise.all([
    new Promise<void>((resolve) => sync.on('close', () => resolve())),
    new Promise<void>((resolve, reject) => {
      child.on('error', (e) => reject(new StrataError('failed_precondition', `cannot start monitor ${bin}: ${e.message}`)));
      child.on('exit', () => resolve());
    }),
  ]);
  child.unref();
  if (!line) throw new StrataError('internal', 'monitor exited without reporting');
  return parseSyncLine(line.trim());
}

/** Send one command line to a monitor and collect its whole reply. */
export function monitorCommand(socketPath: string, command: string, timeoutMs = 30000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let reply = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new StrataError('unavailable', `monitor did not answer ${command}`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(command + '\n'));
    sock.on('data', (d: string) => (reply += d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      const code = errnoCode(e);
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        reject(new StrataError('failed_precondition', 'container is not running (no monitor)'));
      } else reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

function checkOk(reply: string): string {
  if (reply.startsWith('ok')) return reply.trim();
  const m = /^err (\d+) ?(.*)$/s.exec(reply.trim());
  throw new StrataError('failed_precondition', m ? m[2]! : `monitor: ${reply.trim() || 'no reply'}`);
}

/** Start a container created with `deferStart`. */
export async function startContainer(socketPath: string): Promise<{ pid: number }> {
  const reply = (await monitorCommand(socketPath, 'start')).trim();
  const m = /^ok (\d+)/.exec(reply);
  if (m) return { pid: Number(m[1]) };
  const e = /^err (\d+) ?(.*)$/s.exec(reply);
  if (e) {
    const err = runtimeError('start', '', e[2]!, 1);
    throw new RuntimeError(err.code, err.message, err.detail, Number(e[1]) || startErrorExitCode(e[2]!));
  }
  throw new StrataError('internal', `monitor: unexpected reply ${JSON.stringify(reply)}`);
}

/** Set the pty size (stored by the monitor until the pty exists). */
export async function resize(socketPath: string, rows: number, cols: number): Promise<void> {
  checkOk(await monitorCommand(socketPath, `resize ${Math.floor(rows)} ${Math.floor(cols)}`));
}

/** No restart after the next exit (`docker stop`); ends a pending restart back-off. */
export async function disableRestart(socketPath: string): Promise<void> {
  checkOk(await monitorCommand(socketPath, 'norestart'));
}

export interface MonitorStatus {
  status: 'created' | 'running' | 'restarting' | 'exited';
  pid: number;
  monitorPid: number;
  restartCount: number;
  exitCode: number;
  startedAt: string;
}

export async function monitorStatus(socketPath: string): Promise<MonitorStatus> {
  return JSON.parse(await monitorCommand(socketPath, 'status')) as MonitorStatus;
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

/** Whether a process with this PID exists (and is not a zombie). */
export function processAlive(pid: number): boolean {
  if (!pid || pid < 0) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Wait for the exit file. Rejects with `unavailable` if the monitor dies
 * without writing it (killed -9), so a caller never waits forever.
 */
export async function waitExit(exitFile: string, opts: { monitorPid?: number; signal?: AbortSignal; intervalMs?: number } = {}): Promise<ExitInfo> {
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
      const info = readExit(exitFile);
      if (info) return info;
      if (opts.signal?.aborted) throw new StrataError('unavailable', 'wait aborted');
      if (opts.monitorPid && !processAlive(opts.monitorPid)) {
        const again = readExit(exitFile);
        if (again) return again;
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

export interface AttachOptions {
  /** The container was created with a tty: output is raw, not framed. */
  tty: boolean;
  /** Bytes to send to the container's stdin (requires `openStdin` at start). */
  stdin?: Readable | null;
  stdout?: Writable | null;
  stderr?: Writable | null;
  /** Close the container's stdin when `stdin` ends (`docker run -i`: StdinOnce). */
  closeStdin?: boolean;
  /**
   * Docker's detach sequence (`ctrl-p,ctrl-q`): typed on `stdin`, it ends the
   * session without stopping the container (session.detached is then true).
   */
  detachKeys?: string;
}

/** `ctrl-p,ctrl-q` -> <10 11>; `a,ctrl-@` -> <61 00>. Docker's format and errors. */
export function parseDetachKeys(spec: string): Buffer {
  const out: number[] = [];
  for (const raw of spec.split(',')) {
    const k = raw.trim().toLowerCase();
    if (k.length === 1) {
      out.push(k.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-([a-z@\[\\\]^_])$/.exec(k);
    if (!m) throw new StrataError('invalid_argument', `Unknown character: '${raw}'`);
    const ch = m[1]!;
    out.push(ch >= 'a' && ch <= 'z' ? ch.charCodeAt(0) - 96 : { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, '_': 31 }[ch]!);
  }
  if (out.length === 0) throw new StrataError('invalid_argument', 'detach keys must not be empty');
  return Buffer.from(out);
}

/** Strips a detach sequence out of an input stream, holding back bytes that may start it. */
export class DetachKeyFilter {
  private held = 0;
  constructor(private readonly keys: Buffer) {}
  /** Returns the bytes to forward, and whether the sequence was completed. */
  push(chunk: Buffer): { data: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) return { data: Buffer.from(out), detach: true };
        continue;
      }
      if (this.held) {
        out.push(...this.keys.subarray(0, this.held));
        this.held = 0;
        if (b === this.keys[0]) {
          this.held = 1;
          continue;
        }
      }
      out.push(b);
    }
    return { data: Buffer.from(out), detach: false };
  }
}

/**
 * Connect to the monitor's socket and perform the attach handshake. Resolves
 * with the socket positioned at the start of the stream: output (stdcopy frames
 * [stream,0,0,0,len BE32]+payload without tty, raw with tty) arrives on it,
 * anything written to it goes to the container's stdin, `end()` half-closes.
 * The monitor closes the socket when the container exits.
 */
export function openAttachSocket(socketPath: string, want: { stdin?: boolean; stdout?: boolean; stderr?: boolean; closeStdin?: boolean }): Promise<net.Socket> {
  let flags = '';
  if (want.stdin) flags += 'i';
  if (want.stdout !== false) flags += 'o';
  if (want.stderr !== false) flags += 'e';
  if (want.closeStdin) flags += 'c';
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(0x0a);
      if (nl < 0) return;
      sock.off('data', onData);
      sock.off('error', onError);
      sock.off('close', onClose);
      sock.pause();
      const line = head.subarray(0, nl).toString('utf8');
      const rest = head.subarray(nl + 1);
      if (!line.startsWith('ok')) {
        sock.destroy();
        reject(new StrataError('failed_precondition', line.replace(/^err \d+ ?/, '')));
        return;
      }
      if (rest.length) sock.unshift(rest);
      resolve(sock);
    };
    const onError = (e: Error) => {
      const code = errnoCode(e);
      reject(code === 'ENOENT' || code === 'ECONNREFUSED'
        ? new StrataError('failed_precondition', 'You cannot attach to a stopped container, start it first')
        : e);
    };
    const onClose = () => reject(new StrataError('failed_precondition', 'attach: monitor closed the connection'));
    sock.on('connect', () => sock.write(`attach ${flags}\n`));
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
  });
}

/** Split a stdcopy stream into stdout/stderr payloads. */
export class StdcopyDemuxer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (stream: number, payload: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      this.onFrame(this.buf[0]!, this.buf.subarray(8, 8 + len));
      this.buf = this.buf.subarray(8 + len);
    }
  }
}

export interface AttachSession {
  socket: net.Socket;
  /** Resolves when the output stream ends (the container exited, or we detached). */
  done: Promise<void>;
  /** True once the user typed the detach sequence: the container goes on running. */
  readonly detached: boolean;
  close(): void;
}

/**
 * Attach local streams to a running container: output to `stdout`/`stderr`
 * (demultiplexed when there is no tty), `stdin` to the container.
 */
export async function attach(socketPath: string, opts: AttachOptions): Promise<AttachSession> {
  const sock = await openAttachSocket(socketPath, {
    stdin: !!opts.stdin,
    stdout: !!opts.stdout,
    stderr: !!opts.stderr,
    closeStdin: opts.closeStdin,
  });
  const done = new Promise<void>((resolve) => {
    const demux = new StdcopyDemuxer((stream, payload) => {
      const target = stream === 2 ? opts.stderr : opts.stdout;
      target?.write(payload);
    });
    sock.on('data', (d: Buffer) => {
      if (opts.tty) opts.stdout?.write(d);
      else demux.push(d);
    });
    sock.on('error', () => resolve());
    sock.on('close', () => resolve());
    sock.resume();
  });
  let detached = false;
  if (opts.stdin) {
    const input = opts.stdin;
    const filter = opts.detachKeys ? new DetachKeyFilter(parseDetachKeys(opts.detachKeys)) : undefined;
    const onData = (d: Buffer | string) => {
      let data = typeof d === 'string' ? Buffer.from(d) : d;
      if (filter) {
        const r = filter.push(data);
        data = r.data;
        if (r.detach) {
          detached = true;
          if (data.length) sock.write(data);
          sock.destroy(); // not end(): a half-close would mean "end of input" to the container
          return;
        }
      }
      if (!sock.write(data)) {
        input.pause();
        sock.once('drain', () => input.resume());
      }
    };
    input.on('data', onData);
    input.once('end', () => sock.end());
    void done.then(() => {
      input.off('data', onData);
      input.pause();
    });
  } else {
    sock.end();
  }
  return {
    socket: sock,
    done,
    get detached() {
      return detached;
    },
    close: () => sock.destroy(),
  };
}

export interface TerminalAttachOptions {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  /** Send keystrokes to the container (`-i`). */
  openStdin?: boolean;
  /** e.g. Docker's default `ctrl-p,ctrl-q`; none unless given. */
  detachKeys?: string;
}

/**
 * `run -it` / `attach` from a terminal: our stdin in raw mode (so Ctrl-C travels
 * to the container as the byte 0x03 through its pty), our window size pushed to
 * the container's pty now and on every SIGWINCH, restored on the way out.
 */
export async function attachTerminal(socketPath: string, opts: TerminalAttachOptions): Promise<AttachSession> {
  const { stdin, stdout } = opts;
  const pushSize = () => {
    if (stdout.isTTY && stdout.rows && stdout.columns) {
      resize(socketPath, stdout.rows, stdout.columns).catch(() => {
        // the container may be gone already: nothing to resize
      });
    }
  };
  const raw = !!opts.openStdin && stdin.isTTY;
  if (raw) stdin.setRawMode(true);
  // Like Docker's MakeRaw, also turn off output processing on our terminal: the
  // container's pty already turned \n into \r\n (libuv's raw mode keeps OPOST).
  const opost = stdout.isTTY ? setOutputProcessing(stdout, false) : undefined;
  let session: AttachSession;
  try {
    session = await attach(socketPath, {
      tty: true,
      stdin: opts.openStdin ? stdin : null,
      stdout,
      closeStdin: false,
      ...(opts.detachKeys ? { detachKeys: opts.detachKeys } : {}),
    });
  } catch (e) {
    if (raw) stdin.setRawMode(false);
    opost?.restore();
    throw e;
  }
  pushSize();
  stdout.on('resize', pushSize);
  void session.done.then(() => {
    stdout.off('resize', pushSize);
    if (raw) stdin.setRawMode(false);
    opost?.restore();
    stdin.pause();
  });
  return session;
}

/** `stty -opost` on a terminal (restored by `restore()`, or at exit at the latest). */
function setOutputProcessing(tty: NodeJS.WriteStream, on: boolean): { restore(): void } | undefined {
  const fd = (tty as unknown as { fd?: number }).fd;
  if (typeof fd !== 'number') return undefined;
  const stty = (arg: string) => spawnSync('stty', [arg], { stdio: [fd, 'ignore', 'ignore'] }).status === 0;
  if (!stty(on ? 'opost' : '-opost')) return undefined;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.off('exit', restore);
    stty(on ? '-opost' : 'opost');
  };
  process.on('exit', restore);
  return { restore };
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
    await waitExit(opts.exitFile, { monitorPid: created.monitorPid }).catch(() => undefined);
    throw e;
  }
  await session.done;
  return waitExit(opts.exitFile, { monitorPid: created.monitorPid });
}
