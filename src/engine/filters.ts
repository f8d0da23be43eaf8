/**
 * Docker's list filters (`--filter key=value`, the API's `filters`): several values of one
 * key match if any matches, different keys must all match, except `label`, where every
 * value must match (`label=a --filter label=b` lists what has both, as the daemon does).
 * Unknown keys are refused with the daemon's words: `Invalid filter 'key'`.
 */
import { invalidArgument } from '../base/errors.js';

type FilterArgs = Map<string, string[]>;

/** `key=value` strings as a map, refusing keys not in `accepted`. */
export function filterArgs(list: readonly string[] | undefined, accepted: readonly string[]): FilterArgs {
  const m: FilterArgs = new Map();
  for (const f of list ?? []) {
    const i = f.indexOf('=');
    const k = (i < 0 ? f : f.slice(0, i)).trim();
    const v = i < 0 ? '' : f.slice(i + 1);
    if (!accepted.includes(k)) throw invalidArgument(`Invalid filter '${k}'`);
    const a = m.get(k);
    if (a) a.push(v); else m.set(k, [v]);
  }
  return m;
}

/** Any value of `key` passes `test` (true when the key is not filtered on). */
export function matchAny(f: FilterArgs, key: string, test: (v: string) => boolean): boolean {
  const vals = f.get(key);
  return !vals || vals.some(test);
}

/** Every `label` value (`k` or `k=v`) is present in `labels` (true when not filtered on). */
export function matchLabels(f: FilterArgs, labels: Record<string, string> | null | undefined, key = 'label'): boolean {
  const vals = f.get(key);
  if (!vals) return true;
  const l = labels ?? {};
  return vals.every((v) => {
    const i = v.indexOf('=');
    if (i < 0) return Object.prototype.hasOwnProperty.call(l, v);
    return Object.prototype.hasOwnProperty.call(l, v.slice(0, i)) && l[v.slice(0, i)] === v.slice(i + 1);
  });
}

/** `dangling=true|false|1|0` as a boolean, or undefined when absent; other values are Docker's error. */
export function boolFilter(f: FilterArgs, key: string): boolean | undefined {
  const vals = f.get(key);
  if (!vals?.length) return undefined;
  const v = vals[vals.length - 1]!.toLowerCase();
  if (!['true', 'false', '1', '0'].includes(v)) throw invalidArgument(`Invalid filter '${key}=${vals[vals.length - 1]}'`);
  return v === 'true' || v === '1';
}

/** Go's time.ParseDuration units, in milliseconds. */
const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };

function goDurationMs(v: string): number | undefined {
  const m = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$/.exec(v);
  if (!m) return undefined;
  let ms = 0;
  for (const part of m[2]!.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/g)) ms += Number(part[1]) * DURATION_UNITS[part[2]!]!;
  return m[1] === '-' ? -ms : ms;
}

/**
 * Docker's `until`/`since` values (GetTimestamp): a Go duration before `now` (`10m`,
 * `1h30m`), Unix seconds (`1700000000`, `1700000000.5`), or an RFC 3339 date or time (local
 * time when it has no zone). Milliseconds since the epoch.
 */
function parseTimestamp(v: string, now = Date.now()): number {
  const fail = () => invalidArgument(`failed to parse value as time or duration: "${v}"`);
  const d = v !== '0' ? goDurationMs(v) : undefined;
  if (d !== undefined) return now - d;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  if (!v.includes('-')) throw fail();
  const zoned = /[zZ+]/.test(v) || (v.match(/-/g) ?? []).length === 3;
  let s = v;
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) s += 'T00:00:00';
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(s)) s += ':00:00';
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(s)) s += ':00';
  else if (zoned && /^\d{4}-\d{2}-\d{2}[-+]\d{2}:\d{2}$/.test(s)) s = `${s.slice(0, 10)}T00:00:00${s.slice(10)}`;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([zZ]|[-+]\d{2}:\d{2})?$/.test(s)) throw fail();
  const t = Date.parse(s); // no zone: local time, as Docker's ParseInLocation
  if (Number.isNaN(t)) throw fail();
  return t;
}

/** What a prune removes, by Docker's prune filters (`label`, `label!`, `until`, `dangling`). */
interface PruneFilter {
  /** Only objects created before this (ms since the epoch). */
  until?: number;
  /** `dangling=false` given (image prune: every unused image, as `-a`). */
  dangling?: boolean;
  /** The object's labels pass `label` (all of them) and `label!` (not all of them, Docker's rule). */
  labels(labels: Record<string, string> | null | undefined): boolean;
  /** The object (created at `created`, ms or RFC 3339) passes `until`. */
  before(created: number | string): boolean;
}

/** Docker's accepted prune filter keys per object type (20.10; volumes also take 23.0's `all`). */
export const PRUNE_FILTERS = {
  containers: ['label', 'label!', 'until'],
  images: ['dangling', 'label', 'label!', 'until'],
  volumes: ['label', 'label!', 'all'],
  networks: ['label', 'label!', 'until'],
  build: ['until', 'unused-for'],
} as const;

/** Prune filters as a predicate, refusing keys not in `accepted` (`Invalid filter 'k'`). */
export function pruneFilter(list: readonly string[] | undefined, accepted: readonly string[], now = Date.now()): PruneFilter {
  const f = filterArgs(list, accepted);
  const untils = [...(f.get('until') ?? []), ...(f.get('unused-for') ?? [])];
  if (untils.length > 1) throw invalidArgument('more than one until filter specified');
  const until = untils.length ? parseTimestamp(untils[0]!, now) : undefined;
  const dangling = boolFilter(f, 'dangling');
  const has = (labels: Record<string, string>, v: string) => {
    const i = v.indexOf('=');
    if (i < 0) return Object.prototype.hasOwnProperty.call(labels, v);
    return Object.prototype.hasOwnProperty.call(labels, v.slice(0, i)) && labels[v.slice(0, i)] === v.slice(i + 1);
  };
  return {
    ...(until !== undefined ? { until } : {}),
    ...(dangling !== undefined ? { dangling } : {}),
    labels(labels) {
      const l = labels ?? {};
      if (!(f.get('label') ?? []).every((v) => has(l, v))) return false;
      const not = f.get('label!');
      // Docker: excluded only when every label! value matches
      return !(not?.length && not.every((v) => has(l, v)));
    },
    before(created) {
      if (until === undefined) return true;
      const t = typeof created === 'number' ? created : Date.parse(created);
      return !(t > until);
    },
  };
}
