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
