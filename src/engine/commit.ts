/**
 * commit: a container's overlay upper dir becomes one more layer and one more
 * image on top of the container's image (docker-semantics.md section 2).
 *
 *   validate (reference, --change) -> pause -> packDir(upper) into tmp/,
 *   hashing as it streams (no gzip: the commit path stays uncompressed); files
 *   of STAGE_MIN bytes or more are not written into that tar but copied to
 *   files of their own (read once, hashed on the way) -> unpause (always, in
 *   finally) -> then either
 *   - nothing was staged: the tar becomes the layer's blob and the layer dir is
 *     made when first needed (layer-dirs.ts), which then drops the tar (the
 *     change is stored once; save/push re-pack it from the layer dir, see
 *     layer-tar.ts) unless the dir could not reproduce it; or
 *   - the layer dir is unpacked from that tar now, the staged files renamed
 *     into place, and the tar dropped unless the layer dir could not reproduce
 *     it (then the full tar is spliced together and kept as the layer blob)
 *   -> config (the container's config + --change, history, parent diff_ids)
 *   -> commitImage() registers layer, image and tag in one transaction.
 *
 * Why copy rather than link files from the upper dir: the container keeps
 * running and writes to its upper dir in place (no copy-up there), so hard
 * links would let it rewrite a committed layer. Copies of big files are made
 * while the container is frozen, at the cost writing them into the tar had;
 * small files go through the tar, whose sequential writes are cheaper than
 * creating files, so the freeze is no longer than packing alone. Unpacking
 * reads the tar back from the page cache and is the code path every other
 * layer goes through (confinement, whiteouts, xattrs).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError, invalidArgument } from '../base/errors.js';
import { fsyncDir, rmTree } from '../base/fs.js';
import { type ExcludeFn, type ExecRecord, NoiseCollector, type NoiseLine, PROVENANCE_LABEL, classifyNoise, provenanceComment, provenanceLabel } from '../changes/index.js';
import { COMMIT_CHANGES, applyChanges, orderContainerConfig, rfc3339Nano, serializeImageConfig } from '../image/config.js';
import { parseTaggedReference } from '../image/reference.js';
import { type ContainerConfig, type HistoryEntry, type ImageConfig, MediaType } from '../image/types.js';
import { type PackStat, packDir, spliceStaged, toBin, unpackLayer } from '../layer/index.js';
import { commitImage, imageLayers, loadConfig, type StagedLayer } from './images.js';
import { REPACK_MARKER, REPACK_OPTIONS, repackDigest } from './layer-tar.js';
import type { StoreRoot } from './store-root.js';
import { layerExists } from '../meta/layers.js';

/** files this big are copied into the layer while packing instead of going through the tar */
const STAGE_MIN = 1024 * 1024;

export interface CommitInput {
  /** the container's overlay upper dir */
  upperDir: string;
  /** the image's diff_ids, bottom first (bookkeeping: checked against the image) */
  lowerDiffIds?: readonly string[];
  /** the container's image (parent of the new one) */
  imageId: string;
  /** the image reference as the user typed it; goes into config.Image */
  imageRef: string;
  /** full 64-hex container ID */
  containerId: string;
  /** the container's Config (Cmd, Env, Hostname = short ID, Image, ...) */
  containerConfig: Partial<ContainerConfig>;
  author?: string;
  message?: string;
  /** `--change` lines (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, HEALTHCHECK) */
  changes?: readonly string[];
  /** paths left out of the layer (changes/'s buildExclude); see noise.ts for the semantics */
  exclude?: ExcludeFn;
  /**
   * Reproducible commits: the image's `created` and the new history entry take
   * this time, and layer mtimes are clamped to it. A number is Unix seconds.
   * Without it, SOURCE_DATE_EPOCH from the environment is used when set.
   */
  timestamp?: Date | number;
  /** `REPOSITORY[:TAG]` to tag the new image with */
  reference?: string;
  /** freeze the container (the engine's freezer); called before packing */
  pause?: () => void | Promise<void>;
  /** thaw it; called in finally, only after pause succeeded. Pass neither for a container the user paused. */
  unpause?: () => void | Promise<void>;
  /** execs the engine recorded in the container, for the provenance label */
  execs?: readonly ExecRecord[];
  /**
   * (a layer unpacked at commit time, see above) before dropping the tar, also
   * pack the new layer dir to a hashing sink and
   * compare the digests (default false: that is one more read + sha256 of the
   * whole layer, a third to a half of the commit time). Without it the round
   * trip is trusted: test/changes proves it for every kind of entry, and the two
   * known ways it can fail keep the blob instead (unpacking warned about an
   * xattr it could not apply; a whiteout not owned by root). save/push verify
   * the re-packed bytes against the diff_id in any case.
   */
  verifyRepack?: boolean;
  /** collect the noise report while packing (default true) */
  noiseReport?: boolean;
  /**
   * keep the layer tar as a blob too (default false: the change is stored once,
   * as the layer dir, and the tar is re-packed from it on save/push; see
   * layer-tar.ts). The blob is kept anyway when the layer dir would not pack
   * back to the same bytes.
   */
  keepBlob?: boolean;
}

export interface CommitResult {
  /** the new image ID, sha256:<hex> */
  id: string;
  /** the new layer's diff_id; undefined when the upper dir gave an empty layer (no layer added) */
  diffId: string | undefined;
  /** Docker's layer size (regular-file bytes + symlink target lengths); 0 without a layer */
  size: number;
  /** bytes of the layer tar (1024 for the empty tar) */
  tarSize: number;
  /** entries in the layer tar */
  entries: number;
  /** how long the container stayed frozen (0 when not paused) */
  frozenMs: number;
  /** noise found in the upper dir (and whether it was excluded) */
  noise: NoiseLine[];
}

function epochOf(t: Date | number | undefined): { epoch?: number; created: string } {
  let when = t;
  if (when === undefined && process.env.SOURCE_DATE_EPOCH) {
    const n = Number(process.env.SOURCE_DATE_EPOCH);
    if (!Number.isInteger(n) || n < 0) throw invalidArgument(`invalid SOURCE_DATE_EPOCH ${JSON.stringify(process.env.SOURCE_DATE_EPOCH)}`);
    when = n;
  }
  if (when === undefined) return { created: rfc3339Nano() };
  if (typeof when === 'number') return { epoch: Math.floor(when), created: rfc3339Nano(new Date(Math.floor(when) * 1000), 0n) };
  const ms = when.getTime();
  return { epoch: Math.floor(ms / 1000), created: rfc3339Nano(when, BigInt(((ms % 1000) + 1000) % 1000) * 1_000_000n) };
}

/** `docker commit`: returns the new image (and whether a layer was added). */
export async function commitContainer(store: StoreRoot, input: CommitInput): Promise<CommitResult> {
  // everything that can be refused is refused before the container is frozen
  const ref = input.reference ? parseTaggedReference(input.reference) : undefined;
  if (ref?.digest) throw invalidArgument('refusing to create a tag with a digest reference');
  const ctrConfig = orderContainerConfig({ ...input.containerConfig, Image: input.imageRef } as ContainerConfig);
  const config = applyChanges(ctrConfig, input.changes ?? [], COMMIT_CHANGES);
  const parentCfg = loadConfig(store, input.imageId);
  const parentLayers = imageLayers(store, input.imageId);
  if (input.lowerDiffIds && input.lowerDiffIds.join() !== parentLayers.map((l) => l.diffId).join()) {
    throw new StrataError('failed_precondition', `container layers do not match image ${input.imageId}`);
  }
  const { epoch, created } = epochOf(input.timestamp);
  const upper = path.resolve(input.upperDir);
  if (!fs.statSync(upper, { throwIfNoEntry: false })?.isDirectory()) throw new StrataError('failed_precondition', `container upper dir ${upper} is missing`);

  const home = store.makeTemp('commit');
  const tarPath = path.join(home, 'layer.tar');
  const stageDir = path.join(home, 'staged');
  const noise = new NoiseCollector(upper);
  const collect = input.noiseReport !== false;
  const userExclude = input.exclude;
  // sees every entry packDir meets: noise, and what a layer dir could not reproduce
  let oddWhiteouts = false;
  const exclude: ExcludeFn = (p, st) => {
    const ex = userExclude ? userExclude(p, st) : false;
    const s = st as PackStat; // packDir's entries
    // layer dirs hold whiteouts as one root-owned node: a whiteout owned by someone else would not re-pack the same
    if (s.isCharacterDevice() && s.rdev === 0 && (s.uid !== 0 || s.gid !== 0) && !ex) oddWhiteouts = true;
    if (collect) {
      const kind = classifyNoise(p, st);
      if (kind !== undefined) noise.add(p, s, kind, ex);
    }
    return ex;
  };

  try {
    // ---- frozen section: only the pack
    let frozenMs = 0;
    let packed: Awaited<ReturnType<typeof packDir>>;
    const fd = fs.openSync(tarPath, 'wx', 0o644);
    try {
      let paused = false;
      let t0 = 0;
      try {
        if (input.pause) { await input.pause(); paused = true; t0 = performance.now(); }
        const opts: Parameters<typeof packDir>[2] = { ...REPACK_OPTIONS, exclude, sys: store.sys };
        if (epoch !== undefined) opts.sourceDateEpoch = epoch;
        if (input.keepBlob !== true) {
          fs.mkdirSync(stageDir, { mode: 0o700 });
          opts.stage = { dir: stageDir, minSize: STAGE_MIN };
        }
        packed = await packDir(upper, fd, opts);
      } finally {
        if (paused) {
          frozenMs = performance.now() - t0;
          await input.unpause?.();
        }
      }
    } finally {
      fs.closeSync(fd);
    }

    // ---- the layer
    const layers: StagedLayer[] = [...parentLayers];
    let diffId: string | undefined;
    if (packed.entries > 0) {
      diffId = packed.diffId;
      const staged: StagedLayer = { diffId, size: packed.contentSize, tarSize: packed.size };
      const known = layerExists(store.db, diffId);
      let keepBlob = input.keepBlob === true;
      // a change with nothing staged is kept as its tar, unpacked when first needed (layer-dirs.ts):
      // creating its files is most of an eager commit's time (100,000 small files: half of it)
      const lazy = !known && packed.staged.length === 0;
      if (lazy) {
        adoptBlob(store, tarPath, diffId);
        staged.blob = { digest: diffId, mediaType: MediaType.OciLayer, size: packed.size };
        if (!keepBlob && !oddWhiteouts) fs.writeFileSync(path.join(home, REPACK_MARKER), `${diffId}\n`);
        keepBlob = false; // adopted already
      } else if (!known) {
        const diffDir = path.join(home, 'diff');
        fs.mkdirSync(diffDir, { mode: 0o755 });
        const res = await unpackLayer(fs.createReadStream(tarPath, { highWaterMark: 1 << 20 }), diffDir, { mode: 'overlay', staged: packed.staged, sys: store.sys });
        if (packed.staged.length === 0 && res.diffId !== diffId) throw new StrataError('internal', `layer reads back as ${res.diffId}, packed as ${diffId}`);
        if (packed.staged.some((f) => fs.existsSync(f.path))) throw new StrataError('internal', 'a staged file did not reach the layer dir');
        staged.size = res.contentSize;
        // store the change once: drop the tar when the layer dir packs back to the same bytes
        if (!keepBlob) {
          if (res.warnings.length > 0 || oddWhiteouts) keepBlob = true; // something did not make it into the dir as it was
          else if (input.verifyRepack === true) keepBlob = (await repackDigest(diffDir)).diffId !== diffId;
          if (!keepBlob) fs.writeFileSync(path.join(home, REPACK_MARKER), `${diffId}\n`);
        }
      }
      if (keepBlob) {
        if (packed.staged.length > 0) {
          // the tar on disk lacks the staged files' data: put it back, from the layer dir
          const full = path.join(home, 'layer.full.tar');
          const diffBin = toBin(path.join(home, 'diff'));
          const res = spliceStaged(tarPath, packed.staged, (f) => Buffer.from(`${diffBin}/${f.name}`, 'latin1'), full);
          if (res.diffId !== diffId) throw new StrataError('internal', `layer reads back as ${res.diffId}, packed as ${diffId}`);
          fs.renameSync(full, tarPath);
        }
        adoptBlob(store, tarPath, diffId);
        staged.blob = { digest: diffId, mediaType: MediaType.OciLayer, size: packed.size };
      }
      if (!known) {
        // commitImage renames this home to layers/<hex>: only diff/ and the repack marker may be in it
        rmTree(tarPath);
        rmTree(stageDir);
        staged.stagedHome = home;
      }
      layers.push(staged);
    }

    // ---- the config (docker-semantics.md 2.3)
    if (config.Labels === null) config.Labels = {};
    const execs = input.execs ?? [];
    if (execs.length > 0) config.Labels = { ...config.Labels, [PROVENANCE_LABEL]: provenanceLabel(input.imageId, execs) };
    const entry: HistoryEntry = { created };
    if (input.author) entry.author = input.author;
    const createdBy = (ctrConfig.Cmd ?? []).join(' ');
    if (createdBy) entry.created_by = createdBy;
    const comment = input.message || (execs.length > 0 ? provenanceComment(execs) : '');
    if (comment) entry.comment = comment;
    if (diffId === undefined) entry.empty_layer = true;
    const cfg: ImageConfig = {
      architecture: parentCfg.architecture || 'amd64',
      config,
      container: input.containerId,
      container_config: ctrConfig,
      created,
      history: [...(parentCfg.history ?? []), entry],
      os: parentCfg.os || 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    };
    if (input.author) cfg.author = input.author;
    if (parentCfg.variant) cfg.variant = parentCfg.variant;
    const img: Parameters<typeof commitImage>[1] = { configBytes: serializeImageConfig(cfg), layers, parent: input.imageId };
    if (ref) img.tags = [ref];
    const id = commitImage(store, img);
    return { id, diffId, size: diffId ? layers[layers.length - 1]!.size : 0, tarSize: packed.size, entries: packed.entries, frozenMs, noise: noise.report() };
  } finally {
    rmTree(home);
  }
}

/**
 * Move a tar whose digest packDir computed while writing it into the blob store
 * (tmp/ and blobs/ share a filesystem). Only a kept tar is fsynced: one that is
 * dropped after unpacking may never need to reach the disk.
 */
function adoptBlob(store: StoreRoot, file: string, digest: string): void {
  if (store.content.has(digest)) return;
  const fd = fs.openSync(file, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  fs.renameSync(file, store.content.pathOf(digest));
  fsyncDir(store.content.blobDir);
}
