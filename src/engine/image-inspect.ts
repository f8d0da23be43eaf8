/** `image inspect` and `history`: Docker's JSON views of an image. */
import { familiarString, parseReference } from '../image/reference.js';
import { ZERO_TIME } from '../image/config.js';
import { imageById, type ImageRow } from '../meta/images.js';
import { imageLayers, loadConfig, repoDigestsOf, resolveImage, tagsOf } from './images.js';
import type { StoreRoot } from './store-root.js';
import { imageSources } from '../meta/build-cache.js';

/** Docker's image inspect shape (API 1.41). */
export function inspectImage(store: StoreRoot, input: string): Record<string, unknown> {
  const img = resolveImage(store, input);
  const cfg = loadConfig(store, img.id);
  const layers = imageLayers(store, img.id);
  const history = cfg.history ?? [];
  const top = layers.length ? store.layerDir(layers[layers.length - 1]!.diffId) : '';
  const lower = layers.slice(0, -1).reverse().map((l) => store.layerDir(l.diffId)).join(':');
  const graph: Record<string, string> = { MergedDir: '', UpperDir: top, WorkDir: '' };
  if (lower) graph.LowerDir = lower;
  return {
    Id: img.id,
    RepoTags: tagsOf(store, img.id).map((t) => familiarString(parseReference(t))),
    RepoDigests: repoDigestsOf(store, img.id).map((t) => familiarString(parseReference(t))),
    Parent: img.parent ?? '',
    Comment: history.length ? (history[history.length - 1]!.comment ?? '') : (cfg.comment ?? ''),
    Created: cfg.created ?? ZERO_TIME,
    Container: cfg.container ?? '',
    ContainerConfig: cfg.container_config ?? emptyConfigShape(),
    DockerVersion: cfg.docker_version ?? '',
    Author: cfg.author ?? '',
    Config: cfg.config,
    Architecture: cfg.architecture,
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os,
    Size: img.size,
    VirtualSize: img.size,
    GraphDriver: { Data: sortObj(graph), Name: 'overlay' },
    RootFS: { Type: 'layers', Layers: cfg.rootfs.diff_ids },
    Metadata: { LastTagTime: img.last_tag_time ?? ZERO_TIME },
  };
}

function sortObj(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function emptyConfigShape(): Record<string, unknown> {
  return { Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false, Tty: false, OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Image: '', Volumes: null, WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: null };
}

export interface HistoryRow {
  id: string;          // image ID or <missing>
  created: number;     // unix seconds
  createdBy: string;
  size: number;
  comment: string;
  tags: string[];
  /** where a build took it from ('Dockerfile:3'), '' when unknown */
  source: string;
}

/** One row per history entry, newest first, labelled by walking the local parent chain. */
export function imageHistory(store: StoreRoot, input: string): HistoryRow[] {
  const img = resolveImage(store, input);
  const cfg = loadConfig(store, img.id);
  const layers = imageLayers(store, img.id);
  const entries = cfg.history && cfg.history.length ? cfg.history : cfg.rootfs.diff_ids.map(() => ({} as { created?: string }));
  let li = 0;
  const sources = imageSources(store.db, img.id, entries.length);
  const rows = entries.map((h, idx) => {
    const e = h as { created?: string; created_by?: string; comment?: string; empty_layer?: boolean };
    const size = e.empty_layer ? 0 : (layers[li++]?.size ?? 0);
    const t = e.created ? Date.parse(e.created) : NaN;
    return { id: '<missing>', created: Number.isFinite(t) ? Math.floor(t / 1000) : 0, createdBy: e.created_by ?? '', size, comment: e.comment ?? '', tags: [] as string[], source: sources[idx] ?? '' };
  }).reverse();
  let cur: ImageRow | undefined = img;
  for (const r of rows) {
    if (!cur) break;
    r.id = cur.id;
    r.tags = tagsOf(store, cur.id).map((t) => familiarString(parseReference(t)));
    cur = cur.parent ? imageById(store.db, cur.parent) : undefined;
  }
  return rows;
}
