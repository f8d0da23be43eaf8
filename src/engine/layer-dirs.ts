/**
 * Layer dirs made when first needed.
 *
 * `import` and `commit` keep the tar they have in hand as the layer's blob and register the
 * layer without unpacking it: its files are made the first time something needs them (a
 * container's root filesystem, a build step, a diff or the explorer reading the image). Until
 * then layers/<hex>/diff does not exist. Unpacking goes to tmp/ and is renamed into place, so a
 * layer dir is complete or absent; two processes unpacking the same layer both finish and the
 * second one's rename loses (its copy is removed).
 *
 * A committed layer carries the `repack` marker (layer-tar.ts): once its dir exists and
 * unpacking it changed nothing (no warning), the tar is dropped and produced again from the
 * dir when save or push needs it, so the change is stored once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError, corrupt } from '../base/errors.js';
import { fsyncDir, rmTree } from '../base/fs.js';
import { unpackLayer } from '../layer/index.js';
import { tx } from '../meta/db.js';
import { blobsOfLayer, deleteLayerBlob, layerExists } from '../meta/layers.js';
import { imageLayers } from './images.js';
import { REPACK_MARKER } from './layer-tar.js';
import type { StoreRoot } from './store-root.js';

/** Whether a layer's dir exists. */
function layerUnpacked(store: StoreRoot, diffId: string): boolean {
  return fs.existsSync(store.layerDir(diffId));
}

/** Make the layer dirs of an image that do not exist yet. */
export function ensureImageDirs(store: StoreRoot, imageId: string): Promise<void> {
  return ensureLayerDirs(store, imageLayers(store, imageId).map((l) => l.diffId));
}

/** Make the dirs of these layers that do not exist yet, from their blobs. */
export async function ensureLayerDirs(store: StoreRoot, diffIds: Iterable<string>): Promise<void> {
  for (const d of diffIds) {
    if (layerUnpacked(store, d)) continue;
    try {
      await unpackStoredLayer(store, d);
    } catch (e) {
      if (!layerUnpacked(store, d)) throw e; // else another process made it (and may have dropped the tar)
    }
  }
}

async function unpackStoredLayer(store: StoreRoot, diffId: string): Promise<void> {
  const blob = blobsOfLayer(store.db, diffId, 'size').find((b) => store.content.has(b.digest));
  if (!blob) {
    if (!layerExists(store.db, diffId)) throw new StrataError('not_found', `layer ${diffId} does not exist`);
    throw corrupt(`no blob found for layer ${diffId}: run 'strata system check'`);
  }
  const work = store.makeTemp('unpack');
  try {
    const dir = path.join(work, 'diff');
    fs.mkdirSync(dir, { mode: 0o755 });
    const res = await unpackLayer(store.content.openRead(blob.digest), dir, { mode: 'overlay', sys: store.sys });
    if (res.diffId !== diffId) throw corrupt(`layer ${diffId} unpacks to ${res.diffId}`);
    const home = store.layerHome(diffId);
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    try {
      fs.renameSync(dir, store.layerDir(diffId)); // replaces nothing but an empty dir
    } catch (e) {
      if (layerUnpacked(store, diffId)) return; // another process made it first
      throw e;
    }
    fsyncDir(home);
    if (!layerExists(store.db, diffId)) {
      rmTree(home); // the image went while this was unpacking
      throw new StrataError('not_found', `layer ${diffId} was removed`);
    }
    const marker = path.join(home, REPACK_MARKER);
    if (fs.existsSync(marker)) {
      if (res.warnings.length > 0) fs.rmSync(marker, { force: true }); // the dir would not pack back the same
      else {
        tx(store.db, () => deleteLayerBlob(store.db, diffId, diffId));
        store.content.delete(diffId);
      }
    }
  } finally {
    rmTree(work);
  }
}
