import { PRUNE_FILTERS, pruneFilter } from './filters.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tx } from '../meta/db.js';
import { hexOf } from '../image/digest.js';
import { rmTree } from '../base/fs.js';
import { deleteImageFiles, deleteImageRows, deleteLayerFiles, listImages, type OrphanLayer } from './images.js';
import { isRepackable } from './layer-tar.js';
import type { StoreRoot } from './store-root.js';
import { allImageIds, allImageLayers, allManifestDigests, imageLayerPresence, parentImageIds } from '../meta/images.js';
import { tagsOfImageAsRecorded } from '../meta/tags.js';
import { allLayerBlobDigests, allLayerIds, blobsOfLayer, layerRefs, layerSizes } from '../meta/layers.js';
import { allVolumes } from '../meta/volumes.js';

export interface DfImage {
  id: string; repository: string; tag: string; created: number;
  size: number; sharedSize: number; uniqueSize: number; containers: number;
}

interface DiskUsage {
  images: DfImage[];
  layersSize: number;      // distinct layer bytes
  activeImages: number;
  reclaimable: number;
}

/** `system df`: sizes come from the metadata store; shared = layers referenced by more than one image. */
export function diskUsage(store: StoreRoot, containersPerImage: (id: string) => number = () => 0): DiskUsage {
  const db = store.db;
  const refs = new Map(layerRefs(db).map((r) => [r.diff_id, r]));
  const perImage = new Map<string, string[]>();
  for (const r of allImageLayers(db)) {
    const a = perImage.get(r.image_id);
    if (a) a.push(r.diff_id); else perImage.set(r.image_id, [r.diff_id]);
  }
  const rows = listImages(store, { all: true });
  const images: DfImage[] = rows.map((r) => {
    const layers = [...new Set(perImage.get(r.id) ?? [])];
    const shared = layers.reduce((a, d) => a + ((refs.get(d)?.refs ?? 0) > 1 ? refs.get(d)!.size : 0), 0);
    return { id: r.id, repository: r.repository, tag: r.tag, created: r.created, size: r.size, sharedSize: shared, uniqueSize: r.size - shared, containers: containersPerImage(r.id) };
  });
  let layersSize = 0;
  for (const r of refs.values()) layersSize += r.size;
  const active = new Set(images.filter((i) => i.containers > 0).map((i) => i.id));
  const activeLayers = new Set<string>();
  for (const id of active) for (const d of perImage.get(id) ?? []) activeLayers.add(d);
  let activeSize = 0;
  for (const d of activeLayers) activeSize += refs.get(d)?.size ?? 0;
  return { images, layersSize, activeImages: active.size, reclaimable: layersSize - activeSize };
}

export interface PruneResult { deleted: string[]; untagged: string[]; reclaimed: number; }

/**
 * Remove dangling images (all unused ones with `all`), then what no row refers to:
 * orphan blobs, orphan layer dirs, stale tmp entries.
 */
export function pruneImages(store: StoreRoot, opts: { all?: boolean; imageInUse?: (id: string) => boolean; filters?: readonly string[] } = {}): PruneResult {
  const pf = pruneFilter(opts.filters, PRUNE_FILTERS.images);
  // dangling=false: every unused image, as -a (Docker)
  if (pf.dangling === false) opts = { ...opts, all: true };
  const res: PruneResult = { deleted: [], untagged: [], reclaimed: 0 };
  const inUse = opts.imageInUse ?? (() => false);
  const orphans: OrphanLayer[] = [];
  const manifests: string[] = [];
  for (;;) {
    const rows = listImages(store, opts.all ? { all: true } : { filters: ['dangling=true'] });
    const parents = parentImageIds(store.db);
    const victims = [...new Set(rows.filter((r) => !inUse(r.id) && !parents.has(r.id) && (opts.all || r.repository === '<none>') && pf.labels(r.labels) && pf.before(r.created * 1000)).map((r) => r.id))];
    if (victims.length === 0) break;
    tx(store.db, () => {
      for (const id of victims) {
        for (const t of tagsOfImageAsRecorded(store.db, id)) res.untagged.push(t);
        orphans.push(...deleteImageRows(store, id, manifests));
        res.deleted.push(id);
      }
    });
    if (!opts.all) break;
  }
  for (const id of res.deleted) deleteImageFiles(store, id, manifests);
  for (const o of orphans) {
    const sz = layerDirBytes(store, o.diffId);
    res.reclaimed += sz;
    deleteLayerFiles(store, o);
    res.deleted.push(o.diffId);
  }
  res.reclaimed += gcUnreferenced(store).reclaimed;
  return res;
}

function layerDirBytes(store: StoreRoot, diffId: string): number {
  const r = layerSizes(store.db, diffId);
  if (r) return r.size;
  // rows are gone already: measure blobs on disk
  try { return fs.statSync(store.content.pathOf(diffId)).size; } catch { return 0; }
}

/** Blobs younger than this stay (a pull or build may be about to reference them); read when used. */
const blobGraceMs = (): number => Number(process.env.STRATA_GC_GRACE_MS ?? 5 * 60 * 1000);

/** Blobs and layer dirs that no row refers to (left by a crash), checked under the write lock. */
export function gcUnreferenced(store: StoreRoot): { blobs: string[]; layers: string[]; reclaimed: number } {
  const out = { blobs: [] as string[], layers: [] as string[], reclaimed: 0 };
  tx(store.db, () => {
    const wanted = referencedBlobs(store);
    const now = Date.now();
    for (const d of store.content.list()) {
      if (wanted.has(d)) continue;
      let st: fs.Stats;
      try { st = fs.statSync(store.content.pathOf(d)); } catch { continue; }
      // a blob written in the last minutes may belong to an import whose transaction is still to come
      if (now - st.mtimeMs < blobGraceMs()) continue;
      out.reclaimed += st.size;
      store.content.delete(d);
      out.blobs.push(d);
    }
    const layerRows = new Set(allLayerIds(store.db).map(hexOf));
    for (const name of safeReaddir(store.layersDir)) {
      if (layerRows.has(name)) continue;
      rmTree(path.join(store.layersDir, name));
      out.layers.push(name);
    }
    for (const name of orphanVolumeDirs(store)) rmTree(path.join(store.root, 'volumes', name));
  });
  store.sweepTmp();
  return out;
}

/** Directories under volumes/ with no volume row (left by a run of an older version killed mid-removal). */
function orphanVolumeDirs(store: StoreRoot): string[] {
  const rows = new Set(allVolumes(store.db).map((v) => v.name));
  return safeReaddir(path.join(store.root, 'volumes')).filter((n) => !rows.has(n));
}

function referencedBlobs(store: StoreRoot): Set<string> {
  const s = new Set<string>();
  const db = store.db;
  for (const id of allImageIds(db)) s.add(id);
  for (const d of allLayerBlobDigests(db)) s.add(d);
  for (const d of allManifestDigests(db)) s.add(d);
  return s;
}

function safeReaddir(dir: string): string[] {
  try { return fs.readdirSync(dir); } catch { return []; }
}

/** Problems are integrity failures; garbage (left by interrupted runs) is only reclaimable space. */
export interface CheckReport { problems: string[]; garbage: string[]; blobs: number; layers: number; images: number; }

/** `system check`: every blob's digest, every layer dir's presence, every image's config and layers. */
export async function checkStore(store: StoreRoot): Promise<CheckReport> {
  const problems: string[] = [];
  const db = store.db;
  const blobs = store.content.list();
  for (const d of blobs) {
    if (!(await store.content.verify(d))) problems.push(`blob ${d}: content does not match its digest`);
  }
  const layers = allLayerIds(db).map((diff_id) => ({ diff_id }));
  for (const l of layers) {
    const dir = store.layerDir(l.diff_id);
    let ok = false;
    try { ok = fs.statSync(dir).isDirectory(); } catch { /* missing */ }
    const held = blobsOfLayer(db, l.diff_id, 'recorded').some((b) => store.content.has(b.digest));
    // without its dir, a layer is kept as its blob until first needed (layer-dirs.ts)
    if (!ok && !held) problems.push(`layer ${l.diff_id}: directory ${dir} is missing`);
    else if (!held && !isRepackable(store, l.diff_id)) problems.push(`layer ${l.diff_id}: no blob holds this layer`);
  }
  const images = allImageIds(db).map((id) => ({ id }));
  for (const i of images) {
    if (!store.content.has(i.id)) problems.push(`image ${i.id}: config blob is missing`);
    const il = imageLayerPresence(db, i.id);
    for (const x of il) if (!x.present) problems.push(`image ${i.id}: layer ${x.diff_id} is missing`);
  }
  const garbage: string[] = [];
  const wanted = referencedBlobs(store);
  for (const d of blobs) if (!wanted.has(d)) garbage.push(`blob ${d}: not referenced`);
  const layerRows = new Set(layers.map((l) => hexOf(l.diff_id)));
  for (const name of safeReaddir(store.layersDir)) if (!layerRows.has(name)) garbage.push(`layer dir ${name}: not referenced`);
  for (const name of safeReaddir(store.tmpDir)) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (pid !== process.pid && !store.sys.processAlive(pid)) garbage.push(`tmp/${name}: left by an interrupted run`);
  }
  for (const name of orphanVolumeDirs(store)) garbage.push(`volume dir ${name}: not referenced`);
  return { problems, garbage, blobs: blobs.length, layers: layers.length, images: images.length };
}
