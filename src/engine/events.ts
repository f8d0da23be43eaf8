/**
 * Engine events (Docker's `/events`): container create/start/die/destroy/..., image
 * pull/tag/untag/delete/import/load.
 *
 * The CLI is daemonless, so an event may happen in any process. Every event is therefore
 * written to a small journal in the store (table `events`, trimmed to the newest
 * JOURNAL_KEEP rows) and also announced on an in-process bus; a reader (`/events`) replays
 * the journal and then tails it, so it sees events of every process that shares the store.
 */
import { EventEmitter } from 'node:events';
import { appendEvent, eventRows, lastEventRow, type EventRow } from '../meta/events.js';
import type { StoreRoot } from './store-root.js';

type EventType = 'container' | 'image' | 'network' | 'volume';

export interface EngineEvent {
  /** Journal position (monotonic per store). */
  seq: number;
  type: EventType;
  action: string;
  /** Container ID, image ID or reference. */
  id: string;
  attributes: Record<string, string>;
  /** Nanoseconds since the epoch. */
  timeNano: bigint;
}

const JOURNAL_KEEP = 10000;

const bus = new EventEmitter();
bus.setMaxListeners(0);

let lastNano = 0n;
function nowNano(): bigint {
  const t = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  lastNano = t > lastNano ? t : lastNano + 1n;
  return lastNano;
}

/**
 * Record an event. Never throws: an event that cannot be written (a locked or read-only
 * store) must not fail the operation it describes.
 */
export function emitEvent(store: StoreRoot, type: EventType, action: string, id: string, attributes: Record<string, string> = {}): void {
  try {
    const timeNano = nowNano();
    const seq = appendEvent(store.db, { timeNano, type, action, id, attributes: JSON.stringify(attributes) }, JOURNAL_KEEP);
    bus.emit('event', { store: store.root, event: { seq, type, action, id, attributes, timeNano } });
  } catch {
    // best effort
  }
}

function fromRow(r: EventRow): EngineEvent {
  return { seq: r.seq, type: r.type as EventType, action: r.action, id: r.actor_id, attributes: JSON.parse(r.attributes) as Record<string, string>, timeNano: BigInt(r.time_nano) };
}

/** Journal entries after `afterSeq` (oldest first), optionally from a time on. */
export function readEvents(store: StoreRoot, opts: { afterSeq?: number; sinceNano?: bigint; untilNano?: bigint; limit?: number } = {}): EngineEvent[] {
  return eventRows(store.db, opts.afterSeq ?? 0, opts.sinceNano ?? 0n, opts.untilNano ?? 9_000_000_000_000_000_000n, opts.limit ?? 100000).map(fromRow);
}

/** The newest journal position (0 when empty). */
export function lastEventSeq(store: StoreRoot): number {
  return lastEventRow(store.db);
}

/**
 * Follow the journal: calls `onEvent` for every event after `afterSeq` until `signal`
 * aborts. Events of this process arrive at once through the bus; those of other
 * processes within `pollMs`.
 */
export async function followEvents(store: StoreRoot, afterSeq: number, onEvent: (e: EngineEvent) => void, signal: AbortSignal, pollMs = 250): Promise<void> {
  let seq = afterSeq;
  let wake: (() => void) | undefined;
  const onBus = (m: { store: string }) => { if (m.store === store.root) wake?.(); };
  bus.on('event', onBus);
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    while (!signal.aborted) {
      for (const e of readEvents(store, { afterSeq: seq })) {
        seq = e.seq;
        onEvent(e);
      }
      if (signal.aborted) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pollMs);
        wake = () => { clearTimeout(t); resolve(); };
      });
    }
  } finally {
    bus.off('event', onBus);
    signal.removeEventListener('abort', onAbort);
  }
}
