/** The `volumes` table and `container_volumes` (which container mounts which volume where). */
import type { DB } from './db.js';

export interface VolumeRow { name: string; created: string; labels: string; anonymous: number; }

export function insertVolume(db: DB, row: VolumeRow): void {
  db.prepare('INSERT OR IGNORE INTO volumes (name, created, labels, anonymous) VALUES (@name, @created, @labels, @anonymous)').run(row);
}

export function volumeByName(db: DB, name: string): VolumeRow | undefined {
  return db.prepare('SELECT * FROM volumes WHERE name = ?').get(name) as VolumeRow | undefined;
}

export function allVolumes(db: DB): VolumeRow[] {
  return db.prepare('SELECT * FROM volumes ORDER BY name').all() as VolumeRow[];
}

export function deleteVolume(db: DB, name: string): void {
  db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
}

/** IDs of the containers that mount a volume. */
export function volumeUsers(db: DB, name: string): string[] {
  return (db.prepare('SELECT DISTINCT container_id FROM container_volumes WHERE volume = ?').all(name) as { container_id: string }[]).map((r) => r.container_id);
}

/** A container's volumes and where they are mounted. */
export function volumesOfContainer(db: DB, containerId: string): { volume: string; destination: string }[] {
  return db.prepare('SELECT volume, destination FROM container_volumes WHERE container_id = ?').all(containerId) as { volume: string; destination: string }[];
}

export function volumeAt(db: DB, containerId: string, destination: string): string | undefined {
  return (db.prepare('SELECT volume FROM container_volumes WHERE container_id = ? AND destination = ?').get(containerId, destination) as { volume: string } | undefined)?.volume;
}

export function setVolumeAt(db: DB, containerId: string, volume: string, destination: string): void {
  db.prepare('INSERT OR REPLACE INTO container_volumes (container_id, volume, destination) VALUES (?, ?, ?)').run(containerId, volume, destination);
}

/** Forget a container's mounts; returns the volumes it had (with whether each is anonymous). */
export function releaseContainerVolumes(db: DB, containerId: string): { name: string; anonymous: number }[] {
  const rows = db.prepare('SELECT v.name, v.anonymous FROM container_volumes cv JOIN volumes v ON v.name = cv.volume WHERE cv.container_id = ?').all(containerId) as { name: string; anonymous: number }[];
  db.prepare('DELETE FROM container_volumes WHERE container_id = ?').run(containerId);
  return rows;
}
