/** The `blob_sources` table: registries and repositories a blob was pulled from or pushed to. */
import type { DB } from './db.js';

export function upsertBlobSources(db: DB, registry: string, repository: string, digests: Iterable<string>, seen: number): void {
  const st = db.prepare('INSERT INTO blob_sources (digest, registry, repository, seen) VALUES (?, ?, ?, ?) ON CONFLICT(digest, registry, repository) DO UPDATE SET seen = excluded.seen');
  for (const d of digests) st.run(d, registry, repository, seen);
}

/** Other repositories of `registry` known to hold `digest`, most recently seen first. */
export function otherRepositoriesWith(db: DB, registry: string, repository: string, digest: string, limit: number): string[] {
  return (db.prepare('SELECT repository FROM blob_sources WHERE digest = ? AND registry = ? AND repository != ? ORDER BY seen DESC LIMIT ?')
    .all(digest, registry, repository, limit) as { repository: string }[]).map((r) => r.repository);
}
