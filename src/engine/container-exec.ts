/** `exec`: a process in a running container, recorded in `execs` (commit provenance). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { conflict } from '../base/errors.js';
import { rfc3339Nano } from '../image/config.js';
import { tx, type DB } from '../meta/db.js';
import { finishExec, insertExec, runningExecs, type ExecRow } from '../meta/execs.js';
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
 * inheritStdio): this process may be replaced by strata-exec once `replace` has run; then
 * execIn never returns. Such an exec is recorded in a file beside the bundle instead of the
 * database (a write there would leave the WAL to every next process to read back, the CLI being
 * gone before it could check it in), strata-exec writes its exit status beside it, and the next
 * reader of the records moves both in (foldExecs).
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
  const row = (): ExecRow => ({ id: execId, containerId: c.id, created: rfc3339Nano(), user: opts.user ?? c.config.User ?? '', workdir: opts.workdir ?? c.config.WorkingDir ?? '', argv: opts.args, env: opts.env ?? [], tty: !!opts.tty });
  const replace = opts.replace;
  const files = execFiles(c.dir, execId);
  let inFile = false;
  if (replace) {
    e.replace = {
      exitFile: files.exit,
      before: () => {
        // the files stay few: every FOLD_AT-th exec moves those there into the database (a few WAL
        // frames for the next process to read back, once in FOLD_AT execs)
        const names = fs.readdirSync(c.dir);
        if (names.filter((n) => RECORD_FILE.test(n)).length >= FOLD_AT) foldExecs(cs.store.db, c.id, c.dir, names);
        // temp file and rename, not synced: a record lost to a crash of the host is provenance lost, as
        // for the database's last commits (synchronous=NORMAL); a torn one is dropped by foldExecs
        // (0600: the exec's environment may hold secrets)
        fs.writeFileSync(`${files.record}.tmp`, JSON.stringify(row()), { mode: 0o600 });
        fs.renameSync(`${files.record}.tmp`, files.record);
        inFile = true;
        replace();
      },
    };
  }
  let handle: ExecHandle;
  try {
    handle = await execInContainer(cs.runc, c.id, e);
  } catch (err) {
    if (inFile) fs.rmSync(files.record, { force: true }); // the process could not be replaced
    throw err;
  }
  insertExec(cs.store.db, row());
  const wait = handle.wait.bind(handle);
  let done: Promise<number> | undefined;
  const recordWait = () => (done ??= wait().then((code) => {
    finishExec(cs.store.db, execId, code);
    return code;
  }));
  return Object.assign(handle, { execId, wait: recordWait });
}

/** An exec that took the CLI's place: its record, and the exit status strata-exec writes. */
function execFiles(dir: string, execId: string): { record: string; exit: string } {
  return { record: path.join(dir, `exec-${execId}.json`), exit: path.join(dir, `exec-${execId}.exit`) };
}

const RECORD_FILE = /^exec-([0-9a-f]{64})\.json$/;

/** Records in files that make the next CLI exec move them into the database first. */
const FOLD_AT = 64;

/**
 * The records and exit statuses of execs that took the CLI's place, moved into the database;
 * `names`: the dir's listing when the caller has just read it.
 */
export function foldExecs(db: DB, containerId: string, dir: string, names?: string[]): void {
  if (!names) {
    try { names = fs.readdirSync(dir); } catch { return; }
  }
  const records = names.filter((n) => RECORD_FILE.test(n));
  if (records.length) {
    tx(db, () => {
      for (const n of records) {
        let r: ExecRow | undefined;
        try { r = JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as ExecRow; } catch { /* torn by a crash: dropped */ }
        if (r && n === `exec-${r.id}.json` && r.containerId === containerId) insertExec(db, r, { ifNew: true });
      }
    });
    for (const n of records) fs.rmSync(path.join(dir, n), { force: true });
  }
  for (const id of runningExecs(db, containerId)) {
    const file = execFiles(dir, id).exit;
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
    const code = Number.parseInt(text, 10);
    if (Number.isInteger(code)) finishExec(db, id, code);
    fs.rmSync(file, { force: true });
  }
}
