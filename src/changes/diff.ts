/**
 * Docker's `diff`: compare two merged filesystem views by lstat metadata,
 * walking only where the views can differ.
 *
 * Docker compares the container's merged view against the view of its init
 * layer (image + init files) with these rules (docker-semantics.md 1.3, moby
 * pkg/archive/changes.go):
 *   - only in the new view: `A`, and `A` for every descendant;
 *   - only in the old view: one `D` (no lines for its descendants);
 *   - in both: `C` when st_mode (type + permission bits), uid, gid, rdev or the
 *     security.capability xattr differ, and for an old entry that is not a
 *     directory also size or mtime (seconds; nanoseconds only when both have
 *     some). Content, ctime, inode, nlink and other xattrs never count;
 *   - the walk descends only where the new entry is a directory;
 *   - a directory with a reported entry below it, not itself reported, gets
 *     `C` before its descendants (never `/`);
 *   - order: pre-order, siblings in byte order, a directory's `D` lines after
 *     its other children (one of the orders Docker itself produces).
 *
 * Cost: a directory present in both views is only listed through the layers
 * that contribute to one view and not the other (see stack.ts). For a container
 * that is its upper dir alone (plus the lower listing of a directory the
 * container made opaque); for two images sharing base layers, the layers they
 * do not share. So the work grows with the change, not with the image.
 */
import * as fs from 'node:fs';
import { binToUtf8, toBin } from '../layer/index.js';
import {
  type Found, S_IFDIR, capability, childContribs, isDirStat, isWhiteout, lookup, readNames, rootContribs, lstatBin,
} from './stack.js';

export type ChangeKind = 'A' | 'C' | 'D';

/** One line of `docker diff`: path is absolute, never ends with '/', never '/'. */
export interface Change {
  kind: ChangeKind;
  path: string;
}

export interface DiffOptions {
  /**
   * Absolute paths of mount points whose *contents* are not part of the diff
   * (volumes, tmpfs, bind mounts). The mount point itself is compared as usual,
   * so a directory Docker created for it shows up as `A`.
   */
  hide?: readonly string[];
  /**
   * Leave a path and everything below it out (e.g. an --exclude / noise
   * predicate from exclude.ts). Called with the absolute UTF-8 path and the
   * lstat of the entry in the new view (the old one for a deletion).
   */
  exclude?: (path: string, st: fs.BigIntStats) => boolean;
}

function sameTime(a: bigint, b: bigint): boolean {
  const NS = 1_000_000_000n;
  if (a / NS !== b / NS) return false;
  const an = a % NS;
  const bn = b % NS;
  return an === bn || an === 0n || bn === 0n;
}

/** moby's statDifferent (Linux). The directory test is on the old mode only, as in Go. */
function statDifferent(o: fs.BigIntStats, n: fs.BigIntStats): boolean {
  if (o.mode !== n.mode || o.uid !== n.uid || o.gid !== n.gid || o.rdev !== n.rdev) return true;
  if ((o.mode & S_IFDIR) !== S_IFDIR) {
    if (o.size !== n.size || !sameTime(o.mtimeNs, n.mtimeNs)) return true;
  }
  return false;
}

function sameCap(a: Buffer | null, b: Buffer | null): boolean {
  if (a === null || b === null) return a === b || (a?.length ?? 0) + (b?.length ?? 0) === 0;
  return a.equals(b);
}

const HOLE: Change = { kind: 'C', path: '' };

class Walker {
  /** HOLE marks a directory slot that stayed unreported; removed at the end */
  readonly out: Change[] = [];
  private readonly hide: Set<string>;
  private readonly exclude: DiffOptions['exclude'];

  constructor(opts: DiffOptions) {
    this.hide = new Set((opts.hide ?? []).map((h) => toBin(h).split('/').filter((p) => p !== '').join('/')).filter((h) => h !== ''));
    this.exclude = opts.exclude;
  }

  private show(rel: string): string {
    const s = binToUtf8(rel) ?? Buffer.from(rel, 'latin1').toString('utf8');
    return '/' + s;
  }

  private excluded(rel: string, st: fs.BigIntStats): boolean {
    return this.exclude !== undefined && this.exclude(this.show(rel), st);
  }

  /** Compare a directory present (as a directory) in both views. */
  both(rel: string, oldC: readonly string[], newC: readonly string[]): void {
    const oldSet = new Set(oldC);
    const newSet = new Set(newC);
    const names = new Set<string>();
    for (const c of oldC) if (!newSet.has(c)) readNames(c, names);
    for (const c of newC) if (!oldSet.has(c)) readNames(c, names);
    if (names.size === 0) return;
    const sorted = [...names].sort();
    const deleted: string[] = [];
    for (const n of sorted) {
      const childRel = rel === '' ? n : rel + '/' + n;
      const a = lookup(oldC, n);
      const b = lookup(newC, n);
      if (b === null) {
        if (a !== null && !this.excluded(childRel, a.st)) deleted.push(childRel);
        continue;
      }
      if (this.excluded(childRel, b.st)) continue;
      if (a === null) {
        this.out.push({ kind: 'A', path: this.show(childRel) });
        if (isDirStat(b.st) && !this.hide.has(childRel)) this.added(childRel, childContribs(newC, b, n));
        continue;
      }
      this.compare(childRel, n, oldC, a, newC, b);
    }
    for (const d of deleted) this.out.push({ kind: 'D', path: this.show(d) });
  }

  private compare(rel: string, name: string, oldC: readonly string[], a: Found, newC: readonly string[], b: Found): void {
    const bDir = isDirStat(b.st);
    const changed = statDifferent(a.st, b.st) || !sameCap(capability(a.abs, isDirStat(a.st)), capability(b.abs, bDir));
    if (!bDir) {
      if (changed) this.out.push({ kind: 'C', path: this.show(rel) });
      return;
    }
    const slot = this.out.length;
    this.out.push(changed ? { kind: 'C', path: this.show(rel) } : HOLE);
    if (!this.hide.has(rel)) {
      if (isDirStat(a.st)) this.both(rel, childContribs(oldC, a, name), childContribs(newC, b, name));
      else this.added(rel, childContribs(newC, b, name));
    }
    if (!changed && this.out.length > slot + 1) this.out[slot] = { kind: 'C', path: this.show(rel) };
  }

  /** Everything below a directory that only the new view has: `A` lines, pre-order. */
  added(rel: string, contribs: readonly string[]): void {
    if (contribs.length === 1) return this.addedSingle(rel, contribs[0]!);
    const names = new Set<string>();
    for (const c of contribs) readNames(c, names);
    for (const n of [...names].sort()) {
      const f = lookup(contribs, n);
      if (f === null) continue;
      const childRel = rel + '/' + n;
      if (this.excluded(childRel, f.st)) continue;
      this.out.push({ kind: 'A', path: this.show(childRel) });
      if (isDirStat(f.st) && !this.hide.has(childRel)) this.added(childRel, childContribs(contribs, f, n));
    }
  }

  /** Fast path: a directory with a single contribution (a new directory in an upper dir). */
  private addedSingle(rel: string, abs: string): void {
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(Buffer.from(abs, 'latin1'), { withFileTypes: true, encoding: 'buffer' }) as unknown as fs.Dirent[];
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    const list = ents.map((d) => [(d.name as unknown as Buffer).toString('latin1'), d] as const);
    list.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    for (const [n, d] of list) {
      const childRel = rel + '/' + n;
      const childAbs = abs + '/' + n;
      if (d.isCharacterDevice() || this.exclude) {
        const st = lstatBin(childAbs);
        if (st === undefined || isWhiteout(st)) continue;
        if (this.excluded(childRel, st)) continue;
      }
      this.out.push({ kind: 'A', path: this.show(childRel) });
      // a directory under a new directory merges with nothing below it
      if (d.isDirectory() && !this.hide.has(childRel)) this.addedSingle(childRel, childAbs);
    }
  }

  result(): Change[] {
    return this.out.filter((c) => c !== HOLE);
  }
}

/**
 * Compare two layer stacks (top-most first), `older` against `newer`, as the
 * merged views a mount of each would show. Layers the two stacks share (the
 * same directory) are not walked unless a differing layer cuts them off.
 */
export function diffLayerStacks(older: readonly string[], newer: readonly string[], opts: DiffOptions = {}): Change[] {
  const w = new Walker(opts);
  w.both('', rootContribs(older), rootContribs(newer));
  return w.result();
}

/**
 * `docker diff` of a container from its overlay upper dir: the changes of the
 * merged view `[upperDir, ...lowerDirs]` against `lowerDirs` (top-most first;
 * include the container's init dir, so the runtime's mount targets such as
 * /etc/hosts and /proc count as present in the base).
 */
export function diffUpper(upperDir: string, lowerDirs: readonly string[], opts: DiffOptions = {}): Change[] {
  return diffLayerStacks(lowerDirs, [upperDir, ...lowerDirs], opts);
}

/**
 * An image against a container (of that image or another one). The container's
 * view is `[upperDir, ...containerLowers]` (its init dir, then its image's
 * layers). Pass `initDir` to count the init files as present on the image side
 * too, as Docker hides them.
 */
export function diffStackVsUpper(
  imageLayers: readonly string[],
  upperDir: string,
  containerLowers: readonly string[],
  opts: DiffOptions & { initDir?: string } = {},
): Change[] {
  const older = opts.initDir !== undefined ? [opts.initDir, ...imageLayers] : [...imageLayers];
  return diffLayerStacks(older, [upperDir, ...containerLowers], opts);
}

/** Docker's print form: `C /etc` one per line (no trailing newline handling here). */
export function formatChanges(changes: readonly Change[]): string {
  return changes.map((c) => `${c.kind} ${c.path}`).join('\n');
}


