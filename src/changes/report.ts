/**
 * Shapes of a change list for output: sizes, `diff --summary`, `diff --format
 * json`, and the Engine API body of GET /containers/{id}/changes.
 */
import { toBin } from '../layer/index.js';
import type { Change, ChangeKind } from './diff.js';
import { entryBytes, isDirStat, resolveInStack, subtreeBytes } from './stack.js';

/** Where the new (A/C) and old (D) entries of a change list live. */
interface ChangeSides {
  /** the new view: an upper dir alone (A/C entries are always in it) or a whole stack, top-most first */
  newer: string | readonly string[];
  /** the old view (a stack, top-most first); without it D entries count 0 bytes */
  older?: readonly string[];
}

function relBin(p: string): string {
  return toBin(p).replace(/^\/+/, '');
}

/**
 * Bytes per change: A/C = the entry's own size in the new view (regular file
 * bytes or symlink target length; 0 for directories, devices); D = what the old
 * view loses (a directory counts its whole subtree), 0 without `older`.
 */
export function changeSizes(changes: readonly Change[], sides: ChangeSides): number[] {
  const newer = typeof sides.newer === 'string' ? [sides.newer] : sides.newer;
  return changes.map((c) => {
    const rel = relBin(c.path);
    if (c.kind === 'D') {
      if (!sides.older) return 0;
      const r = resolveInStack(sides.older, rel);
      if (r === null) return 0;
      return isDirStat(r.found.st) ? subtreeBytes(r.contribs) : entryBytes(r.found.st);
    }
    const r = resolveInStack(newer, rel);
    return r === null ? 0 : entryBytes(r.found.st);
  });
}

interface KindSummary { count: number; bytes: number; }
interface ChangeSummary { added: KindSummary; changed: KindSummary; deleted: KindSummary; }

/** `diff --summary`: counts and bytes per kind. */
export function summarize(changes: readonly Change[], sides: ChangeSides | string): ChangeSummary {
  const s: ChangeSummary = { added: { count: 0, bytes: 0 }, changed: { count: 0, bytes: 0 }, deleted: { count: 0, bytes: 0 } };
  const sizes = changeSizes(changes, typeof sides === 'string' ? { newer: sides } : sides);
  changes.forEach((c, i) => {
    const k = c.kind === 'A' ? s.added : c.kind === 'C' ? s.changed : s.deleted;
    k.count++;
    k.bytes += sizes[i]!;
  });
  return s;
}

/** The summary as lines, sizes through the given formatter (e.g. format/'s humanSize). */
export function formatSummary(s: ChangeSummary, size: (n: number) => string = (n) => `${n}B`): string[] {
  const line = (label: string, k: KindSummary) => `${label} ${k.count} ${k.count === 1 ? 'path' : 'paths'}, ${size(k.bytes)}`;
  return [line('A', s.added), line('C', s.changed), line('D', s.deleted)];
}

/** One element of `diff --format json` (podman-like, with Docker's letters). */
interface JsonChange { Kind: ChangeKind; Path: string; Size: number; }

export function changesToJson(changes: readonly Change[], sides: ChangeSides | string): JsonChange[] {
  const sizes = changeSizes(changes, typeof sides === 'string' ? { newer: sides } : sides);
  return changes.map((c, i) => ({ Kind: c.kind, Path: c.path, Size: sizes[i]! }));
}

/** Engine API kinds: 0 = C, 1 = A, 2 = D. */
const API_KIND: Record<ChangeKind, 0 | 1 | 2> = { C: 0, A: 1, D: 2 };

interface ApiChange { Path: string; Kind: 0 | 1 | 2; }

/** The body of GET /containers/{id}/changes: `null` (not `[]`) when nothing changed, as Docker sends. */
export function changesToApi(changes: readonly Change[]): ApiChange[] | null {
  if (changes.length === 0) return null;
  return changes.map((c) => ({ Path: c.path, Kind: API_KIND[c.kind] }));
}

