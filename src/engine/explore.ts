/**
 * Explorer use cases: what the explorer page and `image analyze` ask of the
 * store. All of them only read. Directory listings are lazy (one directory at
 * a time, see changes/tree.ts); analyze walks every layer of one image once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalidArgument, notFound } from '../base/errors.js';
import {
  type Change, type DirListing, type ListOptions, type WasteReport, analyzeLayers, changesToJson, dirSizes, listLayerDir, listMergedDir, resolveFile, summarize,
} from '../changes/index.js';
import { PROVENANCE_LABEL, runLine } from '../changes/provenance.js';
import { hexOf } from '../image/digest.js';
import { familiarString, parseReference } from '../image/reference.js';
import type { Containers } from './containers.js';
import { diffImageContainer, diffImages } from './diff.js';
import { type ImageRow, imageLayers, listImages, loadConfig, resolveImage, tagsOf } from './images.js';
import { ensureImageDirs } from './layer-dirs.js';
import type { StoreRoot as Store } from './store-root.js';

export interface ImageOverview {
  id: string;
  tags: string[];
  created: number;
  size: number;
  /** bytes of layers no other image uses */
  uniqueSize: number;
  /** bytes of layers another image uses too */
  sharedSize: number;
  layers: { diffId: string; size: number; sharedWith: string[] }[];
  /** the image whose layers are the longest proper prefix of this one's (the one it sits on), and how many layers it adds */
  base?: { id: string; name: string; addedLayers: number };
}

interface LayerInfo {
  index: number;
  diffId: string;
  size: number;
  created: string;
  createdBy: string;
  comment: string;
  /** the Dockerfile instruction(s) that made the layer, as far as the record tells */
  dockerfile: string[];
  /** images (other than this one) that have this layer */
  sharedWith: string[];
  empty?: false;
}

export interface ImageDetail {
  id: string;
  name: string;
  tags: string[];
  created: string;
  size: number;
  os: string;
  architecture: string;
  layers: LayerInfo[];
}

function displayName(store: Store, row: ImageRow): string {
  const t = tagsOf(store, row.id)[0];
  return t ? familiarString(parseReference(t)) : hexOf(row.id).slice(0, 12);
}

function familiarTags(store: Store, id: string): string[] {
  return tagsOf(store, id).map((t) => familiarString(parseReference(t)));
}

function layersById(store: Store): Map<string, string[]> {
  const per = new Map<string, string[]>();
  for (const r of store.db.prepare('SELECT image_id, diff_id FROM image_layers ORDER BY image_id, idx').all() as { image_id: string; diff_id: string }[]) {
    const a = per.get(r.image_id);
    if (a) a.push(r.diff_id); else per.set(r.image_id, [r.diff_id]);
  }
  return per;
}

/** Every image with its sizes and the layers it shares (names only; nothing is walked). */
export function imagesOverview(store: Store): ImageOverview[] {
  const per = layersById(store);
  const users = new Map<string, Set<string>>();
  for (const [id, ls] of per) for (const d of ls) { let s = users.get(d); if (!s) users.set(d, s = new Set()); s.add(id); }
  const seen = new Set<string>();
  const rows = listImages(store, { all: true }).filter((r) => !seen.has(r.id) && seen.add(r.id));
  const names = new Map(rows.map((r) => [r.id, r.repoTags[0] ?? hexOf(r.id).slice(0, 12)]));
  return rows.map((r) => {
    const recs = imageLayers(store, r.id);
    const mine = per.get(r.id) ?? [];
    const layers = recs.map((l) => ({ diffId: l.diffId, size: l.size, sharedWith: [...(users.get(l.diffId) ?? [])].filter((x) => x !== r.id).map((x) => names.get(x) ?? x) }));
    let shared = 0;
    const counted = new Set<string>();
    for (const l of recs) if (!counted.has(l.diffId)) { counted.add(l.diffId); if ((users.get(l.diffId)?.size ?? 0) > 1) shared += l.size; }
    const o: ImageOverview = { id: r.id, tags: r.repoTags, created: r.created, size: r.size, uniqueSize: r.size - shared, sharedSize: shared, layers };
    let best: { id: string; n: number } | undefined;
    for (const [other, ls] of per) {
      if (other === r.id || ls.length >= mine.length || ls.length === 0) continue;
      if (ls.every((d, i) => mine[i] === d) && (!best || ls.length > best.n)) best = { id: other, n: ls.length };
    }
    if (best) o.base = { id: best.id, name: names.get(best.id) ?? best.id, addedLayers: mine.length - best.n };
    return o;
  });
}

/** A history entry's `created_by` as the Dockerfile line that made it. */
export function dockerfileLine(createdBy: string): string {
  let s = createdBy.trim();
  if (s === '') return '';
  s = s.replace(/\s*# buildkit$/, '');
  const nop = /^\/bin\/sh -c #\(nop\)\s*(.*)$/s.exec(s);
  if (nop) return nop[1]!.trim().replace(/^(ADD|COPY) (\S+) in (\S+)$/, '$1 $2 $3');
  const sh = /^(?:RUN )?\/bin\/sh -c (.*)$/s.exec(s);
  if (sh) return `RUN ${sh[1]}`;
  if (/^[A-Z]+ /.test(s)) return s;
  return '';
}

/** The image's layers bottom to top with their history, for the layer list. */
export function imageDetail(store: Store, ref: string): ImageDetail {
  const img = resolveImage(store, ref);
  const cfg = loadConfig(store, img.id);
  const recs = imageLayers(store, img.id);
  const per = layersById(store);
  const names = new Map<string, string>();
  const nameOf = (id: string): string => {
    let n = names.get(id);
    if (n === undefined) { n = displayName(store, store.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow); names.set(id, n); }
    return n;
  };
  const history = cfg.history && cfg.history.length ? cfg.history : recs.map(() => ({}));
  const layers: LayerInfo[] = [];
  let li = 0;
  for (const h of history as { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[]) {
    if (h.empty_layer) continue;
    const rec = recs[li];
    if (!rec) break;
    const line = dockerfileLine(h.created_by ?? '');
    const sharedWith = [...per].filter(([id, ls]) => id !== img.id && ls.includes(rec.diffId)).map(([id]) => nameOf(id));
    layers.push({ index: li, diffId: rec.diffId, size: rec.size, created: h.created ?? '', createdBy: h.created_by ?? '', comment: h.comment ?? '', dockerfile: line ? [line] : [], sharedWith });
    li++;
  }
  for (; li < recs.length; li++) layers.push({ index: li, diffId: recs[li]!.diffId, size: recs[li]!.size, created: '', createdBy: '', comment: '', dockerfile: [], sharedWith: [] });
  // a commit with recorded execs: its layer is the one right above the image it was committed on
  const prov = cfg.config?.Labels?.[PROVENANCE_LABEL];
  if (prov) {
    try {
      const p = JSON.parse(prov) as { base?: string; execs?: { argv: string[] }[] };
      const base = p.base ? per.get(p.base) : undefined;
      const at = base?.length;
      if (at !== undefined && layers[at] && base!.every((d, i) => recs[i]?.diffId === d)) layers[at]!.dockerfile = (p.execs ?? []).map((e) => runLine(e.argv));
    } catch { /* a label someone else wrote */ }
  }
  return {
    id: img.id, name: displayName(store, img), tags: familiarTags(store, img.id), created: cfg.created ?? '', size: img.size,
    os: cfg.os ?? '', architecture: cfg.architecture ?? '', layers,
  };
}

/** Layer dirs bottom-most first. */
function stackOf(store: Store, imageId: string): string[] {
  return imageLayers(store, imageId).map((l) => store.layerDir(l.diffId));
}

function layerIndex(store: Store, imageId: string, index: number): string[] {
  const stack = stackOf(store, imageId);
  if (!Number.isInteger(index) || index < 0 || index >= stack.length) throw invalidArgument(`layer ${index} out of range: the image has ${stack.length} layers`);
  return stack;
}

export interface Analysis extends WasteReport {
  image: ImageDetail;
}

/** Waste, efficiency and noise of an image (walks every layer once). */
export function analyzeImage(store: Store, ref: string): Analysis {
  const image = imageDetail(store, ref);
  const recs = imageLayers(store, image.id);
  const r = analyzeLayers(recs.map((l) => store.layerDir(l.diffId)), recs.map((l) => l.size));
  return { ...r, image };
}

/** dive's `--json` export shape. */
export function diveExport(a: Analysis): Record<string, unknown> {
  return {
    layer: a.image.layers.map((l) => ({
      index: l.index, id: hexOf(l.diffId), digestId: l.diffId, sizeBytes: l.size, command: l.createdBy.replace(/^\/bin\/sh -c /, ''),
    })),
    image: {
      sizeBytes: a.sizeBytes,
      inefficientBytes: a.inefficientBytes,
      efficiencyScore: a.efficiencyScore,
      fileReference: a.references.map((r) => ({ count: r.count, sizeBytes: r.sizeBytes, file: r.file })),
    },
  };
}

/** One directory of one layer (or of the image up to that layer, with `aggregate`). */
export function layerTree(store: Store, ref: string, index: number, dir: string, o: ListOptions & { aggregate?: boolean } = {}): DirListing {
  const img = resolveImage(store, ref);
  const stack = layerIndex(store, img.id, index);
  return o.aggregate ? listMergedDir(stack, index, dir, o) : listLayerDir(stack, index, dir, o);
}

/** Sizes of the child directories of one directory in the same view. */
export function layerDirSizes(store: Store, ref: string, index: number, dir: string, aggregate = false): Record<string, number> {
  const img = resolveImage(store, ref);
  return dirSizes(layerIndex(store, img.id, index), index, dir, aggregate);
}

const TEXT_LIMIT = 256 * 1024;

/** A text file of the image (up to layer `index`), when it is a regular file under the limit and reads as UTF-8 text. */
export function layerFileText(store: Store, ref: string, index: number, p: string, limit = TEXT_LIMIT): { path: string; size: number; text: string } {
  const img = resolveImage(store, ref);
  const f = resolveFile(layerIndex(store, img.id, index), index, p);
  if (!f) throw notFound(`no regular file ${p} in this image`);
  if (f.size > limit) throw invalidArgument(`${p} is ${f.size} bytes; only text files up to ${limit} bytes are shown`);
  const buf = fs.readFileSync(Buffer.from(f.abs, 'latin1'));
  if (buf.includes(0) || !isTextUtf8(buf)) throw invalidArgument(`${p} is not a text file`);
  return { path: p, size: f.size, text: buf.toString('utf8') };
}

function isTextUtf8(b: Buffer): boolean {
  try { new TextDecoder('utf-8', { fatal: true }).decode(b); return true; } catch { return false; }
}

interface CompareSide { kind: 'image' | 'container'; id: string; name: string }

export interface Comparison {
  a: CompareSide;
  b: CompareSide;
  changes: { kind: 'A' | 'C' | 'D'; path: string; size: number }[];
  summary: { added: { count: number; bytes: number }; changed: { count: number; bytes: number }; deleted: { count: number; bytes: number } };
  /** changes beyond the first `limit` are counted in summary only */
  truncated: boolean;
}

/**
 * Compare an image with another image or with a container's pending changes
 * (what `commit` would capture, against the given image). Layers both share
 * are not walked.
 */
export function compare(store: Store, containers: Containers | undefined, a: string, b: string, limit = 20000): Comparison {
  const ia = resolveImage(store, a);
  const sa: CompareSide = { kind: 'image', id: ia.id, name: displayName(store, ia) };
  let changes: Change[];
  let sb: CompareSide;
  let newer: string | string[];
  const c = containers?.find(b);
  if (c) {
    const ct = containers!.get(c.id);
    const upperDir = path.join(ct.dir, 'upper');
    const lowerDirs = containers!.lowerDirs(ct);
    changes = diffImageContainer(store, ia.id, { upperDir, lowerDirs, initDir: path.join(ct.dir, 'init') }, { hide: containers!.hiddenMounts(ct) });
    sb = { kind: 'container', id: ct.id, name: ct.name };
    newer = [upperDir, ...lowerDirs];
  } else {
    const ib = resolveImage(store, b);
    changes = diffImages(store, ia.id, ib.id);
    sb = { kind: 'image', id: ib.id, name: displayName(store, ib) };
    newer = stackOf(store, ib.id).reverse();
  }
  const older = stackOf(store, ia.id).reverse();
  const shown = changes.slice(0, limit);
  const sized = changesToJson(shown, { newer, older });
  const summary = summarize(changes, { newer, older });
  return { a: sa, b: sb, changes: sized.map((x) => ({ kind: x.Kind, path: x.Path, size: x.Size })), summary, truncated: changes.length > limit };
}

export interface ContainerOverview {
  id: string;
  name: string;
  image: string;
  imageId: string;
  state: string;
  status: string;
  ports: string[];
  /** bytes `commit` would capture (added and changed files) */
  pendingBytes: number;
  pendingChanges: number;
}

/** Every container with its image, ports and pending change size (walks each upper dir only). */
export function containersOverview(containers: Containers): ContainerOverview[] {
  return containers.all().map((c) => {
    const s = containers.summary(c);
    let pendingBytes = 0;
    let pendingChanges = 0;
    try {
      const d = containers.diff(c.id);
      const sum = summarize(d.changes, d.upperDir);
      pendingBytes = sum.added.bytes + sum.changed.bytes;
      pendingChanges = d.changes.length;
    } catch { /* a container being removed */ }
    const ports = s.Ports.map((p) => (p.PublicPort ? `${p.IP ?? '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`));
    return { id: c.id, name: c.name, image: s.Image, imageId: c.row.image_id, state: c.row.state, status: s.Status, ports, pendingBytes, pendingChanges };
  });
}

/** Make the layer dirs of the images these names resolve to (a container: its image). */
export async function readyTargets(store: Store, containers: Containers | undefined, names: readonly string[]): Promise<void> {
  for (const n of names) {
    let t: { kind: 'image' | 'container'; id: string };
    try { t = resolveTarget(store, containers, n); } catch { continue; }
    await ensureImageDirs(store, t.kind === 'image' ? t.id : containers!.get(t.id).row.image_id);
  }
}

/** Resolve IMAGE|CONTAINER as the explorer's start page takes it. */
export function resolveTarget(store: Store, containers: Containers | undefined, name: string): { kind: 'image' | 'container'; id: string } {
  const c = containers?.find(name);
  if (c) return { kind: 'container', id: c.id };
  try { return { kind: 'image', id: resolveImage(store, name).id }; } catch (e) {
    void e;
    throw notFound(`No such image or container: ${name}`);
  }
}
