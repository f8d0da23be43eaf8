import * as fs from 'node:fs';
import * as path from 'node:path';
import { conflict, invalidArgument, notFound, StrataError } from '../base/errors.js';
import { rmTree, fsyncDir } from '../base/fs.js';
import { canonicalString, familiarString, globMatch, parseReference, parseTaggedReference, repoAndTag, familiarName, type Reference } from '../image/reference.js';
import { isDigest, type Digest } from '../image/digest.js';
import type { ImageConfig } from '../image/types.js';
import { tx } from '../meta/db.js';
import type { StoreRoot } from './store-root.js';
import { emitEvent } from './events.js';
import { addImageManifest, allImages, allManifestDigests, manifestsOfImage, type ImageRow, deleteImage, hasChildImages, imageById, imageExists, imagesByIdPrefix, insertImage, layerInUse, layersOfImage, parentImageIds, setLastTagTime } from '../meta/images.js';
import { allRefs, deleteRef, imageOfRef, refsOfImage, setRepoDigest, setTagRow } from '../meta/tags.js';
import { addLayerBlob, blobsOfLayer, deleteLayer, insertLayer, layerExists } from '../meta/layers.js';
import { removeShortLink } from '../snapshot/index.js';

export type { ImageRow };

export interface LayerRecord {
  diffId: string;
  size: number;
  tarSize: number;
}

/** A layer unpacked into a staging dir (or already present), with the blob that carries it. */
export interface StagedLayer extends LayerRecord {
  stagedHome?: string;                       // tmp dir containing diff/ (or only the repack marker), renamed to layers/<hex> on commit
  blob?: { digest: string; mediaType: string; size: number };
}

interface NewImage {
  configBytes: Buffer | string;
  layers: StagedLayer[];
  parent?: string;
  tags?: Reference[];
  repoDigests?: Reference[];
  manifest?: { digest: string; mediaType: string };
}

const MAX_LAYERS = 125;

/** Parse the config bytes, with the checks every path into the store applies. */
export function parseConfig(bytes: Buffer | string): ImageConfig {
  let cfg: ImageConfig;
  try { cfg = JSON.parse(bytes.toString()); } catch (e) {
    throw new StrataError('corrupt', `invalid image config: ${(e as Error).message}`);
  }
  if (!cfg || typeof cfg !== 'object' || !cfg.rootfs || !Array.isArray(cfg.rootfs.diff_ids)) {
    throw new StrataError('corrupt', 'invalid image config: missing rootfs.diff_ids');
  }
  if (cfg.rootfs.diff_ids.length > MAX_LAYERS) {
    throw invalidArgument(`max depth exceeded: image has ${cfg.rootfs.diff_ids.length} layers (limit ${MAX_LAYERS})`);
  }
  return cfg;
}

function createdSeconds(cfg: ImageConfig): number {
  const t = cfg.created ? Date.parse(cfg.created) : NaN;
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

/**
 * Register an image whose layers are staged (or present) in one transaction: layer dirs are
 * renamed into layers/ inside it, so a crash leaves either nothing or a complete image.
 * Returns the image ID.
 */
export function commitImage(store: StoreRoot, img: NewImage): Digest {
  const cfgBytes = typeof img.configBytes === 'string' ? Buffer.from(img.configBytes) : img.configBytes;
  const cfg = parseConfig(cfgBytes);
  const id = store.content.putBytes(cfgBytes);
  if (cfg.rootfs.diff_ids.length !== img.layers.length) {
    throw new StrataError('corrupt', `image config lists ${cfg.rootfs.diff_ids.length} layers, ${img.layers.length} given`);
  }
  cfg.rootfs.diff_ids.forEach((d, i) => {
    if (img.layers[i]!.diffId !== d) throw new StrataError('corrupt', `layer ${i} has diff_id ${img.layers[i]!.diffId}, config says ${d}`);
  });
  const db = store.db;
  const now = Date.now();
  const leftovers: string[] = [];
  tx(db, () => {
    for (const l of img.layers) {
      if (layerExists(db, l.diffId)) {
        if (l.stagedHome) leftovers.push(l.stagedHome);
      } else {
        const packed = l.blob !== undefined && store.content.has(l.blob.digest); // unpacked when first needed (layer-dirs.ts)
        if (!l.stagedHome && !packed) throw conflict(`layer ${l.diffId} was removed while the image was being written; try again`);
        const home = store.layerHome(l.diffId);
        rmTree(home); // an orphan from a crash between rename and commit
        if (l.stagedHome) fs.renameSync(l.stagedHome, home);
        insertLayer(db, l.diffId, l.size, l.tarSize, now);
      }
      if (l.blob && store.content.has(l.blob.digest)) addLayerBlob(db, l.blob.digest, l.diffId, l.blob.mediaType, l.blob.size);
    }
    if (!imageExists(db, id)) {
      const size = img.layers.reduce((a, l) => a + l.size, 0);
      const labels = cfg.config?.Labels ? JSON.stringify(cfg.config.Labels) : null;
      insertImage(db, { id, created: createdSeconds(cfg), size, parent: img.parent ?? '', configSize: cfgBytes.length, labels, inserted: now, diffIds: img.layers.map((l) => l.diffId) });
    }
    if (img.manifest) {
      addImageManifest(db, id, img.manifest.digest, img.manifest.mediaType);
    }
    for (const r of img.repoDigests ?? []) {
      setRepoDigest(db, canonicalString(r), id);
    }
    for (const t of img.tags ?? []) setTag(store, t, id);
  });
  if (img.layers.some((l) => l.stagedHome && !leftovers.includes(l.stagedHome))) fsyncDir(store.layersDir);
  for (const p of leftovers) rmTree(p);
  return id;
}

/** Point a tag at an image (inside the caller's transaction or alone). */
function setTag(store: StoreRoot, ref: Reference, imageId: string): void {
  const key = canonicalString(ref);
  setTagRow(store.db, key, imageId, Date.now());
  setLastTagTime(store.db, imageId, new Date().toISOString());
}

const HEX_PREFIX = /^(?:sha256:)?([a-f0-9]{1,64})$/;

/**
 * Resolve what a user typed to an image ID, as Docker does: full ID, then a tag/digest
 * reference, then a unique ID prefix.
 */
export function resolveImage(store: StoreRoot, input: string): ImageRow {
  const db = store.db;
  if (isDigest(input)) {
    const row = imageById(db, input);
    if (row) return row;
    throw notFound(`No such image: ${input}`);
  }
  let ref: Reference | undefined;
  try { ref = parseTaggedReference(input); } catch (e) {
    if (!HEX_PREFIX.test(input)) throw e;
  }
  if (ref) {
    const key = canonicalString(ref);
    const hit = ref.digest ? imageOfRef(db, 'repo_digests', `${ref.domain}/${ref.path}@${ref.digest}`) : imageOfRef(db, 'tags', key);
    if (hit) return imageById(db, hit)!;
  }
  const m = HEX_PREFIX.exec(input);
  if (m) {
    const rows = imagesByIdPrefix(db, m[1]!);
    if (rows.length === 1) return rows[0]!;
    if (rows.length > 1) throw invalidArgument(`ambiguous image reference ${input}: more than one image matches`);
  }
  throw notFound(`No such image: ${ref ? familiarString(ref) : input}`);
}

export function loadConfig(store: StoreRoot, imageId: string): ImageConfig {
  return parseConfig(store.content.readBytes(imageId));
}

export function imageLayers(store: StoreRoot, imageId: string): LayerRecord[] {
  return layersOfImage(store.db, imageId);
}

export function tagsOf(store: StoreRoot, imageId: string): string[] {
  return refsOfImage(store.db, 'tags', imageId);
}

export function repoDigestsOf(store: StoreRoot, imageId: string): string[] {
  return refsOfImage(store.db, 'repo_digests', imageId);
}

/** `strata tag SOURCE TARGET` */
export function tagImage(store: StoreRoot, source: string, target: string): void {
  const ref = parseTaggedReference(target);
  if (ref.digest) throw invalidArgument('refusing to create a tag with a digest reference');
  // resolved inside the write transaction: an rmi racing this tag either ran before (No such
  // image) or after (it then sees the new tag), never between the lookup and the insert
  const img = tx(store.db, () => {
    const row = resolveImage(store, source);
    setTag(store, ref, row.id);
    return row;
  });
  emitEvent(store, 'image', 'tag', img.id, { name: familiarString(ref) });
}

// ---------- listing ----------

export interface ImageListRow {
  id: string;
  repository: string;   // <none> for untagged
  tag: string;
  digest: string;       // <none> unless known
  created: number;      // unix seconds
  size: number;
  parent: string;
  labels: Record<string, string> | null;
  repoTags: string[];
  repoDigests: string[];
}

export interface ListOptions {
  all?: boolean;
  filters?: string[];         // dangling=true, reference=pat, label=k[=v], before=img, since=img
  reference?: string;         // images REPO[:TAG]
}

/** Docker's `images`: one row per tag; untagged parents hidden unless all; newest first. */
export function listImages(store: StoreRoot, opts: ListOptions = {}): ImageListRow[] {
  const db = store.db;
  const images = allImages(db);
  const tagRows = allRefs(db, 'tags');
  const digRows = allRefs(db, 'repo_digests');
  const parents = parentImageIds(db);
  const tagsBy = groupBy(tagRows);
  const digestsBy = groupBy(digRows);

  let dangling: boolean | undefined;
  const refPatterns: string[] = [];
  const labelFilters: [string, string | undefined][] = [];
  let before: number | undefined;
  let since: number | undefined;
  for (const f of opts.filters ?? []) {
    const eq = f.indexOf('=');
    const k = eq < 0 ? f : f.slice(0, eq);
    const v = eq < 0 ? '' : f.slice(eq + 1);
    switch (k) {
      case 'dangling':
        if (!['true', 'false', '1', '0'].includes(v.toLowerCase())) throw invalidArgument(`Invalid filter 'dangling=${v}'`);
        dangling = v === 'true' || v === '1';
        break;
      case 'reference': refPatterns.push(v); break;
      case 'label': { const i = v.indexOf('='); labelFilters.push(i < 0 ? [v, undefined] : [v.slice(0, i), v.slice(i + 1)]); break; }
      case 'before': before = resolveImage(store, v).created; break;
      case 'since': since = resolveImage(store, v).created; break;
      default: throw invalidArgument(`Invalid filter '${k}'`);
    }
  }
  if (opts.reference) refPatterns.push(opts.reference);

  const out: ImageListRow[] = [];
  for (const img of images) {
    const labels = img.labels ? JSON.parse(img.labels) as Record<string, string> : null;
    if (labelFilters.some(([k, v]) => !labels || !(k in labels) || (v !== undefined && labels[k] !== v))) continue;
    if (before !== undefined && !(img.created < before)) continue;
    if (since !== undefined && !(img.created > since)) continue;
    const tags = tagsBy.get(img.id) ?? [];
    const digests = digestsBy.get(img.id) ?? [];
    const isDangling = tags.length === 0 && digests.length === 0 && !parents.has(img.id);
    if (dangling === true && !isDangling) continue;
    if (dangling === false && isDangling) continue;
    const repoTags = tags.map((t) => { const r = repoAndTag(t); return `${r.repository}:${r.tag}`; });
    const repoDigests = digests.map((d) => familiarString(parseReference(d)));
    const base = { id: img.id, created: img.created, size: img.size, parent: img.parent ?? '', labels, repoTags, repoDigests };
    if (tags.length === 0) {
      if (refPatterns.length) continue; // untagged images never match a reference filter
      if (!opts.all && !isDangling && digests.length === 0) continue; // intermediate parent
      if (digests.length) {
        for (const d of digests) {
          const r = parseReference(d);
          out.push({ ...base, repository: familiarName(r), tag: '<none>', digest: r.digest! });
        }
      } else out.push({ ...base, repository: '<none>', tag: '<none>', digest: '<none>' });
      continue;
    }
    for (const t of tags) {
      const { repository, tag } = repoAndTag(t);
      if (refPatterns.length && !refPatterns.some((p) => matchReference(p, repository, tag))) continue;
      const dg = digests.map((d) => parseReference(d)).find((r) => familiarName(r) === repository);
      out.push({ ...base, repository, tag, digest: dg?.digest ?? '<none>' });
    }
  }
  out.sort((a, b) => b.created - a.created || (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : 0) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  return out;
}

function matchReference(pattern: string, repository: string, tag: string): boolean {
  // Docker matches the pattern against the familiar name, or name:tag when the pattern has a tag.
  const slash = pattern.lastIndexOf('/');
  const colon = pattern.lastIndexOf(':');
  if (colon > slash) return globMatch(pattern.slice(0, colon), repository) && globMatch(pattern.slice(colon + 1), tag);
  return globMatch(pattern, repository);
}

function groupBy(rows: { ref: string; image_id: string }[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const r of rows) {
    const a = m.get(r.image_id);
    if (a) a.push(r.ref); else m.set(r.image_id, [r.ref]);
  }
  return m;
}

/** Docker's image summary (`GET /images/json`, `system df`): one entry per image, newest first. */
export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  VirtualSize: number;
  SharedSize: number;
  Labels: Record<string, string> | null;
  Containers: number;
}

/**
 * The list rows (one per tag, filtered as `images` filters them) folded into one summary per
 * image; `containers` counts the containers using each image (-1 when not asked, as Docker).
 */
export function imageSummaries(store: StoreRoot, opts: ListOptions = {}, containers?: (id: string) => number): ImageSummary[] {
  const byId = new Map<string, ImageSummary>();
  const patterns = [...(opts.filters ?? []).filter((f) => f.startsWith('reference=')).map((f) => f.slice('reference='.length)), ...(opts.reference ? [opts.reference] : [])];
  // with a reference filter only the matching tags and digests are listed (Docker)
  const digestMatches = (d: string) => !patterns.length || patterns.some((p) => matchReference(p, d.slice(0, d.indexOf('@')), ''));
  for (const r of listImages(store, opts)) {
    let s = byId.get(r.id);
    if (!s) {
      s = { Id: r.id, ParentId: r.parent, RepoTags: [], RepoDigests: r.repoDigests.filter(digestMatches), Created: r.created, Size: r.size, VirtualSize: r.size, SharedSize: -1, Labels: r.labels ?? {}, Containers: containers ? containers(r.id) : -1 };
      byId.set(r.id, s);
    }
    if (r.tag !== '<none>') s.RepoTags.push(`${r.repository}:${r.tag}`);
  }
  return [...byId.values()];
}

// ---------- removal ----------

export interface RemoveResult { untagged: string[]; deleted: string[]; }

/** Hook for the container layer: which containers use an image (blocks rmi without -f). */
type ContainersUsing = (imageId: string) => { id: string; running: boolean }[];

/**
 * Docker's rmi: a tag reference untags; the last reference (or an ID) deletes the image and
 * the layers no other image needs. Database first, directories after (containerd's order).
 */
export function removeImage(store: StoreRoot, input: string, opts: { force?: boolean; noPrune?: boolean; containersUsing?: ContainersUsing } = {}): RemoveResult {
  const res: RemoveResult = { untagged: [], deleted: [] };
  const db = store.db;
  let layersToDelete: OrphanLayer[] = [];
  const manifests: string[] = [];
  tx(db, () => {
    const img = resolveImage(store, input);
    const short = img.id.slice(7, 19);
    const tags = tagsOf(store, img.id);
    const digests = repoDigestsOf(store, img.id);
    let byRef: Reference | undefined;
    if (!/^(sha256:)?[a-f0-9]{1,64}$/.test(input) || tags.some((t) => t === safeCanonical(input))) {
      try { byRef = parseTaggedReference(input); } catch { /* an ID */ }
    }
    const users = opts.containersUsing?.(img.id) ?? [];
    if (byRef) {
      const key = canonicalString(byRef);
      // Docker: the last reference (at most one tag, one repository) of an image a container
      // uses is not removed without force, whatever else (child images) would keep the image
      const repoOf = (r: string) => { const p = parseReference(r); return `${p.domain}/${p.path}`; };
      const singleReference = tags.length <= 1 && new Set([...tags, ...digests].map(repoOf)).size <= 1;
      if (users.length && !opts.force && singleReference) {
        throw conflict(`conflict: unable to remove repository reference "${input}" (must force) - container ${users[0]!.id.slice(0, 12)} is using its referenced image ${short}`);
      }
      // Docker: removing a repository's last tag also removes that repository's digest
      // references (a pulled image's `repo@sha256:…`); the image goes when no reference is left
      const name = `${byRef.domain}/${byRef.path}`;
      const sameRepo = (r: string) => { const p = parseReference(r); return `${p.domain}/${p.path}` === name; };
      const dropDigests = !byRef.digest && !tags.some((t) => t !== key && sameRepo(t)) ? digests.filter(sameRepo) : [];
      const remaining = tags.length + digests.length - 1 - dropDigests.length;
      if (remaining > 0 || hasChildren(store, img.id)) {
        untag(store, key, byRef.digest ? 'repo_digests' : 'tags');
        res.untagged.push(familiarString(byRef));
        for (const d of dropDigests) { untag(store, d, 'repo_digests'); res.untagged.push(familiarString(parseReference(d))); }
        return;
      }
      if (users.length && !opts.force) {
        throw conflict(`conflict: unable to remove repository reference "${input}" (must force) - container ${users[0]!.id.slice(0, 12)} is using its referenced image ${short}`);
      }
    } else {
      if (tags.length + digests.length > 1 && !opts.force) {
        throw conflict(`conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
      }
      if (hasChildren(store, img.id)) throw conflict(`conflict: unable to delete ${short} (cannot be forced) - image has dependent child images`);
      if (users.length) {
        const running = users.find((u) => u.running);
        if (running) throw conflict(`conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`);
        if (!opts.force) throw conflict(`conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${users[0]!.id.slice(0, 12)}`);
      }
    }
    if (users.length) {
      // forced while containers use it: untag only (Docker keeps the image for the containers)
      for (const t of tags) { untag(store, t, 'tags'); res.untagged.push(familiarString(parseReference(t))); }
      for (const d of digests) { untag(store, d, 'repo_digests'); res.untagged.push(familiarString(parseReference(d))); }
      return;
    }
    for (const t of tags) { untag(store, t, 'tags'); res.untagged.push(familiarString(parseReference(t))); }
    for (const d of digests) { untag(store, d, 'repo_digests'); res.untagged.push(familiarString(parseReference(d))); }
    layersToDelete = deleteImageRows(store, img.id, manifests);
    res.deleted.push(img.id);
    // Docker then removes untagged parents that nothing else needs (unless --no-prune)
    let parent = img.parent;
    while (parent && !opts.noPrune) {
      const p = imageById(db, parent);
      if (!p || tagsOf(store, p.id).length || repoDigestsOf(store, p.id).length || hasChildren(store, p.id) || (opts.containersUsing?.(p.id).length ?? 0)) break;
      layersToDelete.push(...deleteImageRows(store, p.id, manifests));
      res.deleted.push(p.id);
      parent = p.parent;
    }
  });
  for (const id of [...res.deleted]) deleteImageFiles(store, id, manifests);
  for (const l of layersToDelete) { deleteLayerFiles(store, l); res.deleted.push(l.diffId); }
  for (const u of res.untagged) emitEvent(store, 'image', 'untag', u, { name: u });
  for (const d of res.deleted) if (!d.startsWith('sha256:') || !layersToDelete.some((l) => l.diffId === d)) emitEvent(store, 'image', 'delete', d, { name: d });
  return res;
}

function safeCanonical(input: string): string | undefined {
  try { return canonicalString(parseTaggedReference(input)); } catch { return undefined; }
}

function untag(store: StoreRoot, key: string, table: 'tags' | 'repo_digests'): void {
  deleteRef(store.db, table, key);
}

function hasChildren(store: StoreRoot, id: string): boolean {
  return hasChildImages(store.db, id);
}

export interface OrphanLayer { diffId: string; blobs: string[]; }

/**
 * Delete an image's rows; returns the layers no image references any more (their rows deleted
 * too). The config blob (`id`) stays until the caller's transaction committed: deleteImageFiles.
 */
export function deleteImageRows(store: StoreRoot, id: string, manifests: string[] = []): OrphanLayer[] {
  const db = store.db;
  manifests.push(...manifestsOfImage(db, id).map((m) => m.digest));
  const layers = deleteImage(db, id);
  const orphaned: OrphanLayer[] = [];
  for (const d of layers) {
    if (layerInUse(db, d)) continue;
    const blobs = blobsOfLayer(db, d, 'recorded').map((r) => r.digest);
    deleteLayer(db, d);
    orphaned.push({ diffId: d, blobs });
  }
  return orphaned;
}


/**
 * Remove a deleted image's config blob (after the transaction that forgot it; configs are
 * never shared: same bytes, same ID) and the manifests recorded for it (pull, load, push)
 * that no other image records.
 */
export function deleteImageFiles(store: StoreRoot, imageId: string, manifests: readonly string[] = []): void {
  store.content.delete(imageId);
  if (manifests.length === 0) return;
  const kept = new Set(allManifestDigests(store.db));
  for (const m of manifests) if (!kept.has(m)) store.content.delete(m);
}

/** Remove a layer's directory and its blobs (after the transaction that forgot them). */
export function deleteLayerFiles(store: StoreRoot, layer: OrphanLayer): void {
  const { diffId } = layer;
  for (const b of layer.blobs) store.content.delete(b);
  store.content.delete(diffId);
  removeShortLink(path.join(store.root, 'l'), store.layerDir(diffId)); // or l/<short> dangles
  const home = store.layerHome(diffId);
  const trash = path.join(store.tmpDir, `${process.pid}-trash-${path.basename(home)}`);
  try { fs.renameSync(home, trash); rmTree(trash); } catch { rmTree(home); }
}
