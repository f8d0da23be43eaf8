/**
 * Wasted space in a stack of layers, with dive's definitions
 * (wagoodman/dive, dive/filetree/efficiency.go and dive/image/image.go):
 *
 *   - every layer contributes one *reference* per leaf of its own tree (a
 *     non-directory, or a directory with nothing in it) to the path's record:
 *     the entry's size; a whiteout contributes 0;
 *   - a path referenced by two or more layers is *inefficient*; its bytes are
 *     the sum of all its references (the copy that survives included);
 *   - inefficientBytes (dive's "wasted bytes") is the sum over inefficient
 *     paths; efficiency = Σ min reference / Σ all references over every path
 *     (1 when there are no bytes at all); userWastedPercent = wasted bytes /
 *     the bytes of every layer but the first.
 *
 * Where Strata differs, on purpose: dive counts the removal of a directory as
 * one reference of the directory itself (so `rm -rf dir` never shows as waste)
 * and ignores opaque directories. Here a removal is what overlay makes of it:
 * every file a whiteout, an opaque directory or a change of type hides gets a
 * 0-byte reference, so files written in one layer and deleted in a later one
 * always count as wasted.
 *
 * Entry sizes are Docker's (regular file bytes, a symlink's target length,
 * each inode once per layer), the same as the layer sizes `images` shows.
 * Per layer the walk also counts what it adds, changes and removes, and the
 * noise Strata recognises (noise.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath, toBin } from '../layer/index.js';
import { NOISE_LABELS, classifyNoise, type NoiseKind, type NoiseLine } from './noise.js';
import { childContribs, entryBytes, isDirStat, isOpaque, isWhiteout, lookup, lstatBin, readNames, rootContribs } from './stack.js';
import { display } from './tree.js';

interface FileReference {
  /** layers that reference the path */
  count: number;
  /** sum of every reference's bytes */
  sizeBytes: number;
  /** absolute path, UTF-8 */
  file: string;
}

interface LayerWaste {
  index: number;
  /** Docker's size of the layer's own entries */
  bytes: number;
  added: number;
  changed: number;
  removed: number;
  /** entries (of every kind) in the layer */
  entries: number;
  noise: NoiseLine[];
  /** bytes this layer wrote to paths a later layer overwrote or removed */
  wastedBytes: number;
}

export interface WasteReport {
  layers: LayerWaste[];
  sizeBytes: number;
  userSizeBytes: number;
  inefficientBytes: number;
  efficiencyScore: number;
  userWastedPercent: number;
  /** inefficient paths, most bytes first (dive's order; ties by path) */
  references: FileReference[];
}

interface PathRecord {
  count: number;
  cumulative: number;
  min: number;
  /** the layer and bytes of the latest reference, to charge a later overwrite to it */
  lastLayer: number;
  lastBytes: number;
}

const NOISE_PATHS = 3;

class Analyzer {
  readonly records = new Map<string, PathRecord>();
  readonly layers: LayerWaste[] = [];
  private cur!: LayerWaste;
  private noise!: Map<NoiseKind, NoiseLine>;
  private seen!: Set<string>;

  reference(rel: string, bytes: number): void {
    let r = this.records.get(rel);
    if (r === undefined) {
      r = { count: 0, cumulative: 0, min: bytes, lastLayer: -1, lastBytes: 0 };
      this.records.set(rel, r);
    }
    if (r.lastLayer >= 0 && r.lastLayer !== this.cur.index) this.layers[r.lastLayer]!.wastedBytes += r.lastBytes;
    r.count++;
    r.cumulative += bytes;
    if (bytes < r.min) r.min = bytes;
    r.lastLayer = this.cur.index;
    r.lastBytes = bytes;
  }

  /** Every non-directory of a lower subtree (contributions `lower`) that the current layer hides: 0-byte references. */
  private removedBelow(rel: string, lower: readonly string[], layerAbs: string | null): void {
    const names = new Set<string>();
    for (const c of lower) readNames(c, names);
    for (const n of names) {
      const f = lookup(lower, n);
      if (f === null) continue;
      const childRel = rel + '/' + n;
      let mine: fs.BigIntStats | undefined;
      if (layerAbs !== null) mine = lstatBin(layerAbs + '/' + n);
      if (isDirStat(f.st)) {
        const keep = mine !== undefined && isDirStat(mine) && !isWhiteout(mine) ? layerAbs + '/' + n : null;
        this.removedBelow(childRel, childContribs(lower, f, n), keep);
      } else if (mine === undefined || isWhiteout(mine) || isDirStat(mine)) {
        // not rewritten by this layer as a file (that reference is counted when the layer is walked)
        this.reference(childRel, 0);
        this.cur.removed++;
      }
    }
  }

  private removeOne(rel: string, f: { st: fs.BigIntStats; abs: string; at: number }, lowerParent: readonly string[], name: string): void {
    if (isDirStat(f.st)) this.removedBelow(rel, childContribs(lowerParent, f, name), null);
    else { this.reference(rel, 0); this.cur.removed++; }
  }

  private noiseOf(rel: string, st: fs.BigIntStats): void {
    const p = '/' + display(rel);
    const k = classifyNoise(p, { isDirectory: () => false, isCharacterDevice: () => false, rdev: 0 });
    if (k === undefined) return;
    let l = this.noise.get(k);
    if (!l) { l = { kind: k, label: NOISE_LABELS[k], count: 0, bytes: 0, paths: [], excluded: false }; this.noise.set(k, l); }
    l.count++;
    l.bytes += entryBytes(st);
    if (l.paths.length < NOISE_PATHS) l.paths.push(p);
  }

  /** Walk one directory of the current layer; `lower` = the merged contributions of the same directory below. */
  private walk(rel: string, abs: string, lower: readonly string[]): void {
    let ents: Buffer[];
    try {
      ents = fs.readdirSync(fsPath(abs), { encoding: 'buffer' }) as Buffer[];
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw e;
    }
    const names = ents.map((b) => b.toString('latin1')).sort();
    if (names.length === 0 && rel !== '') this.reference(rel, 0); // an empty directory is a leaf
    for (const n of names) {
      const childRel = rel === '' ? n : rel + '/' + n;
      const childAbs = abs + '/' + n;
      const st = lstatBin(childAbs);
      if (st === undefined) continue;
      this.cur.entries++;
      const f = lower.length ? lookup(lower, n) : null;
      if (isWhiteout(st)) {
        if (f !== null) this.removeOne(childRel, f, lower, n);
        continue;
      }
      if (isDirStat(st)) {
        let below: string[] = [];
        if (f !== null) {
          if (isDirStat(f.st)) {
            below = childContribs(lower, f, n);
            if (isOpaque(childAbs)) { this.removedBelow(childRel, below, childAbs); below = []; }
          } else { this.reference(childRel, 0); this.cur.removed++; }
        }
        this.walk(childRel, childAbs, below);
        continue;
      }
      let bytes = entryBytes(st);
      if (st.nlink > 1n && Number(st.mode & 0o170000n) === 0o100000) {
        const key = `${st.dev}:${st.ino}`;
        if (this.seen.has(key)) bytes = 0; else this.seen.add(key);
      }
      this.cur.bytes += bytes;
      if (f === null) this.cur.added++;
      else {
        this.cur.changed++;
        if (isDirStat(f.st)) this.removedBelow(childRel, childContribs(lower, f, n), null);
      }
      this.reference(childRel, bytes);
      this.noiseOf(childRel, st);
    }
  }

  /** One layer (bottom-most first); `below` = the layer dirs under it, top-most first. */
  layer(index: number, dir: string, below: readonly string[]): void {
    this.cur = { index, bytes: 0, added: 0, changed: 0, removed: 0, entries: 0, noise: [], wastedBytes: 0 };
    this.noise = new Map();
    this.seen = new Set();
    this.layers.push(this.cur);
    const abs = toBin(path.resolve(dir));
    let lower = below.length ? rootContribs(below) : [];
    if (lower.length && isOpaque(abs)) { this.removedBelow('', lower, abs); lower = []; }
    this.walk('', abs, lower);
    const order = Object.keys(NOISE_LABELS) as NoiseKind[];
    this.cur.noise = order.map((k) => this.noise.get(k)).filter((l): l is NoiseLine => l !== undefined);
  }
}

/**
 * Analyse a stack of layer directories, bottom-most first. `sizes` (the
 * stored layer sizes) replace the walked ones in sizeBytes when given.
 */
export function analyzeLayers(layerDirs: readonly string[], sizes?: readonly number[]): WasteReport {
  const a = new Analyzer();
  layerDirs.forEach((d, i) => a.layer(i, d, layerDirs.slice(0, i).reverse()));
  let minimum = 0;
  let discovered = 0;
  const refs: FileReference[] = [];
  for (const [rel, r] of a.records) {
    minimum += r.min;
    discovered += r.cumulative;
    if (r.count >= 2) refs.push({ count: r.count, sizeBytes: r.cumulative, file: '/' + display(rel) });
  }
  refs.sort((x, y) => y.sizeBytes - x.sizeBytes || (x.file < y.file ? -1 : x.file > y.file ? 1 : 0));
  const layerBytes = a.layers.map((l, i) => sizes?.[i] ?? l.bytes);
  const sizeBytes = layerBytes.reduce((s, b) => s + b, 0);
  const userSizeBytes = sizeBytes - (layerBytes[0] ?? 0);
  const inefficientBytes = refs.reduce((s, r) => s + r.sizeBytes, 0);
  return {
    layers: a.layers,
    sizeBytes,
    userSizeBytes,
    inefficientBytes,
    efficiencyScore: discovered === 0 ? 1 : minimum / discovered,
    userWastedPercent: userSizeBytes === 0 ? (inefficientBytes === 0 ? 0 : Infinity) : inefficientBytes / userSizeBytes,
    references: refs,
  };
}
