/** The `layers` table (unpacked layers by diff_id), `layer_blobs` (blobs carrying a layer) and the `layer_refs` view. */
import type { DB } from './db.js';

interface LayerBlobRow { digest: string; mediaType: string; size: number; }

export function layerExists(db: DB, diffId: string): boolean {
  return db.prepare('SELECT 1 FROM layers WHERE diff_id = ?').get(diffId) !== undefined;
}

export function layerSizes(db: DB, diffId: string): { size: number; tarSize: number } | undefined {
  return db.prepare('SELECT size, tar_size AS tarSize FROM layers WHERE diff_id = ?').get(diffId) as { size: number; tarSize: number } | undefined;
}

export function insertLayer(db: DB, diffId: string, size: number, tarSize: number, created: number): void {
  db.prepare('INSERT INTO layers (diff_id, size, tar_size, created) VALUES (?, ?, ?, ?)').run(diffId, size, tarSize, created);
}

export function deleteLayer(db: DB, diffId: string): void {
  db.prepare('DELETE FROM layers WHERE diff_id = ?').run(diffId);
}

export function allLayerIds(db: DB): string[] {
  return (db.prepare('SELECT diff_id FROM layers').all() as { diff_id: string }[]).map((r) => r.diff_id);
}

/** Each layer with its size and the number of images using it. */
export function layerRefs(db: DB): { diff_id: string; size: number; refs: number }[] {
  return db.prepare('SELECT diff_id, size, refs FROM layer_refs').all() as { diff_id: string; size: number; refs: number }[];
}

export function addLayerBlob(db: DB, digest: string, diffId: string, mediaType: string, size: number): void {
  db.prepare('INSERT OR IGNORE INTO layer_blobs (digest, diff_id, media_type, size) VALUES (?, ?, ?, ?)').run(digest, diffId, mediaType, size);
}

/** The blobs known to carry a layer: smallest first, or in the order they were recorded. */
export function blobsOfLayer(db: DB, diffId: string, order: 'size' | 'recorded'): LayerBlobRow[] {
  const sql = order === 'size'
    ? 'SELECT digest, media_type AS mediaType, size FROM layer_blobs WHERE diff_id = ? ORDER BY size'
    : 'SELECT digest, media_type AS mediaType, size FROM layer_blobs WHERE diff_id = ?';
  return db.prepare(sql).all(diffId) as LayerBlobRow[];
}

export function allLayerBlobDigests(db: DB): string[] {
  return (db.prepare('SELECT digest FROM layer_blobs').all() as { digest: string }[]).map((r) => r.digest);
}

export function deleteLayerBlob(db: DB, diffId: string, digest: string): void {
  db.prepare('DELETE FROM layer_blobs WHERE diff_id = ? AND digest = ?').run(diffId, digest);
}
