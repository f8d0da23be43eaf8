/**
 * A cross-process lock on a file: created with O_EXCL, holding "pid start-time". A lock
 * whose holder is gone (crashed CLI call, SIGKILL during attach) is broken by the next
 * caller. Within one process, callers queue on a promise chain first, so the file is only
 * contended between processes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError, errnoCode } from '../base/errors.js';
import { mkdirp } from '../base/fs.js';

const queues = new Map<string, Promise<void>>();

function holderAlive(content: string): boolean {
  const pid = Number.parseInt(content.split(' ')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
  // A recycled pid: compare the recorded start time with the process's.
  const start = content.split(' ')[1];
  if (start) {
    const now = procStartTime(pid);
    if (now !== undefined && now !== start) return false;
  }
  return true;
}

function procStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22: starttime
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function acquireFile(file: string, timeoutMs: number): Promise<void> {
  mkdirp(path.dirname(file));
  const me = `${process.pid} ${procStartTime(process.pid) ?? ''}`;
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, me);
      fs.closeSync(fd);
      return;
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
    }
    let content = '';
    try { content = fs.readFileSync(file, 'utf8'); } catch { continue; }
    // An empty file is a holder between open and write: wait for it, unless it is old
    // (the holder died right after creating it).
    let stale = content !== '' && !holderAlive(content);
    if (content === '') {
      try { stale = Date.now() - fs.statSync(file).mtimeMs > 5000; } catch { continue; }
    }
    if (stale) {
      // Break the stale lock: rename first so two breakers do not both win.
      const tomb = `${file}.stale.${process.pid}`;
      try { fs.renameSync(file, tomb); fs.rmSync(tomb, { force: true }); } catch { /* someone else broke it */ }
      continue;
    }
    if (Date.now() > deadline) throw new StrataError('unavailable', `timed out waiting for lock ${file} (held by pid ${content.split(' ')[0]})`);
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}

/** Run `fn` holding the lock file `file` (other processes and this one wait). */
export async function withLock<T>(file: string, fn: () => Promise<T> | T, timeoutMs = 60_000): Promise<T> {
  const prev = queues.get(file) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => { release = r; });
  const chained = prev.then(() => mine);
  queues.set(file, chained);
  await prev;
  try {
    await acquireFile(file, timeoutMs);
    try {
      return await fn();
    } finally {
      try { fs.rmSync(file, { force: true }); } catch { /* already gone */ }
    }
  } finally {
    release();
    if (queues.get(file) === chained) queues.delete(file);
  }
}
