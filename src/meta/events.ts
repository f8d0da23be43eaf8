/** The `events` journal: what happened, in order, for every process sharing the store. */
import type { DB } from './db.js';

export interface EventRow { seq: number; time_nano: bigint | number; type: string; action: string; actor_id: string; attributes: string }

const ready = new WeakSet<DB>();

/** The journal table is made on first use (stores older than the journal have none). */
function ensureTable(db: DB): void {
  if (ready.has(db)) return;
  db.exec(`CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    time_nano  INTEGER NOT NULL,
    type       TEXT NOT NULL,
    action     TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}'
  )`);
  ready.add(db);
}

/** Append an event; every 500th append trims the journal to its newest `keep` rows. Returns its seq. */
export function appendEvent(db: DB, e: { timeNano: bigint; type: string; action: string; id: string; attributes: string }, keep: number): number {
  ensureTable(db);
  const r = db.prepare('INSERT INTO events (time_nano, type, action, actor_id, attributes) VALUES (?, ?, ?, ?, ?)')
    .run(e.timeNano, e.type, e.action, e.id, e.attributes);
  const seq = Number(r.lastInsertRowid);
  if (seq % 500 === 0) db.prepare('DELETE FROM events WHERE seq <= ?').run(seq - keep);
  return seq;
}

/** Rows after `afterSeq` with `sinceNano <= time_nano < untilNano`, oldest first. */
export function eventRows(db: DB, afterSeq: number, sinceNano: bigint, untilNano: bigint, limit: number): EventRow[] {
  ensureTable(db);
  const rows = db.prepare(`SELECT * FROM events WHERE seq > ? AND time_nano >= ? AND time_nano < ? ORDER BY seq LIMIT ?`).safeIntegers(true)
    .all(afterSeq, sinceNano, untilNano, limit) as EventRow[];
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

/** The newest journal position (0 when empty). */
export function lastEventRow(db: DB): number {
  ensureTable(db);
  const r = db.prepare('SELECT MAX(seq) AS s FROM events').get() as { s: number | null };
  return r.s ?? 0;
}
