/** The `tags` table (repo:tag → image) and `repo_digests` (repo@digest → image). */
import type { DB } from './db.js';

type RefTable = 'tags' | 'repo_digests';

export function setTagRow(db: DB, ref: string, imageId: string, created: number): void {
  db.prepare('INSERT INTO tags (ref, image_id, created) VALUES (?, ?, ?) ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id, created = excluded.created')
    .run(ref, imageId, created);
}

export function setRepoDigest(db: DB, ref: string, imageId: string): void {
  db.prepare('INSERT OR REPLACE INTO repo_digests (ref, image_id) VALUES (?, ?)').run(ref, imageId);
}

/** The image a tag or a repo@digest reference points at. */
export function imageOfRef(db: DB, table: RefTable, ref: string): string | undefined {
  const sql = table === 'tags' ? 'SELECT image_id FROM tags WHERE ref = ?' : 'SELECT image_id FROM repo_digests WHERE ref = ?';
  return (db.prepare(sql).get(ref) as { image_id: string } | undefined)?.image_id;
}

export function refsOfImage(db: DB, table: RefTable, imageId: string): string[] {
  const sql = table === 'tags' ? 'SELECT ref FROM tags WHERE image_id = ? ORDER BY ref' : 'SELECT ref FROM repo_digests WHERE image_id = ? ORDER BY ref';
  return (db.prepare(sql).all(imageId) as { ref: string }[]).map((r) => r.ref);
}

/** Every reference of a table, sorted. */
export function allRefs(db: DB, table: RefTable): { ref: string; image_id: string }[] {
  const sql = table === 'tags' ? 'SELECT ref, image_id FROM tags ORDER BY ref' : 'SELECT ref, image_id FROM repo_digests ORDER BY ref';
  return db.prepare(sql).all() as { ref: string; image_id: string }[];
}

/** Tags starting with `prefix` (a repository's tags: `domain/path:`). */
export function tagsWithPrefix(db: DB, prefix: string): { ref: string; image_id: string }[] {
  return db.prepare('SELECT ref, image_id FROM tags WHERE substr(ref, 1, ?) = ? ORDER BY ref').all(prefix.length, prefix) as { ref: string; image_id: string }[];
}

export function tagRow(db: DB, ref: string): { ref: string; image_id: string }[] {
  return db.prepare('SELECT ref, image_id FROM tags WHERE ref = ?').all(ref) as { ref: string; image_id: string }[];
}

export function deleteRef(db: DB, table: RefTable, ref: string): void {
  db.prepare(table === 'tags' ? 'DELETE FROM tags WHERE ref = ?' : 'DELETE FROM repo_digests WHERE ref = ?').run(ref);
}

/** An image's tags in the order they were recorded (prune reports them so). */
export function tagsOfImageAsRecorded(db: DB, imageId: string): string[] {
  return (db.prepare('SELECT ref FROM tags WHERE image_id = ?').all(imageId) as { ref: string }[]).map((r) => r.ref);
}
