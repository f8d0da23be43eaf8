/**
 * Layer tars that are not kept as blobs.
 *
 * A committed layer is stored once: as its tar until its dir is first needed
 * (layer-dirs.ts), then as its unpacked layer dir (what overlay needs), like
 * Docker's overlay2 diff dir. Its tar is produced again when
 * something needs the bytes (save, push): packDir is deterministic, and with
 * REPACK_OPTIONS a layer dir unpacked from a commit tar packs back to the same
 * bytes (test/changes/repack.test.ts proves it on every diff scenario; commit
 * verifies it for each layer before dropping the tar, and keeps the blob when
 * it does not hold). Such layers carry a `repack` marker file beside `diff/`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { corrupt } from '../base/errors.js';
import { hexOf } from '../image/digest.js';
import { MediaType } from '../image/types.js';
import { packDir, type PackOptions } from '../layer/index.js';
import type { StoreRoot } from './store-root.js';
import { layerSizes } from '../meta/layers.js';

/** How commit packs an upper dir, and how the layer dir is packed again. */
export const REPACK_OPTIONS: Readonly<PackOptions> = Object.freeze({ mode: 'overlay-upper', wholeSecondMtimes: true, whiteoutMtime: 0 });

export const REPACK_MARKER = 'repack';

/** Whether a layer's tar is produced from its layer dir (no blob kept). */
export function isRepackable(store: StoreRoot, diffId: string): boolean {
  return fs.existsSync(path.join(store.layerHome(diffId), REPACK_MARKER));
}

/** The digest of packing a dir with REPACK_OPTIONS, without writing it anywhere. */
export async function repackDigest(dir: string): Promise<{ diffId: string; size: number }> {
  const sink = new Writable({ highWaterMark: 1 << 20, write(_c, _e, cb) { cb(); } });
  const r = await packDir(dir, sink, { ...REPACK_OPTIONS });
  return { diffId: r.diffId, size: r.size };
}

/** The virtual blob of a re-packable layer (uncompressed: digest = diff_id). */
export function repackBlob(store: StoreRoot, diffId: string): { digest: string; mediaType: string; size: number } | undefined {
  if (!isRepackable(store, diffId)) return undefined;
  const row = layerSizes(store.db, diffId);
  if (!row) return undefined;
  return { digest: diffId, mediaType: MediaType.OciLayer, size: row.tarSize };
}

/**
 * A file holding the uncompressed tar of a layer: its blob when the store has
 * it, else the layer dir packed again into `scratch` and verified against the
 * diff_id.
 */
export async function layerTarFile(store: StoreRoot, diffId: string, scratch: string): Promise<string> {
  if (store.content.has(diffId)) return store.content.pathOf(diffId);
  if (!isRepackable(store, diffId)) throw corrupt(`no blob found for layer ${diffId}: run 'strata system check'`);
  const out = path.join(scratch, `${hexOf(diffId)}.tar`);
  const r = await packDir(store.layerDir(diffId), out, { ...REPACK_OPTIONS, sys: store.sys });
  if (r.diffId !== diffId) {
    fs.rmSync(out, { force: true });
    throw corrupt(`layer ${diffId} packs to ${r.diffId}: its directory changed`);
  }
  return out;
}
