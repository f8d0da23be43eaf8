/**
 * Attaching to a container through its monitor's socket: the handshake, stdcopy framing,
 * Docker's detach keys, and a terminal in raw mode with its size pushed to the container.
 */
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { StrataError, errnoCode } from '../base/errors.js';
import { resize } from './monitor-control.js';

interface AttachOptions {
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
class StdcopyDemuxer {
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

interface TerminalAttachOptions {
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
