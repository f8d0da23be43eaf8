/**
 * `.dockerignore` with Docker's matching (moby/patternmatcher):
 *
 *  - one pattern a line; lines starting with `#` are comments; surrounding whitespace trimmed;
 *  - `!pattern` re-includes what an earlier pattern excluded; the last matching pattern wins;
 *  - patterns are cleaned like paths (`./a/../b` -> `b`, leading `/` dropped);
 *  - `*` and `?` do not cross `/`; `**` matches any number of directories (also none);
 *    `[...]` classes; `\` escapes the next character;
 *  - a pattern that matches a directory also matches everything below it.
 */
import * as path from 'node:path';

interface Pattern { text: string; exclusion: boolean; re: RegExp; }

export function parseIgnoreFile(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.startsWith('#')) continue;
    let p = raw.trim();
    if (p === '') continue;
    let invert = false;
    if (p[0] === '!') { invert = true; p = p.slice(1).trim(); }
    if (p.length > 0) {
      p = path.posix.normalize(p);
      if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
      if (p.length > 1 && p[0] === '/') p = p.slice(1);
    }
    out.push(invert ? `!${p}` : p);
  }
  return out;
}

function compile(p: string): RegExp {
  let re = '^';
  const cs = [...p];
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    if (c === '*') {
      if (cs[i + 1] === '*') {
        i++;
        if (cs[i + 1] === '/') i++;
        if (i + 1 >= cs.length) re += '.*';
        else re += '(.*/)?';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      i++;
      if (i < cs.length) re += cs[i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      else re += '\\\\';
    } else if (c === '[') {
      // a character class, copied through (with `!` negation as `^`)
      let j = i + 1;
      let cls = '[';
      if (cs[j] === '!' || cs[j] === '^') { cls += '^'; j++; }
      while (j < cs.length && cs[j] !== ']') {
        const x = cs[j]!;
        if (x === '\\' && j + 1 < cs.length) { cls += '\\' + cs[j + 1]; j += 2; continue; }
        cls += x === '/' ? '\\/' : x;
        j++;
      }
      if (j >= cs.length) throw new Error(`syntax error in pattern: ${p}`);
      re += cls + ']';
      i = j;
    } else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$', 's');
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];
  readonly hasExclusions: boolean;

  /** the patterns as given (a context's saved walk is reused only under the same ones) */
  constructor(readonly lines: readonly string[]) {
    this.patterns = lines.map((l) => {
      const exclusion = l.startsWith('!');
      const text = exclusion ? l.slice(1) : l;
      return { text, exclusion, re: compile(text) };
    });
    this.hasExclusions = this.patterns.some((p) => p.exclusion);
  }

  get empty(): boolean { return this.patterns.length === 0; }

  /** Is the path (relative, `/`-separated) excluded from the context? */
  matches(rel: string): boolean {
    if (this.patterns.length === 0) return false;
    const file = path.posix.normalize(rel);
    const parentDirs = path.posix.dirname(file) === '.' ? [] : path.posix.dirname(file).split('/');
    let matched = false;
    for (const p of this.patterns) {
      let m = p.re.test(file);
      // a pattern matching a parent directory matches everything below it
      for (let i = 1; !m && i <= parentDirs.length; i++) m = p.re.test(parentDirs.slice(0, i).join('/'));
      if (m) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * Could an exception pattern re-include something below this excluded directory?
   * (Then the walk must descend into it.)
   */
  mayReinclude(dir: string): boolean {
    if (!this.hasExclusions) return false;
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    for (const p of this.patterns) {
      if (!p.exclusion) continue;
      if (p.text.includes('**') || p.text.startsWith(prefix) || /[*?[\\]/.test(p.text.split('/').slice(0, dir.split('/').length).join('/'))) return true;
    }
    return false;
  }
}
