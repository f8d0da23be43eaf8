/**
 * Files in and out of containers: `cp` both ways and `export`.
 *
 * Paths inside a container are resolved as if the container's root were `/` (symlinks
 * followed inside the root, `..` stopping at it), so a container's symlinks never lead a
 * copy outside its root (the `docker cp` CVEs in security.md). A running container is
 * paused while its files are read or written, so it cannot swap a directory for a symlink
 * between the check and the copy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, type Writable, type Readable } from 'node:stream';
import { invalidArgument, notFound } from '../base/errors.js';
import { packDir, unpackLayer, TarWriter } from '../layer/index.js';
import { isMounted, unmount } from '../snapshot/index.js';
import type { Container, Containers } from './containers.js';
import { holdFreeze, releaseFreeze } from './freeze.js';

const MAX_LINKS = 255;

/**
 * Resolve `p` inside `root` with chroot semantics. Returns the host path. With
 * `followFinal` false the last component is not followed (cp copies a link as a link).
 */
interface PathMount { destination: string; source: string; }

/**
 * Resolve `p` inside `root` with chroot semantics. Returns the host path. With
 * `followFinal` false the last component is not followed (cp copies a link as a link).
 * `mounts` (volumes, binds) map container paths to their host sources, as the container sees them.
 */
export function resolveInRoot(root: string, p: string, followFinal = true, mounts: PathMount[] = []): string {
  const sorted = [...mounts].sort((a, b) => b.destination.length - a.destination.length);
  const hostPath = (stack: string[]): string => {
    const cp = '/' + stack.join('/');
    for (const m of sorted) {
      const d = m.destination.replace(/\/+$/, '');
      if (cp === d || cp.startsWith(d + '/')) return path.join(m.source, cp.slice(d.length));
    }
    return path.join(root, cp);
  };
  const parts = p.split('/').filter((x) => x && x !== '.');
  const stack: string[] = [];
  let links = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === '..') { stack.pop(); continue; }
    const candidate = hostPath([...stack, part]);
    let st: fs.Stats | undefined;
    try { st = fs.lstatSync(candidate); } catch { st = undefined; }
    if (st?.isSymbolicLink() && (parts.length > 0 || followFinal)) {
      if (++links > MAX_LINKS) throw invalidArgument(`too many levels of symbolic links: ${p}`);
      const target = fs.readlinkSync(candidate);
      if (target.startsWith('/')) stack.length = 0;
      parts.unshift(...target.split('/').filter((x) => x && x !== '.'));
      continue;
    }
    stack.push(part);
  }
  return hostPath(stack);
}

/** Where the container's volumes and binds live on the host. */
function mountTable(engine: Containers, c: Container): PathMount[] {
  return engine.volumes.mountTable(c);
}

/** Run fn with the container's rootfs mounted and the container frozen if it runs. */
export async function withRootfs<T>(engine: Containers, c: Container, fn: (root: string) => Promise<T>): Promise<T> {
  const wasMounted = isMounted(path.join(c.dir, 'merged'), engine.sys);
  const root = await engine.mountRootfs(c);
  const pause = c.row.state === 'running';
  if (pause) {
    holdFreeze(c.dir, 'copy');
    await engine.runc.pause(c.id).catch(() => undefined);
  }
  try {
    return await fn(root);
  } finally {
    if (pause) {
      await engine.runc.resume(c.id).catch(() => undefined);
      releaseFreeze(c.dir);
    }
    if (!wasMounted && c.row.state !== 'running' && c.row.state !== 'paused') await unmount(root, engine.sys).catch(() => undefined);
  }
}

/** `export`: the container's filesystem as a tar stream. */
export async function exportContainer(engine: Containers, ref: string, out: Writable): Promise<void> {
  const c = engine.get(ref);
  await withRootfs(engine, c, async (root) => { await packDir(root, out, { mode: 'plain', sys: engine.sys }); });
}

/** `cp CONTAINER:SRC DEST`: copy out; DEST '-' writes a tar stream to `out`. */
export async function copyFromContainer(engine: Containers, ref: string, src: string, dest: string, out?: Writable): Promise<void> {
  const c = engine.get(ref);
  await withRootfs(engine, c, async (root) => {
    const hostSrc = resolveInRoot(root, src, false, mountTable(engine, c));
    let st: fs.Stats;
    try { st = fs.lstatSync(hostSrc); } catch { throw notFound(`Could not find the file ${src} in container ${ref}`); }
    const base = path.basename(path.resolve('/', src)) || 'root';
    if (dest === '-') {
      if (!out) throw invalidArgument('no output for -');
      if (st.isDirectory()) await packDirAs(hostSrc, base, out);
      else await packOne(hostSrc, base, st, out);
      return;
    }
    let target = dest;
    if (fs.existsSync(dest) && fs.statSync(dest).isDirectory() && !src.endsWith('/.')) target = path.join(dest, base);
    else if (dest.endsWith('/') && !fs.existsSync(dest)) throw invalidArgument(`destination directory ${dest} does not exist`);
    fs.cpSync(hostSrc, target, { recursive: true, verbatimSymlinks: true, dereference: false, preserveTimestamps: true, force: true });
  });
}

/** `cp SRC CONTAINER:DEST`: copy in through Strata's confined extractor. */
export async function copyToContainer(engine: Containers, ref: string, src: string | Readable, dest: string): Promise<void> {
  const c = engine.get(ref);
  await withRootfs(engine, c, async (root) => {
    const hostDest = resolveInRoot(root, dest, true, mountTable(engine, c));
    let destIsDir = false;
    try { destIsDir = fs.statSync(hostDest).isDirectory(); } catch { /* new */ }
    if (typeof src !== 'string') {
      // a tar stream ('-'): extract into the destination directory
      if (!destIsDir) throw invalidArgument(`destination "${dest}" must be a directory`);
      await unpackLayer(src, hostDest, { mode: 'plain', symlinkParents: 'resolve-in-root', sys: engine.sys });
      return;
    }
    const st = fs.lstatSync(src);
    const base = path.basename(path.resolve(src));
    const pass = new PassThrough();
    let into: string;
    if (st.isDirectory()) {
      // cp dir ctr:/existing -> /existing/dir; cp dir ctr:/new -> /new
      into = destIsDir && !src.endsWith('/.') ? path.join(hostDest, base) : hostDest;
      fs.mkdirSync(into, { recursive: true });
      await copyThrough(pass, packDir(src, pass, { mode: 'plain', sys: engine.sys }), into, engine);
      return;
    }
    const name = destIsDir ? base : path.basename(hostDest);
    into = destIsDir ? hostDest : path.dirname(hostDest);
    if (!fs.existsSync(into)) throw invalidArgument(`no such directory: ${path.dirname(dest)}`);
    await copyThrough(pass, packOne(src, name, st, pass), into, engine);
  });
}

/** Unpack what `packing` writes into `pass`; a failure on either side stops the other (a full disk must not leave the packer waiting). */
async function copyThrough(pass: PassThrough, packing: Promise<unknown>, into: string, engine: Containers): Promise<void> {
  const stop = (e: unknown): never => { pass.destroy(e instanceof Error ? e : new Error(String(e))); throw e; };
  await Promise.all([packing.catch(stop), unpackLayer(pass, into, { mode: 'plain', symlinkParents: 'resolve-in-root', sys: engine.sys }).catch(stop)]);
}

async function packOne(file: string, name: string, st: fs.Stats, out: Writable): Promise<void> {
  const tw = new TarWriter(out);
  const opts = { mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000), uid: st.uid, gid: st.gid };
  if (st.isSymbolicLink()) await tw.addSymlink(name, fs.readlinkSync(file), opts);
  else await tw.addFileFromPath(name, file, st.size, opts);
  await tw.finish();
}

/** A directory packed under a top-level name (what `docker cp ctr:/dir -` streams). */
async function packDirAs(dir: string, name: string, out: Writable): Promise<void> {
  // packDir writes entries relative to dir; wrap them under `name/` by packing the parent with a filter
  const parent = path.dirname(dir);
  await packDir(parent, out, { mode: 'plain', exclude: (p) => p !== `/${name}` && !p.startsWith(`/${name}/`) && p.split('/').length === 2 });
}
