/**
 * Build cache management (`system df -v`, `builder prune`) and build contexts that arrive
 * as a stream.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { StrataError } from '../base/errors.js';
import { mkdirp, rmTree } from '../base/fs.js';
import { cacheHoldsLayer, deleteCacheRows, listCacheRows } from '../meta/build-cache.js';
import { tx } from '../meta/db.js';
import { unpackLayer } from '../layer/index.js';
import { deleteLayerFiles, type OrphanLayer } from './images.js';
import type { StoreRoot } from './store-root.js';

// ---------------------------------------------------------------- cache management

export interface BuildCacheEntry {
  id: string;
  description: string;
  size: number;
  created: number;
  lastUsed: number;
  usageCount: number;
  inUse: boolean;
  shared: boolean;
  type: string;
}

/** The cache rows as `system df -v` / the API list them. */
export function buildCacheEntries(store: StoreRoot): BuildCacheEntry[] {
  const db = store.db;
  const held = new Set((db.prepare('SELECT DISTINCT diff_id FROM image_layers').all() as { diff_id: string }[]).map((r) => r.diff_id));
  return listCacheRows(db).filter((r) => !r.key.startsWith('pending:')).map((r) => ({
    id: r.key.replace(/^sha256:/, '').slice(0, 25),
    description: r.description,
    size: r.size,
    created: r.created,
    lastUsed: r.last_used,
    usageCount: r.usage_count,
    inUse: false,
    shared: r.layer ? held.has(r.layer) : false,
    type: 'regular',
  }));
}

/** `builder prune`: drop cache rows (all, or older than `until` ms ago), then the layers nothing lists. */
export function pruneBuildCache(store: StoreRoot, opts: { all?: boolean; keepMs?: number } = {}): { deleted: string[]; reclaimed: number } {
  const db = store.db;
  const orphans: OrphanLayer[] = [];
  const deleted: string[] = [];
  let reclaimed = 0;
  tx(db, () => {
    const before = opts.keepMs !== undefined ? Date.now() - opts.keepMs : undefined;
    const rows = deleteCacheRows(db, before !== undefined ? { before } : {});
    const candidates = new Set<string>();
    for (const r of rows) {
      if (!r.key.startsWith('pending:')) deleted.push(r.key.replace(/^sha256:/, '').slice(0, 25));
      for (const d of JSON.parse(r.diff_ids) as string[]) candidates.add(d);
    }
    for (const d of candidates) {
      if (db.prepare('SELECT 1 FROM image_layers WHERE diff_id = ? LIMIT 1').get(d)) continue;
      if (cacheHoldsLayer(db, d)) continue;
      const row = db.prepare('SELECT size FROM layers WHERE diff_id = ?').get(d) as { size: number } | undefined;
      if (!row) continue;
      reclaimed += row.size;
      const blobs = (db.prepare('SELECT digest FROM layer_blobs WHERE diff_id = ?').all(d) as { digest: string }[]).map((b) => b.digest);
      db.prepare('DELETE FROM layer_blobs WHERE diff_id = ?').run(d);
      db.prepare('DELETE FROM layers WHERE diff_id = ?').run(d);
      orphans.push({ diffId: d, blobs });
    }
  });
  for (const o of orphans) deleteLayerFiles(store, o);
  if (opts.all !== false) {
    const mounts = path.join(store.root, 'build-mounts');
    if (fs.existsSync(mounts)) {
      for (const n of fs.readdirSync(mounts)) { reclaimed += dirBytes(path.join(mounts, n)); rmTree(path.join(mounts, n)); deleted.push(n.slice(0, 25)); }
    }
  }
  return { deleted, reclaimed };
}

function dirBytes(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else { try { n += fs.lstatSync(p).size; } catch { /* gone */ } }
    }
  };
  try { walk(dir); } catch { /* none */ }
  return n;
}

// ---------------------------------------------------------------- contexts

/**
 * A build context that arrives as a stream (`build -`, the API's body): a tar (plain or
 * compressed) is extracted into a scratch dir; anything else is taken as the Dockerfile
 * itself with an empty context. The caller removes `dir`.
 */
export async function contextFromStream(store: StoreRoot, input: NodeJS.ReadableStream): Promise<{ dir: string; dockerfileText?: string }> {
  const dir = store.makeTemp('build-context');
  const file = path.join(dir, 'context.tar');
  const ctx = path.join(dir, 'context');
  mkdirp(ctx, 0o755);
  await pipeline(input, fs.createWriteStream(file));
  const head = Buffer.alloc(512);
  const fd = fs.openSync(file, 'r');
  let n = 0;
  try { n = fs.readSync(fd, head, 0, 512, 0); } finally { fs.closeSync(fd); }
  const isTar = n >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
  const compressed = (head[0] === 0x1f && head[1] === 0x8b) || head.subarray(0, 3).toString('latin1') === 'BZh' || head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (!isTar && !compressed) {
    const text = fs.readFileSync(file, 'utf8');
    fs.rmSync(file);
    return { dir: ctx, dockerfileText: text };
  }
  // Strata's own tar reader (plain, gzip, zstd), confined to the context dir; bzip2 and xz
  // (which Docker's daemon also takes) are decompressed by their tools into it
  const other = head[0] === 0x42 ? 'bzip2' : head[0] === 0xfd ? 'xz' : undefined;
  let tool: ChildProcess | undefined;
  let toolErr = '';
  try {
    let input: NodeJS.ReadableStream;
    if (other) {
      tool = spawn(other, ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      tool.stderr!.on('data', (b: Buffer) => { toolErr += b.toString(); });
      input = tool.stdout!;
    } else input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    await unpackLayer(input, ctx, { mode: 'plain', sys: store.sys });
    if (tool && tool.exitCode === null) await new Promise((r) => tool!.once('close', r));
    if (tool && tool.exitCode !== 0) throw new Error(toolErr.trim() || `${other} exited with ${tool.exitCode}`);
  } catch (e) {
    tool?.kill();
    throw new StrataError('invalid_argument', `failed to read build context: ${(e as Error).message}`);
  } finally {
    fs.rmSync(file, { force: true });
  }
  return { dir: ctx };
}

/** Remove a context made by contextFromStream. */
export function releaseContext(dir: string): void {
  rmTree(path.dirname(dir));
}
