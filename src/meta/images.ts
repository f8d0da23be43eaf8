/** The `images` table, `image_layers` (an image's layer stack) and `image_manifests` (manifests recorded for it). */
import type { DB } from './db.js';
import { cacheHoldsLayer } from './build-cache.js';

export interface ImageRow {
  id: string;
  created: number;
  size: number;
  parent: string | null;
  labels: string | null;
  last_tag_time: string | null;
}

export function countImages(db: DB): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM images').get() as { n: number }).n;
}

export function imageById(db: DB, id: string): ImageRow | undefined {
  return db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
}

/** At most two images whose ID (sha256:…) starts with `prefix` (two means ambiguous). */
export function imagesByIdPrefix(db: DB, hexPrefix: string): ImageRow[] {
  return db.prepare('SELECT * FROM images WHERE id >= ? AND id < ? LIMIT 2').all(`sha256:${hexPrefix}`, `sha256:${hexPrefix}g`) as ImageRow[];
}

export function imageExists(db: DB, id: string): boolean {
  return !!db.prepare('SELECT 1 FROM images WHERE id = ?').get(id);
}

/** Every image with the columns listings need. */
export function allImages(db: DB): ImageRow[] {
  return db.prepare('SELECT id, created, size, parent, labels FROM images').all() as ImageRow[];
}

export function allImageIds(db: DB): string[] {
  return (db.prepare('SELECT id FROM images').all() as { id: string }[]).map((r) => r.id);
}

/** Images that are some image's parent. */
export function parentImageIds(db: DB): Set<string> {
  return new Set((db.prepare("SELECT DISTINCT parent FROM images WHERE parent IS NOT NULL AND parent != ''").all() as { parent: string }[]).map((r) => r.parent));
}

export function hasChildImages(db: DB, id: string): boolean {
  return !!db.prepare('SELECT 1 FROM images WHERE parent = ? LIMIT 1').get(id);
}

export function insertImage(db: DB, r: { id: string; created: number; size: number; parent: string; configSize: number; labels: string | null; inserted: number; diffIds: string[] }): void {
  db.prepare('INSERT INTO images (id, created, size, parent, config_size, labels, last_tag_time, inserted) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)')
    .run(r.id, r.created, r.size, r.parent, r.configSize, r.labels, r.inserted);
  const insIL = db.prepare('INSERT INTO image_layers (image_id, idx, diff_id) VALUES (?, ?, ?)');
  r.diffIds.forEach((d, i) => insIL.run(r.id, i, d));
}

export function setLastTagTime(db: DB, id: string, time: string): void {
  db.prepare('UPDATE images SET last_tag_time = ? WHERE id = ?').run(time, id);
}

/** Delete an image's rows (layers, tags, digests; children forget it as parent); returns its distinct layer diff_ids. */
export function deleteImage(db: DB, id: string): string[] {
  const layers = (db.prepare('SELECT DISTINCT diff_id FROM image_layers WHERE image_id = ?').all(id) as { diff_id: string }[]).map((r) => r.diff_id);
  db.prepare('DELETE FROM image_layers WHERE image_id = ?').run(id);
  db.prepare('DELETE FROM tags WHERE image_id = ?').run(id);
  db.prepare('DELETE FROM repo_digests WHERE image_id = ?').run(id);
  db.prepare("UPDATE images SET parent = '' WHERE parent = ?").run(id);
  db.prepare('DELETE FROM images WHERE id = ?').run(id);
  return layers;
}

/** An image's layers, bottom first. */
export function layersOfImage(db: DB, imageId: string): { diffId: string; size: number; tarSize: number }[] {
  return db.prepare('SELECT l.diff_id AS diffId, l.size AS size, l.tar_size AS tarSize FROM image_layers il JOIN layers l ON l.diff_id = il.diff_id WHERE il.image_id = ? ORDER BY il.idx').all(imageId) as { diffId: string; size: number; tarSize: number }[];
}

/** Every (image, layer) pair. */
export function allImageLayers(db: DB): { image_id: string; diff_id: string }[] {
  return db.prepare('SELECT image_id, diff_id FROM image_layers').all() as { image_id: string; diff_id: string }[];
}

/** An image's layers with whether each layer row exists (integrity check). */
export function imageLayerPresence(db: DB, imageId: string): { diff_id: string; present: string | null }[] {
  return db.prepare('SELECT il.diff_id, l.diff_id AS present FROM image_layers il LEFT JOIN layers l ON l.diff_id = il.diff_id WHERE il.image_id = ?').all(imageId) as { diff_id: string; present: string | null }[];
}

/** Is a layer listed by an image, or held by the build cache? */
export function layerInUse(db: DB, diffId: string): boolean {
  return !!db.prepare('SELECT 1 FROM image_layers WHERE diff_id = ? LIMIT 1').get(diffId) || cacheHoldsLayer(db, diffId);
}

export function addImageManifest(db: DB, imageId: string, digest: string, mediaType: string): void {
  db.prepare('INSERT OR IGNORE INTO image_manifests (image_id, digest, media_type) VALUES (?, ?, ?)').run(imageId, digest, mediaType);
}

/** The manifests recorded for an image, in the order they were recorded. */
export function manifestsOfImage(db: DB, imageId: string): { digest: string; mediaType: string }[] {
  return db.prepare('SELECT digest, media_type AS mediaType FROM image_manifests WHERE image_id = ? ORDER BY rowid').all(imageId) as { digest: string; mediaType: string }[];
}

export function allManifestDigests(db: DB): string[] {
  return (db.prepare('SELECT digest FROM image_manifests').all() as { digest: string }[]).map((r) => r.digest);
}
