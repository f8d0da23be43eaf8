/** Table `container_endpoints`: the networks a container joins and its per-network settings. */
import type { DB } from './db.js';

export interface EndpointSettings {
  Aliases: string[] | null;
  IPAMConfig: { IPv4Address?: string; IPv6Address?: string } | null;
  Links: string[] | null;
  DriverOpts: Record<string, string> | null;
}

export interface EndpointRow { network: string; idx: number; settings: EndpointSettings }

export function endpointsOf(db: DB, containerId: string): EndpointRow[] {
  const rows = db.prepare('SELECT network, idx, config FROM container_endpoints WHERE container_id = ? ORDER BY idx').all(containerId) as { network: string; idx: number; config: string }[];
  return rows.map((r) => ({ network: r.network, idx: r.idx, settings: JSON.parse(r.config) as EndpointSettings }));
}

/** Every container's endpoints in one query (listings). */
export function allEndpoints(db: DB): Map<string, EndpointRow[]> {
  const rows = db.prepare('SELECT container_id, network, idx, config FROM container_endpoints ORDER BY container_id, idx').all() as { container_id: string; network: string; idx: number; config: string }[];
  const out = new Map<string, EndpointRow[]>();
  for (const r of rows) {
    const e = { network: r.network, idx: r.idx, settings: JSON.parse(r.config) as EndpointSettings };
    const a = out.get(r.container_id);
    if (a) a.push(e); else out.set(r.container_id, [e]);
  }
  return out;
}

/** Add or replace one endpoint; a new one goes last. */
export function putEndpoint(db: DB, containerId: string, network: string, settings: EndpointSettings): void {
  const cur = db.prepare('SELECT idx FROM container_endpoints WHERE container_id = ? AND network = ?').get(containerId, network) as { idx: number } | undefined;
  const idx = cur?.idx ?? ((db.prepare('SELECT MAX(idx) AS m FROM container_endpoints WHERE container_id = ?').get(containerId) as { m: number | null }).m ?? -1) + 1;
  db.prepare('INSERT OR REPLACE INTO container_endpoints (container_id, network, idx, config) VALUES (?, ?, ?, ?)').run(containerId, network, idx, JSON.stringify(settings));
}

export function deleteEndpoint(db: DB, containerId: string, network: string): boolean {
  return db.prepare('DELETE FROM container_endpoints WHERE container_id = ? AND network = ?').run(containerId, network).changes > 0;
}

/** Names of every network some container is configured to join. */
export function networksInUse(db: DB): Set<string> {
  return new Set((db.prepare('SELECT DISTINCT network FROM container_endpoints').all() as { network: string }[]).map((r) => r.network));
}
