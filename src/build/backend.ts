/**
 * What the builder needs from the engine, and nothing more. The engine implements it
 * (engine/build.ts) on its own services: the image store, overlay snapshots, runc with
 * Docker's isolation, the layer codec, CNI. The builder itself never touches the store.
 *
 * A build state is an image config plus its layer list (`diffIds`, bottom first). Steps
 * work on a *rootfs*: an overlay mount of a state's layers with a fresh upper dir. A RUN
 * runs a container on it; COPY/ADD write into it from the host side; `commit` turns the
 * upper dir into one layer, exactly as `commit` does for containers.
 */
import type { ImageConfig } from '../image/types.js';
import type { DirListing } from './fsops.js';

export type { DirListing };

export interface BaseImage {
  id: string;
  config: ImageConfig;
  diffIds: string[];
}

export interface BuildMount {
  /** where in the container */
  target: string;
  type: 'bind' | 'cache' | 'tmpfs' | 'secret';
  /** bind/secret: a host path; cache: the cache dir the backend made */
  source?: string;
  readonly?: boolean;
  /** tmpfs size in bytes */
  size?: number;
}

export interface RunSpec {
  args: string[];
  env: string[];
  user: string;
  cwd: string;
  network: 'default' | 'none' | 'host';
  mounts: BuildMount[];
  extraHosts: string[];
  /** output of the process, as it comes */
  onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
}

/** One kind of noise a layer captured (changes/noise.ts's rules). */
interface NoiseItem { kind: string; label: string; count: number; bytes: number; paths: string[]; excluded: boolean }

export interface LayerResult {
  /** undefined: the upper dir was empty (no layer) */
  diffId: string | undefined;
  /** Docker's layer size */
  size: number;
  noise: NoiseItem[];
}

export interface Rootfs {
  /** the merged view, writable */
  readonly dir: string;
  /** the upper dir (what this step changed) */
  readonly upper: string;
  /** run a container on this rootfs; resolves with the exit code */
  run(spec: RunSpec): Promise<number>;
  /** the upper dir as one layer, registered in the store (held by the cache once recorded) */
  commit(opts: { excludeNoise: boolean; epoch?: number }): Promise<LayerResult>;
  /** unmount and remove the scratch dirs */
  release(): Promise<void>;
}

/** A read-only view of a state's filesystem (COPY --from, /etc/passwd lookups, bind mounts). */
export interface ReadView {
  readonly dir: string;
  release(): Promise<void>;
}

export interface CacheRecord {
  key: string;
  parent: string;
  description: string;
  config: ImageConfig;
  diffIds: string[];
  /** the layer this step added, if any */
  layer: string | undefined;
  size: number;
  /** per history entry of `config`: 'Dockerfile:LINE', '' for entries that came with the base */
  sources: string[];
}

export interface BuildBackend {
  /** A base image: local, or pulled (always with `pull`). Throws not_found words from the store or registry. */
  resolveImage(name: string, opts: { pull: boolean; platform?: string; log?: (line: string) => void }): Promise<BaseImage>;
  /** A writable rootfs on top of these layers. */
  rootfs(diffIds: readonly string[]): Promise<Rootfs>;
  /** A read-only view of these layers. */
  view(diffIds: readonly string[]): Promise<ReadView>;
  /** Register an image (config + layers already in the store); returns its ID. Tags move in the same transaction. */
  writeImage(config: ImageConfig, diffIds: readonly string[], tags: readonly string[], sources: readonly string[]): string;
  /** The step cache. */
  cacheGet(key: string): CacheRecord | undefined;
  cachePut(rec: CacheRecord): void;
  /**
   * A persistent directory for `RUN --mount=type=cache` (created on first use), held until
   * release(). BuildKit's sharing modes: `shared` uses the one directory at once with anyone;
   * `locked` waits until no other step (of any build) uses it; `private` takes it when
   * nobody uses it, else another directory of the same id that nobody uses (a new, empty one
   * when there is none).
   */
  cacheMount(id: string, sharing: 'shared' | 'private' | 'locked'): Promise<{ dir: string; release(): void }>;
  /** Scratch space on the store's filesystem, removed by the caller (or a later sweep). */
  scratch(kind: string): string;
  /** One at a time per key across processes: two builds of one step do not both run it. */
  lock<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Where content hashes of a context's files persist between builds (keyed by their stat). */
  hashCacheFile(contextDir: string): string;
  /** A context directory's entries with 7 lstat fields each (see fsops.ts DirLister); null: walk with readdir + lstat. */
  lstatDir(dir: string): DirListing | null;
  /** The same on the thread pool; null: only the synchronous one. */
  lstatDirAsync(dir: string): Promise<DirListing> | null;
  /** Validate a tag before anything runs (throws the reference error). */
  checkTag(tag: string): void;
  /** The build is over: release what its steps kept for reuse (network namespaces). */
  finish(): Promise<void>;
}
