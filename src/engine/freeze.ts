/**
 * Who holds a container's freezer. There is no daemon: a `commit`, `pause` or
 * `unpause` process changes the cgroup freezer and the database in steps, and
 * may be killed between them. Before touching the freezer it leaves
 * `<container dir>/freeze.json` ({pid, start, op}); it removes the file when
 * both sides agree again. A marker whose process is gone means the operation
 * was cut short: the next command that looks at the container asks runc for
 * the real state and puts things right (a commit's freeze is released; an
 * interrupted pause/unpause leaves the row saying what runc says).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../base/fs.js';
import { linuxSys, type Sys } from '../sys/index.js';

type FreezeOp = 'commit' | 'copy' | 'pause' | 'unpause';

interface FreezeMarker {
  pid: number;
  /** the process's start time (field 22 of /proc/PID/stat): a reused pid is not the owner */
  start: string;
  op: FreezeOp;
}

const MARKER = 'freeze.json';

/** Record that this process is about to change the freezer of the container in `dir`. */
export function holdFreeze(dir: string, op: FreezeOp): void {
  const marker: FreezeMarker = { pid: process.pid, start: linuxSys.processStartTime(process.pid) ?? '', op };
  writeFileAtomic(path.join(dir, MARKER), JSON.stringify(marker) + '\n', 0o600);
}

/** The freezer and the row agree again. */
export function releaseFreeze(dir: string): void {
  fs.rmSync(path.join(dir, MARKER), { force: true });
}

/** A marker left by a process that is gone, or null (none, or its owner still works). */
function staleFreeze(dir: string, sys: Sys): FreezeMarker | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, MARKER), 'utf8');
  } catch {
    return null;
  }
  let m: FreezeMarker;
  try {
    m = JSON.parse(text) as FreezeMarker;
  } catch {
    return { pid: 0, start: '', op: 'commit' }; // torn by a crash: nobody holds it
  }
  if (m.pid === process.pid) return null;
  if (sys.processAlive(m.pid, m.start)) return null;
  return m;
}

/** runc's status of a container ('running', 'paused', ...), asked synchronously; undefined when runc does not know it. */
function runtimeStatus(runc: RuntimeRef, id: string): string | undefined {
  try {
    const r = runc.sys.runtimeRunSync(runc.binary, ['--root', runc.root, 'state', id]);
    return r.code === 0 ? (JSON.parse(r.stdout) as { status?: string }).status : undefined;
  } catch {
    return undefined;
  }
}

/** Thaw a container synchronously (runc resume). */
function resumeNow(runc: RuntimeRef, id: string): void {
  const r = runc.sys.runtimeRunSync(runc.binary, ['--root', runc.root, 'resume', id]);
  if (r.code !== 0) throw new Error(`runc resume ${id}: ${r.stderr.trim()}`);
}

/** What reconciliation needs of the runtime driver. */
interface RuntimeRef { binary: string; root: string; sys: Sys }

/**
 * Put a container right after a freezer operation was cut short: returns the
 * state the row must say ('running' or 'paused'), or undefined to leave it.
 * The marker is removed once the container and the answer agree.
 */
export function reconcileFreeze(dir: string, rowState: string, runc: RuntimeRef, id: string): 'running' | 'paused' | undefined {
  const m = staleFreeze(dir, runc.sys);
  if (!m) return undefined;
  const status = runtimeStatus(runc, id);
  let want: 'running' | 'paused' | undefined;
  if (status === 'paused') {
    if (m.op === 'commit' || m.op === 'copy' || (m.op === 'pause' && rowState !== 'paused') || m.op === 'unpause') {
      // a commit's freeze, a pause that never reached the row, an unpause cut short: thaw
      resumeNow(runc, id);
      want = 'running';
    } else {
      want = 'paused';
    }
  } else if (status === 'running') {
    want = 'running';
  }
  releaseFreeze(dir);
  return want;
}
