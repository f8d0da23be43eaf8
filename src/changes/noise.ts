/**
 * Commit hygiene: what in a container's changes is runtime noise (shell
 * history, pid files, package caches, logs, temp files, editor swap files,
 * Python bytecode), a report of it, and `--exclude PATTERN` / `--exclude-noise`
 * predicates for layer/'s packDir.
 *
 * Exclusion semantics (for packDir's `exclude`, and diff's): an excluded path
 * simply does not enter the layer, and an excluded directory takes its whole
 * subtree with it. Nothing is done to the container. In particular an excluded
 * path never turns into a whiteout: if it shadows a lower file (a modified
 * /etc/foo, say), the lower file shows through in the new image, unchanged.
 * An excluded *whiteout* (an `--exclude` pattern matching a deleted path) is
 * dropped too, so that deletion is not committed either. The noise rules never
 * match whiteouts: removing a cache from the image is what users want kept.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath, toBin } from '../layer/index.js';
import type { Change } from './diff.js';

export type NoiseKind = 'history' | 'pid' | 'cache' | 'log' | 'temp' | 'swap' | 'pycache';

export const NOISE_LABELS: Record<NoiseKind, string> = {
  history: 'shell history',
  pid: 'pid files and run state',
  cache: 'package caches and lists',
  log: 'logs',
  temp: 'temp files',
  swap: 'editor swap files',
  pycache: 'python bytecode',
};

/** Minimal stat shape both fs.Stats and fs.BigIntStats satisfy. */
export interface StatLike {
  isDirectory(): boolean;
  isCharacterDevice(): boolean;
  rdev: number | bigint;
}

/** An exclude predicate: absolute UTF-8 path ('/var/run/x.pid') and its lstat. */
export type ExcludeFn = (path: string, st: StatLike) => boolean;

const HISTORY = new Set(['.bash_history', '.ash_history', '.sh_history', '.zsh_history', '.python_history', '.lesshst', '.viminfo']);

/** Directories whose contents (not the directory itself) are noise. */
const CONTENT_RULES: Array<[RegExp, NoiseKind]> = [
  [/^\/(?:var\/)?run\/./, 'pid'],
  [/^\/var\/cache\/(?:apt|apk|yum|dnf)\/./, 'cache'],
  [/^\/var\/lib\/apt\/lists\/./, 'cache'],
  [/^\/root\/\.(?:cache|npm)\/./, 'cache'],
  [/^\/home\/[^/]+\/\.cache\/pip\/./, 'cache'],
  [/^\/var\/log\/./, 'log'],
  [/^\/(?:var\/)?tmp\/./, 'temp'],
];

function isWhiteoutStat(st: StatLike | undefined): boolean {
  return st !== undefined && st.isCharacterDevice() && Number(st.rdev) === 0;
}

/**
 * The kind of noise a path is, or undefined. `st` (lstat) tells directories
 * from files for the name-based rules (`*.log` names a file, not a directory)
 * and whiteouts, which are never noise.
 */
export function classifyNoise(p: string, st?: StatLike): NoiseKind | undefined {
  if (isWhiteoutStat(st)) return undefined;
  const isDir = st?.isDirectory() ?? false;
  const base = p.slice(p.lastIndexOf('/') + 1);
  if (!isDir && HISTORY.has(base)) return 'history';
  if (base === '__pycache__' || p.includes('/__pycache__/')) return 'pycache';
  if (!isDir) {
    if (base.endsWith('.pyc')) return 'pycache';
    if (base.endsWith('.swp') || base.endsWith('.swo') || (base.endsWith('~') && base.length > 1)) return 'swap';
    if (base.endsWith('.pid')) return 'pid';
  }
  for (const [re, kind] of CONTENT_RULES) if (re.test(p)) return kind;
  if (!isDir && base.endsWith('.log')) return 'log';
  return undefined;
}

// ---------------------------------------------------------------- globs

/**
 * Compile an `--exclude` glob, anchored at '/': `*` and `?` stay inside one
 * path component, `[abc]`/`[!abc]` are classes, `**` spans components (`/**\/`
 * also matches no component; a trailing `/**` matches everything below, not
 * the directory itself). A relative pattern is taken from '/'; a trailing '/'
 * is ignored.
 */
export function compileGlob(pattern: string): RegExp {
  let p = pattern.trim();
  if (p === '') throw new Error('empty --exclude pattern');
  if (!p.startsWith('/')) p = '/' + p;
  if (p.length > 1) p = p.replace(/\/+$/, '');
  let re = '^';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '/' && p.startsWith('/**/', i)) { re += '(?:/.*)?/'; i += 3; continue; }
    if (c === '/' && p.startsWith('/**', i) && i + 3 === p.length) { re += '/.+'; i += 2; continue; }
    if (c === '*' && p[i + 1] === '*') { re += '.*'; i++; continue; }
    if (c === '*') { re += '[^/]*'; continue; }
    if (c === '?') { re += '[^/]'; continue; }
    if (c === '[') {
      const end = p.indexOf(']', i + 2);
      if (end > 0) {
        let cls = p.slice(i + 1, end);
        if (cls.startsWith('!')) cls = '^' + cls.slice(1);
        re += '[' + cls.replace(/\\/g, '\\\\') + ']';
        i = end;
        continue;
      }
    }
    re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$', 's');
}

interface ExcludeSpec {
  /** `--exclude PATTERN`, repeatable */
  patterns?: readonly string[];
  /** `--exclude-noise`: true for every kind, or a list of kinds */
  noise?: boolean | readonly NoiseKind[];
}

/**
 * A predicate for packDir's (and diff's) `exclude`, or undefined when nothing
 * is excluded. A path is excluded when a pattern matches it or one of its
 * ancestors, or (with noise) when classifyNoise() says so.
 */
export function buildExclude(spec: ExcludeSpec): ExcludeFn | undefined {
  const globs = (spec.patterns ?? []).map(compileGlob);
  const kinds = spec.noise === true ? undefined : spec.noise ? new Set(spec.noise) : null;
  if (globs.length === 0 && kinds === null) return undefined;
  return (p: string, st: StatLike): boolean => {
    if (globs.length > 0) {
      for (let q = p; q.length > 1; q = q.slice(0, Math.max(1, q.lastIndexOf('/')))) {
        for (const g of globs) if (g.test(q)) return true;
        if (q.lastIndexOf('/') === 0) break;
      }
    }
    if (kinds !== null) {
      const k = classifyNoise(p, st);
      if (k !== undefined && (kinds === undefined || kinds.has(k))) return true;
    }
    return false;
  };
}

// ---------------------------------------------------------------- report

export interface NoiseLine {
  kind: NoiseKind;
  label: string;
  /** files (non-directories) of this kind */
  count: number;
  bytes: number;
  /** the first few paths, in walk order */
  paths: string[];
  /** whether they were left out of the layer */
  excluded: boolean;
}

const SHOW_PATHS = 3;

/** Collects noise as a tree is walked (by packDir through `exclude`, or by noiseReport). */
export class NoiseCollector {
  private readonly lines = new Map<NoiseKind, NoiseLine>();

  constructor(private readonly upperDir: string) {}

  /** Record one entry; `excluded` says whether the commit leaves it out. A directory counts its files. */
  add(p: string, st: Pick<fs.Stats, 'isDirectory' | 'isFile' | 'isSymbolicLink' | 'size'>, kind: NoiseKind, excluded: boolean): void {
    if (st.isDirectory()) {
      // a noisy directory left out of the layer is not walked by packDir: count what it holds
      if (excluded) this.addTree(p, kind);
      return;
    }
    this.addFile(p, st.isFile() || st.isSymbolicLink() ? st.size : 0, kind, excluded);
  }

  private addFile(p: string, bytes: number, kind: NoiseKind, excluded: boolean): void {
    let l = this.lines.get(kind);
    if (!l) {
      l = { kind, label: NOISE_LABELS[kind], count: 0, bytes: 0, paths: [], excluded };
      this.lines.set(kind, l);
    }
    l.count++;
    l.bytes += bytes;
    l.excluded &&= excluded;
    if (l.paths.length < SHOW_PATHS) l.paths.push(p);
  }

  private addTree(p: string, kind: NoiseKind): void {
    const abs = path.join(this.upperDir, p);
    let names: string[];
    try { names = fs.readdirSync(fsPath(toBin(abs))).map(String); } catch { return; }
    for (const n of names.sort()) {
      const child = p === '/' ? '/' + n : p + '/' + n;
      const st = fs.lstatSync(fsPath(toBin(path.join(this.upperDir, child))), { throwIfNoEntry: false });
      if (!st || isWhiteoutStat(st)) continue;
      if (st.isDirectory()) this.addTree(child, kind);
      else this.addFile(child, st.isFile() || st.isSymbolicLink() ? st.size : 0, kind, true);
    }
  }

  report(): NoiseLine[] {
    const order = Object.keys(NOISE_LABELS) as NoiseKind[];
    return order.map((k) => this.lines.get(k)).filter((l): l is NoiseLine => l !== undefined);
  }
}

/**
 * What in a container's changes is noise. With `changes` (from diffUpper) the
 * A and C entries are classified; without, every entry of the upper dir (what
 * a commit would pack) is. Directories are not counted themselves.
 */
export function noiseReport(upperDir: string, changes?: readonly Change[], exclude?: ExcludeFn): NoiseLine[] {
  const col = new NoiseCollector(upperDir);
  const visit = (p: string, st: fs.Stats): void => {
    const k = classifyNoise(p, st);
    if (k !== undefined && !st.isDirectory()) col.add(p, st, k, exclude ? exclude(p, st) : false);
  };
  if (changes) {
    for (const c of changes) {
      if (c.kind === 'D') continue;
      const st = fs.lstatSync(fsPath(toBin(path.join(upperDir, c.path))), { throwIfNoEntry: false });
      if (st) visit(c.path, st);
    }
    return col.report();
  }
  const walk = (rel: string): void => {
    const abs = rel === '' ? upperDir : path.join(upperDir, rel);
    const names = (fs.readdirSync(fsPath(toBin(abs)), { encoding: 'buffer' }) as Buffer[]).map((b) => b.toString('utf8')).sort();
    for (const n of names) {
      const p = rel + '/' + n;
      const st = fs.lstatSync(fsPath(toBin(path.join(upperDir, p))));
      if (isWhiteoutStat(st)) continue;
      visit(p, st);
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return col.report();
}

/** Report lines for people: `logs: 3 files, 12.3kB (/var/log/a.log, /var/log/b.log, /var/log/c.log and 1 more)`. */
export function formatNoiseReport(lines: readonly NoiseLine[], size: (n: number) => string = (n) => `${n}B`): string[] {
  return lines.map((l) => {
    const more = l.count > l.paths.length ? ` and ${l.count - l.paths.length} more` : '';
    const what = `${l.count} ${l.count === 1 ? 'file' : 'files'}, ${size(l.bytes)}`;
    return `${l.label}: ${what}${l.excluded ? ' (excluded)' : ''} (${l.paths.join(', ')}${more})`;
  });
}
