/** `exec`: a process in a running container, recorded in `execs` (commit provenance). */
import { conflict } from '../base/errors.js';
import { rfc3339Nano } from '../image/config.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DB } from '../meta/db.js';
import { finishExec, insertExec, runningExecs } from '../meta/execs.js';
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

/**
 * Run a process in a running container. `replace` (the CLI's foreground exec, with
 * inheritStdio): this process may be replaced by strata-exec once the exec is recorded and
 * `replace` has run; then execIn never returns, and the exit status reaches the record through
 * the exit file strata-exec writes (foldExecExits).
 */
export async function execIn(cs: ContainerCore, ref: string, opts: { args: string[]; env?: string[]; user?: string; workdir?: string; tty?: boolean; detach?: boolean; stdin?: boolean; privileged?: boolean; rows?: number; cols?: number; inheritStdio?: boolean; execId?: string; replace?: () => void }): Promise<ExecHandle & { execId: string }> {
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
  const record = () => insertExec(cs.store.db, { id: execId, containerId: c.id, created: rfc3339Nano(), user: opts.user ?? c.config.User ?? '', workdir: opts.workdir ?? c.config.WorkingDir ?? '', argv: opts.args, env: opts.env ?? [], tty: !!opts.tty });
  let recorded = false;
  const replace = opts.replace;
  if (replace) {
    e.replace = {
      exitFile: execExitFile(c.dir, execId),
      before: () => {
        record();
        recorded = true;
        replace();
      },
    };
  }
  const handle = await execInContainer(cs.runc, c.id, e);
  if (!recorded) record();
  const wait = handle.wait.bind(handle);
  let done: Promise<number> | undefined;
  const recordWait = () => (done ??= wait().then((code) => {
    finishExec(cs.store.db, execId, code);
    return code;
  }));
  return Object.assign(handle, { execId, wait: recordWait });
}

/** Where strata-exec writes the exit status of an exec that took the CLI's place. */
export function execExitFile(dir: string, execId: string): string {
  return path.join(dir, `exec-${execId}.exit`);
}

/** The exit statuses strata-exec wrote for execs recorded as running, moved into their records. */
export function foldExecExits(db: DB, containerId: string, dir: string): void {
  for (const id of runningExecs(db, containerId)) {
    const file = execExitFile(dir, id);
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
    const code = Number.parseInt(text, 10);
    if (Number.isInteger(code)) finishExec(db, id, code);
    fs.rmSync(file, { force: true });
  }
}
