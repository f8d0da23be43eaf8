import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform, type Writable } from 'node:stream';
import { corrupt, invalidArgument, notFound, StrataError } from '../base/errors.js';
import { rmTree } from '../base/fs.js';
import { scanLayer, unpackLayer, TarWriter, compressionOfMediaType, detectCompression, type Compression } from '../layer/index.js';
import { applyChanges, emptyContainerConfig, rfc3339Nano, serializeImageConfig } from '../image/config.js';
import { chainIds, DIGEST_HEX, hexOf, isDigest, sha256 } from '../image/digest.js';
import { canonicalString, familiarString, parseTaggedReference, repoAndTag, type Reference } from '../image/reference.js';
import { ANNOTATION_REF_NAME, MediaType, type Descriptor, type ImageConfig, type Index, type Manifest } from '../image/types.js';
import { tx } from '../meta/db.js';
import { commitImage, imageLayers, loadConfig, parseConfig, resolveImage, tagsOf, type StagedLayer } from './images.js';
import { layerTarFile, repackBlob } from './layer-tar.js';
import type { StoreRoot } from './store-root.js';
import { emitEvent } from './events.js';
import type { Ingest } from '../content/store.js';
import { hostPlatform, selectManifest } from '../image/platform.js';
import { blobsOfLayer, layerExists, layerSizes } from '../meta/layers.js';
import { definedOnUse } from '../base/lazy.js';

/** Caps applied before anything is unpacked (hostile archives). */
const LIMITS = {
  manifestJson: 4 << 20,
  configJson: 8 << 20,
  images: 1000,
};

const COMPRESSION_MEDIA: Record<Compression, string> = {
  none: MediaType.OciLayer,
  gzip: MediaType.OciLayerGzip,
  zstd: MediaType.OciLayerZstd,
};

function maxExpandedBytes(): number | undefined {
  const v = process.env.STRATA_MAX_LAYER_BYTES;
  return v ? Number(v) : undefined;
}

/**
 * Hashes what passes through (the compressed blob), optionally copying it to an ingest; with
 * an ingest the ingest's own hash is the one used (sha256 is the main thread's biggest cost
 * on a pull: hashing the same bytes twice cost a third of it).
 */
const hashTapClass = definedOnUse(() =>
  class HashTap extends Transform {
    readonly hash = createHash('sha256');
    bytes = 0;
    /** A plain (uncompressed) tar: its digest is the diff_id the unpacker computes, so nothing here hashes it. */
    plain = false;
    private first = true;
    constructor(private sink?: (chunk: Buffer) => void, private ingest?: Ingest, private detectPlain = false) { super({ highWaterMark: 1 << 20 }); }
    override _transform(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
      try {
        if (this.first && this.detectPlain) {
          this.first = false;
          if (detectCompression(chunk) === 'none') {
            this.plain = true;
            this.ingest?.hashElsewhere();
          }
        }
        if (!this.ingest && !this.plain) this.hash.update(chunk);
        this.bytes += chunk.length;
        // a background ingest: its first failed write stops the stream (as a failing write did
        // when it was synchronous), and when it falls behind the stream waits for it
        if (this.ingest?.error) return cb(this.ingest.error);
        this.sink?.(chunk);
        const behind = this.ingest?.drained();
        if (behind) void behind.then(() => (this.ingest?.error ? cb(this.ingest.error) : cb(null, chunk)));
        else cb(null, chunk);
      } catch (e) { cb(e as Error); }
    }
    digest(): string { return this.ingest ? this.ingest.peekDigest() : `sha256:${this.hash.digest('hex')}`; }
  });

interface LayerExpectations {
  digest?: string;
  diffId?: string;
  size?: number;
  keepBlob?: boolean;
  adoptFile?: string;
}

/** What import reads: a stream, or a regular file already open (read into reused buffers). */
export type ImportSource = Readable | { fd: number };

/** Buffers a file is read into: reused once written, hashed and passed by the scan. */
const RING_BUFFERS = 24;
const RING_CHUNK = 1 << 20;

/**
 * A file's bytes in a few reused buffers: a buffer comes back once the ingest has written and
 * hashed it (`settled`) and the reader is two chunks past it. Reading a 246 MB tar into fresh
 * buffers cost a first import ~200 ms of page faults and collection here.
 */
async function* ringRead(fd: number, settled: () => Promise<void>): AsyncGenerator<Buffer> {
  const free: Buffer[] = [];
  const pending: Array<{ buf: Buffer; done: Promise<void> }> = [];
  const passed: Array<{ buf: Buffer; done: Promise<void> }> = [];
  let made = 0;
  for (;;) {
    if (free.length === 0 && made < RING_BUFFERS) { free.push(Buffer.allocUnsafeSlow(RING_CHUNK)); made++; }
    while (free.length === 0) {
      const p = pending.shift()!;
      await p.done;
      free.push(p.buf);
    }
    const buf = free.pop()!;
    const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, RING_CHUNK, null, (e, k) => (e ? reject(e) : resolve(k))));
    if (n === 0) return;
    yield buf.subarray(0, n);
    // asked for the next chunk: the scan is done with this one but for a header split across two
    passed.push({ buf, done: settled() });
    if (passed.length > 2) pending.push(passed.shift()!);
  }
}

/** The blob of a layer read to its end and checked (scanLayer), nothing unpacked. */
async function storeLayerBlob(store: StoreRoot, source: ImportSource): Promise<StagedLayer> {
  // the blob is written and hashed on the thread pool (where the addon is built): this thread parses
  const ingest = store.content.ingest({ background: true, hashOnPool: true });
  const seen = { bytes: 0 };
  // an open file is told from a stream (which has `pipe`) without node:stream: ~3 ms to load, and
  // a file's import needs none
  const file = 'pipe' in source ? undefined : source.fd;
  const chunks = file !== undefined ? ringRead(file, () => ingest.settled()) : (source as AsyncIterable<Buffer>);
  async function* tee(): AsyncGenerator<Buffer> {
    // a decompressor reads its input on the thread pool, a chunk or more behind the scan: a
    // compressed file's chunks go to it as copies, the ring's buffers only to the blob
    let copy = false;
    for await (const c of chunks) {
      if (ingest.error) throw ingest.error;
      if (seen.bytes === 0 && file !== undefined) copy = detectCompression(c) !== 'none';
      ingest.write(c);
      seen.bytes += c.length;
      const behind = ingest.drained();
      if (behind) await behind;
      yield copy ? Buffer.from(c) : c;
    }
  }
  try {
    // a plain tar's diff_id is its blob digest: the ingest's hash is the only one
    const res = await scanLayer(tee(), { mode: 'overlay', maxExpandedBytes: maxExpandedBytes(), plainDigest: () => ingest.settledDigest() });
    const d = await ingest.finish(res.compression === 'none' ? res.diffId : await ingest.settledDigest());
    return { diffId: res.diffId, size: res.contentSize, tarSize: res.tarSize, blob: { digest: d, mediaType: COMPRESSION_MEDIA[res.compression], size: seen.bytes } };
  } catch (e) {
    await ingest.abortAsync();
    throw e;
  }
}

/**
 * Unpack one layer stream into a staging dir and keep its blob in the content store.
 * `expectedDigest` (blob digest) and `expectedDiffId` are verified; on any failure nothing stays.
 */
export async function stageLayer(store: StoreRoot, input: Readable, expect: LayerExpectations): Promise<StagedLayer> {
  const home = store.makeTemp('layer');
  const diffDir = path.join(home, 'diff');
  fs.mkdirSync(diffDir, { mode: 0o755 });
  // a file already in tmp/ (load) becomes the blob by rename once verified: no second copy
  // the blob is written on the thread pool while this thread unpacks (import: ~250 ms of 1 s were
  // the blob's writes and fsync on the main thread)
  const ingest = expect.keepBlob === false || expect.adoptFile ? undefined : store.content.ingest({ background: true });
  const tap = new (hashTapClass())(ingest ? (c) => ingest.write(c) : undefined, ingest, true);
  try {
    const unpacking = unpackLayer(tap, diffDir, { mode: 'overlay', maxExpandedBytes: maxExpandedBytes(), sys: store.sys });
    const [res] = await Promise.all([unpacking, pipeline(input, tap).catch((e) => { tap.destroy(e); throw e; })]);
    // the blob's own size and digest first: wrong bytes are reported as such, not as a wrong layer
    if (expect.size !== undefined && tap.bytes !== expect.size) throw corrupt(`layer ${expect.digest ?? ''} size mismatch: expected ${expect.size}, got ${tap.bytes}`);
    const digest = tap.plain ? res.diffId : tap.digest();
    if (expect.digest && expect.digest !== digest) throw corrupt(`digest mismatch for layer: expected ${expect.digest}, got ${digest}`);
    if (expect.diffId && res.diffId !== expect.diffId) throw corrupt(`layer diff_id mismatch: expected ${expect.diffId}, got ${res.diffId}`);
    let blob: StagedLayer['blob'];
    if (ingest) {
      const d = await ingest.finish(digest);
      blob = { digest: d, mediaType: COMPRESSION_MEDIA[res.compression], size: tap.bytes };
    } else if (expect.adoptFile) {
      store.content.adopt(expect.adoptFile, digest);
      blob = { digest, mediaType: COMPRESSION_MEDIA[res.compression], size: tap.bytes };
    }
    const staged: StagedLayer = { diffId: res.diffId, size: res.contentSize, tarSize: res.tarSize, stagedHome: home };
    if (blob) staged.blob = blob;
    return staged;
  } catch (e) {
    await ingest?.abortAsync();
    rmTree(home);
    throw e;
  }
}

export interface ImportOptions {
  changes?: string[];
  message?: string;
  reference?: string;
  platform?: string;
}

/** `strata import`: a rootfs tarball (plain, gzip or zstd) becomes a one-layer image. */
export async function importImage(store: StoreRoot, input: ImportSource, opts: ImportOptions = {}): Promise<string> {
  const ref = opts.reference ? parseTaggedReference(opts.reference) : undefined;
  if (ref?.digest) throw invalidArgument('import reference cannot contain a digest');
  const config = applyChanges(emptyContainerConfig(), opts.changes ?? []);
  // the layer dir is made when first needed (layer-dirs.ts)
  const layer = await storeLayerBlob(store, input);
  const created = rfc3339Nano();
  const cfg: ImageConfig = {
    architecture: 'amd64',
    config,
    container_config: emptyContainerConfig(),
    created,
    history: [{ created, comment: opts.message || 'Imported from -' }],
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
  };
  const id = commitImage(store, { configBytes: serializeImageConfig(cfg), layers: [layer], tags: ref ? [ref] : [] });
  emitEvent(store, 'image', 'import', id, ref ? { name: familiarString(ref) } : {});
  return id;
}

// ---------------------------------------------------------------- load

export interface LoadResult { messages: string[]; images: string[]; }

function readCapped(file: string, cap: number, what: string): Buffer {
  const st = fs.lstatSync(file);
  if (!st.isFile()) throw corrupt(`${what} is not a regular file`);
  if (st.size > cap) throw invalidArgument(`${what} is too large (${st.size} bytes, limit ${cap})`);
  return fs.readFileSync(file);
}

function parseJson<T>(buf: Buffer, what: string): T {
  try { return JSON.parse(buf.toString()) as T; } catch (e) { throw corrupt(`invalid ${what}: ${(e as Error).message}`); }
}

/** A path inside the extracted archive; symlinks are followed only while they stay inside it. */
function inside(root: string, rel: string): string {
  let p = path.resolve(root, rel);
  for (let hops = 0; hops < 40; hops++) {
    if (p !== root && !p.startsWith(root + path.sep)) throw corrupt(`archive entry ${rel} points outside the archive`);
    let st: fs.Stats;
    try { st = fs.lstatSync(p); } catch { throw corrupt(`archive is missing ${rel}`); }
    if (!st.isSymbolicLink()) return p;
    p = path.resolve(path.dirname(p), fs.readlinkSync(p));
  }
  throw corrupt(`too many symlinks resolving ${rel}`);
}

interface PendingImage {
  configBytes: Buffer;
  layerFiles: { file: string; digest?: string; size?: number }[];
  tags: Reference[];
  manifest?: { bytes: Buffer; digest: string; mediaType: string };
}

/**
 * `strata load`: Docker archives (manifest.json) and OCI image layouts (index.json).
 * Atomic: every image of the archive is registered in one transaction, or none is.
 */
export async function loadArchive(store: StoreRoot, input: Readable): Promise<LoadResult> {
  const work = store.makeTemp('load');
  const staged = new Map<string, StagedLayer>();
  try {
    const outer = path.join(work, 'archive');
    fs.mkdirSync(outer);
    try {
      await unpackLayer(input, outer, { mode: 'plain', maxExpandedBytes: maxExpandedBytes(), sys: store.sys });
    } catch (e) {
      if (e instanceof StrataError) throw new StrataError(e.code, `invalid archive: ${e.message}`);
      throw e;
    }
    const pending = fs.existsSync(path.join(outer, 'manifest.json')) ? readDockerArchive(outer) : readOciLayout(outer);
    if (pending.length === 0) throw corrupt('no images found in the archive');
    if (pending.length > LIMITS.images) throw invalidArgument(`archive lists too many images (${pending.length})`);
    // verify configs and layer counts before unpacking anything
    const configs = pending.map((p) => {
      const cfg = parseConfig(p.configBytes);
      if (cfg.rootfs.diff_ids.length !== p.layerFiles.length) {
        throw corrupt(`image config lists ${cfg.rootfs.diff_ids.length} layers, the archive has ${p.layerFiles.length}`);
      }
      return cfg;
    });
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i]!;
      const cfg = configs[i]!;
      for (let j = 0; j < p.layerFiles.length; j++) {
        const diffId = cfg.rootfs.diff_ids[j]!;
        if (staged.has(diffId)) continue;
        const lf = p.layerFiles[j]!;
        if (layerExists(store.db, diffId)) { staged.set(diffId, await knownLayer(store, diffId)); continue; }
        const expect: Parameters<typeof stageLayer>[2] = { diffId, adoptFile: lf.file };
        if (lf.digest) expect.digest = lf.digest;
        if (lf.size !== undefined) expect.size = lf.size;
        staged.set(diffId, await stageLayer(store, fs.createReadStream(lf.file, { highWaterMark: 1 << 20 }), expect));
      }
    }
    const result: LoadResult = { messages: [], images: [] };
    tx(store.db, () => {
      for (let i = 0; i < pending.length; i++) {
        const p = pending[i]!;
        const layers = configs[i]!.rootfs.diff_ids.map((d) => staged.get(d)!);
        let manifest: { digest: string; mediaType: string } | undefined;
        if (p.manifest) {
          store.content.putBytes(p.manifest.bytes, p.manifest.digest);
          manifest = { digest: p.manifest.digest, mediaType: p.manifest.mediaType };
        }
        const img: Parameters<typeof commitImage>[1] = { configBytes: p.configBytes, layers, tags: p.tags };
        if (manifest) img.manifest = manifest;
        const id = commitImage(store, img);
        result.images.push(id);
        if (p.tags.length === 0) result.messages.push(`Loaded image ID: ${id}`);
        for (const t of p.tags) result.messages.push(`Loaded image: ${familiarString(t)}`);
      }
    });
    for (const id of result.images) emitEvent(store, 'image', 'load', id);
    return result;
  } finally {
    for (const l of staged.values()) if (l.stagedHome) rmTree(l.stagedHome);
    rmTree(work);
  }
}

async function knownLayer(store: StoreRoot, diffId: string): Promise<StagedLayer> {
  const row = layerSizes(store.db, diffId)!;
  return { diffId, size: row.size, tarSize: row.tarSize };
}

function readDockerArchive(root: string): PendingImage[] {
  const entries = parseJson<{ Config: string; RepoTags?: string[] | null; Layers: string[] }[]>(
    readCapped(inside(root, 'manifest.json'), LIMITS.manifestJson, 'manifest.json'), 'manifest.json');
  if (!Array.isArray(entries)) throw corrupt('invalid manifest.json: not an array');
  return entries.map((e) => {
    if (typeof e?.Config !== 'string' || !Array.isArray(e.Layers)) throw corrupt('invalid manifest.json entry');
    const configBytes = readCapped(inside(root, e.Config), LIMITS.configJson, e.Config);
    const hex = new RegExp(`(${DIGEST_HEX})(?:\\.json)?$`).exec(e.Config)?.[1];
    if (hex && sha256(configBytes) !== `sha256:${hex}`) throw corrupt(`config ${e.Config} does not match its digest`);
    return {
      configBytes,
      layerFiles: e.Layers.map((l) => {
        const file = inside(root, l);
        const m = new RegExp(`blobs/sha256/(${DIGEST_HEX})$`).exec(l);
        return m ? { file, digest: `sha256:${m[1]}` } : { file };
      }),
      tags: (e.RepoTags ?? []).map((t) => parseTaggedReference(t)),
    };
  });
}

function readBlob(root: string, d: Descriptor, cap: number): Buffer {
  if (!isDigest(d?.digest ?? '')) throw corrupt(`unsupported digest ${d?.digest}`);
  const buf = readCapped(inside(root, `blobs/sha256/${hexOf(d.digest)}`), cap, d.digest);
  if (sha256(buf) !== d.digest) throw corrupt(`blob ${d.digest} does not match its digest`);
  if (typeof d.size === 'number' && d.size !== buf.length) throw corrupt(`blob ${d.digest} has size ${buf.length}, descriptor says ${d.size}`);
  return buf;
}

function readOciLayout(root: string): PendingImage[] {
  if (!fs.existsSync(path.join(root, 'index.json'))) throw corrupt('archive has neither manifest.json nor index.json');
  const index = parseJson<Index>(readCapped(inside(root, 'index.json'), LIMITS.manifestJson, 'index.json'), 'index.json');
  if (!Array.isArray(index.manifests)) throw corrupt('invalid index.json: no manifests');
  const out: PendingImage[] = [];
  const visit = (desc: Descriptor, names: Reference[], depth: number): void => {
    if (depth > 4) throw corrupt('index nesting too deep');
    const bytes = readBlob(root, desc, LIMITS.manifestJson);
    const mt = desc.mediaType;
    if (mt === MediaType.OciIndex || mt === MediaType.DockerManifestList) {
      const idx = parseJson<Index>(bytes, 'index');
      const list = idx.manifests ?? [];
      // an index without platform fields but a single entry (some layout writers) is taken as it is
      const pick = selectManifest(list, hostPlatform()) ?? (list.length === 1 ? list[0] : undefined);
      if (!pick) throw notFound('no matching manifest for linux/amd64 in the archive');
      visit(pick, names, depth + 1);
      return;
    }
    const m = parseJson<Manifest>(bytes, 'manifest');
    if (!m.config || !Array.isArray(m.layers)) throw corrupt(`invalid manifest ${desc.digest}`);
    out.push({
      configBytes: readBlob(root, m.config, LIMITS.configJson),
      layerFiles: m.layers.map((l) => ({ file: inside(root, `blobs/sha256/${hexOf(l.digest)}`), digest: l.digest, size: l.size })),
      tags: names,
      manifest: { bytes, digest: desc.digest, mediaType: mt || MediaType.OciManifest },
    });
  };
  for (const d of index.manifests) {
    const names: Reference[] = [];
    const full = d.annotations?.['io.containerd.image.name'];
    const refName = d.annotations?.[ANNOTATION_REF_NAME];
    const candidate = full ?? (refName && /[:/]/.test(refName) ? refName : undefined);
    if (candidate) {
      try { names.push(parseTaggedReference(candidate)); } catch { /* an annotation that is not a reference: load untagged */ }
    }
    visit(d, names, 0);
  }
  return out;
}


// ---------------------------------------------------------------- save

interface SaveItem { id: string; tags: Reference[]; }

function resolveForSave(store: StoreRoot, names: string[]): SaveItem[] {
  const items = new Map<string, SaveItem>();
  for (const n of names) {
    const img = resolveImage(store, n);
    const item = items.get(img.id) ?? { id: img.id, tags: [] };
    items.set(img.id, item);
    let ref: Reference | undefined;
    try { ref = parseTaggedReference(n); } catch { /* by ID: no tag */ }
    if (ref && !ref.digest && tagsOf(store, img.id).includes(canonicalString(ref))) {
      if (!item.tags.some((t) => canonicalString(t) === canonicalString(ref!))) item.tags.push(ref);
    }
  }
  return [...items.values()];
}

/** The blob we hold for a layer: uncompressed preferred for docker archives. */
function layerBlob(store: StoreRoot, diffId: string, preferUncompressed: boolean): { digest: string; mediaType: string; size: number } {
  const rows = blobsOfLayer(store.db, diffId, 'recorded');
  const usable = rows.filter((r) => store.content.has(r.digest));
  usable.sort((a, b) => (preferUncompressed ? Number(a.digest !== diffId) - Number(b.digest !== diffId) : a.size - b.size));
  const b = usable[0] ?? repackBlob(store, diffId); // a committed layer kept only as its dir
  if (!b) throw new StrataError('corrupt', `no blob found for layer ${diffId}: run 'strata system check'`);
  return b;
}

function ociLayerType(mt: string): string {
  if (mt === MediaType.DockerLayerGzip || mt === MediaType.OciLayerGzip) return MediaType.OciLayerGzip;
  if (mt === MediaType.OciLayerZstd) return MediaType.OciLayerZstd;
  return MediaType.OciLayer;
}

/** A manifest for a local image, built from the blobs we hold (deterministic). */
function buildManifest(store: StoreRoot, id: string, preferUncompressed = false): { bytes: string; digest: string; manifest: Manifest } {
  const cfgSize = store.content.size(id);
  const layers = imageLayers(store, id).map((l) => {
    const b = layerBlob(store, l.diffId, preferUncompressed);
    return { mediaType: ociLayerType(b.mediaType), digest: b.digest, size: b.size };
  });
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: id, size: cfgSize },
    layers,
  };
  const bytes = JSON.stringify(manifest);
  return { bytes, digest: sha256(bytes), manifest };
}

/** An uncompressed layer tar as a file path (decompressing a compressed blob to tmp when needed). */
async function uncompressedLayerFile(store: StoreRoot, diffId: string, scratch: string): Promise<string> {
  const b = layerBlob(store, diffId, true);
  if (b.digest === diffId) return layerTarFile(store, diffId, scratch);
  const out = path.join(scratch, hexOf(diffId) + '.tar');
  const { decompressStream } = await import('../layer/index.js');
  const kind: Compression = compressionOfMediaType(b.mediaType) === 'zstd' ? 'zstd' : 'gzip';
  const h = new (hashTapClass())();
  await pipeline(store.content.openRead(b.digest), decompressStream(kind), h, fs.createWriteStream(out));
  if (h.digest() !== diffId) throw corrupt(`layer ${diffId} decompresses to ${h.digest()}`);
  return out;
}

export async function saveImages(store: StoreRoot, names: string[], out: Writable, format: 'docker' | 'oci' = 'docker'): Promise<void> {
  if (names.length === 0) throw invalidArgument('"save" requires at least 1 argument.');
  const items = resolveForSave(store, names);
  const scratch = store.makeTemp('save');
  const tw = new TarWriter(out);
  try {
    if (format === 'oci') await writeOci(store, items, tw, scratch);
    else await writeDocker(store, items, tw, scratch);
    await tw.finish();
  } finally {
    rmTree(scratch);
  }
}

const EPOCH = 0;

async function writeDocker(store: StoreRoot, items: SaveItem[], tw: TarWriter, scratch: string): Promise<void> {
  const written = new Set<string>();
  const manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const item of items) {
    const cfg = loadConfig(store, item.id);
    const layers = imageLayers(store, item.id);
    const chains = chainIds(layers.map((l) => l.diffId));
    const layerPaths: string[] = [];
    let parentV1 = '';
    for (let i = 0; i < layers.length; i++) {
      const l = layers[i]!;
      const v1 = hexOf(chains[i]!);
      layerPaths.push(`${v1}/layer.tar`);
      if (!written.has(v1)) {
        written.add(v1);
        await tw.addDir(`${v1}/`, { mtime: EPOCH });
        await tw.addFile(`${v1}/VERSION`, Buffer.from('1.0'), { mtime: EPOCH });
        const v1json: Record<string, unknown> = { id: v1 };
        if (parentV1) v1json.parent = parentV1;
        v1json.created = '1970-01-01T00:00:00Z';
        v1json.container_config = { Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false, Tty: false, OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Image: '', Volumes: null, WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: null };
        if (i === layers.length - 1) { v1json.config = cfg.config; v1json.os = cfg.os; v1json.architecture = cfg.architecture; }
        await tw.addFile(`${v1}/json`, Buffer.from(JSON.stringify(v1json)), { mtime: EPOCH });
        const file = await uncompressedLayerFile(store, l.diffId, scratch);
        await tw.addFileFromPath(`${v1}/layer.tar`, file, l.tarSize, { mtime: EPOCH });
      }
      parentV1 = v1;
    }
    const cfgName = `${hexOf(item.id)}.json`;
    if (!written.has(cfgName)) {
      written.add(cfgName);
      await tw.addFile(cfgName, store.content.readBytes(item.id), { mtime: EPOCH });
    }
    const repoTags = item.tags.map((t) => familiarString(t));
    manifest.push({ Config: cfgName, RepoTags: repoTags.length ? repoTags : null, Layers: layerPaths });
    for (const t of item.tags) {
      const { repository, tag } = repoAndTag(canonicalString(t));
      (repositories[repository] ??= {})[tag] = parentV1;
    }
  }
  await tw.addFile('manifest.json', Buffer.from(JSON.stringify(manifest)), { mtime: EPOCH });
  if (Object.keys(repositories).length) await tw.addFile('repositories', Buffer.from(JSON.stringify(repositories) + '\n'), { mtime: EPOCH });
}

async function writeOci(store: StoreRoot, items: SaveItem[], tw: TarWriter, scratch: string): Promise<void> {
  const written = new Set<string>();
  const addBlob = async (digest: string, data?: Buffer) => {
    if (written.has(digest)) return;
    written.add(digest);
    const name = `blobs/sha256/${hexOf(digest)}`;
    if (data) await tw.addFile(name, data, { mtime: EPOCH });
    else if (store.content.has(digest)) await tw.addFileFromPath(name, store.content.pathOf(digest), store.content.size(digest), { mtime: EPOCH });
    else {
      const file = await layerTarFile(store, digest, scratch); // a committed layer kept only as its dir
      await tw.addFileFromPath(name, file, fs.statSync(file).size, { mtime: EPOCH });
      fs.rmSync(file, { force: true });
    }
  };
  await tw.addFile('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'), { mtime: EPOCH });
  await tw.addDir('blobs/', { mtime: EPOCH });
  await tw.addDir('blobs/sha256/', { mtime: EPOCH });
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  for (const item of items) {
    const m = buildManifest(store, item.id);
    for (const l of m.manifest.layers) await addBlob(l.digest);
    await addBlob(item.id, store.content.readBytes(item.id));
    await addBlob(m.digest, Buffer.from(m.bytes));
    const base: Descriptor = { mediaType: MediaType.OciManifest, digest: m.digest, size: Buffer.byteLength(m.bytes) };
    if (item.tags.length === 0) index.manifests.push(base);
    for (const t of item.tags) {
      index.manifests.push({ ...base, annotations: { 'io.containerd.image.name': canonicalString(t), [ANNOTATION_REF_NAME]: t.tag ?? 'latest' } });
    }
  }
  await tw.addFile('index.json', Buffer.from(JSON.stringify(index)), { mtime: EPOCH });
}
