/** The `containers` table: one row per container, its state as last reconciled. */
import type { DB } from './db.js';

type ContainerStateName = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead' | 'removing';

export interface ContainerRow {
  id: string;
  name: string;
  image_id: string;
  image_ref: string;
  created: string;
  config: string;
  host_config: string;
  state: ContainerStateName;
  pid: number;
  monitor_pid: number;
  exit_code: number;
  error: string;
  started_at: string;
  finished_at: string;
  restart_count: number;
  network: string;
  seq: number;
  oom_killed: number;
  /** 1 once stop or kill ended it since its last start (Docker's HasBeenManuallyStopped). */
  manually_stopped: number;
  /** While `removing`: the process doing it (another one may finish the work once it is gone). */
  remover_pid: number;
}

export function containerById(db: DB, id: string): ContainerRow | undefined {
  return db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as ContainerRow | undefined;
}

export function containerByName(db: DB, name: string): ContainerRow | undefined {
  return db.prepare('SELECT * FROM containers WHERE name = ?').get(name) as ContainerRow | undefined;
}

/** At most two rows whose ID starts with `prefix` (two means ambiguous). */
export function containersByIdPrefix(db: DB, prefix: string): ContainerRow[] {
  return db.prepare('SELECT * FROM containers WHERE id >= ? AND id < ? LIMIT 2').all(prefix, prefix + 'g') as ContainerRow[];
}

/** Newest first. */
export function allContainers(db: DB): ContainerRow[] {
  return db.prepare('SELECT * FROM containers ORDER BY seq DESC').all() as ContainerRow[];
}

export function containersOfImage(db: DB, imageId: string): { id: string; state: string }[] {
  return db.prepare('SELECT id, state FROM containers WHERE image_id = ?').all(imageId) as { id: string; state: string }[];
}

/** The ID of the container holding `name`, if any. */
export function containerNamed(db: DB, name: string): string | undefined {
  return (db.prepare('SELECT id FROM containers WHERE name = ?').get(name) as { id: string } | undefined)?.id;
}

export function insertContainer(db: DB, r: Pick<ContainerRow, 'id' | 'name' | 'image_id' | 'image_ref' | 'created' | 'config' | 'host_config' | 'seq'>): void {
  db.prepare(`INSERT INTO containers (id, name, image_id, image_ref, created, config, host_config, seq)
    VALUES (@id, @name, @image_id, @image_ref, @created, @config, @host_config, @seq)`).run(r);
}

export function updateContainer(db: DB, id: string, fields: Partial<ContainerRow>): void {
  const keys = Object.keys(fields);
  if (!keys.length) return;
  db.prepare(`UPDATE containers SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({ ...fields, id });
}

/** Update only while the row is in one of `states`; false when another process got there first. */
export function updateContainerFrom(db: DB, id: string, states: string[], fields: Partial<ContainerRow>): boolean {
  const keys = Object.keys(fields);
  const r = db.prepare(`UPDATE containers SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id AND state IN (${states.map((_, i) => `@s${i}`).join(', ')})`)
    .run({ ...fields, id, ...Object.fromEntries(states.map((v, i) => [`s${i}`, v])) });
  return r.changes > 0;
}

/** Update only while the row's columns hold `where`; false when another process got there first. */
export function updateContainerWhere(db: DB, id: string, where: Partial<ContainerRow>, fields: Partial<ContainerRow>): boolean {
  const keys = Object.keys(fields);
  const conds = Object.keys(where);
  const r = db.prepare(`UPDATE containers SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id${conds.map((k) => ` AND ${k} = @w_${k}`).join('')}`)
    .run({ ...fields, id, ...Object.fromEntries(conds.map((k) => [`w_${k}`, (where as Record<string, unknown>)[k]])) });
  return r.changes > 0;
}

export function deleteContainer(db: DB, id: string): void {
  db.prepare('DELETE FROM containers WHERE id = ?').run(id);
}
