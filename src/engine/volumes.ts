/**
 * Volumes: named (`-v NAME:/path`), anonymous (`-v /path`, image VOLUMEs), binds
 * (`-v /host:/path`) and `--mount`. A volume is `volumes/<name>/_data`; its contents never
 * enter the container's upper dir, so never `diff` or `commit` (as in Docker).
 */
import { PRUNE_FILTERS, pruneFilter } from './filters.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { conflict, invalidArgument, notFound } from '../base/errors.js';
import { mkdirp, rmTree, treeSize } from '../base/fs.js';
import { tx } from '../meta/db.js';
import { linuxSys, type Sys } from '../sys/index.js';
import {
  allVolumes, deleteVolume, insertVolume, releaseContainerVolumes, setVolumeAt, volumeAt, volumeByName, volumesOfContainer, volumeUsers,
  type VolumeRow,
} from '../meta/volumes.js';
import { rfc3339Nano } from '../image/config.js';
import type { MountOption } from '../runtime/index.js';
import type { Container, Volumes } from './container-model.js';
import type { HostConfig, MountSpec } from './create-spec.js';
import { generateId } from './names.js';
import type { StoreRoot } from './store-root.js';
import { listVolumes } from './listing.js';
import { urandom } from '../base/random.js';

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

interface ParsedMount {
  kind: 'bind' | 'volume';
  source: string;          // host path for binds, volume name ('' = anonymous) for volumes
  destination: string;
  readOnly: boolean;
}

/** Docker's `-v` grammar: /host:/ctr[:ro|rw], name:/ctr[:opts], /ctr. */
function parseBind(spec: string): ParsedMount {
  const parts = spec.split(':');
  const bad = (why: string) => invalidArgument(`invalid volume specification: '${spec}'${why ? `: ${why}` : ''}`);
  if (parts.some((p) => p === '') || parts.length > 3) throw bad('');
  let src = '';
  let dst: string;
  let mode = '';
  if (parts.length === 1) dst = parts[0]!;
  else if (parts.length === 2) {
    if (parts[1]!.startsWith('/')) { src = parts[0]!; dst = parts[1]!; } else { dst = parts[0]!; mode = parts[1]!; }
  } else { src = parts[0]!; dst = parts[1]!; mode = parts[2]!; }
  if (!dst.startsWith('/')) throw bad(`invalid mount config for type "${src.startsWith('/') || !src ? 'bind' : 'volume'}": invalid mount path: '${dst}' mount path must be absolute`);
  const modes = mode ? mode.split(',') : [];
  for (const m of modes) if (!/^(ro|rw|z|Z|shared|rshared|slave|rslave|private|rprivate|nocopy)$/.test(m)) throw bad(`invalid mode: ${m}`);
  const readOnly = modes.includes('ro');
  if (!src) return { kind: 'volume', source: '', destination: path.posix.normalize(dst), readOnly };
  if (src.startsWith('/')) return { kind: 'bind', source: path.resolve(src), destination: path.posix.normalize(dst), readOnly };
  if (!VOLUME_NAME.test(src)) throw invalidArgument(`create ${src}: "${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  return { kind: 'volume', source: src, destination: path.posix.normalize(dst), readOnly };
}

function fromMountSpec(m: MountSpec): ParsedMount | undefined {
  if (m.Type === 'tmpfs') return undefined;
  if (!m.Target.startsWith('/')) throw invalidArgument(`invalid mount config for type "${m.Type}": invalid mount path: '${m.Target}' mount path must be absolute`);
  if (m.Type === 'bind') {
    const src = path.resolve(m.Source ?? '');
    if (!fs.existsSync(src)) throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${src}`);
    return { kind: 'bind', source: src, destination: m.Target, readOnly: !!m.ReadOnly };
  }
  return { kind: 'volume', source: m.Source ?? '', destination: m.Target, readOnly: !!m.ReadOnly };
}

/** Every -v/--mount of a host config, parsed (throws Docker's errors: used at create time). */
export function parseMounts(hc: Partial<HostConfig>): ParsedMount[] {
  const out: ParsedMount[] = [];
  for (const b of hc.Binds ?? []) out.push(parseBind(b));
  for (const m of hc.Mounts ?? []) { const p = fromMountSpec(m); if (p) out.push(p); }
  const seen = new Set<string>();
  for (const m of out) {
    if (seen.has(m.destination)) throw invalidArgument(`Duplicate mount point: ${m.destination}`);
    seen.add(m.destination);
  }
  return out;
}

export class VolumeStore implements Volumes {
  readonly dir: string;
  constructor(readonly store: StoreRoot, readonly sys: Sys = linuxSys) {
    this.dir = path.join(store.root, 'volumes');
    store.makeSpreadDir(this.dir, 0o700);
  }

  dataDir(name: string): string { return path.join(this.dir, name, '_data'); }

  create(name?: string, opts: { labels?: Record<string, string>; anonymous?: boolean } = {}): VolumeRow {
    const n = name || generateId();
    if (!VOLUME_NAME.test(n)) throw invalidArgument(`create ${n}: "${n}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
    let stale: string | undefined;
    const row = tx(this.store.db, () => {
      const existing = this.find(n);
      if (existing) return existing;
      // a directory with no row was left by a run killed mid-way: a new volume starts empty
      if (fs.existsSync(path.join(this.dir, n))) stale = this.toTrash(n);
      mkdirp(this.dataDir(n), 0o755);
      insertVolume(this.store.db, { name: n, created: rfc3339Nano(), labels: JSON.stringify(opts.labels ?? {}), anonymous: opts.anonymous ? 1 : 0 });
      return this.find(n)!;
    });
    if (stale) rmTree(stale);
    return row;
  }

  find(name: string): VolumeRow | undefined {
    return volumeByName(this.store.db, name);
  }

  /** `volume ls --filter` / `GET /volumes?filters=`: Docker's keys and rules (engine/listing.ts). */
  query(filters: readonly string[] = []): VolumeRow[] {
    return listVolumes(this, filters);
  }

  list(): VolumeRow[] {
    return allVolumes(this.store.db);
  }

  users(name: string): string[] {
    return volumeUsers(this.store.db, name);
  }

  remove(name: string, force = false): void {
    const trash = tx(this.store.db, () => {
      const v = this.find(name);
      if (!v) { if (force) return undefined; throw notFound(`get ${name}: no such volume`); }
      const users = this.users(name);
      if (users.length) throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
      return this.unlink(name);
    });
    if (trash) rmTree(trash);
    this.sweepTrash();
  }

  /**
   * Inside the caller's transaction: the row goes and the directory leaves volumes/ in one
   * rename, so a removal killed at any point leaves the volume whole or a trash dir in tmp/
   * (reclaimed by `system prune` and the next volume removal) - never a half-deleted
   * directory under a name a new volume would take over. Returns what to delete.
   */
  private unlink(name: string): string | undefined {
    deleteVolume(this.store.db, name);
    return this.toTrash(name);
  }

  private toTrash(name: string): string | undefined {
    const dir = path.join(this.dir, name);
    const trash = path.join(this.store.tmpDir, `${process.pid}-trash-vol-${urandom(6).toString('hex')}`);
    try {
      fs.renameSync(dir, trash);
      return trash;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'EXDEV') return dir; // volumes/ on another filesystem: delete in place
      throw e;
    }
  }

  /** Trash of volume removals whose process was killed before it deleted it. */
  private sweepTrash(): void {
    let names: string[] = [];
    try { names = fs.readdirSync(this.store.tmpDir); } catch { return; }
    for (const n of names) {
      const m = /^(\d+)-trash-vol-/.exec(n);
      if (m && Number(m[1]) !== process.pid && !this.sys.processAlive(Number(m[1]))) rmTree(path.join(this.store.tmpDir, n));
    }
  }

  /** Volumes no container refers to (anonymous ones only unless `all`). */
  prune(all = false, filters?: readonly string[]): { deleted: string[]; reclaimed: number } {
    const pf = pruneFilter(filters, PRUNE_FILTERS.volumes);
    // the `all` filter (API 1.42) decides when given
    const allFilter = (filters ?? []).filter((f) => f.startsWith('all='));
    if (allFilter.length) all = allFilter.some((f) => ['true', '1'].includes(f.slice(4).toLowerCase()));
    const out = { deleted: [] as string[], reclaimed: 0 };
    for (const v of this.list()) {
      if (!all && !v.anonymous) continue;
      if (!pf.labels(JSON.parse(v.labels) as Record<string, string>)) continue;
      if (this.users(v.name).length) continue;
      out.reclaimed += treeSize(path.join(this.dir, v.name));
      this.remove(v.name);
      out.deleted.push(v.name);
    }
    return out;
  }

  inspect(name: string): Record<string, unknown> {
    const v = this.find(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return { CreatedAt: v.created.replace(/\.\d+Z$/, 'Z'), Driver: 'local', Labels: JSON.parse(v.labels), Mountpoint: this.dataDir(v.name), Name: v.name, Options: null, Scope: 'local' };
  }

  mountsFor(c: Container, imageVolumes: string[]): MountOption[] {
    const parsed = parseMounts(c.hostConfig);
    const dests = new Set(parsed.map((p) => p.destination));
    for (const v of imageVolumes) if (!dests.has(path.posix.normalize(v))) parsed.push({ kind: 'volume', source: '', destination: path.posix.normalize(v), readOnly: false });
    const rootfs = path.join(c.dir, 'merged');
    const out: MountOption[] = [];
    for (const m of parsed) {
      if (m.kind === 'bind') {
        if (!fs.existsSync(m.source)) mkdirp(m.source, 0o755); // as `docker run -v /missing:/x` does
        out.push({ source: m.source, destination: m.destination, options: ['rbind', m.readOnly ? 'ro' : 'rw'] });
        continue;
      }
      const name = this.volumeFor(c, m);
      mkdirp(this.dataDir(name), 0o755); // a removal killed between its rename and its commit left the row alone
      out.push({ source: this.dataDir(name), destination: m.destination, options: ['rbind', m.readOnly ? 'ro' : 'rw'] });
    }
    // new volumes start with the image's content at the mount point (Docker's copy-up)
    for (const m of out) {
      const vol = m.source?.startsWith(this.dir + path.sep) ? m.source : undefined;
      if (!vol || fs.readdirSync(vol).length) continue;
      const inImage = path.join(rootfs, m.destination);
      try {
        if (fs.lstatSync(inImage).isDirectory() && fs.readdirSync(inImage).length) this.sys.copyTree(inImage, vol);
      } catch { /* nothing in the image there */ }
    }
    return out;
  }

  /** Container path -> host path for its volumes and binds (for cp). */
  mountTable(c: Container): { destination: string; source: string }[] {
    const out: { destination: string; source: string }[] = [];
    for (const r of volumesOfContainer(this.store.db, c.id)) {
      out.push({ destination: r.destination, source: this.dataDir(r.volume) });
    }
    for (const m of parseMounts(c.hostConfig)) if (m.kind === 'bind') out.push({ destination: m.destination, source: m.source });
    return out;
  }

  private volumeFor(c: Container, m: ParsedMount): string {
    const db = this.store.db;
    return tx(db, () => {
      const existing = volumeAt(db, c.id, m.destination);
      if (existing && (m.source === '' || existing === m.source)) return existing;
      const v = this.create(m.source || undefined, { anonymous: m.source === '' });
      setVolumeAt(db, c.id, v.name, m.destination);
      return v.name;
    });
  }

  /** The container's volume rows go; with `removeAnonymous` its anonymous volumes too, in the same transaction. */
  release(c: Container, removeAnonymous: boolean): void {
    const trash = tx(this.store.db, () => {
      const rows = releaseContainerVolumes(this.store.db, c.id);
      if (!removeAnonymous) return [];
      return rows.filter((r) => r.anonymous && !this.users(r.name).length).map((r) => this.unlink(r.name)).filter((t): t is string => !!t);
    });
    for (const t of trash) rmTree(t);
    if (trash.length) this.sweepTrash();
  }
}
