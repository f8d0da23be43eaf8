/**
 * `system df`, `system prune`, `system reset`, `system check` and `info`: one implementation
 * for every door (the CLI prints it as Docker's CLI does, the API answers Docker's JSON).
 */
import { PRUNE_FILTERS, pruneFilter } from './filters.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { treeSize } from '../base/fs.js';
import { runtimeDirFor } from '../runtime/index.js';
import { checkStore, diskUsage, gcUnreferenced, pruneImages, type CheckReport, type DfImage, type PruneResult } from './system.js';
import { imageSummaries, type ImageSummary } from './images.js';
import type { Container, Containers, ContainerSummary } from './containers.js';
import { ZERO_TIME } from '../image/config.js';
import type { VolumeStore } from './volumes.js';
import type { Networks } from './networks.js';
import type { StoreRoot } from './store-root.js';
import { countImages } from '../meta/images.js';
import { buildCacheEntries, pruneBuildCache, type BuildCacheEntry } from './build-cache.js';

interface VolumeUsage { name: string; size: number; refCount: number; view: Record<string, unknown>; }

interface SystemDf {
  /** Distinct layer bytes (from the database). */
  layersSize: number;
  images: DfImage[];
  activeImages: number;
  reclaimable: number;
  /** Docker's image summaries with SharedSize (the API's `Images`). */
  imageSummaries: ImageSummary[];
  /** Every container with SizeRw/SizeRootFs (walks each upper dir). */
  containers: ContainerSummary[];
  /** Every volume with its size on disk and the number of containers using it. */
  volumes: VolumeUsage[];
  /** The build cache's entries (Docker's "Build Cache" rows). */
  buildCache: BuildCacheEntry[];
}

interface SystemPruneResult {
  containers: { deleted: string[]; reclaimed: number };
  networks: string[];
  volumes?: { deleted: string[]; reclaimed: number };
  images: PruneResult;
  buildCache: { deleted: string[]; reclaimed: number };
  reclaimed: number;
}

interface BootResult {
  /** Containers started again because of their restart policy. */
  started: { id: string; name: string }[];
  /** Those whose start failed, with the error (the others were still started). */
  failed: { id: string; name: string; error: string }[];
}

/**
 * Whether dockerd would start a stopped container when it starts: `always`, `unless-stopped`
 * unless the user stopped it, `on-failure` after a non-zero exit within its retry count
 * (its RestartManager's rule);
 * never one that was only created.
 */
function restartsAtBoot(c: Container): boolean {
  if (c.row.state !== 'exited' || !c.row.started_at || c.row.started_at === ZERO_TIME) return false;
  const p = c.hostConfig.RestartPolicy;
  switch (p?.Name) {
    case 'always': return true;
    case 'unless-stopped': return !c.row.manually_stopped;
    // as dockerd: a manual stop (exit 137/143) does not keep an on-failure container down
    case 'on-failure': return c.row.exit_code !== 0 && (!p.MaximumRetryCount || c.row.restart_count < p.MaximumRetryCount);
    default: return false;
  }
}

export class SystemService {
  constructor(
    private readonly store: StoreRoot,
    private readonly containers: Containers,
    private readonly volumes: VolumeStore,
    private readonly networks: Networks,
    private readonly close: () => void,
  ) {}

  df(): SystemDf {
    const all = this.containers.all();
    const perImage = new Map<string, number>();
    for (const c of all) perImage.set(c.row.image_id, (perImage.get(c.row.image_id) ?? 0) + 1);
    const count = (id: string) => perImage.get(id) ?? 0;
    const du = diskUsage(this.store, count);
    const shared = new Map(du.images.map((i) => [i.id, i.sharedSize]));
    const summaries = imageSummaries(this.store, { all: true }, count).map((i) => ({ ...i, SharedSize: shared.get(i.Id) ?? 0 }));
    const vs = this.volumes;
    const volumes = vs.list().map((v) => {
      const size = treeSize(path.join(vs.dir, v.name));
      const refCount = vs.users(v.name).length;
      return { name: v.name, size, refCount, view: { ...vs.inspect(v.name), UsageData: { Size: size, RefCount: refCount } } };
    });
    return {
      layersSize: du.layersSize, images: du.images, activeImages: du.activeImages, reclaimable: du.reclaimable,
      imageSummaries: summaries,
      containers: all.map((c) => this.containers.summary(c, { size: true })),
      volumes,
      buildCache: buildCacheEntries(this.store),
    };
  }

  /**
   * Stopped containers, then (with `volumes`) every volume no container uses, as Docker
   * 20.10's `system prune --volumes`, then dangling images (unused ones with `all`) and what
   * interrupted operations left.
   */
  async prune(opts: { all?: boolean; volumes?: boolean; filters?: readonly string[] } = {}): Promise<SystemPruneResult> {
    // the filters go to every prune, as the docker CLI sends them: each one's unknown keys
    // are refused before anything is removed (volumes take no `until`: Docker's error)
    const filters = opts.filters ?? [];
    const now = Date.now();
    pruneFilter(filters, PRUNE_FILTERS.containers, now);
    if (opts.volumes) pruneFilter(filters, PRUNE_FILTERS.volumes, now);
    const labelled = filters.some((f) => f.startsWith('label'));
    const until = pruneFilter(filters, PRUNE_FILTERS.containers, now).until;
    const containers = await this.containers.prune(filters);
    const res: SystemPruneResult = { containers, networks: [], images: { deleted: [], untagged: [], reclaimed: 0 }, buildCache: { deleted: [], reclaimed: 0 }, reclaimed: containers.reclaimed };
    res.networks = await this.networks.prune(filters);
    if (opts.volumes) {
      res.volumes = this.volumes.prune(true, filters);
      res.reclaimed += res.volumes.reclaimed;
    }
    res.images = pruneImages(this.store, { all: !!opts.all, imageInUse: (id) => this.containers.usingImage(id).length > 0, filters });
    res.reclaimed += res.images.reclaimed;
    // then the build cache (Docker 20.10's system prune removes the unused build cache);
    // cache records carry no labels, so a label filter matches none of them
    if (!labelled) {
      res.buildCache = pruneBuildCache(this.store, { all: true, ...(until !== undefined ? { keepMs: Math.max(0, now - until) } : {}) });
      res.reclaimed += res.buildCache.reclaimed;
    }
    return res;
  }

  /**
   * Remove every container (and its volumes), every network with its host resources, then
   * the store itself and the runtime state under /run. The engine is closed afterwards.
   */
  async reset(): Promise<void> {
    for (const c of this.containers.all()) await this.containers.remove(c.id, { force: true, volumes: true });
    await this.networks.destroy();
    const root = this.store.root;
    // mounts an interrupted build left (build-tmp/): never delete through them
    const sys = this.store.sys;
    for (const m of sys.readMountInfo().map((x) => x.mountPoint).filter((p) => p.startsWith(root + '/')).sort((a, b) => b.length - a.length)) {
      await sys.unmount(m, { detach: true }).catch(() => undefined);
    }
    this.close();
    for (const name of fs.readdirSync(root)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
    fs.rmSync(runtimeDirFor(root, this.store.sys.runDir), { recursive: true, force: true }); // runc state and sockets under /run
  }

  /**
   * What a host runs once at boot (`system boot`, and `serve` as it starts): every container
   * reconciled with what is really running (a reboot leaves rows that say `running`), what
   * stopped containers left on the host released and swept, then the containers whose
   * restart policy asks for it started again, as dockerd does when it starts.
   */
  async boot(): Promise<BootResult> {
    const all = this.containers.all();
    await this.containers.settle();
    const live = new Set(all.filter((c) => this.containers.isLive(c)).map((c) => c.id));
    await this.networks.sweep(live);
    const res: BootResult = { started: [], failed: [] };
    for (const c of [...all].reverse()) { // oldest first
      if (!restartsAtBoot(c)) continue;
      try {
        await this.containers.start(c.id);
        res.started.push({ id: c.id, name: c.name });
      } catch (e) {
        res.failed.push({ id: c.id, name: c.name, error: e instanceof Error ? e.message : String(e) });
      }
    }
    return res;
  }

  /** `system check` (with `repair`: unreferenced blobs, layer dirs and tmp entries removed first). */
  check(opts: { repair?: boolean } = {}): Promise<CheckReport> {
    if (opts.repair) gcUnreferenced(this.store);
    return checkStore(this.store);
  }

  /** Counts for `/info`. */
  info(): { containers: number; running: number; paused: number; images: number; root: string } {
    const all = this.containers.all();
    const running = all.filter((c) => c.row.state === 'running' || c.row.state === 'restarting').length;
    const paused = all.filter((c) => c.row.state === 'paused').length;
    return { containers: all.length, running, paused, images: countImages(this.store.db), root: this.store.root };
  }
}
