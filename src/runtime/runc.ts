/**
 * Driver for an OCI runtime binary with runc's command line (runc by default;
 * `STRATA_RUNTIME` or the `binary` option picks another). Every run of the
 * runtime goes through the kernel door (`Sys.runtimeRun/runtimeSpawn/
 * runtimeSpawnPty`), with the global arguments this driver builds.
 *
 * Every Strata root gets its own runtime state dir, `/run/strata-<hash>/runc`,
 * so two roots (tests, users) never see each other's containers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../base/errors.js';
import { sha256Hex } from '../base/sha256.js';
import { mkdirp } from '../base/fs.js';
import { linuxSys, type Sys } from '../sys/index.js';

interface RuncOptions {
  /** Runtime binary (default: $STRATA_RUNTIME or `runc`). */
  binary?: string;
  /** runc `--root` (default: derived from `strataRoot`). */
  root?: string;
  /** Used to derive the state dir when `root` is not given (default $STRATA_ROOT or /var/lib/strata). */
  strataRoot?: string;
  /** The kernel door (default: linuxSys). */
  sys?: Sys;
}

interface ContainerState {
  id: string;
  pid: number;
  status: 'created' | 'running' | 'paused' | 'stopped' | 'creating' | string;
  bundle: string;
  rootfs: string;
  created: string;
}

/** `/run/strata-<12 hex of sha256(realpath of root)>`: per-root runtime dir (sockets, runc state). */
export function runtimeDirFor(strataRoot: string, runDir = '/run'): string {
  const h = sha256Hex(path.resolve(strataRoot)).slice(0, 12);
  return `${runDir}/strata-${h}`;
}

function defaultStrataRoot(): string {
  return process.env.STRATA_ROOT || '/var/lib/strata';
}

/** An error from the runtime, with the message in Docker's words where one exists. */
export class RuntimeError extends StrataError {
  /** Exit status `docker run` would give: 127 not found, 126 cannot execute, 125 other. */
  readonly exitCode: number;
  /** The runtime's own message. */
  readonly detail: string;
  constructor(code: ConstructorParameters<typeof StrataError>[0], message: string, detail: string, exitCode: number) {
    super(code, message);
    this.name = 'RuntimeError';
    this.detail = detail;
    this.exitCode = exitCode;
  }
}

/** The exit status Docker's CLI derives from a start error's text. */
export function startErrorExitCode(msg: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(msg)) return 127;
  if (/permission denied|is a directory/.test(msg)) return 126;
  return 125;
}

/** Strip runc's logrus decoration: `time="..." level=error msg="X"` -> X. */
export function cleanRuncMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const picked: string[] = [];
  for (const line of lines) {
    if (line.startsWith('{')) {
      try {
        const o = JSON.parse(line) as { level?: string; msg?: string };
        if (o.level === 'error' || o.level === 'fatal') picked.push(o.msg ?? line);
        continue;
      } catch {
        // not JSON
      }
    }
    const m = /level=(\w+) msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m) {
      if (m[1] === 'error' || m[1] === 'fatal') picked.push(m[2]!.replace(/\\(.)/g, '$1'));
      continue;
    }
    picked.push(line);
  }
  const uniq = [...new Set(picked)];
  return uniq.join('; ');
}

/**
 * Map a runc failure to a StrataError in Docker's words: a missing container is
 * `not_found`; a start failure carries Docker's
 * `failed to create task for container: ... : unknown` text and exit status.
 */
export function runtimeError(op: string, id: string, stderr: string, status: number | null): RuntimeError {
  const msg = cleanRuncMessage(stderr) || `${op} failed with status ${status}`;
  if (/container does not exist|container .* does not exist|not found/i.test(msg) && !/executable file not found/.test(msg)) {
    return new RuntimeError('not_found', `No such container: ${id}`, msg, 125);
  }
  if (op === 'create' || op === 'run' || op === 'start' || op === 'exec') {
    const exitCode = startErrorExitCode(msg);
    const what = op === 'exec' ? 'OCI runtime exec failed' : `OCI runtime ${op === 'start' ? 'start' : 'create'} failed`;
    const prefix = op === 'exec' ? '' : 'failed to create task for container: failed to create shim task: ';
    const code = exitCode === 125 ? 'internal' : 'invalid_argument';
    return new RuntimeError(code, `${prefix}${what}: ${msg}: unknown`, msg, exitCode);
  }
  if (/not running|is not running|container not running|stopped/i.test(msg)) {
    return new RuntimeError('failed_precondition', `Container ${id} is not running`, msg, 125);
  }
  if (/already exists|exists/i.test(msg)) {
    return new RuntimeError('conflict', `container ${id} already exists in the runtime`, msg, 125);
  }
  return new RuntimeError('internal', `runtime ${op} ${id}: ${msg}`, msg, 125);
}

interface RunResult { status: number; stdout: string; stderr: string }

export class Runc {
  readonly binary: string;
  readonly root: string;
  readonly sys: Sys;

  constructor(opts: RuncOptions = {}) {
    this.sys = opts.sys ?? linuxSys;
    this.binary = opts.binary ?? process.env.STRATA_RUNTIME ?? 'runc';
    this.root = opts.root ?? path.join(runtimeDirFor(opts.strataRoot ?? defaultStrataRoot(), this.sys.runDir), 'runc');
  }

  /**
   * The runtime's own directory for a container (`state.json` in it), there from `create` to
   * `delete`: read without running the runtime (exec, a start that was killed midway).
   */
  stateDir(id: string): string {
    return path.join(this.root, id);
  }

  /** Global arguments (before the subcommand). */
  globalArgs(): string[] {
    return ['--root', this.root];
  }

  /** Run the runtime to completion, collecting output. */
  async run(args: string[], opts: { input?: string | Buffer } = {}): Promise<RunResult> {
    const r = await this.sys.runtimeRun(this.binary, [...this.globalArgs(), ...args], opts);
    return { status: r.code, stdout: r.stdout, stderr: r.stderr };
  }

  private async check(op: string, id: string, args: string[]): Promise<RunResult> {
    const r = await this.run(args);
    if (r.status !== 0) throw runtimeError(op, id, r.stderr, r.status);
    return r;
  }

  /** `runc create`: the container waits on its exec fifo until `start`. */
  async create(id: string, bundle: string, opts: { pidFile?: string; consoleSocket?: string } = {}): Promise<void> {
    mkdirp(this.root, 0o700);
    const args = ['create', '--bundle', bundle];
    if (opts.pidFile) args.push('--pid-file', opts.pidFile);
    if (opts.consoleSocket) args.push('--console-socket', opts.consoleSocket);
    args.push(id);
    await this.check('create', id, args);
  }

  async start(id: string): Promise<void> {
    await this.check('start', id, ['start', id]);
  }

  /** Send a signal (`TERM`, `SIGKILL`, `9`...). `all` signals every process of the container. */
  async kill(id: string, signal: string | number = 'TERM', opts: { all?: boolean } = {}): Promise<void> {
    const args = ['kill'];
    if (opts.all) args.push('--all');
    args.push(id, String(signal).replace(/^SIG/, ''));
    await this.check('kill', id, args);
  }

  /** `runc delete` (`force` kills a running container first). Missing containers are fine. */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    if (!fs.existsSync(this.root)) return;
    const args = ['delete'];
    if (opts.force) args.push('--force');
    args.push(id);
    const r = await this.run(args);
    if (r.status !== 0 && !/does not exist|not found/i.test(r.stderr)) throw runtimeError('delete', id, r.stderr, r.status);
  }

  /** The runtime's state, or null if it does not know the container. */
  async state(id: string): Promise<ContainerState | null> {
    if (!fs.existsSync(this.root)) return null;
    const r = await this.run(['state', id]);
    if (r.status !== 0) {
      if (/does not exist|not found/i.test(r.stderr)) return null;
      throw runtimeError('state', id, r.stderr, r.status);
    }
    return JSON.parse(r.stdout) as ContainerState;
  }

  async list(): Promise<ContainerState[]> {
    if (!fs.existsSync(this.root)) return [];
    const r = await this.check('list', '', ['list', '--format', 'json']);
    const parsed = JSON.parse(r.stdout || 'null') as ContainerState[] | null;
    return parsed ?? [];
  }

  /** Freeze every process of the container (cgroup freezer). */
  async pause(id: string): Promise<void> {
    await this.check('pause', id, ['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.check('resume', id, ['resume', id]);
  }

  /** Host PIDs of the container's processes. */
  async ps(id: string): Promise<number[]> {
    const r = await this.check('ps', id, ['ps', '--format', 'json', id]);
    return (JSON.parse(r.stdout || '[]') as number[] | null) ?? [];
  }

  /**
   * `docker top`: the host's `ps` output (`-ef` by default) restricted to the
   * container's processes.
   */
  async top(id: string, psArgs: string[] = ['-ef']): Promise<{ titles: string[]; processes: string[][] }> {
    const pids = new Set(await this.ps(id));
    const out = await this.sys.ps(psArgs);
    const lines = out.split('\n').filter((l) => l.length);
    const header = lines.shift() ?? '';
    const titles = header.trim().split(/\s+/);
    const pidCol = titles.indexOf('PID');
    if (pidCol < 0) throw new StrataError('invalid_argument', `Couldn't find PID field in ps output`);
    const processes: string[][] = [];
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      const pid = Number(fields[pidCol]);
      if (!pids.has(pid)) continue;
      // the last column (CMD) may contain spaces
      const row = fields.slice(0, titles.length - 1);
      row.push(fields.slice(titles.length - 1).join(' '));
      processes.push(row);
    }
    return { titles, processes };
  }

}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9,
  SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17,
  SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25,
  SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

/** `TERM`, `SIGTERM`, `15` -> 15. Unknown names throw Docker's message. */
export function signalNumber(sig: string | number): number {
  if (typeof sig === 'number') return sig;
  if (/^\d+$/.test(sig)) return Number(sig);
  const up = sig.toUpperCase();
  const n = SIGNALS[up.startsWith('SIG') ? up : `SIG${up}`];
  if (n === undefined) throw new StrataError('invalid_argument', `Invalid signal: ${sig}`);
  return n;
}
