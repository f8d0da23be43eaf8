/**
 * The build cache: one row per built step, keyed by BuildKit-style content keys (the
 * parent's key, the instruction with its expanded arguments, the checksums of the files
 * it reads). A row keeps the state the step produced (image config + layer list), so a
 * hit needs nothing else. `build_cache_layers` holds references on every layer of that
 * state: a layer stays in the store while an image or a cache row lists it.
 */
import type { DB } from './db.js';


interface BuildCacheRow {
  key: string;
  parent: string;
  description: string;
  config: string;
  diff_ids: string;
  layer: string | null;
  size: number;
  created: number;
  last_used: number;
  usage_count: number;
  sources: string;
}

export function getCacheRow(db: DB, key: string): BuildCacheRow | undefined {
  const row = db.prepare('SELECT * FROM build_cache WHERE key = ?').get(key) as BuildCacheRow | undefined;
  if (row) db.prepare('UPDATE build_cache SET last_used = ?, usage_count = usage_count + 1 WHERE key = ?').run(Date.now(), key);
  return row;
}

/** Insert or refresh a row and its layer references (inside the caller's transaction). */
export function putCacheRow(db: DB, row: Omit<BuildCacheRow, 'usage_count' | 'created' | 'last_used'>): void {
  const now = Date.now();
  db.prepare(`INSERT INTO build_cache (key, parent, description, config, diff_ids, layer, size, created, last_used, sources)
    VALUES (@key, @parent, @description, @config, @diff_ids, @layer, @size, @now, @now, @sources)
    ON CONFLICT(key) DO UPDATE SET config = excluded.config, diff_ids = excluded.diff_ids, layer = excluded.layer,
      size = excluded.size, last_used = excluded.last_used, sources = excluded.sources`).run({ ...row, now });
  db.prepare('DELETE FROM build_cache_layers WHERE key = ?').run(row.key);
  const ins = db.prepare('INSERT OR IGNORE INTO build_cache_layers (key, diff_id) VALUES (?, ?)');
  for (const d of JSON.parse(row.diff_ids) as string[]) ins.run(row.key, d);
}

export function listCacheRows(db: DB): BuildCacheRow[] {
  return db.prepare('SELECT * FROM build_cache ORDER BY created').all() as BuildCacheRow[];
}

/** Delete rows (all, or those unused since `before` ms); returns the deleted rows. */
export function deleteCacheRows(db: DB, opts: { before?: number } = {}): BuildCacheRow[] {
  const rows = (opts.before !== undefined
    ? db.prepare('SELECT * FROM build_cache WHERE last_used < ?').all(opts.before)
    : db.prepare('SELECT * FROM build_cache').all()) as BuildCacheRow[];
  const del = db.prepare('DELETE FROM build_cache WHERE key = ?');
  for (const r of rows) del.run(r.key);
  return rows;
}

/** Is a layer held by a cache row? */
export function cacheHoldsLayer(db: DB, diffId: string): boolean {
  return db.prepare('SELECT 1 FROM build_cache_layers WHERE diff_id = ? LIMIT 1').get(diffId) !== undefined;
}

/** Record where a built image's history entries came from (inside the caller's transaction). */
export function putImageSources(db: DB, imageId: string, sources: readonly string[]): void {
  const ins = db.prepare('INSERT OR REPLACE INTO image_sources (image_id, idx, source) VALUES (?, ?, ?)');
  sources.forEach((s, i) => { if (s) ins.run(imageId, i, s); });
}

/** Provenance per history index ('' where unknown). */
export function imageSources(db: DB, imageId: string, count: number): string[] {
  const out = new Array<string>(count).fill('');
  for (const r of db.prepare('SELECT idx, source FROM image_sources WHERE image_id = ?').all(imageId) as { idx: number; source: string }[]) {
    if (r.idx < count) out[r.idx] = r.source;
  }
  return out;
}
