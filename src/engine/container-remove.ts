/** `rm`, `container prune`, `rename`. */
import { PRUNE_FILTERS, pruneFilter } from './filters.js';
import * as path from 'node:path';
import { conflict, invalidArgument, StrataError } from '../base/errors.js';
import { treeSize } from '../base/fs.js';
import { tx } from '../meta/db.js';
import { containerNamed } from '../meta/containers.js';
import { killForRemoval } from './container-stop.js';
import type { ContainerCore } from './container-core.js';
import { VALID_NAME } from './names.js';

export async function removeContainer(cs: ContainerCore, ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
  const c = cs.get(ref);
  await cs.settle(c.id);
  if (!cs.find(c.id)) return; // auto-removed meanwhile
  if (cs.isLive(c)) {
    if (!opts.force) throw conflict(`You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`);
    await killForRemoval(cs, c);
  }
  const after = cs.find(c.id);
  if (!after) return;
  cs.refresh(after);
  await cs.settle(c.id);
  const still = cs.find(c.id);
  if (still) await cs.destroy(still, opts);
}

/** `container prune [--filter label=…|label!=…|until=…]`: stopped containers. */
export async function pruneContainers(cs: ContainerCore, filters?: readonly string[]): Promise<{ deleted: string[]; reclaimed: number }> {
  const pf = pruneFilter(filters, PRUNE_FILTERS.containers);
  const out = { deleted: [] as string[], reclaimed: 0 };
  for (const c of cs.all()) {
    if (c.row.state !== 'exited' && c.row.state !== 'created' && c.row.state !== 'dead') continue;
    if (!pf.labels(c.config.Labels) || !pf.before(c.row.created)) continue;
    const size = treeSize(path.join(c.dir, 'upper'));
    try {
      await cs.destroy(c, { volumes: false });
    } catch (e) {
      if (e instanceof StrataError && e.code === 'conflict') continue; // another process is removing it
      throw e;
    }
    out.reclaimed += size;
    out.deleted.push(c.id);
  }
  return out;
}

export function renameContainer(cs: ContainerCore, ref: string, newName: string): void {
  const c = cs.get(ref);
  const name = newName.replace(/^\//, '');
  if (!VALID_NAME.test(name)) throw invalidArgument(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  if (name === c.name) throw invalidArgument('Renaming a container with the same name as its current name');
  tx(cs.store.db, () => {
    const other = containerNamed(cs.store.db, name);
    if (other) throw conflict(`Error when allocating new name: Conflict. The container name "/${name}" is already in use by container "${other}". You have to remove (or rename) that container to be able to reuse that name.`);
    cs.update(c.id, { name });
  });
  cs.event({ ...c, name }, 'rename', { oldName: `/${c.name}` });
  const renamed = cs.network?.renamed;
  if (renamed && cs.isLive(c)) cs.track(c.id, renamed.call(cs.network, { ...c, name }));
}
