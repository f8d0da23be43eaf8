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
import type { Sys } from '../sys/index.js';

const queues = new Map<string, Promise<void>>();

/** Is the holder recorded in a lock file ("pid starttime") still running? The kernel door's one rule. */
function holderAlive(sys: Sys, content: string): boolean {
  const pid = Number.parseInt(content.split(' ')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  // with the recorded start time, a recycled pid is not taken for the holder
  return sys.processAlive(pid, content.split(' ')[1] || undefined);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function acquireFile(sys: Sys, file: string, timeoutMs: number): Promise<void> {
  mkdirp(path.dirname(file));
  const me = `${process.pid} ${sys.processStartTime(process.pid) ?? ''}`;
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
    let stale = content !== '' && !holderAlive(sys, content);
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
export async function withLock<T>(sys: Sys, file: string, fn: () => Promise<T> | T, timeoutMs = 60_000): Promise<T> {
  const prev = queues.get(file) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => { release = r; });
  const chained = prev.then(() => mine);
  queues.set(file, chained);
  await prev;
  try {
    await acquireFile(sys, file, timeoutMs);
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
