/**
 * Reading json-file logs (Docker's format, written by the monitor):
 *   {"log":"hi\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}
 * one object per line, times in UTC with nine fraction digits.
 */
import * as fs from 'node:fs';
import { StrataError, errnoCode } from '../base/errors.js';

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** The bytes as logged (UTF-8; invalid bytes were replaced by U+FFFD when written). */
  log: string;
  /** RFC 3339 with nanoseconds, UTC. */
  time: string;
}

interface ReadLogsOptions {
  /** Keep reading as the file grows, until `signal` aborts or `until()` says the writer is done. */
  follow?: boolean;
  /** Only the last N entries (`all` or undefined for everything). */
  tail?: number | 'all';
  /** Only entries at or after this time (RFC 3339, or unix seconds with optional fraction). */
  since?: string | number | Date;
  /** Only entries before this time. */
  until?: string | number | Date;
  stdout?: boolean;
  stderr?: boolean;
  signal?: AbortSignal;
  /** With `follow`: stop once this returns true and the file has been read to its end. */
  stopWhen?: () => boolean;
  pollMs?: number;
  /** start at this byte offset of the file (for a rotated file the tail starts in) */
  from?: number;
}

/** Nanoseconds since the epoch of an RFC 3339 time, a unix timestamp, or a Date. */
export function toNanos(t: string | number | Date): bigint {
  if (t instanceof Date) return BigInt(t.getTime()) * 1_000_000n;
  if (typeof t === 'number') return BigInt(Math.round(t * 1e9));
  const s = t.trim();
  if (/^\d+(\.\d+)?$/.test(s)) {
    const [sec, frac = ''] = s.split('.');
    return BigInt(sec!) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9));
  }
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) {
    const ms = Date.parse(s);
    if (Number.isNaN(ms)) throw new StrataError('invalid_argument', `invalid value for "since": ${s}`);
    return BigInt(ms) * 1_000_000n;
  }
  const base = Date.parse(`${m[1]}${m[3]}`);
  return BigInt(base) * 1_000_000n + BigInt(((m[2] ?? '') + '000000000').slice(0, 9));
}

function parseLine(line: string): LogEntry | undefined {
  if (!line) return undefined;
  try {
    const o = JSON.parse(line) as Partial<LogEntry>;
    if (typeof o.log !== 'string' || (o.stream !== 'stdout' && o.stream !== 'stderr')) return undefined;
    return { stream: o.stream, log: o.log, time: o.time ?? '' };
  } catch {
    return undefined; // a torn last line while the writer is mid-write: read it next time
  }
}

/** Byte offset where the last `n` lines of the file start. */
function tailOffset(fd: number, size: number, n: number): number {
  if (n <= 0) return size;
  const chunk = 64 * 1024;
  let pos = size;
  let newlines = 0;
  const buf = Buffer.alloc(chunk);
  // a trailing newline ends the last line; it does not start one
  let skipLast = true;
  while (pos > 0) {
    const len = Math.min(chunk, pos);
    pos -= len;
    fs.readSync(fd, buf, 0, len, pos);
    for (let i = len - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) {
        skipLast = false;
        continue;
      }
      if (skipLast) {
        skipLast = false;
        continue;
      }
      newlines++;
      if (newlines === n) return pos + i + 1;
    }
  }
  return 0;
}

/** Rotated files of a json-file log (`<log>.1` is the newest), oldest first. */
function rotatedLogFiles(file: string): string[] {
  const out: string[] = [];
  for (let i = 1; fs.existsSync(`${file}.${i}`); i++) out.unshift(`${file}.${i}`);
  return out;
}

function lineCount(fd: number, size: number): number {
  const buf = Buffer.alloc(64 * 1024);
  let n = 0;
  let last = 0x0a;
  for (let pos = 0; pos < size;) {
    const k = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    if (k <= 0) break;
    for (let i = 0; i < k; i++) if (buf[i] === 0x0a) n++;
    last = buf[k - 1]!;
    pos += k;
  }
  return last === 0x0a ? n : n + 1;
}

/**
 * Entries of a json-file log, oldest first, rotated files (`<log>.N` ...
 * `<log>.1`) before the current one. With `follow`, keeps yielding new
 * entries as they are written, across rotations.
 */
export async function* readLogs(file: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  const since = opts.since !== undefined ? toNanos(opts.since) : undefined;
  const until = opts.until !== undefined ? toNanos(opts.until) : undefined;
  const wantOut = opts.stdout !== false;
  const wantErr = opts.stderr !== false;
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT' && !opts.follow) return;
    if (errnoCode(e) !== 'ENOENT') throw e;
    // follow a log that does not exist yet
    for (;;) {
      if (opts.signal?.aborted || opts.stopWhen?.()) return;
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
      try {
        fd = fs.openSync(file, 'r');
        break;
      } catch (e2) {
        if (errnoCode(e2) !== 'ENOENT') throw e2;
      }
    }
  }
  try {
    let pos = 0;
    const size = fs.fstatSync(fd).size;
    // older entries first: the rotated files (all of them, or as many lines as the tail still needs)
    let need = typeof opts.tail === 'number' ? opts.tail - lineCount(fd, size) : Infinity;
    if (need > 0 && opts.from === undefined) {
      const older: Array<[string, number]> = [];
      for (const f of rotatedLogFiles(file).reverse()) {
        if (need <= 0) break;
        let ofd: number;
        try { ofd = fs.openSync(f, 'r'); } catch { break; }
        try {
          const osize = fs.fstatSync(ofd).size;
          const lines = lineCount(ofd, osize);
          older.unshift([f, lines > need ? tailOffset(ofd, osize, need) : 0]);
          need -= lines;
        } finally {
          fs.closeSync(ofd);
        }
      }
      for (const [f, from] of older) yield* readLogs(f, { ...opts, follow: false, tail: 'all', from });
    }
    if (typeof opts.tail === 'number') pos = tailOffset(fd, size, opts.tail);
    if (opts.from) pos = opts.from;
    let pending = '';
    const buf = Buffer.alloc(256 * 1024);
    let rotated = false;
    for (;;) {
      let n: number;
      while ((n = fs.readSync(fd, buf, 0, buf.length, pos)) > 0) {
        pos += n;
        pending += buf.toString('utf8', 0, n);
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          const e = parseLine(line);
          if (!e) continue;
          if (e.stream === 'stdout' ? !wantOut : !wantErr) continue;
          if (since !== undefined || until !== undefined) {
            const t = toNanos(e.time);
            if (since !== undefined && t < since) continue;
            if (until !== undefined && t >= until) continue;
          }
          yield e;
        }
      }
      if (!opts.follow) {
        const e = parseLine(pending);
        if (e) yield e;
        return;
      }
      if (opts.signal?.aborted) return;
      // the writer rotated: this file was read to its end after the rotation was seen, go on with the new one
      if (rotated) {
        try {
          // the file after this one: it may have been rotated too (`<log>.k` -> `<log>.k-1`)
          const ino = fs.fstatSync(fd).ino;
          let k = 0;
          for (let i = 1; ; i++) {
            const st = fs.statSync(`${file}.${i}`, { throwIfNoEntry: false });
            if (st === undefined) break;
            if (st.ino === ino) { k = i; break; }
          }
          const next = fs.openSync(k > 1 ? `${file}.${k - 1}` : file, 'r');
          fs.closeSync(fd);
          fd = next;
          pos = 0;
          pending = '';
          rotated = false;
          continue;
        } catch (e) {
          if (errnoCode(e) !== 'ENOENT') throw e;
        }
      } else {
        const now = fs.statSync(file, { throwIfNoEntry: false });
        if (now === undefined || now.ino !== fs.fstatSync(fd).ino) { rotated = true; continue; }
      }
      // checked after an empty read: everything written before the writer stopped was seen
      if (opts.stopWhen?.()) {
        if ((n = fs.readSync(fd, buf, 0, 1, pos)) === 0) return;
        continue;
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Docker's `logs --timestamps` line prefix: the entry's time and a space. */
export function formatLogEntry(e: LogEntry, opts: { timestamps?: boolean } = {}): string {
  return opts.timestamps ? `${e.time} ${e.log}` : e.log;
}

/** A stdcopy frame ([stream,0,0,0,len BE32] + payload) for non-tty log streaming over the API. */
export function stdcopyFrame(stream: 'stdout' | 'stderr' | 1 | 2, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const head = Buffer.alloc(8);
  head[0] = stream === 'stderr' || stream === 2 ? 2 : 1;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}
