/** `stop`, `kill`, `pause`, `unpause`, `wait`. */
import { conflict, invalidArgument, notFound, StrataError } from '../base/errors.js';
import { waitExit, disableRestart, signalNumber } from '../runtime/index.js';
import type { Container } from './container-model.js';
import type { ContainerCore } from './container-core.js';
import { holdFreeze, releaseFreeze } from './freeze.js';

/** SIGTERM (or the image's StopSignal), then SIGKILL after `timeout` seconds. */
export async function stopContainer(cs: ContainerCore, ref: string, timeout?: number): Promise<Container> {
  let c = cs.get(ref);
  await cs.settle(c.id);
  if (!cs.isLive(c)) return c;
  cs.update(c.id, { manually_stopped: 1 });
  await disableRestart(c.paths.socketPath).catch(() => undefined);
  if (c.row.state === 'paused') await cs.runc.resume(c.id).catch(() => undefined);
  const t = timeout ?? c.config.StopTimeout ?? 10;
  const sig = c.config.StopSignal || 'TERM';
  try { await cs.runc.kill(c.id, sig.replace(/^SIG/, '')); } catch { /* already gone */ }
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), Math.max(0, t) * 1000);
  try {
    await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, sys: cs.sys, signal: ac.signal, intervalMs: 20 });
  } catch {
    try { await cs.runc.kill(c.id, 'KILL', { all: true }); } catch { /* gone */ }
    await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, sys: cs.sys, intervalMs: 20 }).catch(() => undefined);
  } finally {
    clearTimeout(timer);
  }
  c = cs.get(c.id);
  await cs.settle(c.id);
  await cs.releaseRuntime(c).catch(() => undefined);
  cs.event(c, 'stop');
  return c;
}

export async function killContainer(cs: ContainerCore, ref: string, signal = 'KILL'): Promise<Container> {
  const c = cs.get(ref);
  if (c.row.state !== 'running' && c.row.state !== 'paused') {
    throw conflict(`Cannot kill container: ${ref}: Container ${c.id} is not running`);
  }
  let sig: number;
  try { sig = signalNumber(signal); } catch { throw invalidArgument(`Invalid signal: ${signal}`); }
  if (sig === 9 || sig === 15) {
    cs.update(c.id, { manually_stopped: 1 });
    await disableRestart(c.paths.socketPath).catch(() => undefined);
  }
  await cs.runc.kill(c.id, String(sig));
  cs.event(c, 'kill', { signal: String(sig) });
  if (sig === 9) await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, sys: cs.sys, intervalMs: 20 }).catch(() => undefined);
  return cs.get(c.id);
}

export async function pauseContainer(cs: ContainerCore, ref: string): Promise<void> {
  const c = cs.get(ref);
  if (c.row.state === 'paused') throw conflict(`Container ${c.id} is already paused`);
  if (c.row.state !== 'running') throw conflict(`Container ${c.id} is not running`);
  await changeFreezer(cs, c, 'pause');
}

export async function unpauseContainer(cs: ContainerCore, ref: string): Promise<void> {
  const c = cs.get(ref);
  if (c.row.state !== 'paused') throw conflict(`Container ${c.id} is not paused`);
  await changeFreezer(cs, c, 'unpause');
}

/** Freeze or thaw under the freezer mark (a killed process's mark is reconciled by the next command). */
async function changeFreezer(cs: ContainerCore, c: Container, op: 'pause' | 'unpause'): Promise<void> {
  holdFreeze(c.dir, op);
  try {
    await (op === 'pause' ? cs.runc.pause(c.id) : cs.runc.resume(c.id));
    cs.update(c.id, { state: op === 'pause' ? 'paused' : 'running' });
  } finally {
    releaseFreeze(c.dir);
  }
  cs.event(c, op);
}

/**
 * Docker's wait conditions: `not-running` (default) answers at once for a container that
 * is not running; `next-exit` waits for an exit that happens after the call (a created or
 * exited container must be started first); `removed` waits until the container is gone
 * (`run --rm`). Returns the exit code; rejects with `unavailable` when `signal` aborts.
 */
export async function waitContainer(cs: ContainerCore, ref: string, opts: { condition?: 'not-running' | 'next-exit' | 'removed'; signal?: AbortSignal } = {}): Promise<number> {
  const cond = opts.condition ?? 'not-running';
  let c = cs.get(ref);
  const id = c.id;
  if (cond === 'not-running' && !cs.isLive(c)) return c.row.exit_code;
  const baseline = c.row.finished_at;
  let exited = !cs.isLive(c) && cond === 'removed' ? c.row.exit_code : undefined;
  for (;;) {
    if (opts.signal?.aborted) throw new StrataError('unavailable', 'wait aborted');
    if (cs.isLive(c)) {
      await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid, sys: cs.sys, intervalMs: 50, ...(opts.signal ? { signal: opts.signal } : {}) })
        .catch(() => undefined);
    } else if (cond === 'not-running') {
      return c.row.exit_code;
    } else if (exited === undefined && (cond !== 'next-exit' || c.row.finished_at !== baseline) && c.row.state !== 'created') {
      exited = c.row.exit_code;
      if (cond !== 'removed') return exited;
    } else {
      await new Promise<void>((resolve) => setTimeout(resolve, 50));
    }
    const now = cs.find(id);
    if (!now) {
      if (cond === 'removed') return exited ?? 0;
      throw notFound(`No such container: ${ref}`);
    }
    c = cs.refresh(now);
  }
}
