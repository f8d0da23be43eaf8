/**
 * The builder's backend (build/backend.ts) on the engine's services.
 *
 *  - a step's rootfs is an overlay mount of the state's layer dirs under a small init layer
 *    (mount points for /dev, /proc, /sys and the /etc files bind-mounted into containers,
 *    so they never show up in a layer) with a fresh upper dir in tmp/;
 *  - RUN is a real runc container on that rootfs with Docker's default isolation
 *    (runtime/spec.ts), the build's network (a CNI bridge attachment, none, or host), its
 *    own hosts/hostname/resolv.conf files, and the step's mounts;
 *  - the upper dir becomes a layer exactly as `commit` makes one (packDir with the repack
 *    options, unpacked into a layer dir, the tar dropped when the dir re-packs to it);
 *  - the cache rows (meta/build-cache.ts) hold the layers their states list.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { StrataError } from '../base/errors.js';
import { fsyncDir, mkdirp, rmTree, writeFileAtomic } from '../base/fs.js';
import type { BaseImage, BuildBackend, CacheRecord, DirListing, LayerResult, ReadView, Rootfs, RunSpec } from '../build/backend.js';
import { type ExcludeFn, NoiseCollector, classifyNoise } from '../changes/index.js';
import { serializeImageConfig } from '../image/config.js';
import { parseTaggedReference } from '../image/reference.js';
import { MediaType, type ImageConfig } from '../image/types.js';
import { type PackStat, packDir, unpackLayer } from '../layer/index.js';
import { getCacheRow, putCacheRow, putImageSources } from '../meta/build-cache.js';
import { tx } from '../meta/db.js';
import { NetworkManager } from '../network/index.js';
import { Runc, buildSpec, runtimeDirFor, writeBundle, type MountOption } from '../runtime/index.js';
import { isMounted, mountOverlay, unmount } from '../snapshot/index.js';
import { generateId } from './names.js';
import { commitImage, imageLayers, loadConfig, type StagedLayer } from './images.js';
import { REPACK_MARKER, REPACK_OPTIONS } from './layer-tar.js';
import { takeCacheMount, withStepLock } from './build-locks.js';
import { ensureImage } from './pull.js';
import type { StoreRoot } from './store-root.js';
import { ensureLayerDirs } from './layer-dirs.js';

/** In a step's home: the ID of its RUN container (for the sweep of a build that was killed). */
const CONTAINER_ID = 'container-id';

/** The init layer: mount points a container needs, kept out of every step's upper dir. */
function makeInit(dir: string): void {
  for (const d of ['dev', 'proc', 'sys', 'etc']) mkdirp(path.join(dir, d));
  for (const f of ['etc/hosts', 'etc/hostname', 'etc/resolv.conf']) fs.writeFileSync(path.join(dir, f), '', { mode: 0o644 });
}

function defaultHosts(hostname: string, extra: readonly string[], ip = '127.0.1.1'): string {
  let s = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';
  for (const e of extra) { const i = e.lastIndexOf(':'); if (i > 0) s += `${e.slice(i + 1)}\t${e.slice(0, i)}\n`; }
  s += `${ip}\t${hostname}\n`;
  return s;
}

/** A network namespace on the default bridge, kept for the build's RUN steps. */
interface PooledNetns { id: string; path: string; ip: string; hosts: string }

function hostResolvConf(): string {
  let text = '';
  try { text = fs.readFileSync('/etc/resolv.conf', 'utf8'); } catch { /* none */ }
  const lines = text.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l));
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return lines.join('\n').replace(/\n*$/, '\n');
}

/** The paths (host side, outermost first) a set of mount targets would create in a rootfs. */
function mountStubs(rootfs: string, targets: readonly string[]): string[] {
  const out: string[] = [];
  for (const t of targets) {
    let cur = rootfs;
    for (const part of t.split('/').filter(Boolean)) {
      cur = path.join(cur, part);
      if (!fs.existsSync(cur)) { if (!out.includes(cur)) out.push(cur); }
    }
  }
  return out;
}

/** Remove stubs deepest first, only while they are empty (what the step wrote stays). */
function removeStubs(stubs: readonly string[]): void {
  for (const p of [...stubs].sort((a, b) => b.length - a.length)) {
    try {
      const st = fs.lstatSync(p);
      if (st.isDirectory()) { if (fs.readdirSync(p).length === 0) fs.rmdirSync(p); }
      else if (st.isFile() && st.size === 0) fs.unlinkSync(p);
    } catch { /* gone */ }
  }
}

/**
 * RUN containers of this process. On SIGINT/SIGTERM they are killed before the process
 * exits: runc in the foreground would forward the signal to the container's pid 1, which
 * ignores it, and the step would outlive the build.
 */
const live = new Map<string, Runc>(); // container id -> the runtime driver that runs it
let handlersInstalled = false;

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      for (const [id, runc] of live) {
        for (const args of [['kill', '--all', id, 'KILL'], ['delete', '--force', id]]) {
          try { runc.sys.runtimeRunSync(runc.binary, [...runc.globalArgs(), ...args]); } catch { /* exiting anyway */ }
        }
      }
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

interface BuildEngineOptions {
  /** the CNI manager for RUN's default network (none: RUN gets a loopback-only namespace) */
  network?: NetworkManager;
}

export class BuildEngine implements BuildBackend {
  private readonly runc: Runc;
  private readonly locks = new Map<string, Promise<unknown>>();

  /**
   * Step homes live in build-tmp/, not tmp/: an interrupted build can leave overlay mounts
   * there, which the store's tmp sweep would try to delete through. This sweep unmounts first.
   */
  private readonly scratchRoot: string;

  constructor(readonly store: StoreRoot, private readonly opts: BuildEngineOptions = {}) {
    this.runc = new Runc({ root: path.join(runtimeDirFor(store.root), 'runc') });
    this.scratchRoot = path.join(store.root, 'build-tmp');
    // a step's upper dir becomes a layer dir by rename: spread step homes over ext4's groups
    // like the store's other trees (StoreRoot.makeSpreadDir says why)
    store.makeSpreadDir(this.scratchRoot, 0o700);
  }

  private swept?: Promise<void>;

  /**
   * Remove what dead builds left: a RUN step's container (runc in the foreground outlives a
   * builder killed with SIGKILL) and its network attachment, then the mounts, then the dirs.
   * Every build runs it before its first step (resolveImage), so a build that is cached
   * throughout sweeps too.
   */
  private async sweep(): Promise<void> {
    let names: string[] = [];
    try { names = fs.readdirSync(this.scratchRoot); } catch { return; }
    const dead = names.filter((n) => {
      const pid = Number(/^(\d+)-/.exec(n)?.[1]);
      return !pid || (pid !== process.pid && !this.store.sys.processAlive(pid));
    });
    if (dead.length === 0) return;
    const mounts = this.store.sys.readMountInfo().map((m) => m.mountPoint);
    for (const n of dead) {
      const home = path.join(this.scratchRoot, n);
      // a network namespace a dead build kept for its RUN steps: named by its attachment's ID
      const pooled = /^\d+-netns-([0-9a-f]{64})\.hosts$/.exec(n)?.[1];
      if (pooled) await this.opts.network?.detach(pooled).catch(() => undefined);
      let id = '';
      try { id = fs.readFileSync(path.join(home, CONTAINER_ID), 'utf8').trim(); } catch { /* no RUN step began here */ }
      if (/^[0-9a-f]{64}$/.test(id)) {
        await this.runc.delete(id, { force: true }).catch(() => undefined);
        await this.opts.network?.detach(id).catch(() => undefined);
      }
      for (const m of mounts.filter((p) => p.startsWith(home + '/')).sort((a, b) => b.length - a.length)) {
        await this.store.sys.unmount(m, { detach: true }).catch(() => undefined);
      }
      rmTree(home);
    }
  }

  private makeTemp(kind: string): string {
    const p = path.join(this.scratchRoot, `${process.pid}-${kind}-${createHash('sha256').update(`${Date.now()}${Math.random()}`).digest('hex').slice(0, 12)}`);
    fs.mkdirSync(p, { mode: 0o700 });
    return p;
  }

  async resolveImage(name: string, o: { pull: boolean; platform?: string; log?: (line: string) => void }): Promise<BaseImage> {
    await (this.swept ??= this.sweep());
    const ensure: Parameters<typeof ensureImage>[2] = { pull: o.pull ? 'always' : 'missing', log: o.log ?? (() => undefined) };
    if (o.platform) ensure.platform = o.platform;
    const id = await ensureImage(this.store, name, ensure);
    return { id, config: loadConfig(this.store, id), diffIds: imageLayers(this.store, id).map((l) => l.diffId) };
  }

  private lowerDirs(diffIds: readonly string[]): string[] {
    return diffIds.map((d) => this.store.layerDir(d)).reverse();
  }

  async rootfs(diffIds: readonly string[]): Promise<Rootfs> {
    await (this.swept ??= this.sweep());
    await ensureLayerDirs(this.store, diffIds);
    const home = this.makeTemp('build');
    const dirs = { upper: path.join(home, 'upper'), work: path.join(home, 'work'), merged: path.join(home, 'merged'), init: path.join(home, 'init') };
    for (const d of Object.values(dirs)) mkdirp(d, 0o755);
    makeInit(dirs.init);
    try {
      await mountOverlay({ lowerDirs: [dirs.init, ...this.lowerDirs(diffIds)], upperDir: dirs.upper, workDir: dirs.work, target: dirs.merged, linkDir: path.join(this.store.root, 'l'), sys: this.store.sys });
    } catch (e) {
      rmTree(home);
      throw e;
    }
    const self = this;
    return {
      dir: dirs.merged,
      upper: dirs.upper,
      run: (spec) => self.runContainer(home, dirs.merged, spec),
      async commit(o) {
        // the step is over: unmount first, so the upper dir can become the layer dir as it is
        if (isMounted(dirs.merged, self.store.sys)) await unmount(dirs.merged, self.store.sys);
        return self.commitUpper(home, dirs.upper, o);
      },
      async release() {
        if (isMounted(dirs.merged, self.store.sys)) await unmount(dirs.merged, self.store.sys);
        rmTree(home);
      },
    };
  }

  async view(diffIds: readonly string[]): Promise<ReadView> {
    await (this.swept ??= this.sweep());
    const home = this.makeTemp('build-view');
    const empty = path.join(home, 'empty');
    const target = path.join(home, 'merged');
    mkdirp(empty, 0o755);
    mkdirp(target, 0o755);
    const lowers = this.lowerDirs(diffIds);
    const sys = this.store.sys;
    if (lowers.length === 0) return { dir: empty, release: async () => rmTree(home) };
    try {
      // a lower-only overlay needs two lower dirs: the empty one goes at the bottom
      await mountOverlay({ lowerDirs: [...lowers, empty], upperDir: '', workDir: '', target, linkDir: path.join(this.store.root, 'l'), readonly: true, sys });
    } catch (e) {
      rmTree(home);
      throw e;
    }
    return {
      dir: target,
      async release() {
        if (isMounted(target, sys)) await unmount(target, sys);
        rmTree(home);
      },
    };
  }

  /** A container for one RUN step: runc in the foreground, output piped back. */
  private async runContainer(home: string, rootfs: string, spec: RunSpec): Promise<number> {
    const id = generateId();
    // named before anything of it exists, so a sweep after a kill can find its container and netns
    writeFileAtomic(path.join(home, CONTAINER_ID), `${id}\n`);
    const hostname = id.slice(0, 12);
    const files = { hosts: path.join(home, 'hosts'), hostname: path.join(home, 'hostname'), resolv: path.join(home, 'resolv.conf') };
    writeFileAtomic(files.hostname, `${hostname}\n`);
    writeFileAtomic(files.resolv, this.opts.network && spec.network === 'default' ? this.opts.network.resolvConf() : hostResolvConf());
    writeFileAtomic(files.hosts, defaultHosts(hostname, spec.extraHosts));
    let network: string = spec.network === 'host' ? 'host' : 'new';
    let stubs: string[] = [];
    let netns: PooledNetns | undefined;
    if (spec.network === 'default' && this.opts.network) {
      netns = await this.takeNetns();
      network = netns.path;
      // the step's own hosts file: its hostname on the namespace's address
      writeFileAtomic(files.hosts, defaultHosts(hostname, spec.extraHosts, netns.ip));
    }
    try {
      const mounts: MountOption[] = spec.mounts.map((m) => {
        if (m.type === 'tmpfs') return { destination: m.target, type: 'tmpfs', options: ['nosuid', 'nodev', ...(m.size ? [`size=${m.size}`] : [])] };
        return { destination: m.target, source: m.source!, options: ['rbind', m.readonly ? 'ro' : 'rw'] };
      });
      const oci = buildSpec({
        id, rootfs, args: spec.args, env: spec.env, cwd: spec.cwd || '/', hostname, mounts, network,
        hostsFile: files.hosts, hostnameFile: files.hostname, resolvConfFile: files.resolv,
        ...(spec.user ? { user: spec.user } : {}),
      });
      writeBundle(home, oci);
      // mount points runc has to create stay out of the layer (BuildKit removes its stubs too)
      stubs = mountStubs(rootfs, spec.mounts.map((m) => m.target));
      mkdirp(this.runc.root, 0o700);
      installSignalHandlers();
      live.set(id, this.runc);
      const child = this.runc.sys.runtimeSpawn(this.runc.binary, [...this.runc.globalArgs(), 'run', '--bundle', home, id], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (b: Buffer) => spec.onOutput(b, 'stdout'));
      child.stderr!.on('data', (b: Buffer) => spec.onOutput(b, 'stderr'));
      const code = await new Promise<number>((resolve, reject) => {
        child.on('error', (e) => reject(new StrataError('failed_precondition', `cannot run ${this.runc.binary}: ${e.message}`)));
        child.on('close', (status, signal) => resolve(status ?? 128 + (signal ? (({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2 } as Record<string, number>)[signal] ?? 1) : 0)));
      });
      return code;
    } finally {
      try { await this.runc.delete(id, { force: true }); } catch { /* gone with the process */ }
      live.delete(id);
      removeStubs(stubs);
      if (netns) await this.giveBackNetns(netns);
    }
  }

  /**
   * RUN steps on the default network share network namespaces: one is attached (CNI ADD)
   * when no idle one is left, handed back when its step ends, and detached when the build
   * is over, so a build of N RUN steps pays for one attach, not N (two steps running at
   * once never share one).
   */
  private readonly idleNetns: PooledNetns[] = [];

  private async takeNetns(): Promise<PooledNetns> {
    const idle = this.idleNetns.pop();
    if (idle) return idle;
    const id = generateId();
    // the hosts file names the attachment before it exists: a sweep after a kill detaches it
    const hosts = path.join(this.scratchRoot, `${process.pid}-netns-${id}.hosts`);
    writeFileAtomic(hosts, '');
    let a: Awaited<ReturnType<NetworkManager['attach']>>;
    try {
      a = await this.opts.network!.attach(id, ['bridge'], [], { hostname: 'buildkitsandbox', name: `build-${id.slice(0, 12)}`, hostsPath: hosts });
    } catch (e) {
      fs.rmSync(hosts, { force: true });
      throw e;
    }
    const ns: PooledNetns = { id, path: a.netnsPath, ip: a.endpoints[0]?.ipAddress ?? '', hosts };
    return ns;
  }

  private closing = false;

  private async giveBackNetns(ns: PooledNetns): Promise<void> {
    if (!this.closing) { this.idleNetns.push(ns); return; }
    // a step that outlived its build (a failed stage beside it): its namespace goes now
    await this.dropNetns(ns);
  }

  private async dropNetns(ns: PooledNetns): Promise<void> {
    await this.opts.network!.detach(ns.id).catch(() => undefined);
    fs.rmSync(ns.hosts, { force: true });
  }

  async finish(): Promise<void> {
    this.closing = true;
    await Promise.all(this.idleNetns.splice(0).map((ns) => this.dropNetns(ns)));
  }

  /** The upper dir as a layer, the way commit makes one. */
  private async commitUpper(home: string, upper: string, o: { excludeNoise: boolean; epoch?: number }): Promise<LayerResult> {
    const tarPath = path.join(home, 'layer.tar');
    const noise = new NoiseCollector(upper);
    let oddWhiteouts = false;
    let excludedAny = false;
    const exclude: ExcludeFn = (p, st) => {
      const s = st as PackStat; // packDir's entries
      // layer dirs hold whiteouts as root-owned nodes; anything else goes through the tar
      if (s.isCharacterDevice() && s.rdev === 0 && (s.uid !== 0 || s.gid !== 0)) oddWhiteouts = true;
      const kind = classifyNoise(p, st);
      if (kind === undefined) return false;
      noise.add(p, s, kind, o.excludeNoise);
      if (o.excludeNoise) excludedAny = true;
      return o.excludeNoise;
    };
    const fd = fs.openSync(tarPath, 'w', 0o644);
    let packed: Awaited<ReturnType<typeof packDir>>;
    try {
      const popts: Parameters<typeof packDir>[2] = { ...REPACK_OPTIONS, exclude };
      if (o.epoch !== undefined) popts.sourceDateEpoch = o.epoch;
      packed = await packDir(upper, fd, popts);
    } finally {
      fs.closeSync(fd);
    }
    const report = noise.report();
    // BuildKit gives every RUN, COPY and WORKDIR a layer, an empty tar when nothing changed
    const diffId = packed.diffId;
    const db = this.store.db;
    const known = () => db.prepare('SELECT size FROM layers WHERE diff_id = ?').get(diffId) as { size: number } | undefined;
    const had = known();
    if (had) { rmTree(tarPath); return { diffId, size: had.size, noise: report }; }
    const staged = path.join(home, 'layer');
    const diffDir = path.join(staged, 'diff');
    let res: { contentSize: number; warnings: unknown[] };
    if (o.epoch === undefined && !oddWhiteouts && !excludedAny) {
      // an upper dir is already in the layer-dir format (whiteouts as 0/0 devices, opaque
      // xattrs) and nothing writes to it any more: it becomes the layer dir as it is
      mkdirp(staged, 0o700);
      fs.renameSync(upper, diffDir);
      res = { contentSize: packed.contentSize, warnings: [] };
    } else {
      // clamped times (SOURCE_DATE_EPOCH) exist only in the tar: the layer dir is unpacked from it
      mkdirp(diffDir, 0o755);
      const un = await unpackLayer(fs.createReadStream(tarPath, { highWaterMark: 1 << 20 }), diffDir, { mode: 'overlay' });
      if (un.diffId !== diffId) throw new StrataError('internal', `layer reads back as ${un.diffId}, packed as ${diffId}`);
      res = un;
    }
    const keepBlob = res.warnings.length > 0;
    if (keepBlob) {
      if (!this.store.content.has(diffId)) {
        const bfd = fs.openSync(tarPath, 'r');
        try { fs.fsyncSync(bfd); } finally { fs.closeSync(bfd); }
        fs.renameSync(tarPath, this.store.content.pathOf(diffId));
        fsyncDir(this.store.content.blobDir);
      }
    } else fs.writeFileSync(path.join(staged, REPACK_MARKER), `${diffId}\n`);
    rmTree(tarPath);
    tx(db, () => {
      if (known()) return;
      const dest = this.store.layerHome(diffId);
      rmTree(dest);
      fs.renameSync(staged, dest);
      db.prepare('INSERT INTO layers (diff_id, size, tar_size, created) VALUES (?, ?, ?, ?)').run(diffId, res.contentSize, packed.size, Date.now());
      if (keepBlob) db.prepare('INSERT OR IGNORE INTO layer_blobs (digest, diff_id, media_type, size) VALUES (?, ?, ?, ?)').run(diffId, diffId, MediaType.OciLayer, packed.size);
      // held by nothing until the step's cache row lands: a row for the step itself does it now
      db.prepare(`INSERT OR IGNORE INTO build_cache (key, parent, description, config, diff_ids, layer, size, created, last_used)
        VALUES (?, '', 'pending layer', '{}', ?, ?, ?, ?, ?)`).run(`pending:${diffId}`, JSON.stringify([diffId]), diffId, res.contentSize, Date.now(), Date.now());
      db.prepare('INSERT OR IGNORE INTO build_cache_layers (key, diff_id) VALUES (?, ?)').run(`pending:${diffId}`, diffId);
    });
    fsyncDir(this.store.layersDir);
    return { diffId, size: res.contentSize, noise: report };
  }

  writeImage(config: ImageConfig, diffIds: readonly string[], tags: readonly string[], sources: readonly string[]): string {
    const rows = new Map((this.store.db.prepare(`SELECT diff_id AS diffId, size, tar_size AS tarSize FROM layers WHERE diff_id IN (${diffIds.map(() => '?').join(',') || "''"})`).all(...diffIds) as StagedLayer[]).map((r) => [r.diffId, r]));
    const layers: StagedLayer[] = diffIds.map((d) => {
      const r = rows.get(d);
      if (!r) throw new StrataError('not_found', `layer ${d} is missing from the store`);
      return r;
    });
    const img: Parameters<typeof commitImage>[1] = { configBytes: serializeImageConfig(config), layers, tags: tags.map((t) => parseTaggedReference(t)) };
    const id = commitImage(this.store, img);
    // the pending holds of these layers are now the image's; provenance beside the image
    tx(this.store.db, () => {
      putImageSources(this.store.db, id, sources);
      for (const d of diffIds) this.store.db.prepare('DELETE FROM build_cache WHERE key = ?').run(`pending:${d}`);
    });
    return id;
  }

  cacheGet(key: string): CacheRecord | undefined {
    const row = getCacheRow(this.store.db, key);
    if (!row) return undefined;
    const diffIds = JSON.parse(row.diff_ids) as string[];
    // a state whose layers are gone (a crash mid-prune) is no hit
    for (const d of diffIds) if (!this.store.db.prepare('SELECT 1 FROM layers WHERE diff_id = ?').get(d)) return undefined;
    return { key: row.key, parent: row.parent, description: row.description, config: JSON.parse(row.config) as ImageConfig, diffIds, layer: row.layer ?? undefined, size: row.size, sources: JSON.parse(row.sources) as string[] };
  }

  cachePut(rec: CacheRecord): void {
    tx(this.store.db, () => {
      putCacheRow(this.store.db, { key: rec.key, parent: rec.parent, description: rec.description, config: JSON.stringify(rec.config), diff_ids: JSON.stringify(rec.diffIds), layer: rec.layer ?? null, size: rec.size, sources: JSON.stringify(rec.sources) });
      if (rec.layer) this.store.db.prepare('DELETE FROM build_cache WHERE key = ?').run(`pending:${rec.layer}`);
    });
  }

  cacheMount(id: string, sharing: 'shared' | 'private' | 'locked'): Promise<{ dir: string; release(): void }> {
    return takeCacheMount(this.store, id, sharing, (k, fn) => this.lock(k, fn));
  }

  scratch(kind: string): string {
    return this.makeTemp(kind);
  }

  lock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return withStepLock(this.store, this.locks, key, fn);
  }

  lstatDir(dir: string): DirListing | null {
    return this.store.sys.lstatDir(dir);
  }

  lstatDirAsync(dir: string): Promise<DirListing> | null {
    return this.store.sys.lstatDirAsync(dir);
  }

  hashCacheFile(contextDir: string): string {
    const dir = path.join(this.store.root, 'build-hashes');
    mkdirp(dir, 0o700);
    return path.join(dir, createHash('sha256').update(path.resolve(contextDir)).digest('hex').slice(0, 32) + '.json');
  }

  checkTag(tag: string): void {
    const ref = parseTaggedReference(tag);
    if (ref.digest) throw new StrataError('invalid_argument', `invalid reference format`);
  }
}
