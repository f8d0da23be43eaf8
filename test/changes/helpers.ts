/**
 * Fixtures for changes/ tests: a small base layer modelled on the busybox test
 * image of docker-semantics.md, a middle layer (adds, deletes, a whiteout), a
 * Docker-style init dir, and real overlay mounts over them.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packDir, readTar, unpackLayer, type TarHeader } from '../../src/layer/index.js';
import { REPACK_OPTIONS, repackDigest } from '../../src/engine/layer-tar.js';
import type { Change } from '../../src/changes/index.js';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';

export const T0 = 1700000000;

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `strata-changes-${prefix}-`));
}

export function rm(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

function w(root: string, rel: string, data: string | Buffer, mode = 0o644): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  fs.chmodSync(p, mode);
}

export function whiteout(root: string, rel: string): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  execFileSync('mknod', [p, 'c', '0', '0']);
}

/** Every entry below root gets mtime T0 (symlinks too), deepest first. */
export function fixTimes(root: string, t = T0): void {
  const walk = (d: string): void => {
    for (const n of fs.readdirSync(d)) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      fs.lutimesSync(p, t, t);
    }
  };
  walk(root);
  fs.utimesSync(root, t, t);
}

/** The base image: a tiny busybox-like tree with whole-second mtimes. */
export function buildBase(root: string): void {
  fs.mkdirSync(root, { recursive: true });
  w(root, 'bin/busybox', 'pretend this is busybox\n', 0o755);
  for (const a of ['ls', 'cat', 'mv', 'sh']) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  w(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  w(root, 'etc/group', 'root:x:0:\n');
  w(root, 'www/index.html', 'hello from www!!\n');
  w(root, 'www/old.html', 'old\n');
  fs.mkdirSync(path.join(root, 'root'), { mode: 0o700 });
  fs.chmodSync(path.join(root, 'root'), 0o700);
  fs.mkdirSync(path.join(root, 'tmp'));
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  w(root, 'deep/a/b/c.txt', 'deep\n');
  w(root, 'same/f', 'seventeen bytes!\n');
  w(root, 'tree/x/y', 'y\n');
  w(root, 'tree/z', 'z\n');
  w(root, 'mode/file', 'mode\n');
  w(root, 'cap/bin', 'capbin\n', 0o755);
  w(root, 'redo.txt', 'redo\n');
  w(root, 'redo/inner', 'inner\n');
  w(root, 'var/log/dpkg.log', 'log\n');
  fs.mkdirSync(path.join(root, 'var/lib/apt/lists'), { recursive: true });
  fs.mkdirSync(path.join(root, 'run'));
  fixTimes(root);
}

/** A middle layer: adds /mid and /etc/extra, deletes /redo and /redo.txt (whiteouts). */
export function buildMiddle(root: string): void {
  fs.mkdirSync(root, { recursive: true });
  w(root, 'mid/a', 'a\n');
  w(root, 'mid/b/c', 'c\n');
  w(root, 'etc/extra', 'extra\n');
  whiteout(root, 'redo');
  whiteout(root, 'redo.txt');
  fixTimes(root);
}

/** Docker's init layer: empty mount targets (docker-semantics.md 1.2). */
export function buildInit(root: string): void {
  fs.mkdirSync(root, { recursive: true });
  for (const f of ['.dockerenv', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'dev/console']) w(root, f, '', 0o755);
  for (const d of ['dev/pts', 'dev/shm', 'proc', 'sys']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.symlinkSync('/proc/mounts', path.join(root, 'etc/mtab'));
  fixTimes(root);
}

export interface Mounted {
  dir: string;
  upper: string;
  work: string;
  merged: string;
  lowers: string[];
  extraMounts: string[];
  close(): void;
}

function mountOpts(lowers: string[], upper: string, work: string): string {
  return `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work},index=off,metacopy=off,redirect_dir=off`;
}

/** A real overlay mount: upper/work/merged in a fresh dir over `lowers` (top-most first). */
export function mountOverlay(lowers: string[], prefix = 'ovl'): Mounted {
  const dir = tempDir(prefix);
  const m: Mounted = {
    dir,
    upper: path.join(dir, 'upper'),
    work: path.join(dir, 'work'),
    merged: path.join(dir, 'merged'),
    lowers,
    extraMounts: [],
    close() {
      for (const p of [...m.extraMounts].reverse()) umount(p);
      umount(m.merged);
      rm(dir);
    },
  };
  for (const d of [m.upper, m.work, m.merged]) fs.mkdirSync(d);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', mountOpts(lowers, m.upper, m.work), m.merged]);
  return m;
}

export function umount(p: string): void {
  try { execFileSync('umount', [p], { stdio: 'ignore' }); } catch { /* not mounted */ }
}

/** Run a shell script with the merged dir as the working directory. */
export function shIn(cwd: string, script: string): void {
  execFileSync('sh', ['-ec', script], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function lines(changes: readonly Change[]): string[] {
  return changes.map((c) => `${c.kind} ${c.path}`);
}

/** Changes as sorted lines (Docker's order is not deterministic; compare sorted). */
export function sortedLines(changes: readonly Change[]): string[] {
  return lines(changes).sort((a, b) => Buffer.compare(Buffer.from(a.slice(2)), Buffer.from(b.slice(2))));
}

/**
 * The pre-order shape Docker guarantees: every ancestor of a line (but /) comes
 * before it as A or C; within a directory, D lines come after the other
 * children; no duplicates.
 */
export function shapeProblems(changes: readonly Change[]): string[] {
  const out: string[] = [];
  const seen = new Map<string, number>();
  changes.forEach((c, i) => {
    if (seen.has(c.path)) out.push(`duplicate ${c.path}`);
    seen.set(c.path, i);
    const parent = c.path.slice(0, c.path.lastIndexOf('/'));
    if (parent !== '') {
      const pi = seen.get(parent);
      if (pi === undefined) out.push(`${c.kind} ${c.path}: parent not listed before it`);
      else if (changes[pi]!.kind === 'D') out.push(`${c.path}: under a deleted dir`);
    }
  });
  changes.forEach((c, i) => {
    if (c.kind !== 'D') return;
    const parent = c.path.slice(0, c.path.lastIndexOf('/'));
    for (let j = i + 1; j < changes.length; j++) {
      const o = changes[j]!;
      if (!o.path.startsWith(parent + '/')) break;
      if (o.kind !== 'D' && o.path.slice(0, o.path.lastIndexOf('/')) === parent) out.push(`${o.kind} ${o.path} after D ${c.path}`);
    }
  });
  return out;
}

/** Tar entries of a layer packed from a dir, with bodies' sizes. */
export async function packEntries(dir: string, opts: Parameters<typeof packDir>[2] = { mode: 'overlay-upper' }): Promise<TarHeader[]> {
  const file = path.join(os.tmpdir(), `strata-changes-pack-${process.pid}-${Math.random().toString(36).slice(2)}.tar`);
  try {
    await packDir(dir, file, opts);
    return await tarHeaders(file);
  } finally {
    rm(file);
  }
}

export async function tarHeaders(file: string): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const e of readTar(fs.createReadStream(file))) {
    out.push(e.header);
    await e.skip();
  }
  return out;
}

/** A compact description of an entry: name, then type details; whiteout/opaque markers with their mode. */
export function describe(h: TarHeader): string {
  const base = h.name.slice(h.name.lastIndexOf('/', h.name.length - 2) + 1);
  switch (h.type) {
    case 'symlink': return `${h.name} -> ${h.linkname}`;
    case 'link': return `${h.name} => ${h.linkname}`;
    case 'char': return `${h.name} c${h.devmajor},${h.devminor}`;
    case 'block': return `${h.name} b${h.devmajor},${h.devminor}`;
    case 'fifo': return `${h.name} fifo`;
    case 'file': return base.startsWith('.wh.') ? `${h.name} ${h.mode.toString(8)}` : h.name;
    default: return h.name;
  }
}

/** A read-only overlay of a stack (top-most first); a single layer is used as it is. */
export function mountStack(stack: string[], prefix = 'ro'): { merged: string; close(): void } {
  if (stack.length === 1) return { merged: stack[0]!, close() { /* nothing mounted */ } };
  const dir = tempDir(prefix);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${stack.join(':')}`, dir]);
  return { merged: dir, close() { umount(dir); rm(dir); } };
}

/**
 * The oracle: Docker's ChangesDirs (moby pkg/archive/changes.go), a full walk
 * of two mounted trees compared by lstat metadata, in the same sibling order.
 */
export function naiveDiff(oldRoot: string, newRoot: string): Change[] {
  const out: Change[] = [];
  const cap = (p: string): string => {
    try { return listAttributesSync(p).includes('security.capability') ? getAttributeSync(p, 'security.capability')!.toString('hex') : ''; } catch { return ''; }
  };
  const sameTime = (a: bigint, b: bigint): boolean => {
    const NS = 1_000_000_000n;
    return a / NS === b / NS && (a % NS === b % NS || a % NS === 0n || b % NS === 0n);
  };
  const different = (o: fs.BigIntStats, n: fs.BigIntStats): boolean =>
    o.mode !== n.mode || o.uid !== n.uid || o.gid !== n.gid || o.rdev !== n.rdev
    || ((o.mode & 0o040000n) !== 0o040000n && (o.size !== n.size || !sameTime(o.mtimeNs, n.mtimeNs)));
  const names = (d: string): string[] => (fs.readdirSync(Buffer.from(d), { encoding: 'buffer' }) as Buffer[]).map((b) => b.toString()).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const walk = (rel: string, oldIsDir: boolean): void => {
    const old = new Set(oldIsDir ? names(oldRoot + rel) : []);
    for (const n of names(newRoot + rel)) {
      const p = rel + '/' + n;
      const nst = fs.lstatSync(newRoot + p, { bigint: true });
      const at = out.length;
      let added = false;
      if (old.has(n)) {
        old.delete(n);
        const ost = fs.lstatSync(oldRoot + p, { bigint: true });
        if (different(ost, nst) || cap(oldRoot + p) !== cap(newRoot + p)) { out.push({ kind: 'C', path: p }); added = true; }
        if (nst.isDirectory()) walk(p, ost.isDirectory());
      } else {
        out.push({ kind: 'A', path: p });
        added = true;
        if (nst.isDirectory()) walk(p, false);
      }
      if (!added && nst.isDirectory() && out.length > at) out.splice(at, 0, { kind: 'C', path: p });
    }
    for (const n of [...old].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) out.push({ kind: 'D', path: rel + '/' + n });
  };
  walk('', true);
  return out;
}

/**
 * Pack an upper dir as commit does, unpack the tar into a layer dir, pack that
 * again: the diff_ids of both packs (equal = the tar need not be kept).
 */
export async function repackRoundTrip(upper: string, sourceDateEpoch?: number): Promise<[string, string]> {
  const dir = tempDir('repack');
  try {
    const tar = path.join(dir, 'layer.tar');
    const layer = path.join(dir, 'diff');
    fs.mkdirSync(layer);
    const opts: Parameters<typeof packDir>[2] = { ...REPACK_OPTIONS };
    if (sourceDateEpoch !== undefined) opts.sourceDateEpoch = sourceDateEpoch;
    const first = await packDir(upper, tar, opts);
    await unpackLayer(fs.createReadStream(tar), layer, { mode: 'overlay' });
    return [first.diffId, (await repackDigest(layer)).diffId];
  } finally {
    rm(dir);
  }
}
