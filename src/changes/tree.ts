/**
 * Browsing layer stacks one directory at a time, for the explorer.
 *
 * A stack here is a list of layer directories, bottom-most first (the order of
 * an image's rootfs.diff_ids), each an overlay layer as stack.ts describes it.
 * Two views of a directory at layer `index`:
 *
 *   - the layer view: the entries of that one layer's directory, each marked
 *     A (nothing below had the name), C (it replaces an entry below), D (a
 *     whiteout, or a lower entry an opaque directory hides), or '' (a
 *     directory that is only a parent of changes);
 *   - the aggregate view: the merged image up to and including that layer,
 *     marked the same way relative to the layers below it ('' = untouched by
 *     this layer), with the entries this layer removed listed as D.
 *
 * Only the requested directory is read (one readdir per contributing layer,
 * one lstat per name shown), so the cost of opening a directory does not grow
 * with the size of the image or the layer. Directory sizes are a separate call
 * (dirSizes), which walks the subtrees below one directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalidArgument } from '../base/errors.js';
import { binToUtf8, fileType, fsPath, toBin } from '../layer/index.js';
import { classifyNoise, type NoiseKind } from './noise.js';
import {
  type Found, S_IFMT, childContribs, entryBytes, isDirStat, isOpaque, isWhiteout, lookup, lstatBin, readNames, resolveInStack, rootContribs, subtreeBytes,
} from './stack.js';

type EntryType = 'dir' | 'file' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
type Mark = 'A' | 'C' | 'D' | '';

interface TreeEntry {
  name: string;
  /** absolute path in the image, UTF-8 ('/etc/passwd') */
  path: string;
  type: EntryType;
  mark: Mark;
  /** bytes of a file or symlink; a directory's own size is 0 (see dirSizes); what a D entry removed when it is not a directory */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkTarget?: string;
  /** a directory with at least one name in it (in this view) */
  hasChildren?: boolean;
  /** an opaque directory: hides everything below it in lower layers */
  opaque?: boolean;
  noise?: NoiseKind;
}

export interface DirListing {
  path: string;
  /** entries shown (offset .. offset+limit of the sorted names) */
  entries: TreeEntry[];
  /** names in the directory, in this view */
  total: number;
  offset: number;
}

export interface ListOptions {
  offset?: number;
  limit?: number;
}

const DEFAULT_LIMIT = 1000;

function typeOf(st: fs.BigIntStats): EntryType {
  const t = fileType(Number(st.mode));
  return t === null || t === 'link' ? 'file' : t;
}

/** A binary string for people: UTF-8 when it is, else with each stray byte as U+FFFD. */
export function display(bin: string): string {
  return binToUtf8(bin) ?? Buffer.from(bin, 'latin1').toString('utf8');
}

/** '/a/b' (UTF-8, from a request) -> 'a/b' (binary, relative); '' for the root. '..' is refused: it would leave the layer. */
function relOf(p: string): string {
  const parts = toBin(p).split('/').filter((x) => x !== '' && x !== '.');
  if (parts.includes('..')) throw invalidArgument(`invalid path ${JSON.stringify(p)}: ".." is not allowed`);
  if (p.includes('\0')) throw invalidArgument(`invalid path ${JSON.stringify(p)}: NUL is not allowed`);
  return parts.join('/');
}

/** A layer directory as the binary absolute path stack.ts uses for it. */
function binDir(d: string): string {
  return toBin(path.resolve(d));
}

function join(rel: string, name: string): string {
  return rel === '' ? name : rel + '/' + name;
}

function hasNames(contribs: readonly string[]): boolean {
  for (const c of contribs) {
    try {
      const d = fs.opendirSync(fsPath(c));
      try {
        for (let e = d.readSync(); e !== null; e = d.readSync()) {
          if (e.isCharacterDevice()) {
            const st = lstatBin(c + '/' + e.name);
            if (st && isWhiteout(st)) continue;
          }
          return true;
        }
      } finally { d.closeSync(); }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
    }
  }
  return false;
}

function entryOf(rel: string, name: string, st: fs.BigIntStats, abs: string, mark: Mark, contribsBelow?: () => readonly string[]): TreeEntry {
  const p = '/' + display(join(rel, name));
  const type = typeOf(st);
  const e: TreeEntry = {
    name: display(name), path: p, type, mark, size: entryBytes(st),
    mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtime: Number(st.mtimeMs) / 1000,
  };
  if (type === 'symlink') {
    try { e.linkTarget = display((fs.readlinkSync(fsPath(abs), { encoding: 'buffer' }) as Buffer).toString('latin1')); } catch { /* vanished */ }
  }
  if (type === 'dir') {
    e.hasChildren = hasNames(contribsBelow ? contribsBelow() : [abs]);
    if (isOpaque(abs)) e.opaque = true;
  } else if (mark !== 'D') {
    const k = classifyNoise(p, { isDirectory: () => false, isCharacterDevice: () => type === 'char', rdev: st.rdev });
    if (k !== undefined) e.noise = k;
  }
  return e;
}

/** The merged contributions of a directory in a stack given top-most first; null when it is not a directory there. */
function dirContribs(topFirst: readonly string[], rel: string): string[] | null {
  if (topFirst.length === 0) return null;
  if (rel === '') return rootContribs(topFirst);
  const r = resolveInStack(topFirst, rel);
  if (r === null || !isDirStat(r.found.st)) return null;
  return r.contribs;
}

function page<T>(names: T[], o: ListOptions): { slice: T[]; offset: number } {
  const offset = Math.max(0, o.offset ?? 0);
  const limit = Math.max(1, o.limit ?? DEFAULT_LIMIT);
  return { slice: names.slice(offset, offset + limit), offset };
}

/** Whether an entry differs from the one below it in what a person would call a change of the directory itself. */
function dirChanged(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
  return a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid;
}

/**
 * One layer's own entries in a directory (`layers` bottom-most first). A path
 * the layer does not have (as a directory) lists as empty.
 */
export function listLayerDir(layers: readonly string[], index: number, dir: string, o: ListOptions = {}): DirListing {
  const rel = relOf(dir);
  const top = binDir(layers[index]!);
  const abs = rel === '' ? top : top + '/' + rel;
  const below = layers.slice(0, index).reverse();
  const st = lstatBin(abs);
  const res: DirListing = { path: '/' + display(rel), entries: [], total: 0, offset: 0 };
  if (st === undefined || !isDirStat(st)) return res;
  const lower = dirContribs(below, rel) ?? [];
  const own = new Set<string>();
  readNames(abs, own);
  const hidden = new Set<string>();
  const opaque = lower.length > 0 && isOpaque(abs);
  if (opaque) {
    const ln = new Set<string>();
    for (const c of lower) readNames(c, ln);
    for (const n of ln) if (!own.has(n) && lookup(lower, n) !== null) hidden.add(n);
  }
  const names = [...own, ...hidden].sort();
  res.total = names.length;
  const { slice, offset } = page(names, o);
  res.offset = offset;
  for (const n of slice) {
    const childAbs = abs + '/' + n;
    if (hidden.has(n)) {
      const f = lookup(lower, n)!;
      res.entries.push(removedEntry(rel, n, f, lower));
      continue;
    }
    const cst = lstatBin(childAbs);
    if (cst === undefined) continue;
    const f = lookup(lower, n);
    if (isWhiteout(cst)) {
      if (f === null) continue; // a whiteout of nothing: no change anyone would see
      res.entries.push(removedEntry(rel, n, f, lower));
      continue;
    }
    let mark: Mark = f === null ? 'A' : 'C';
    if (f !== null && isDirStat(cst) && isDirStat(f.st) && !dirChanged(f.st, cst) && !isOpaque(childAbs)) mark = '';
    res.entries.push(entryOf(rel, n, cst, childAbs, mark));
  }
  return res;
}

function removedEntry(rel: string, name: string, f: Found, lowerParent: readonly string[]): TreeEntry {
  const e = entryOf(rel, name, f.st, f.abs, 'D', isDirStat(f.st) ? () => childContribs(lowerParent, f, name) : undefined);
  delete e.noise;
  // what a removed directory held is gone in this view: its size (dirSizes) says how much
  if (e.type === 'dir') e.hasChildren = false;
  return e;
}

/**
 * The merged image up to layer `index` (bottom-most first), one directory:
 * every name the merged view has, marked against the layers below `index`, and
 * the names layer `index` removed (D).
 */
export function listMergedDir(layers: readonly string[], index: number, dir: string, o: ListOptions = {}): DirListing {
  const rel = relOf(dir);
  const stack = layers.slice(0, index + 1).reverse();
  const res: DirListing = { path: '/' + display(rel), entries: [], total: 0, offset: 0 };
  const contribs = dirContribs(stack, rel);
  if (contribs === null) return res;
  const top = binDir(stack[0]!);
  const topDir = rel === '' ? top : top + '/' + rel;
  // is layer `index`'s own directory one of the contributions? (else it changed nothing here)
  const topContributes = contribs[0] === topDir;
  const lower = topContributes ? (dirContribs(stack.slice(1), rel) ?? []) : contribs;
  const names = new Set<string>();
  for (const c of contribs) readNames(c, names);
  const removed = new Set<string>();
  if (topContributes && lower.length > 0) {
    const ln = new Set<string>();
    for (const c of lower) readNames(c, ln);
    for (const n of ln) if (lookup(contribs, n) === null && lookup(lower, n) !== null) removed.add(n);
  }
  const visible: string[] = [];
  const found = new Map<string, Found>();
  for (const n of names) {
    if (removed.has(n)) continue;
    const f = lookup(contribs, n);
    if (f === null) continue;
    found.set(n, f);
    visible.push(n);
  }
  const all = [...visible, ...removed].sort();
  res.total = all.length;
  const { slice, offset } = page(all, o);
  res.offset = offset;
  for (const n of slice) {
    if (removed.has(n)) {
      res.entries.push(removedEntry(rel, n, lookup(lower, n)!, lower));
      continue;
    }
    const f = found.get(n)!;
    let mark: Mark = '';
    if (topContributes && f.at === 0) {
      const g = contribs === lower ? null : lookup(lower, n);
      mark = g === null ? 'A' : 'C';
      if (g !== null && isDirStat(f.st) && isDirStat(g.st) && !dirChanged(g.st, f.st) && !isOpaque(f.abs)) mark = '';
    }
    res.entries.push(entryOf(rel, n, f.st, f.abs, mark, isDirStat(f.st) ? () => childContribs(contribs, f, n) : undefined));
  }
  return res;
}

/** Bytes of one layer's own subtree (files and symlinks, each inode once; whiteouts are 0). */
function layerSubtreeBytes(absBin: string, seen = new Set<string>()): number {
  let total = 0;
  let ents: fs.Dirent[];
  try {
    ents = fs.readdirSync(fsPath(absBin), { withFileTypes: true, encoding: 'buffer' }) as unknown as fs.Dirent[];
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 0;
    throw e;
  }
  for (const d of ents) {
    const abs = absBin + '/' + (d.name as unknown as Buffer).toString('latin1');
    if (d.isDirectory()) { total += layerSubtreeBytes(abs, seen); continue; }
    if (!d.isFile() && !d.isSymbolicLink()) continue;
    const st = lstatBin(abs);
    if (st === undefined) continue;
    if (st.nlink > 1n && d.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
    }
    total += entryBytes(st);
  }
  return total;
}

/**
 * Sizes of the child directories of `dir` in one view (name -> bytes): in the
 * layer view the layer's own bytes below each directory (for a removed
 * directory, what it removed), in the aggregate view the merged bytes.
 */
export function dirSizes(layers: readonly string[], index: number, dir: string, aggregate: boolean, names?: readonly string[]): Record<string, number> {
  const listing = aggregate ? listMergedDir(layers, index, dir, { limit: Number.MAX_SAFE_INTEGER }) : listLayerDir(layers, index, dir, { limit: Number.MAX_SAFE_INTEGER });
  const want = names ? new Set(names) : undefined;
  const out: Record<string, number> = {};
  const below = layers.slice(0, index).reverse();
  const stack = layers.slice(0, index + 1).reverse();
  for (const e of listing.entries) {
    if (e.type !== 'dir' || (want && !want.has(e.name))) continue;
    const rel = relOf(e.path);
    if (e.mark === 'D') {
      const c = dirContribs(below, rel);
      out[e.name] = c ? subtreeBytes(c) : 0;
    } else if (aggregate) {
      const c = dirContribs(stack, rel);
      out[e.name] = c ? subtreeBytes(c) : 0;
    } else {
      out[e.name] = layerSubtreeBytes(binDir(layers[index]!) + '/' + rel);
    }
  }
  return out;
}

/** Resolve a path to a regular file in the merged view up to `index`; undefined when it is not one. */
export function resolveFile(layers: readonly string[], index: number, p: string): { abs: string; size: number } | undefined {
  const stack = layers.slice(0, index + 1).reverse();
  const r = resolveInStack(stack, relOf(p));
  if (r === null || Number(r.found.st.mode & S_IFMT) !== 0o100000) return undefined;
  return { abs: r.found.abs, size: Number(r.found.st.size) };
}
