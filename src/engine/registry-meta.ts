/**
 * What the store remembers about registries: where blobs were seen (for cross-repository
 * mounts on push), and the JSON progress messages pull and push emit.
 */
import { progressBar, type JSONMessage } from '../format/index.js';
import { hexOf } from '../image/digest.js';
import { tx } from '../meta/db.js';
import { otherRepositoriesWith, upsertBlobSources } from '../meta/blob-sources.js';
import type { StoreRoot } from './store-root.js';

/** Remember that these blobs exist in registry/repository (after a pull or a push). */
export function recordBlobSources(store: StoreRoot, registry: string, repository: string, digests: string[]): void {
  const now = Date.now();
  tx(store.db, () => {
    upsertBlobSources(store.db, registry, repository, new Set(digests), now);
  });
}

/** Other repositories of the same registry known to hold a blob, most recent first. */
export function mountCandidates(store: StoreRoot, registry: string, repository: string, digest: string, limit = 3): string[] {
  return otherRepositoriesWith(store.db, registry, repository, digest, limit);
}

export type ProgressFn = (m: JSONMessage) => void;

/** Docker's short layer id: 12 hex digits. */
export function shortId(digest: string): string {
  return hexOf(digest).slice(0, 12);
}

export function statusMsg(id: string, status: string): JSONMessage {
  return { status, progressDetail: {}, id };
}

function progressMsg(id: string, status: string, current: number, total: number): JSONMessage {
  return { status, progressDetail: { current, total }, progress: progressBar(current, total), id };
}

/** Progress updates at most every `ms` per layer (and always the last one). */
export function throttled(emit: ProgressFn, id: string, status: string, total: number, ms = 100): (current: number) => void {
  let last = 0;
  return (current: number) => {
    const now = Date.now();
    if (now - last < ms && current < total) return;
    last = now;
    emit(progressMsg(id, status, current, total));
  };
}

/** Run `fn` over items with at most `n` in flight; the first failure is thrown after all settle. */
export async function runLimited<T>(items: T[], n: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const i = next++;
      try { await fn(items[i]!, i); } catch (e) { failure ??= { e }; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure) throw failure.e;
}
