/** `stop`, `kill`, `pause`, `unpause`, `wait`. */
import { conflict, invalidArgument, notFound, StrataError } from '../base/errors.js';
import { waitExit, waitStopped, disableRestart, signalInit, signalNumber } from '../runtime/index.js';
import type { Container } from './container-model.js';
import type { ContainerCore } from './container-core.js';
import { holdFreeze, releaseFreeze } from './freeze.js';

/**
 * SIGTERM (or the image's StopSignal), then SIGKILL after `timeout` seconds. Once the monitor
 * says the container stopped (state.json, just before its `runc delete`), the network and the
 * rootfs are released side by side with that delete; stop returns after exit.json.
 */
export async function stopContainer(cs: ContainerCore, ref: string, timeout?: number): Promise<Container> {
  let c = cs.get(ref);
  await cs.settle(c.id);
  if (!cs.isLive(c)) return c;
  cs.update(c.id, { manually_stopped: 1 });
  await resumeIfPaused(cs, c);
  const t = timeout ?? c.config.StopTimeout ?? 10;
  // an unknown StopSignal: runc refuses it, then the timeout's SIGKILL
  await signalContainer(cs, c, (c.config.StopSignal || 'TERM').replace(/^SIG/, ''), { norestart: true });
  cs.network?.nm?.prefetchRules(c.id);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), Math.max(0, t) * 1000);
  const waitOpts = exitWait(cs, c);
  let stopped: boolean;
  try {
    await waitStopped(c.paths.exitFile, c.paths.stateFile, { ...waitOpts, signal: ac.signal });
    stopped = true;
  } catch {
    await signalContainer(cs, c, 'KILL', { norestart: true, all: true });
    stopped = await waitStopped(c.paths.exitFile, c.paths.stateFile, waitOpts).then(() => true, () => false);
  } finally {
    clearTimeout(timer);
  }
  const recorded = stopped && await releaseWhileMonitorEnds(cs, c);
  c = cs.get(c.id);
  await cs.settle(c.id);
  // no exit record (the monitor died): what is left, runc's state included
  if (!recorded) await cs.releaseRuntime(c).catch(() => undefined);
  cs.event(c, 'stop');
  return c;
}

/**
 * Signal the container's init through its monitor; through `runc kill` when no monitor
 * answers (one killed -9 leaves the container running) or it predates the `kill` command.
 * `all` (runc kill --all) matters only there: the monitor's SIGKILL goes to the init of the
 * container's own pid namespace, and the kernel kills the rest of the namespace with it.
 */
async function signalContainer(cs: ContainerCore, c: Container, sig: string, opts: { norestart?: boolean; all?: boolean } = {}): Promise<void> {
  let num: number | undefined;
  try { num = signalNumber(sig); } catch { /* runc's refusal below */ }
  const r = num === undefined ? 'unsupported' : await signalInit(c.paths.socketPath, num, { norestart: !!opts.norestart });
  if (r !== 'unsupported') return;
  if (opts.norestart) await disableRestart(c.paths.socketPath).catch(() => undefined);
  try { await cs.runc.kill(c.id, String(sig), { all: !!opts.all }); } catch { /* already gone */ }
}

/** A paused container cannot take a signal: no restart, then thawed (stop and rm -f). */
async function resumeIfPaused(cs: ContainerCore, c: Container): Promise<void> {
  if (c.row.state !== 'paused') return;
  await disableRestart(c.paths.socketPath).catch(() => undefined);
  await cs.runc.resume(c.id).catch(() => undefined);
}

/** How stop and rm -f wait on the container's monitor. */
function exitWait(cs: ContainerCore, c: Container): { monitorPid: number; sys: ContainerCore['sys']; intervalMs: number } {
  return { monitorPid: c.row.monitor_pid, sys: cs.sys, intervalMs: 20 };
}

/** rm -f: SIGKILL (no restart), then the same release as stop. */
export async function killForRemoval(cs: ContainerCore, c: Container): Promise<void> {
  await resumeIfPaused(cs, c);
  await signalContainer(cs, c, 'KILL', { norestart: true, all: true });
  cs.network?.nm?.prefetchRules(c.id);
  const stopped = await waitStopped(c.paths.exitFile, c.paths.stateFile, exitWait(cs, c)).then(() => true, () => false);
  if (stopped) await releaseWhileMonitorEnds(cs, c);
}

/**
 * The container has stopped: release its network and rootfs while its monitor deletes the
 * runc state (a `runc delete`, 25-35 ms here, that came first), then wait for exit.json.
 * False when the monitor ended without one.
 */
async function releaseWhileMonitorEnds(cs: ContainerCore, c: Container): Promise<boolean> {
  const early = cs.releaseRuntime(c, { monitorDeletes: true }).then(() => true, () => false);
  const recorded = await waitExit(c.paths.exitFile, exitWait(cs, c)).then(() => true, () => false);
  if (await early && recorded) cs.markReleased(c);
  return recorded;
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
