/**
 * `/containers/{id}/archive` (what `docker cp` and the SDKs' get/put_archive use): the
 * path's stat as Docker encodes it in `X-Docker-Container-Path-Stat`, and tar streams out
 * and in through the same confined resolution as `strata cp` (engine/files.ts): a
 * container's symlinks never lead outside it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { invalidArgument, notFound } from '../base/errors.js';
import type { Containers } from './containers.js';
import { copyFromContainer, copyToContainer, resolveInRoot, withRootfs } from './container-files.js';

/** Docker's container path stat (`types.ContainerPathStat`). */
export interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string; }

/** Go's os.FileMode bits for a Unix st_mode. */
export function goFileMode(mode: number): number {
  const S_IFMT = 0o170000;
  const t = mode & S_IFMT;
  // arithmetic, not `|`: bit 31 (ModeDir) would make a 32-bit JS integer negative
  let flags = 0;
  if (t === 0o040000) flags += 2 ** 31;
  else if (t === 0o120000) flags += 2 ** 27;
  else if (t === 0o010000) flags += 2 ** 25;
  else if (t === 0o140000) flags += 2 ** 24;
  else if (t === 0o060000) flags += 2 ** 26;
  else if (t === 0o020000) flags += 2 ** 26 + 2 ** 21;
  if (mode & 0o4000) flags += 2 ** 23;
  if (mode & 0o2000) flags += 2 ** 22;
  if (mode & 0o1000) flags += 2 ** 20;
  return flags + (mode & 0o777);
}

/** ModeDir in a Go FileMode. */
export function isGoDir(mode: number): boolean {
  return mode >= 2 ** 31;
}

function mounts(engine: Containers, id: string) {
  return engine.volumes.mountTable(engine.get(id));
}

/** Stat a path inside a container (the last component is not followed; a link's target is given resolved). */
export async function statContainerPath(engine: Containers, ref: string, p: string): Promise<PathStat> {
  if (!p) throw invalidArgument('path is required');
  const c = engine.get(ref);
  return withRootfs(engine, c, async (root) => {
    const table = mounts(engine, c.id);
    const host = resolveInRoot(root, p, false, table);
    let st: fs.Stats;
    try { st = fs.lstatSync(host); } catch { throw notFound(`Could not find the file ${p} in container ${ref}`); }
    let linkTarget = '';
    if (st.isSymbolicLink()) {
      const target = resolveInRoot(root, p, true, table);
      linkTarget = target.startsWith(root) ? '/' + path.relative(root, target) : target;
    }
    return { name: path.basename(path.resolve('/', p)) || '/', size: st.size, mode: goFileMode(st.mode), mtime: st.mtime.toISOString(), linkTarget };
  });
}

/** GET: the path as a tar stream (a directory under its own name). */
export async function archiveFromContainer(engine: Containers, ref: string, p: string, out: Writable): Promise<void> {
  await copyFromContainer(engine, ref, p, '-', out);
}

/** PUT: extract a tar stream into a directory of the container, which must exist. */
export async function extractToContainer(engine: Containers, ref: string, dir: string, input: Readable): Promise<void> {
  const st = await statContainerPath(engine, ref, dir);
  const isDir = isGoDir(st.mode) || (st.linkTarget !== '' && isGoDir((await statContainerPath(engine, ref, st.linkTarget)).mode));
  if (!isDir) throw invalidArgument(`extraction point is not a directory`);
  await copyToContainer(engine, ref, input, dir);
}
