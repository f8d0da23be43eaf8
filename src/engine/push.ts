/**
 * `strata push`: upload an image's layers (three at a time), its config and its manifest.
 *
 * Per layer: HEAD (the registry has it: "Layer already exists"), else a cross-repository
 * mount from a repository of the same registry the blob was seen in ("Mounted from x"),
 * else an upload: monolithic (POST, then PUT ?digest= with the body) or chunked (PATCH
 * Content-Range chunks, then PUT) when a chunk size is configured.
 *
 * Which manifest: the first manifest recorded for the image whose blobs we all hold (so an
 * image pulled from anywhere is pushed byte for byte, and a second push of an image gives
 * the same digest); otherwise one built from the blobs held, compressing layers held only
 * uncompressed with the configured push compression and keeping the compressed blob, so the
 * next push sends the same bytes.
 *
 * Compression at push (measured on the 2-core machines this runs on, 246 MB rootfs layer to
 * a local docker-registry; see bench/registry.ts): uncompressed is the fastest push (the
 * registry just stores bytes) but leaves 3.2x the bytes on the registry and on every pull;
 * zstd needs a recent client to pull; one gzip stream at level 1 runs at ~35 MB/s and Docker's
 * level 6 at ~18 MB/s. Default: gzip level 1 compressed in parallel blocks (layer/pgzip.ts),
 * readable by every client. STRATA_PUSH_COMPRESSION / "push-compression" = none|gzip|zstd.
 */
import * as fs from 'node:fs';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StrataError, corrupt, invalidArgument, isStrataError } from '../base/errors.js';
import { canonicalString, familiarName, parseTaggedReference, type Reference } from '../image/reference.js';
import { MediaType, type Manifest } from '../image/types.js';
import { compressStream, compressionOfMediaType, type Compression } from '../layer/index.js';
import { parallelGzipClass } from '../layer/pgzip.js';
import { tx } from '../meta/db.js';
import {
  counterClass, RETRY, RegistryError, backoff, isRetryable, registrySettings, repoScope, sleep,
  type BlobDescriptor, type Credentials, type PushCompression, type Repository,
} from '../registry/index.js';
import { clientFor } from './pull.js';
import { imageLayers, type LayerRecord } from './images.js';
import { layerTarFile, repackBlob } from './layer-tar.js';
import { rmTree } from '../base/fs.js';
import { mountCandidates, recordBlobSources, runLimited, shortId, statusMsg, throttled, type ProgressFn } from './registry-meta.js';
import type { StoreRoot } from './store-root.js';
import { emitEvent } from './events.js';
import { addImageManifest, manifestsOfImage } from '../meta/images.js';
import { setRepoDigest, tagRow, tagsWithPrefix } from '../meta/tags.js';
import { addLayerBlob, blobsOfLayer } from '../meta/layers.js';
import { definedOnUse } from '../base/lazy.js';

export interface PushOptions {
  /** Push every local tag of the repository. */
  allTags?: boolean;
  onProgress?: ProgressFn;
  /** For layers held only uncompressed (default: the configured push compression). */
  compression?: PushCompression;
  /** PATCH chunk size in bytes; 0 = monolithic PUT (default: configured). */
  chunkSize?: number;
  concurrency?: number;
  /** Credentials for this push only (the API's X-Registry-Auth); default: the stored ones. */
  credentials?: Credentials;
}

export interface PushResult { reference: Reference; tag: string; digest: string; size: number; imageId: string; }

const GZIP_PUSH_LEVEL = 1;

const LAYER_TYPE: Record<Compression, string> = {
  none: MediaType.OciLayer,
  gzip: MediaType.OciLayerGzip,
  zstd: MediaType.OciLayerZstd,
};

interface HeldBlob { digest: string; mediaType: string; size: number; }

interface LayerPlan {
  layer: LayerRecord;
  /** The blob to push, or absent when it is produced by compressing at push. */
  blob?: HeldBlob;
  /** The uncompressed blob to compress from. */
  source?: HeldBlob;
  compression?: Compression;
}

interface Plan {
  layers: LayerPlan[];
  config: BlobDescriptor;
  /** Reused manifest bytes (a manifest the image already has). */
  manifest?: { bytes: Buffer; mediaType: string };
}

function compressionOf(mediaType: string): Compression {
  return compressionOfMediaType(mediaType) ?? 'none';
}

/** Blobs we can push for a layer: those in the content store, else the layer dir packed again (commit keeps only the dir). */
function heldBlobs(store: StoreRoot, diffId: string): HeldBlob[] {
  const rows: HeldBlob[] = blobsOfLayer(store.db, diffId, 'size');
  const held = rows.filter((r) => store.content.has(r.digest));
  if (held.length === 0) {
    const repacked = repackBlob(store, diffId);
    if (repacked) held.push(repacked);
  }
  return held;
}

/**
 * Where a blob's bytes are read from: the content store (verified as it is read), or for a
 * layer kept only as its directory, the tar packed again into a scratch file (verified
 * against the diff_id when packed, once per push).
 */
class BlobFiles {
  private packed = new Map<string, Promise<string>>();
  private scratch: string | undefined;
  constructor(private store: StoreRoot) {}

  private file(digest: string): Promise<string> {
    let p = this.packed.get(digest);
    if (!p) {
      this.scratch ??= this.store.makeTemp('push');
      p = layerTarFile(this.store, digest, this.scratch);
      this.packed.set(digest, p);
    }
    return p;
  }

  async open(digest: string): Promise<Readable> {
    if (this.store.content.has(digest)) return this.store.content.openRead(digest);
    return fs.createReadStream(await this.file(digest), { highWaterMark: 1 << 20 });
  }

  /** Byte range [start, end] (chunked uploads): read straight from the file; the registry checks the assembled digest. */
  async range(digest: string, start: number, end: number): Promise<Readable> {
    const file = this.store.content.has(digest) ? this.store.content.pathOf(digest) : await this.file(digest);
    return fs.createReadStream(file, { start, end, highWaterMark: 1 << 20 });
  }

  close(): void {
    if (this.scratch) rmTree(this.scratch);
  }
}

/** A manifest of the image we can push byte for byte: every blob it names is held. */
function reusableManifest(store: StoreRoot, imageId: string, layers: LayerRecord[]): Plan | undefined {
  const rows = manifestsOfImage(store.db, imageId);
  for (const r of rows) {
    if (r.mediaType !== MediaType.OciManifest && r.mediaType !== MediaType.DockerManifest) continue;
    if (!store.content.has(r.digest)) continue;
    let m: Manifest;
    let bytes: Buffer;
    try { bytes = store.content.readBytes(r.digest); m = JSON.parse(bytes.toString()) as Manifest; } catch { continue; }
    if (m.config?.digest !== imageId || !Array.isArray(m.layers) || m.layers.length !== layers.length) continue;
    const plans: LayerPlan[] = [];
    let ok = true;
    m.layers.forEach((l, i) => {
      const held = heldBlobs(store, layers[i]!.diffId).find((b) => b.digest === l.digest && b.size === l.size);
      if (!held) ok = false;
      else plans.push({ layer: layers[i]!, blob: { ...held, mediaType: l.mediaType } });
    });
    if (!ok) continue;
    return { layers: plans, config: { digest: imageId, size: m.config.size, mediaType: m.config.mediaType }, manifest: { bytes, mediaType: r.mediaType } };
  }
  return undefined;
}

function planPush(store: StoreRoot, imageId: string, compression: PushCompression): Plan {
  const layers = imageLayers(store, imageId);
  const reuse = reusableManifest(store, imageId, layers);
  if (reuse) return reuse;
  const plans = layers.map((layer): LayerPlan => {
    const held = heldBlobs(store, layer.diffId);
    if (held.length === 0) throw new StrataError('corrupt', `no blob found for layer ${layer.diffId}: run 'strata system check'`);
    const plain = held.find((b) => b.digest === layer.diffId);
    const compressed = held.filter((b) => compressionOf(b.mediaType) !== 'none');
    if (compression === 'none') return { layer, blob: plain ?? held[0]! };
    const pick = compressed.find((b) => compressionOf(b.mediaType) === compression) ?? compressed[0];
    if (pick) return { layer, blob: pick };
    return { layer, source: plain ?? held[0]!, compression };
  });
  return { layers: plans, config: { digest: imageId, size: store.content.size(imageId), mediaType: MediaType.OciConfig } };
}

function buildOciManifest(plan: Plan): Buffer {
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: plan.config.digest, size: plan.config.size },
    layers: plan.layers.map((l) => ({ mediaType: layerMediaType(l.blob!.mediaType), digest: l.blob!.digest, size: l.blob!.size })),
  };
  return Buffer.from(JSON.stringify(manifest));
}

function layerMediaType(mt: string): string {
  return LAYER_TYPE[compressionOf(mt)];
}

/** Docker's message when the push target has no local image. */
function noSuchTag(ref: Reference): StrataError {
  return new StrataError('not_found', `An image does not exist locally with the tag: ${familiarName(ref)}`);
}

/** Push `name[:tag]` (or every tag of the repository with allTags). */
export async function pushImage(store: StoreRoot, name: string, opts: PushOptions = {}): Promise<PushResult[]> {
  const ref = parseTaggedReference(name);
  if (ref.digest) throw invalidArgument('cannot push a digest reference');
  const emit = opts.onProgress ?? (() => {});
  emit({ status: `The push refers to repository [${familiarName(ref)}]` });
  const settings = registrySettings();
  const compression = opts.compression ?? settings.pushCompression;
  const chunkSize = opts.chunkSize ?? settings.pushChunkSize;
  const prefix = `${ref.domain}/${ref.path}:`;
  const rows = opts.allTags ? tagsWithPrefix(store.db, prefix) : tagRow(store.db, canonicalString(ref));
  if (rows.length === 0) throw noSuchTag(ref);
  const repo = clientFor(ref.domain, opts.credentials).repository(ref.path, ['pull', 'push']);
  const out: PushResult[] = [];
  for (const row of rows) {
    const tag = row.ref.slice(prefix.length);
    out.push(await pushTag(store, repo, { ...ref, tag }, row.image_id, { compression, chunkSize, concurrency: opts.concurrency ?? 3 }, emit));
    const pushed = `${familiarName(ref)}:${tag}`;
    emitEvent(store, 'image', 'push', pushed, { name: pushed });
  }
  return out;
}

async function pushTag(store: StoreRoot, repo: Repository, ref: Reference, imageId: string, o: { compression: PushCompression; chunkSize: number; concurrency: number }, emit: ProgressFn): Promise<PushResult> {
  const plan = planPush(store, imageId, o.compression);
  const seen = new Set<string>();
  const unique = plan.layers.filter((l) => !seen.has(l.layer.diffId) && seen.add(l.layer.diffId));
  for (const l of unique) emit(statusMsg(shortId(l.layer.diffId), 'Preparing'));
  unique.slice(o.concurrency).forEach((l) => emit(statusMsg(shortId(l.layer.diffId), 'Waiting')));
  const files = new BlobFiles(store);
  try {
    await runLimited(unique, o.concurrency, async (l) => pushLayer(store, files, repo, ref, l, o.chunkSize, emit));
    for (const l of plan.layers) if (!l.blob) l.blob = unique.find((u) => u.layer.diffId === l.layer.diffId)!.blob;
    await pushBlob(store, files, repo, ref, plan.config, o.chunkSize, () => {});
  } catch (e) {
    throw translatePushError(e);
  } finally {
    files.close();
  }
  const manifest = plan.manifest ?? { bytes: buildOciManifest(plan), mediaType: MediaType.OciManifest };
  let digest: string;
  try {
    digest = await repo.putManifest(ref.tag!, manifest.mediaType, manifest.bytes);
  } catch (e) {
    throw translatePushError(e);
  }
  // remember the manifest, the RepoDigest and where the blobs now are
  store.content.putBytes(manifest.bytes, digest);
  tx(store.db, () => {
    addImageManifest(store.db, imageId, digest, manifest.mediaType);
    setRepoDigest(store.db, `${ref.domain}/${ref.path}@${digest}`, imageId);
  });
  recordBlobSources(store, ref.domain, ref.path, [imageId, ...plan.layers.map((l) => l.blob!.digest)]);
  emit({ status: `${ref.tag}: digest: ${digest} size: ${manifest.bytes.length}` });
  emit({ progressDetail: {}, aux: { Tag: ref.tag, Digest: digest, Size: manifest.bytes.length } });
  return { reference: ref, tag: ref.tag!, digest, size: manifest.bytes.length, imageId };
}

function translatePushError(e: unknown): unknown {
  if (e instanceof RegistryError && (e.status === 401 || e.status === 403)) return new StrataError('failed_precondition', e.text);
  return e;
}

async function pushLayer(store: StoreRoot, files: BlobFiles, repo: Repository, ref: Reference, l: LayerPlan, chunkSize: number, emit: ProgressFn): Promise<void> {
  const id = shortId(l.layer.diffId);
  if (l.blob) {
    const how = await pushBlob(store, files, repo, ref, l.blob, chunkSize, throttled(emit, id, 'Pushing', l.blob.size));
    emit(statusMsg(id, how === 'exists' ? 'Layer already exists' : how === 'pushed' ? 'Pushed' : `Mounted from ${how.from}`));
    return;
  }
  l.blob = await compressAndPush(store, files, repo, l.source!, l.compression!, l.layer, throttled(emit, id, 'Pushing', l.layer.tarSize));
  emit(statusMsg(id, 'Pushed'));
}

/** HEAD, mount or upload one held blob. */
async function pushBlob(store: StoreRoot, files: BlobFiles, repo: Repository, ref: Reference, blob: BlobDescriptor, chunkSize: number, progress: (n: number) => void): Promise<'exists' | 'pushed' | { from: string }> {
  if (await repo.hasBlob(blob)) return 'exists';
  let location: URL | undefined;
  for (const from of mountCandidates(store, ref.domain, ref.path, blob.digest)) {
    const r = await repo.withScopes([repoScope(from, ['pull'])]).startUpload({ digest: blob.digest, from });
    if (r.mounted) return { from };
    location = r.location;
    break; // the registry would not mount: upload into the session it opened
  }
  for (let attempt = 0; ; attempt++) {
    try {
      location ??= (await startPlain(repo));
      const loc = location;
      if (chunkSize > 0) {
        await repo.patchBlob(loc, blob, (start, end) => counted(deferred(() => files.range(blob.digest, start, end)), progress, start), chunkSize);
      } else {
        await repo.putBlob(loc, blob, () => counted(deferred(() => files.open(blob.digest)), progress, 0));
      }
      return 'pushed';
    } catch (e) {
      location = undefined;
      if (attempt + 1 >= RETRY.attempts || !isRetryable(e)) throw e;
      await sleep(backoff(attempt));
    }
  }
}

async function startPlain(repo: Repository): Promise<URL> {
  const r = await repo.startUpload();
  if (r.mounted) throw new StrataError('internal', 'registry mounted a blob nobody asked it to mount');
  return r.location;
}

/** A Readable for a stream that is opened asynchronously (errors of the opening end up on the stream). */
function deferred(open: () => Promise<Readable>): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  open().then((src) => {
    src.on('error', (e) => out.destroy(e));
    src.pipe(out);
  }, (e: Error) => out.destroy(e));
  return out;
}

function counted(src: Readable, progress: (n: number) => void, base: number): Readable {
  const c = new (counterClass())((n) => progress(base + n));
  src.on('error', (e) => c.destroy(e));
  return src.pipe(c);
}

/** Tee a stream into a local ingest (the compressed blob is kept for the next push; its hash gives the digest). */
const keepClass = definedOnUse(() =>
  class Keep extends Transform {
    bytes = 0;
    constructor(private ingest: ReturnType<StoreRoot['content']['ingest']>) { super({ highWaterMark: 1 << 20 }); }
    override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
      try {
        this.bytes += chunk.length;
        this.ingest.write(chunk);
        cb(null, chunk);
      } catch (e) { cb(e as Error); }
    }
  });

/**
 * Compress an uncompressed layer while uploading it (one PATCH of unknown length, then PUT
 * ?digest=), keeping the compressed blob and recording it for the layer.
 */
async function compressAndPush(store: StoreRoot, files: BlobFiles, repo: Repository, source: HeldBlob, kind: Compression, layer: LayerRecord, progress: (n: number) => void): Promise<HeldBlob> {
  for (let attempt = 0; ; attempt++) {
    const ingest = store.content.ingest();
    let location: URL | undefined;
    let body: Transform | undefined;
    try {
      location = await startPlain(repo);
      const keep = new (keepClass())(ingest);
      const src = counted(await files.open(source.digest), progress, 0);
      body = new Transform({ transform(c: Buffer, _e, cb) { cb(null, c); } });
      const compressor = kind === 'gzip' ? new (parallelGzipClass())({ level: GZIP_PUSH_LEVEL }) : compressStream(kind);
      const producing = pipeline(src, compressor, keep, body);
      const patched = repo.patchStream(location, body);
      await Promise.all([producing, patched]);
      const next = await patched;
      const digest = ingest.peekDigest();
      await repo.finishUpload(next, digest);
      ingest.commit(digest, keep.bytes);
      const blob: HeldBlob = { digest, mediaType: LAYER_TYPE[kind], size: keep.bytes };
      tx(store.db, () => {
        addLayerBlob(store.db, digest, layer.diffId, blob.mediaType, blob.size);
      });
      return blob;
    } catch (e) {
      body?.destroy();
      ingest.abort();
      if (location) void repo.cancelUpload(location);
      if (attempt + 1 >= RETRY.attempts || !isRetryable(e)) throw isStrataError(e) ? e : corrupt(`compressing layer ${layer.diffId}: ${(e as Error).message}`, e);
      await sleep(backoff(attempt));
    }
  }
}

