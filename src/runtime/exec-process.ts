/**
 * `docker exec`: run another process in a running container with `runc exec`.
 *
 * - without a tty, stdio are plain pipes (or inherited), and the process is started by
 *   strata-exec instead of runc when exec-native.ts says it can be;
 * - with a tty, `runc exec --tty` runs under a pseudo-terminal from
 *   @lydell/node-pty: runc allocates the container's pty itself and copies
 *   between it and ours, and our resizes reach it as SIGWINCH (measured);
 * - `detach` returns once the process is running (stdio on /dev/null).
 *
 * The executable is looked up in the container's filesystem first, so that
 * "not found" / "permission denied" fail before anything runs, with Docker's
 * message and exit status (127 / 126), instead of as text on the process's stderr.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { urandom } from '../base/random.js';
import { StrataError } from '../base/errors.js';
import { Runc, RuntimeError, runtimeError, signalNumber } from './runc.js';
import { readBundleSpec, mergeEnv, type OciSpec, type OciProcess } from './spec.js';
import { resolveUser, resolveGroups } from './user.js';
import { hostCapabilities } from './caps.js';
import { nativeExecConfig } from './exec-native.js';

interface ExecOptions {
  args: string[];
  /** KEY=VALUE added to (replacing in) the container's environment. */
  env?: string[];
  /** Default: the container's working directory. */
  cwd?: string;
  /** Default: the container's user. */
  user?: string;
  groupAdd?: string[];
  tty?: boolean;
  detach?: boolean;
  /** Give the process a stdin pipe (`-i`); otherwise /dev/null. */
  stdin?: boolean;
  privileged?: boolean;
  /** Initial pty size. */
  rows?: number;
  cols?: number;
  /** Without a tty: inherit this process's stdio instead of pipes (CLI use). */
  inheritStdio?: boolean;
  /**
   * With inheritStdio, the CLI's exec: when strata-exec can run it, this process is replaced by
   * strata-exec (no Node left to wait, record and exit: ~25 ms). `before` runs just before;
   * strata-exec writes the exit status to `exitFile`. execInContainer returns only when the
   * process could not be replaced.
   */
  replace?: { exitFile: string; before: () => void };
  /** Bundle directory (default: from `runc state`). */
  bundle?: string;
  /**
   * The caller has just seen the container running and not paused (the engine's reconciled
   * record): `runc state` (~20 ms) runs only when `runc exec` fails, to report that failure
   * as it would have been reported up front.
   */
  checked?: boolean;
}

export interface ExecHandle {
  /** PID of the runc exec process (of the exec'd process itself when detached). */
  pid: number;
  stdin: Writable | null;
  /** With a tty: everything the terminal prints. */
  stdout: Readable | null;
  stderr: Readable | null;
  /** Resize the pty (tty only). */
  resize(rows: number, cols: number): void;
  kill(signal?: string | number): void;
  /** The exit code (0 right away for a detached exec). Rejects with a RuntimeError if runc could not start it. */
  wait(): Promise<number>;
}

type Lookup = 'ok' | 'notfound' | 'denied' | 'unknown';

/** Map a container path to where it is visible on the host (rootfs, or a bind mount's source). */
function hostPathFor(spec: OciSpec, rootfs: string, p: string): string | undefined {
  const norm = path.posix.normalize(p);
  let best: { dest: string; source: string } | undefined;
  for (const m of spec.mounts) {
    const dest = path.posix.normalize(m.destination);
    if (norm !== dest && !norm.startsWith(dest === '/' ? '/' : dest + '/')) continue;
    if (m.type === 'bind' && m.source) {
      if (!best || dest.length > best.dest.length) best = { dest, source: m.source };
    } else if (!best || dest.length > best.dest.length) {
      best = { dest, source: '' }; // tmpfs, proc...: not visible from here
    }
  }
  if (best) {
    if (!best.source) return undefined;
    return path.join(best.source, path.posix.relative(best.dest, norm));
  }
  return path.join(rootfs, norm);
}

/** Resolve symlinks of a container path inside the rootfs (absolute links stay inside). */
function resolveInRootfs(spec: OciSpec, rootfs: string, p: string): string | undefined {
  let parts = p.split('/').filter(Boolean);
  let done: string[] = [];
  for (let hops = 0; hops < 40 && parts.length; ) {
    const part = parts.shift()!;
    if (part === '.') continue;
    if (part === '..') { done.pop(); continue; }
    const candidate = '/' + [...done, part].join('/');
    const host = hostPathFor(spec, rootfs, candidate);
    if (host === undefined) return undefined;
    let st: fs.Stats;
    try { st = fs.lstatSync(host); } catch { return ''; }
    if (st.isSymbolicLink()) {
      hops++;
      const target = fs.readlinkSync(host);
      if (target.startsWith('/')) done = [];
      parts = [...target.split('/').filter(Boolean), ...parts];
      continue;
    }
    done.push(part);
  }
  return '/' + done.join('/');
}

/**
 * Docker's (Go's exec.LookPath) view of `file` inside the container: found and
 * executable, missing, or not executable. 'unknown' when part of the path is on
 * a mount we cannot see from the host.
 */
function lookPathInContainer(spec: OciSpec, rootfs: string, file: string, env: string[], cwd: string): Lookup {
  const check = (containerPath: string): Lookup => {
    const resolved = resolveInRootfs(spec, rootfs, containerPath);
    if (resolved === undefined) return 'unknown';
    if (resolved === '') return 'notfound';
    const host = hostPathFor(spec, rootfs, resolved);
    if (host === undefined) return 'unknown';
    let st: fs.Stats;
    try { st = fs.statSync(host); } catch { return 'notfound'; }
    if (st.isDirectory() || (st.mode & 0o111) === 0) return 'denied';
    return 'ok';
  };
  if (file.includes('/')) return check(path.posix.resolve(cwd, file));
  const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '';
  let sawDenied = false;
  for (const dir of pathVar.split(':')) {
    const r = check(path.posix.join(dir === '' ? '.' : path.posix.resolve(cwd, dir), file));
    if (r === 'ok' || r === 'unknown') return r;
    if (r === 'denied') sawDenied = true;
  }
  // Go's LookPath reports "not found" even when only non-executable files matched.
  void sawDenied;
  return 'notfound';
}

function lookupError(file: string, kind: Lookup): RuntimeError {
  const detail = kind === 'notfound'
    ? (file.includes('/') ? `exec: "${file}": stat ${file}: no such file or directory` : `exec: "${file}": executable file not found in $PATH`)
    : `exec: "${file}": permission denied`;
  const msg = `exec failed: unable to start container process: ${detail}`;
  return new RuntimeError('invalid_argument', `OCI runtime exec failed: ${msg}: unknown`, msg, kind === 'notfound' ? 127 : 126);
}

/** The process spec `runc exec --process` gets: the container's, adjusted by the exec options. */
function execProcessSpec(spec: OciSpec, rootfs: string, opts: ExecOptions): OciProcess {
  const base = spec.process;
  let user = base.user;
  if (opts.user) {
    const u = resolveUser(rootfs, opts.user);
    user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
  }
  if (opts.groupAdd?.length) {
    const extra = resolveGroups(rootfs, opts.groupAdd);
    user = { ...user, additionalGids: [...new Set([...(user.additionalGids ?? []), ...extra])] };
  }
  let env = [...base.env];
  if (opts.tty && !env.some((e) => e.startsWith('TERM='))) env = mergeEnv(env, ['TERM=xterm']);
  env = mergeEnv(env, opts.env ?? []);
  const caps = opts.privileged ? hostCapabilities() : base.capabilities?.bounding ?? [];
  const proc: OciProcess = {
    terminal: !!opts.tty,
    user,
    args: [...opts.args],
    env,
    cwd: opts.cwd || base.cwd || '/',
    capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [] },
    noNewPrivileges: base.noNewPrivileges,
  };
  if (base.rlimits) proc.rlimits = base.rlimits;
  if (base.apparmorProfile) proc.apparmorProfile = base.apparmorProfile;
  if (opts.tty && opts.rows && opts.cols) proc.consoleSize = { height: opts.rows, width: opts.cols };
  return proc;
}

async function runcLogError(logFile: string): Promise<string | undefined> {
  let text: string;
  try { text = await fs.promises.readFile(logFile, 'utf8'); } catch { return undefined; }
  let found: string | undefined;
  for (const line of text.split('\n')) {
    try {
      const o = JSON.parse(line) as { level?: string; msg?: string };
      if (o.level === 'error' || o.level === 'fatal') found = o.msg;
    } catch { /* ignore */ }
  }
  return found;
}

/**
 * Run a process in a running container. The caller owns the returned streams;
 * `wait()` gives the exit code.
 */
export async function execInContainer(runc: Runc, id: string, opts: ExecOptions): Promise<ExecHandle> {
  if (!opts.args?.length) throw new StrataError('invalid_argument', 'No exec command specified');
  let bundle = opts.bundle;
  /** why an exec cannot run in this container now, from `runc state` */
  const notRunning = async (): Promise<StrataError | undefined> => {
    const st = await runc.state(id);
    if (!st) return new StrataError('not_found', `No such container: ${id}`);
    if (st.status !== 'running') {
      return new StrataError('conflict', st.status === 'paused'
        ? `Container ${id} is paused, unpause the container before exec`
        : `Container ${id} is not running`);
    }
    bundle ??= st.bundle;
    return undefined;
  };
  if (!opts.checked || bundle === undefined) {
    const err = await notRunning();
    if (err) throw err;
  }
  if (bundle === undefined) throw new StrataError('internal', `no bundle for container ${id}`);
  const spec = readBundleSpec(bundle);
  const rootfs = path.isAbsolute(spec.root.path) ? spec.root.path : path.join(bundle, spec.root.path);
  // a detached tty would need a console socket and nobody to read it: run it without one
  const proc = execProcessSpec(spec, rootfs, opts.detach ? { ...opts, tty: false } : opts);

  const tag = urandom(6).toString('hex');
  const logFile = path.join(bundle, `exec-${tag}.log`);
  const pidFile = path.join(bundle, `exec-${tag}.pid`);
  // a foreground exec without a tty runs through strata-exec when it can (exec-native.ts)
  const sys = runc.sys;
  // (only with `native`, which a tty or detached exec never gets)
  const replacing = !!opts.replace && !!opts.inheritStdio && sys.canExecReplace();
  const native = opts.tty || opts.detach ? undefined
    : nativeExecConfig(runc, id, spec, proc, { log: logFile, pid: pidFile, cacheDir: bundle, ...(replacing ? { exitFile: opts.replace!.exitFile } : {}) });
  // Docker's message for a command that is missing or cannot run, before anything is recorded;
  // strata-exec in the CLI's place looks it up itself, inside the container, with these words
  if (!(native && replacing)) {
    const found = lookPathInContainer(spec, rootfs, proc.args[0]!, proc.env, proc.cwd);
    if (found === 'notfound' || found === 'denied') throw lookupError(proc.args[0]!, found);
  }
  const processFile = path.join(bundle, native ? `exec-${tag}.conf` : `exec-${tag}.json`);
  fs.writeFileSync(processFile, native?.conf ?? JSON.stringify(proc), { mode: 0o600 });
  const cleanup = () => {
    for (const f of [processFile, logFile, pidFile]) fs.rmSync(f, { force: true });
  };
  const globalArgs = [...runc.globalArgs(), '--log', logFile, '--log-format', 'json'];
  const failure = async (status: number | null): Promise<Error | undefined> => {
    if (status !== 255 && status !== 1) return undefined;
    if (fs.existsSync(pidFile)) return undefined; // the process ran: its own status
    if (opts.checked) {
      const err = await notRunning();
      if (err) return err;
    }
    const msg = await runcLogError(logFile);
    return msg ? runtimeError('exec', id, msg, status) : undefined;
  };
  /** A foreground exec has ended: its status (128+N for a signal), or why it could not run. */
  const settle = async (code: number | null, signal: number): Promise<number> => {
    const err = await failure(code);
    cleanup();
    if (err) throw err;
    return code ?? 128 + signal;
  };

  if (native && replacing) {
    opts.replace!.before();
    try {
      sys.execReplace(native.binary, [processFile], { stdin: !!opts.stdin });
    } finally {
      cleanup(); // (only reached when execve failed)
    }
  }
  if (opts.tty && !opts.detach) {
    const term = await sys.runtimeSpawnPty(runc.binary, [...globalArgs, 'exec', '--tty', '--process', processFile, '--pid-file', pidFile, id], {
      cols: opts.cols ?? 80,
      rows: opts.rows ?? 24,
      env: process.env as Record<string, string>,
    });
    const out = new PassThrough();
    term.onData((d: string | Buffer) => out.write(d));
    const exited = new Promise<number>((resolve, reject) => {
      term.onExit(({ exitCode, signal }) => {
        out.end();
        void failure(exitCode).then((err) => {
          cleanup();
          if (err) reject(err);
          else resolve(signal ? 128 + signal : exitCode);
        });
      });
    });
    const stdin = new Writable({
      write(chunk: Buffer, _enc, cb) {
        term.write(chunk);
        cb();
      },
    });
    return {
      pid: term.pid,
      stdin,
      stdout: out,
      stderr: null,
      resize: (rows, cols) => term.resize(Math.max(1, Math.floor(cols)), Math.max(1, Math.floor(rows))),
      kill: (sig) => term.kill(typeof sig === 'number' ? undefined : sig ?? 'SIGTERM'),
      wait: () => exited,
    };
  }

  if (opts.detach) {
    const child = sys.runtimeSpawn(runc.binary, [...globalArgs, 'exec', '--detach', '--process', processFile, '--pid-file', pidFile, id], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const status = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code));
    });
    let pid = 0;
    try { pid = Number(fs.readFileSync(pidFile, 'utf8').trim()); } catch { /* failed */ }
    if (status !== 0) {
      const msg = (await runcLogError(logFile)) ?? stderr;
      const err = opts.checked ? await notRunning() : undefined;
      cleanup();
      throw err ?? runtimeError('exec', id, msg, status);
    }
    cleanup();
    return { pid, stdin: null, stdout: null, stderr: null, resize: () => {}, kill: (sig) => process.kill(pid, signalNumber(sig ?? 'TERM')), wait: async () => 0 };
  }

  // the CLI's exec: strata-exec on the CLI's own stdio, started without child_process
  const inherited = native && opts.inheritStdio ? sys.spawnInherit(native.binary, [processFile], { stdin: !!opts.stdin }) : null;
  if (inherited) {
    const exited = inherited.exited.then(({ code, signal }) => settle(code, signal ?? 0));
    return {
      pid: inherited.pid,
      stdin: null,
      stdout: null,
      stderr: null,
      resize: () => {},
      kill: (sig) => process.kill(inherited.pid, signalNumber(sig ?? 'TERM')),
      wait: () => exited,
    };
  }
  const stdio = opts.inheritStdio
    ? [opts.stdin ? 'inherit' : 'ignore', 'inherit', 'inherit'] as const
    : [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] as const;
  const child = native
    ? sys.runtimeSpawn(native.binary, [processFile], { stdio: [...stdio] })
    : sys.runtimeSpawn(runc.binary, [...globalArgs, 'exec', '--process', processFile, '--pid-file', pidFile, id], { stdio: [...stdio] });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (e) => {
      cleanup();
      reject(e);
    });
    child.on('close', (code, signal) => settle(code, signal ? signalNumber(signal) : 0).then(resolve, reject));
  });
  return {
    pid: child.pid ?? 0,
    stdin: child.stdin ?? null,
    stdout: child.stdout ?? null,
    stderr: child.stderr ?? null,
    resize: () => {},
    kill: (sig) => child.kill(typeof sig === 'number' ? sig : (sig ?? 'SIGTERM') as NodeJS.Signals),
    wait: () => exited,
  };
}
