/**
 * The composition root: `openEngine()` opens one store and wires every use case onto it
 * (images, containers, volumes, networks, changes, registry, system, events). The CLI, the
 * API server and any later door call the engine only through the object it returns, and
 * import only this module (plus the pure model in image/, format/ and base/).
 */
import type { Readable, Writable } from 'node:stream';
import { StrataError } from '../base/errors.js';
import { PRUNE_FILTERS, pruneFilter } from './filters.js';
import { linuxSys, type Sys } from '../sys/index.js';
import { StoreRoot, defaultRoot } from './store-root.js';
import { Containers } from './containers.js';
import { VolumeStore } from './volumes.js';
import { CniDriver, networkManager } from './network-driver.js';
import { Networks } from './networks.js';
import { SystemService } from './system-service.js';
import { ChangeService } from './change-service.js';
import {
  imageSummaries, listImages, removeImage, resolveImage, tagImage,
  type ListOptions, type ImageRow, type ImageSummary, type ImageListRow, type RemoveResult,
} from './images.js';
import { imageHistory, inspectImage, type HistoryRow } from './image-inspect.js';
import { importImage, loadArchive, saveImages, type ImportOptions, type ImportSource, type LoadResult } from './transfer.js';
import { pruneImages, type PruneResult } from './system.js';
import { ensureImage, pullAllTags, pullImage, type EnsureOptions, type PullOptions, type PullResult } from './pull.js';
import { pushImage, type PushOptions, type PushResult } from './push.js';
import { checkLogin, login, loginDomain, logout, serverDisplayName, storedCredentials } from './login.js';
import { followEvents, lastEventSeq, readEvents, type EngineEvent } from './events.js';
import { copyFromContainer, copyToContainer, exportContainer } from './container-files.js';
import { BuildEngine } from './build.js';
import { buildCacheEntries, contextFromStream, pruneBuildCache, releaseContext, type BuildCacheEntry } from './build-cache.js';
import { build as runBuild } from '../build/builder.js';
import type { BuildOptions, BuildResult } from '../build/build-state.js';
import type { NetworkManager } from '../network/index.js';
import {
  analyzeImage, compare, containersOverview, imageDetail, imagesOverview, layerDirSizes, layerFileText, layerTree, readyTargets, resolveTarget,
  type Analysis, type Comparison, type ContainerOverview, type ImageDetail, type ImageOverview,
} from './explore.js';
import type { DirListing, ListOptions as TreeListOptions } from '../changes/index.js';
import { archiveFromContainer, extractToContainer, statContainerPath, type PathStat } from './archive.js';
import { containerStats, sampleStats, type StatsJson } from './stats.js';

interface ImageService {
  list(opts?: ListOptions): ImageListRow[];
  /** Docker's image summaries (`GET /images/json`). */
  summaries(opts?: ListOptions): ImageSummary[];
  resolve(ref: string): ImageRow;
  inspect(ref: string): Record<string, unknown>;
  history(ref: string): HistoryRow[];
  tag(source: string, target: string): void;
  /** `rmi`: refuses images containers use unless forced (Docker's rules). */
  remove(ref: string, opts?: { force?: boolean; noPrune?: boolean }): RemoveResult;
  /** a stream, or a regular file open for reading (`{ fd }`, read into reused buffers; the caller closes it) */
  import(input: ImportSource, opts?: ImportOptions): Promise<string>;
  load(input: Readable): Promise<LoadResult>;
  save(names: string[], out: Writable, format?: 'docker' | 'oci'): Promise<void>;
  /** Dangling images (unused ones with `all`); images containers use are kept. */
  prune(opts?: { all?: boolean; filters?: readonly string[] }): PruneResult;
}

interface RegistryService {
  pull(name: string, opts?: PullOptions): Promise<PullResult>;
  pullAllTags(name: string, opts?: PullOptions): Promise<PullResult[]>;
  /** The image for run/create: local, else pulled as Docker does (`--pull`). */
  ensureImage(name: string, opts?: EnsureOptions): Promise<string>;
  push(name: string, opts?: PushOptions): Promise<PushResult[]>;
  loginDomain: typeof loginDomain;
  serverDisplayName: typeof serverDisplayName;
  storedCredentials: typeof storedCredentials;
  checkLogin: typeof checkLogin;
  login: typeof login;
  logout: typeof logout;
}

interface EventService {
  last(): number;
  read(opts?: Parameters<typeof readEvents>[1]): EngineEvent[];
  follow(afterSeq: number, onEvent: (e: EngineEvent) => void, signal: AbortSignal): Promise<void>;
}

interface ContainerFiles {
  export(ref: string, out: Writable): Promise<void>;
  copyFrom(ref: string, src: string, dest: string, out?: Writable): Promise<void>;
  copyTo(ref: string, src: string | Readable, dest: string): Promise<void>;
  /** Docker's container path stat (`X-Docker-Container-Path-Stat`). */
  stat(ref: string, p: string): Promise<PathStat>;
  /** The path as a tar stream (`GET /archive`). */
  archive(ref: string, p: string, out: Writable): Promise<void>;
  /** A tar stream extracted into an existing directory (`PUT /archive`). */
  extract(ref: string, dir: string, input: Readable): Promise<void>;
}

interface StatsService {
  /** Docker's stats objects: one a second (`stream`), or one (`stream: false`, `oneShot`). */
  stream(ref: string, opts?: { stream?: boolean; oneShot?: boolean; signal?: AbortSignal }): AsyncGenerator<StatsJson>;
  /** One read now, `pre` giving the previous one for CPU deltas. */
  sample(ref: string, pre?: StatsJson): StatsJson;
}

/** Dockerfile builds (build/ on the engine's services) and the build cache. */
interface BuildService {
  build(opts: BuildOptions): Promise<BuildResult>;
  /** A context that arrives as a stream (a tar, or a Dockerfile alone): extracted to a scratch dir. */
  contextFromStream(input: NodeJS.ReadableStream): Promise<{ dir: string; dockerfileText?: string }>;
  releaseContext(dir: string): void;
  cache(): BuildCacheEntry[];
  /** `builder prune [--filter until=…]`: cache rows (created before `until`), then the layers nothing lists. */
  prune(opts?: { filters?: readonly string[] }): { deleted: string[]; reclaimed: number };
}

/** What the explorer and `image analyze` read (nothing here writes). */
interface ExploreService {
  /** every image with sizes, shared layers and the image it sits on */
  images(): ImageOverview[];
  /** one image's layers bottom to top, with history and Dockerfile lines */
  image(ref: string): ImageDetail;
  /** waste, efficiency and noise (walks every layer of the image once) */
  analyze(ref: string): Analysis;
  /** one directory of one layer, or of the image up to that layer (`aggregate`) */
  layerTree(ref: string, index: number, dir: string, opts?: TreeListOptions & { aggregate?: boolean }): DirListing;
  /** sizes of the child directories of one directory, in the same view */
  dirSizes(ref: string, index: number, dir: string, aggregate?: boolean): Record<string, number>;
  /** a text file of the image up to layer `index` (refused when binary or over the limit) */
  fileText(ref: string, index: number, path: string): { path: string; size: number; text: string };
  /** an image against another image or a container's pending changes */
  compare(a: string, b: string): Comparison;
  /** containers with image, ports and pending change size */
  containers(): ContainerOverview[];
  /** IMAGE|CONTAINER as the explorer's start takes it */
  resolveTarget(name: string): { kind: 'image' | 'container'; id: string };
  /** make the layer dirs of these images (or containers' images) that are not made yet; unknown names are left to the call that follows */
  ready(names: readonly string[]): Promise<void>;
}

type InspectType = 'container' | 'image' | 'network' | 'volume';

export interface Engine {
  readonly root: string;
  /** The kernel door every service below uses (linuxSys unless one was given). */
  readonly sys: Sys;
  readonly images: ImageService;
  readonly containers: Containers;
  readonly files: ContainerFiles;
  readonly stats: StatsService;
  readonly volumes: VolumeStore;
  readonly networks: Networks;
  readonly changes: ChangeService;
  readonly registry: RegistryService;
  readonly system: SystemService;
  readonly events: EventService;
  readonly build: BuildService;
  readonly explore: ExploreService;
  /** `inspect NAME`: a container, else an image, a network, a volume (Docker's order). */
  inspect(name: string, type?: InspectType): unknown;
  /** Wait for background clean-up (unmounts, network release) to finish. */
  settle(): Promise<void>;
  /** Close the store (idempotent). */
  close(): void;
}

/**
 * The engine over the store at `root` (default `$STRATA_ROOT` or /var/lib/strata). The store
 * is opened on first use, so a command that needs none (login, logout) never creates one.
 */
/** `until` of a build cache prune as the age to keep (ms); no filter: everything goes. */
function buildKeep(filters: readonly string[] | undefined): { keepMs?: number } {
  const now = Date.now();
  const pf = pruneFilter(filters, PRUNE_FILTERS.build, now);
  return pf.until !== undefined ? { keepMs: Math.max(0, now - pf.until) } : {};
}

export function openEngine(opts: { root?: string; sys?: Sys } = {}): Engine {
  const root = opts.root ?? defaultRoot();
  const sys = opts.sys ?? linuxSys;
  interface Parts { store: StoreRoot; containers: Containers; volumes: VolumeStore; networks: Networks; changes: ChangeService; system: SystemService; nm: NetworkManager }
  let parts: Parts | undefined;
  let closed = false;
  const close = () => { if (parts && !closed) { closed = true; parts.store.close(); } };
  const w = (): Parts => {
    if (parts) return parts;
    const store = new StoreRoot(root, sys);
    const volumes = new VolumeStore(store, sys);
    const containers = new Containers(store, volumes, sys);
    const nm = networkManager(store, sys);
    containers.network = new CniDriver(nm, store, containers);
    const networks = new Networks(nm, containers);
    parts = { store, containers, volumes, networks, nm, changes: new ChangeService(store, containers), system: new SystemService(store, containers, volumes, networks, close) };
    return parts;
  };
  const store = () => w().store;
  const using = (id: string) => w().containers.usingImage(id);

  const images: ImageService = {
    list: (o) => listImages(store(), o),
    summaries: (o) => imageSummaries(store(), o),
    resolve: (r) => resolveImage(store(), r),
    inspect: (r) => inspectImage(store(), r),
    history: (r) => imageHistory(store(), r),
    tag: (s, t) => tagImage(store(), s, t),
    remove: (r, o = {}) => removeImage(store(), r, { ...o, containersUsing: using }),
    import: (i, o) => importImage(store(), i, o),
    load: (i) => loadArchive(store(), i),
    save: (n, out, f) => saveImages(store(), n, out, f),
    prune: (o = {}) => pruneImages(store(), { all: !!o.all, imageInUse: (id) => using(id).length > 0, ...(o.filters ? { filters: o.filters } : {}) }),
  };
  const registry: RegistryService = {
    pull: (n, o) => pullImage(store(), n, o),
    pullAllTags: (n, o) => pullAllTags(store(), n, o),
    ensureImage: (n, o) => ensureImage(store(), n, o),
    push: (n, o) => pushImage(store(), n, o),
    loginDomain, serverDisplayName, storedCredentials, checkLogin, login, logout,
  };
  const events: EventService = {
    last: () => lastEventSeq(store()),
    read: (o) => readEvents(store(), o),
    follow: (after, on, signal) => followEvents(store(), after, on, signal),
  };
  const files: ContainerFiles = {
    export: (r, out) => exportContainer(w().containers, r, out),
    copyFrom: (r, s, d, out) => copyFromContainer(w().containers, r, s, d, out),
    copyTo: (r, s, d) => copyToContainer(w().containers, r, s, d),
    stat: (r, p) => statContainerPath(w().containers, r, p),
    archive: (r, p, out) => archiveFromContainer(w().containers, r, p, out),
    extract: (r, d, input) => extractToContainer(w().containers, r, d, input),
  };
  const stats: StatsService = {
    stream: (r, o = {}) => containerStats(w().containers, r, o),
    sample: (r, pre) => sampleStats(w().containers.get(r), pre),
  };
  const build: BuildService = {
    build: (o) => runBuild(new BuildEngine(store(), { network: w().nm }), o),
    contextFromStream: (i) => contextFromStream(store(), i),
    releaseContext,
    cache: () => buildCacheEntries(store()),
    prune: (o = {}) => pruneBuildCache(store(), { all: true, ...buildKeep(o.filters) }),
  };
  const explore: ExploreService = {
    images: () => imagesOverview(store()),
    image: (r) => imageDetail(store(), r),
    analyze: (r) => analyzeImage(store(), r),
    layerTree: (r, i, d, o) => layerTree(store(), r, i, d, o),
    dirSizes: (r, i, d, a) => layerDirSizes(store(), r, i, d, a),
    fileText: (r, i, p) => layerFileText(store(), r, i, p),
    compare: (a, b) => compare(store(), w().containers, a, b),
    containers: () => containersOverview(w().containers),
    resolveTarget: (n) => resolveTarget(store(), w().containers, n),
    ready: (names) => readyTargets(store(), w().containers, names),
  };
  const lookups: Record<InspectType, (n: string) => unknown> = {
    container: (n) => w().containers.inspect(n),
    image: (n) => images.inspect(n),
    network: (n) => w().networks.inspect(n),
    volume: (n) => w().volumes.inspect(n),
  };
  const ORDER: InspectType[] = ['container', 'image', 'network', 'volume'];

  return {
    root,
    sys,
    images, files, stats, registry, events, build, explore,
    get containers() { return w().containers; },
    get volumes() { return w().volumes; },
    get networks() { return w().networks; },
    get changes() { return w().changes; },
    get system() { return w().system; },
    inspect(name, type) {
      let last: unknown;
      for (const t of type ? [type] : ORDER) {
        try { return lookups[t](name); } catch (e) { last = e; if (!(e instanceof StrataError && e.code === 'not_found')) throw e; }
      }
      throw new StrataError('not_found', `No such object: ${name}`, { cause: last });
    },
    settle: async () => { if (parts && !closed) await parts.containers.settle(); },
    close,
  };
}
export type { Container } from './containers.js';
export type { Containers } from './containers.js';
export type { Networks } from './networks.js';
export type { CreateRequest, HostConfig, MountSpec, PortBinding } from './create-spec.js';
export type { ImageListRow, ListOptions } from './images.js';
export type { BuildOptions } from '../build/build-state.js';
export { BuildError } from '../build/builder.js';
export type { BuildCacheEntry } from './build-cache.js';
export type { PullOptions, PushOptions, ImportOptions, EngineEvent };
export type { CommitOptions } from './change-service.js';
export type { Credentials } from '../registry/config.js';
export type { CreateNetworkOptions } from './networks.js';
export type { EndpointRequest } from './networks.js';
export type { PathStat, StatsJson };
export { statsRow, STATS_FORMAT, STATS_HEADERS } from './stats.js';
export { attach, attachTerminal, waitExit, openAttachSocket, RuntimeError, formatLogEntry, stdcopyFrame, toNanos } from '../runtime/index.js';
export type { ExecHandle } from '../runtime/index.js';
export { parsePublishAll } from '../network/index.js';
export { diveExport, type Analysis } from './explore.js';
export { evaluateGate, loadRules, type GateResult, type RuleConfig } from './gate.js';
export { formatChanges, summarize, formatSummary, changesToJson, noiseReport, formatNoiseReport } from '../changes/index.js';
