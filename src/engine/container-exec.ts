/** `exec`: a process in a running container, recorded in `execs` (commit provenance). */
import { conflict } from '../base/errors.js';
import { rfc3339Nano } from '../image/config.js';
import { finishExec, insertExec } from '../meta/execs.js';
import { execInContainer, type ExecHandle } from '../runtime/index.js';
import type { Container } from './container-model.js';
import type { ContainerCore } from './container-core.js';
import { generateId } from './names.js';
import { settleLeaving } from './endpoints.js';

/** The container an exec goes into: running, not paused (409 otherwise). */
export function execTarget(cs: ContainerCore, ref: string): Container {
  const c = cs.get(ref);
  if (c.row.state === 'paused') throw conflict(`Container ${c.id} is paused, unpause the container before exec`);
  if (c.row.state !== 'running' || cs.isDeferred(c)) throw conflict(`Container ${c.id} is not running`);
  return c;
}

export async function execIn(cs: ContainerCore, ref: string, opts: { args: string[]; env?: string[]; user?: string; workdir?: string; tty?: boolean; detach?: boolean; stdin?: boolean; privileged?: boolean; rows?: number; cols?: number; inheritStdio?: boolean; execId?: string }): Promise<ExecHandle & { execId: string }> {
  const c = execTarget(cs, ref);
  // a disconnect killed earlier is finished before anything runs in the container
  if (cs.network?.nm) await settleLeaving(cs, cs.network.nm, c.id);
  const execId = opts.execId ?? generateId();
  // execTarget has just reconciled the record with the monitor: runc state only if runc exec fails
  const e: Parameters<typeof execInContainer>[2] = { args: opts.args, tty: !!opts.tty, detach: !!opts.detach, stdin: !!opts.stdin, bundle: c.dir, checked: true };
  if (opts.env) e.env = opts.env;
  if (opts.user) e.user = opts.user;
  if (opts.workdir) e.cwd = opts.workdir;
  if (opts.privileged) e.privileged = true;
  if (opts.rows) e.rows = opts.rows;
  if (opts.cols) e.cols = opts.cols;
  if (opts.inheritStdio) e.inheritStdio = true;
  const handle = await execInContainer(cs.runc, c.id, e);
  insertExec(cs.store.db, { id: execId, containerId: c.id, created: rfc3339Nano(), user: opts.user ?? c.config.User ?? '', workdir: opts.workdir ?? c.config.WorkingDir ?? '', argv: opts.args, env: opts.env ?? [], tty: !!opts.tty });
  const wait = handle.wait.bind(handle);
  let done: Promise<number> | undefined;
  const recordWait = () => (done ??= wait().then((code) => {
    finishExec(cs.store.db, execId, code);
    return code;
  }));
  return Object.assign(handle, { execId, wait: recordWait });
}
