/**
 * A virtual overlay merge of layer directories, without a mount.
 *
 * A "stack" is a list of directories, top-most first, each laid out as an
 * overlay layer: whiteouts are char devices 0/0, an opaque directory carries
 * trusted.overlay.opaque=y (an overlay upper dir and Strata's unpacked layer
 * dirs both look like this). For one directory of the merged view we keep its
 * *contributions*: the physical directories, top-most first, whose entries
 * make up its listing. Overlay's lookup rule, applied per name:
 *
 *   walk the contributions top-first; the first one holding the name decides:
 *   a whiteout hides it, a non-directory is it; a directory is it too and is
 *   merged with the same name in the contributions below, until one of them
 *   is opaque (kept, then stop) or holds a non-directory/whiteout (stop).
 *
 * Paths here are binary strings (one char per byte, see layer/paths.ts), so
 * names that are not UTF-8 survive and sorting is byte order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath, getXattr, toBin, withXattrPath } from '../layer/index.js';

export const S_IFMT = 0o170000n;
export const S_IFDIR = 0o040000n;
const S_IFREG = 0o100000n;
const S_IFLNK = 0o120000n;
const S_IFCHR = 0o020000n;

/** One name found in a stack: the top-most entry's lstat and where it lives. */
export interface Found {
  st: fs.BigIntStats;
  /** binary absolute path of the top-most entry */
  abs: string;
  /** index, in the contributions it was looked up in, of the layer holding it */
  at: number;
}

export function lstatBin(abs: string): fs.BigIntStats | undefined {
  return fs.lstatSync(fsPath(abs), { bigint: true, throwIfNoEntry: false });
}

export function isWhiteout(st: fs.BigIntStats): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0n;
}

export function isDirStat(st: fs.BigIntStats): boolean {
  return (st.mode & S_IFMT) === S_IFDIR;
}

/** An xattr of an entry, not following symlinks; null when absent or when the entry vanished (a running container). */
function xattrOf(abs: string, isDir: boolean, name: string): Buffer | null {
  try {
    return withXattrPath(abs, isDir, (p) => getXattr(p, name)) ?? null;
  } catch (e) {
    if (lstatBin(abs) === undefined) return null;
    throw e;
  }
}

export function isOpaque(absDir: string): boolean {
  const v = xattrOf(absDir, true, 'trusted.overlay.opaque');
  return v !== null && v.length === 1 && v[0] === 0x79;
}

/** security.capability of an entry (null when absent), not following symlinks. */
export function capability(abs: string, isDir: boolean): Buffer | null {
  return xattrOf(abs, isDir, 'security.capability');
}

/** Names (binary strings) in a physical directory; none when it cannot be read as one. */
export function readNames(absDir: string, into: Set<string>): void {
  let names: Buffer[];
  try {
    names = fs.readdirSync(fsPath(absDir), { encoding: 'buffer' }) as Buffer[];
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw e;
  }
  for (const b of names) into.add(b.toString('latin1'));
}

/** Look a name up in a merged directory given by its contributions. null = absent (or whited out). */
export function lookup(contribs: readonly string[], name: string): Found | null {
  for (let i = 0; i < contribs.length; i++) {
    const abs = contribs[i] + '/' + name;
    const st = lstatBin(abs);
    if (st === undefined) continue;
    if (isWhiteout(st)) return null;
    return { st, abs, at: i };
  }
  return null;
}

/** The contributions of a directory found by lookup() in `parent` (empty for a non-directory). */
export function childContribs(parent: readonly string[], f: Found, name: string): string[] {
  if (!isDirStat(f.st)) return [];
  const out = [f.abs];
  if (isOpaque(f.abs)) return out;
  for (let j = f.at + 1; j < parent.length; j++) {
    const abs = parent[j] + '/' + name;
    const st = lstatBin(abs);
    if (st === undefined) continue;
    if (!isDirStat(st)) break; // a whiteout or a non-directory ends the merge
    out.push(abs);
    if (isOpaque(abs)) break;
  }
  return out;
}

/** Root contributions of a stack of layer directories (top-most first). */
export function rootContribs(stack: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of stack) {
    const abs = toBin(path.resolve(d));
    out.push(abs);
    if (isOpaque(abs)) break;
  }
  return out;
}

/** Resolve a '/'-separated binary relative path through a stack; null when absent. */
export function resolveInStack(stack: readonly string[], rel: string): { found: Found; contribs: string[] } | null {
  let contribs = rootContribs(stack);
  const parts = rel.split('/').filter((p) => p !== '');
  let found: Found | null = null;
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i]!;
    found = lookup(contribs, name);
    if (found === null) return null;
    if (i < parts.length - 1) {
      if (!isDirStat(found.st)) return null;
      contribs = childContribs(contribs, found, name);
    }
  }
  if (found === null) {
    const abs = contribs[0];
    if (abs === undefined) return null;
    const st = lstatBin(abs)!;
    return { found: { st, abs, at: 0 }, contribs };
  }
  return { found, contribs: isDirStat(found.st) ? childContribs(contribs, found, parts[parts.length - 1]!) : [] };
}

/** Docker's size of an entry: regular-file bytes or a symlink's target length; 0 otherwise. */
export function entryBytes(st: fs.BigIntStats): number {
  const t = st.mode & S_IFMT;
  return t === S_IFREG || t === S_IFLNK ? Number(st.size) : 0;
}

/** Bytes of a merged subtree (regular files and symlinks, each inode once). */
export function subtreeBytes(contribs: readonly string[], seen = new Set<string>()): number {
  const names = new Set<string>();
  for (const c of contribs) readNames(c, names);
  let total = 0;
  for (const n of names) {
    const f = lookup(contribs, n);
    if (f === null) continue;
    if (isDirStat(f.st)) total += subtreeBytes(childContribs(contribs, f, n), seen);
    else {
      const key = `${f.st.dev}:${f.st.ino}`;
      if (f.st.nlink > 1n) {
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += entryBytes(f.st);
    }
  }
  return total;
}
