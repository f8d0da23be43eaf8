import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { tempNameFor, fsyncDir } from '../base/fs.js';
import { StrataError, diskFullMessage, errnoCode } from '../base/errors.js';
import { openEngine, type Engine } from '../engine/index.js';


export class ExitError extends Error {
  constructor(readonly exitCode: number, message = '') { super(message); }
}

let opened: Engine | undefined;
/** The engine is opened lazily, once per process (commands that need no store never open one). */
export function engine(): Engine {
  opened ??= openEngine();
  return opened;
}
/** Let background clean-up finish, then close the store. */
export async function closeEngine(): Promise<void> {
  const e = opened;
  opened = undefined;
  if (!e) return;
  await e.settle().catch(() => undefined);
  e.close();
}

/** The one line a failure prints on stderr. */
export function errorLine(e: unknown): string {
  const full = diskFullMessage(e, storeRootPath());
  if (full) return `Error: ${full}`;
  if (e instanceof StrataError) return `Error: ${e.message}`;
  const code = errnoCode(e);
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
    const err = e as NodeJS.ErrnoException;
    const what = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : 'is a directory';
    return `Error: open ${err.path ?? ''}: ${what}`;
  }
  return `Error: ${(e as Error)?.message ?? String(e)}`;
}

function storeRootPath(): string {
  return process.env.STRATA_ROOT || '/var/lib/strata';
}

/**
 * FILE or '-' (stdin) as a stream; a file is opened up front so errors surface before work
 * starts. `regularFileFd`: a regular file is returned as its open descriptor instead.
 */
export function openInput(file: string | undefined): Readable;
export function openInput(file: string | undefined, o: { regularFileFd: true }): Readable | { fd: number };
export function openInput(file: string | undefined, o: { regularFileFd?: boolean } = {}): Readable | { fd: number } {
  if (!file || file === '-') {
    if (process.stdin.isTTY) throw new StrataError('invalid_argument', 'requested load from stdin, but stdin is empty');
    return process.stdin;
  }
  const fd = fs.openSync(file, 'r');
  const st = fs.fstatSync(fd);
  if (st.isDirectory()) {
    fs.closeSync(fd);
    throw Object.assign(new Error(`read ${file}: is a directory`), { code: 'EISDIR', path: file });
  }
  if (o.regularFileFd && st.isFile()) return { fd };
  return fs.createReadStream(file, { fd, highWaterMark: 1 << 20 });
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function out(line: string): void {
  writeOut(line + '\n');
}

/**
 * Write to stdout (fd 1) or stderr (fd 2) with write(2). process.stdout on a pipe is a
 * net.Socket: creating it loads net and stream (~4 ms of a ~60 ms `ps`). Both are
 * synchronous on Linux, so the order with other writes through process.stdout is kept. A
 * descriptor that would block, or any error, goes back to the stream (its behaviour as before).
 */
export function writeOut(text: string, fd: 1 | 2 = 1): void {
  let rest: string | Buffer = text;
  if (!viaStream[fd]) {
    let buf = Buffer.from(text);
    try {
      while (buf.length) buf = buf.subarray(fs.writeSync(fd, buf));
      return;
    } catch {
      viaStream[fd] = true; // from here on through the stream, which handles EAGAIN and EPIPE as before
      rest = buf;
    }
  }
  (fd === 1 ? process.stdout : process.stderr).write(rest);
}
const viaStream: Record<1 | 2, boolean> = { 1: false, 2: false };

/** Write a file through a stream: temp file, fsync, rename; nothing under the final name on failure. */
export async function writeFileAtomicStream(target: string, write: (ws: fs.WriteStream) => Promise<void>): Promise<void> {
  const abs = path.resolve(target);
  const tmp = tempNameFor(abs);
  const ws = fs.createWriteStream(tmp, { flags: 'wx' });
  try {
    await write(ws);
    if (!ws.writableFinished) { ws.end(); await finished(ws); }
    const fd = fs.openSync(tmp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, abs);
    fsyncDir(path.dirname(abs));
  } catch (e) {
    ws.destroy();
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
