/** The `images` table. */
import type { DB } from './db.js';

export function countImages(db: DB): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM images').get() as { n: number }).n;
}
