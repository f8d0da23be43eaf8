/**
 * `strata pull`: resolve a reference on its registry, pick the platform's manifest, download
 * the layers not held yet (three at a time) while unpacking them, and register the image in
 * one transaction with its tag and RepoDigest. Nothing is registered unless every blob
 * verified (digest and size) and every layer's diff_id matched the config.
 *
 *   const r = await pullImage(store, 'localhost:5000/app:v1', { onProgress: (m) => … });
 *   r.imageId, r.digest (what the tag resolved to: the index digest for multi-arch images)
 */
import { StrataError, corrupt, invalidArgument, isStrataError, notFound } from '../base/errors.js';
import { rmTree } from '../base/fs.js';
import { isDigest } from '../image/digest.js';
import { hostPlatform, matchPlatform, parsePlatform, platformString, selectManifest, type PlatformSpec } from '../image/platform.js';
import { canonicalString, familiarName, familiarString, parseReference, parseTaggedReference, type Reference } from '../image/reference.js';
import { MediaType, type Descriptor, type Index, type Manifest } from '../image/types.js';
import { tx } from '../meta/db.js';
import { type BlobReader, RegistryClient, RegistryError, type Credentials, type FetchedManifest, type Repository } from '../registry/index.js';
import { commitImage, parseConfig, resolveImage, type StagedLayer } from './images.js';
import { recordBlobSources, runLimited, shortId, statusMsg, throttled, type ProgressFn } from './registry-meta.js';
import type { StoreRoot } from './store-root.js';
import { stageLayer } from './transfer.js';
import { emitEvent } from './events.js';
import { addImageManifest, imageExists } from '../meta/images.js';
import { imageOfRef } from '../meta/tags.js';
import { layerSizes } from '../meta/layers.js';

export interface PullOptions {
  /** `os/arch[/variant]`; when given, a single-platform image of another platform is refused. */
  platform?: string;
  onProgress?: ProgressFn;
  /** Layers downloaded at once (Docker's default: 3). */
  concurrency?: number;
  /** Credentials for this pull only (the API's X-Registry-Auth); default: the stored ones. */
  credentials?: Credentials;
}

/** The client for a pull or push: the shared one, or a private one for explicit credentials. */
export function clientFor(domain: string, credentials?: Credentials): RegistryClient {
  return credentials ? new RegistryClient(domain, { creds: credentials }) : RegistryClient.for(domain);
}

export interface PullResult {
  imageId: string;
  reference: Reference;
  /** The digest the reference resolved to (index or manifest), recorded as RepoDigest. */
  digest: string;
  /** The reference already pointed at this image: nothing changed. */
  upToDate: boolean;
}

const INDEX_TYPES: string[] = [MediaType.OciIndex, MediaType.DockerManifestList];
const MANIFEST_TYPES: string[] = [MediaType.OciManifest, MediaType.DockerManifest];

/** Docker's messages for registry failures during a pull. */
function translatePullError(e: unknown, ref: Reference): unknown {
  if (e instanceof RegistryError) {
    if (e.status === 404) return new StrataError('not_found', `manifest for ${familiarString(ref)} not found: ${e.text}`);
    if (e.status === 401 || e.status === 403) {
      return new StrataError('not_found', `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${e.text}`);
    }
  }
  return e;
}

function parseJsonDoc<T>(bytes: Buffer, what: string): T {
  try {
    const v = JSON.parse(bytes.toString()) as T;
    if (!v || typeof v !== 'object') throw new Error('not an object');
    return v;
  } catch (e) {
    throw corrupt(`malformed ${what}: ${(e as Error).message}`);
  }
}

function checkDescriptor(d: Descriptor | undefined, what: string): Descriptor {
  if (!d || typeof d !== 'object') throw corrupt(`malformed manifest: missing ${what}`);
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) throw corrupt(`malformed manifest: ${what} has an invalid digest ${JSON.stringify(d.digest)}`);
  if (!Number.isSafeInteger(d.size) || d.size < 0) throw corrupt(`malformed manifest: ${what} has an invalid size ${JSON.stringify(d.size)}`);
  return d;
}

function parseManifest(m: FetchedManifest): Manifest {
  if (!MANIFEST_TYPES.includes(m.mediaType)) {
    if (m.mediaType.includes('manifest.v1')) throw invalidArgument('Docker Image manifest version 2, schema 1 is not supported: the image must be pushed again with a newer client');
    throw corrupt(`unsupported manifest media type ${m.mediaType}`);
  }
  const man = parseJsonDoc<Manifest>(m.bytes, 'manifest');
  if (man.schemaVersion !== 2) throw corrupt(`malformed manifest: schemaVersion ${JSON.stringify(man.schemaVersion)}`);
  checkDescriptor(man.config, 'config');
  if (!Array.isArray(man.layers)) throw corrupt('malformed manifest: layers is not a list');
  man.layers.forEach((l, i) => checkDescriptor(l, `layer ${i}`));
  return man;
}

/** Pull one reference (`name[:tag]` or `name@digest`). */
export async function pullImage(store: StoreRoot, name: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseTaggedReference(name);
  const emit = opts.onProgress ?? (() => {});
  const repo = clientFor(ref.domain, opts.credentials).repository(ref.path, ['pull']);
  let res: PullResult;
  try {
    res = await pullReference(store, repo, ref, opts, emit);
  } catch (e) {
    throw translatePullError(e, ref);
  }
  emit({ status: `Digest: ${res.digest}` });
  emit({ status: `Status: ${res.upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${familiarString(ref)}` });
  emitEvent(store, 'image', 'pull', familiarString(ref), { name: familiarString(ref) });
  return res;
}

/** `pull -a`: every tag of a repository. */
export async function pullAllTags(store: StoreRoot, name: string, opts: PullOptions = {}): Promise<PullResult[]> {
  const base = parseReference(name);
  if (base.digest || base.tag) throw invalidArgument('tag can\'t be used with --all-tags/-a');
  const repo = clientFor(base.domain, opts.credentials).repository(base.path, ['pull']);
  let tags: string[];
  try { tags = await repo.listTags(); } catch (e) { throw translatePullError(e, base); }
  const emit = opts.onProgress ?? (() => {});
  const out: PullResult[] = [];
  for (const tag of tags.sort()) {
    const ref: Reference = { domain: base.domain, path: base.path, tag };
    try { out.push(await pullReference(store, repo, ref, opts, emit)); } catch (e) { throw translatePullError(e, ref); }
    emitEvent(store, 'image', 'pull', familiarString(ref), { name: familiarString(ref) });
    emit({ status: `Digest: ${out[out.length - 1]!.digest}` });
  }
  const changed = out.some((r) => !r.upToDate);
  emit({ status: `Status: ${changed ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarName(base)}` });
  return out;
}

async function pullReference(store: StoreRoot, repo: Repository, ref: Reference, opts: PullOptions, emit: ProgressFn): Promise<PullResult> {
  const want: PlatformSpec = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const top = await repo.getManifest(ref.digest ?? ref.tag!);
  // the first message comes once the reference resolved: an API server can still answer 404
  emit({ status: `Pulling from ${ref.path}`, id: ref.digest ?? ref.tag! });
  let chosen = top;
  if (INDEX_TYPES.includes(top.mediaType)) {
    const index = parseJsonDoc<Index>(top.bytes, 'manifest list');
    if (!Array.isArray(index.manifests)) throw corrupt('malformed manifest list: manifests is not a list');
    index.manifests.forEach((d, i) => checkDescriptor(d, `manifest ${i}`));
    const pick = selectManifest(index.manifests, want);
    if (!pick) throw new StrataError('not_found', `no matching manifest for ${platformString(want)} in the manifest list entries`);
    chosen = await repo.getManifest(pick.digest);
    if (chosen.bytes.length !== pick.size) throw corrupt(`manifest ${pick.digest} has ${chosen.bytes.length} bytes, the index says ${pick.size}`);
  }
  const manifest = parseManifest(chosen);
  const configBytes = await repo.getBlobBytes(manifest.config);
  const cfg = parseConfig(configBytes);
  if (cfg.rootfs.diff_ids.length !== manifest.layers.length) {
    throw corrupt(`layers from manifest don't match image configuration (${manifest.layers.length} layers, config lists ${cfg.rootfs.diff_ids.length})`);
  }
  cfg.rootfs.diff_ids.forEach((d, i) => { if (!isDigest(d)) throw corrupt(`image config has an invalid diff_id for layer ${i}`); });
  if (opts.platform && chosen === top && !matchPlatform(want, cfg)) {
    throw new StrataError('not_found', `image with reference ${familiarString(ref)} was found but its platform (${platformString({ os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) })}) does not match the specified platform (${platformString(want)})`);
  }
  const imageId = manifest.config.digest;
  const db = store.db;
  const beforeId = ref.digest ? imageOfRef(db, 'repo_digests', `${ref.domain}/${ref.path}@${ref.digest}`) : imageOfRef(db, 'tags', canonicalString(ref));
  const before = beforeId === undefined ? undefined : { image_id: beforeId };

  const layers = await fetchLayers(store, repo, manifest, cfg.rootfs.diff_ids, imageId, opts, emit);
  try {
    // the manifest(s) go in just before the transaction that references them
    const added: string[] = [];
    for (const m of top === chosen ? [chosen] : [top, chosen]) {
      if (!store.content.has(m.digest)) added.push(m.digest);
      store.content.putBytes(m.bytes, m.digest);
    }
    try {
      tx(db, () => {
        commitImage(store, {
          configBytes, layers,
          tags: ref.digest ? [] : [ref],
          repoDigests: [{ domain: ref.domain, path: ref.path, digest: top.digest }],
          manifest: { digest: chosen.digest, mediaType: chosen.mediaType },
        });
        if (top !== chosen) addImageManifest(db, imageId, top.digest, top.mediaType);
      });
    } catch (e) {
      for (const d of added) store.content.delete(d);
      throw e;
    }
  } finally {
    for (const l of layers) if (l.stagedHome) rmTree(l.stagedHome);
  }
  recordBlobSources(store, ref.domain, ref.path, [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]);
  return { imageId, reference: ref, digest: top.digest, upToDate: before?.image_id === imageId };
}

/** Layers for the image: those held already, the rest downloaded and staged. */
async function fetchLayers(store: StoreRoot, repo: Repository, manifest: Manifest, diffIds: string[], imageId: string, opts: PullOptions, emit: ProgressFn): Promise<StagedLayer[]> {
  const db = store.db;
  const imageKnown = imageExists(db, imageId);
  const result: StagedLayer[] = new Array(diffIds.length);
  const todo: { desc: Descriptor; diffId: string; slots: number[] }[] = [];
  const byDiff = new Map<string, (typeof todo)[number]>();
  diffIds.forEach((diffId, i) => {
    const desc = manifest.layers[i]!;
    const row = layerSizes(db, diffId);
    if (row) {
      result[i] = { diffId, size: row.size, tarSize: row.tarSize };
      if (!imageKnown) emit(statusMsg(shortId(desc.digest), 'Already exists'));
      return;
    }
    const t = byDiff.get(diffId);
    if (t) { t.slots.push(i); return; }
    const item = { desc, diffId, slots: [i] };
    byDiff.set(diffId, item);
    todo.push(item);
  });
  for (const t of todo) emit(statusMsg(shortId(t.desc.digest), 'Pulling fs layer'));
  const concurrency = opts.concurrency ?? 3;
  todo.slice(concurrency).forEach((t) => emit(statusMsg(shortId(t.desc.digest), 'Waiting')));
  const staged: StagedLayer[] = [];
  try {
    await runLimited(todo, concurrency, async (t) => {
      const layer = await downloadLayer(store, repo, t.desc, t.diffId, emit);
      staged.push(layer);
      for (const s of t.slots) result[s] = layer;
    });
  } catch (e) {
    for (const l of staged) if (l.stagedHome) rmTree(l.stagedHome);
    throw e;
  }
  return result;
}

/** Download one layer blob while unpacking it; verified (digest, size, diff_id) or nothing is kept. */
async function downloadLayer(store: StoreRoot, repo: Repository, desc: Descriptor, diffId: string, emit: ProgressFn): Promise<StagedLayer> {
  const id = shortId(desc.digest);
  // the content ingest inside stageLayer hashes the blob: the reader need not hash it again
  const reader: BlobReader = repo.openBlob(desc, { onBytes: throttled(emit, id, 'Downloading', desc.size), verify: false });
  try {
    const layer = await stageLayer(store, reader, { digest: desc.digest, diffId, size: desc.size });
    emit(statusMsg(id, 'Verifying Checksum'));
    emit(statusMsg(id, 'Download complete'));
    emit(statusMsg(id, 'Pull complete'));
    return layer;
  } catch (e) {
    // the reader's own failure (network, size) is the real cause; not an abort that came from
    // the unpacker failing first (a full disk: the unpacker's writes fail before the blob's,
    // which go on in the background)
    if (reader.errored && reader.errored.name !== 'AbortError') throw reader.errored;
    const m = /^digest mismatch for layer: expected \S+, got (\S+)$/.exec((e as Error).message ?? '');
    if (m) throw corrupt(`filesystem layer verification failed for digest ${desc.digest}: digest mismatch (content hashes to ${m[1]})`);
    // the unpacker refused the bytes: were they the blob's bytes at all? (fetches the rest to tell)
    let served: string | undefined;
    try { served = await reader.verifyRemainder(); } catch { /* report the unpack error */ }
    if (served && served !== desc.digest) {
      throw corrupt(`filesystem layer verification failed for digest ${desc.digest}: digest mismatch (content hashes to ${served})`);
    }
    throw e;
  }
}

export interface EnsureOptions {
  platform?: string;
  /** Docker's --pull: missing (default), always, never. */
  pull?: 'missing' | 'always' | 'never';
  onProgress?: ProgressFn;
  /** Where "Unable to find image … locally" goes (Docker: stderr). */
  log?: (line: string) => void;
}

/**
 * The image for `run`/`create`: local when present, else pulled as Docker does
 * (`Unable to find image 'x:latest' locally`, then the pull's progress). Returns the image ID.
 */
export async function ensureImage(store: StoreRoot, name: string, opts: EnsureOptions = {}): Promise<string> {
  const policy = opts.pull ?? 'missing';
  if (policy !== 'always') {
    try { return resolveImage(store, name).id; } catch (e) {
      if (!isStrataError(e, 'not_found') || policy === 'never') throw e;
    }
  }
  let ref: Reference;
  try { ref = parseTaggedReference(name); } catch { throw notFound(`No such image: ${name}`); }
  if (isDigest(name)) throw notFound(`No such image: ${name}`);
  if (policy === 'missing') (opts.log ?? ((l) => process.stderr.write(l + '\n')))(`Unable to find image '${familiarString(ref)}' locally`);
  const pullOpts: PullOptions = {};
  if (opts.platform) pullOpts.platform = opts.platform;
  if (opts.onProgress) pullOpts.onProgress = opts.onProgress;
  const r = await pullImage(store, familiarString(ref), pullOpts);
  return r.imageId;
}
