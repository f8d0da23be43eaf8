/** The `execs` table: every exec run in a container (for commit provenance). */
import type { DB } from './db.js';

export interface ExecRow { id: string; containerId: string; created: string; user: string; workdir: string; argv: string[]; env: string[]; tty: boolean; }

/** A running exec's record; `ifNew`: nothing when one with its id is there already. */
export function insertExec(db: DB, r: ExecRow, opts: { ifNew?: boolean } = {}): void {
  db.prepare(`INSERT ${opts.ifNew ? 'OR IGNORE ' : ''}INTO execs (id, container_id, created, user, workdir, argv, env, tty, running) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)`)
    .run(r.id, r.containerId, r.created, r.user, r.workdir, JSON.stringify(r.argv), JSON.stringify(r.env), r.tty ? 1 : 0);
}

export function finishExec(db: DB, id: string, exitCode: number): void {
  db.prepare('UPDATE execs SET exit_code = ?, running = 0 WHERE id = ?').run(exitCode, id);
}

/** The ids of a container's execs recorded as running. */
export function runningExecs(db: DB, containerId: string): string[] {
  return (db.prepare('SELECT id FROM execs WHERE container_id = ? AND running = 1').all(containerId) as { id: string }[]).map((r) => r.id);
}

/** A container's execs, oldest first. */
export function execsOfContainer(db: DB, containerId: string): { created: string; user: string; workdir: string; argv: string[]; exitCode: number | null }[] {
  return (db.prepare('SELECT created, user, workdir, argv, exit_code FROM execs WHERE container_id = ? ORDER BY created').all(containerId) as { created: string; user: string; workdir: string; argv: string; exit_code: number | null }[])
    .map((r) => ({ created: r.created, user: r.user, workdir: r.workdir, argv: JSON.parse(r.argv) as string[], exitCode: r.exit_code }));
}
