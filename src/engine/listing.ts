/**
 * Volume and network listings with Docker's filters (engine/filters.ts), shared by
 * `volume ls` / `network ls` and `GET /volumes` / `GET /networks`.
 */
import { invalidArgument } from '../base/errors.js';
import type { NetworkInspect, NetworkManager } from '../network/index.js';
import { boolFilter, filterArgs, matchAny, matchLabels } from './filters.js';
import type { VolumeRow } from '../meta/volumes.js';
import { networksInUse } from '../meta/container-endpoints.js';
import type { DB } from '../meta/db.js';

const VOLUME_FILTERS = ['dangling', 'driver', 'label', 'name'] as const;
const NETWORK_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'] as const;

/** `volume ls --filter`: dangling, driver (local), label=k[=v], name (substring). */
export function listVolumes(vs: { list(): VolumeRow[]; users(name: string): string[] }, filters: readonly string[] = []): VolumeRow[] {
  const f = filterArgs(filters, VOLUME_FILTERS);
  const dangling = boolFilter(f, 'dangling');
  return vs.list().filter((v) => {
    if (dangling !== undefined && (vs.users(v.name).length === 0) !== dangling) return false;
    return matchAny(f, 'name', (n) => v.name.includes(n))
      && matchAny(f, 'driver', (d) => d === 'local')
      && matchLabels(f, JSON.parse(v.labels || '{}') as Record<string, string>);
  });
}

/** Docker's `type` of a network: `builtin` for bridge, host, none; `custom` for the others. */
function networkType(n: { predefined: boolean; name: string }): 'builtin' | 'custom' {
  return n.predefined || n.name === 'host' || n.name === 'none' ? 'builtin' : 'custom';
}

/**
 * `network ls --filter`: dangling (no container configured for it; builtins never),
 * driver, id (prefix), label, name (substring), scope, type (custom|builtin).
 */
export async function listNetworks(engine: { readonly store: { readonly db: DB }; all(): { hostConfig: { NetworkMode: string } }[] }, nm: NetworkManager, filters: readonly string[] = []): Promise<NetworkInspect[]> {
  const f = filterArgs(filters, NETWORK_FILTERS);
  for (const t of f.get('type') ?? []) {
    if (t !== 'custom' && t !== 'builtin') throw invalidArgument(`Invalid filter: 'type'='${t}'`);
  }
  const dangling = boolFilter(f, 'dangling');
  await nm.ensureDefault();
  let used: Set<string> | undefined;
  if (dangling !== undefined) used = new Set([...engine.all().map((c) => c.hostConfig.NetworkMode), ...networksInUse(engine.store.db)]);
  return nm.list().map((n) => nm.inspect(n.name)).filter((n) => {
    if (dangling !== undefined) {
      const isDangling = networkType(n) === 'custom' && !used!.has(n.name) && !used!.has(n.id) && Object.keys(n.containers).length === 0;
      if (isDangling !== dangling) return false;
    }
    return matchAny(f, 'name', (x) => n.name.includes(x))
      && matchAny(f, 'id', (x) => n.id.startsWith(x))
      && matchAny(f, 'driver', (x) => x === n.driver)
      && matchAny(f, 'scope', (x) => x === n.scope)
      && matchAny(f, 'type', (x) => x === networkType(n))
      && matchLabels(f, n.labels);
  });
}
