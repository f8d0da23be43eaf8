/**
 * Shell-word expansion with BuildKit's rules (frontend/dockerfile/shell): the subset of
 * POSIX word processing that Dockerfile instructions get.
 *
 *  - 'single quotes' keep everything literally; "double quotes" expand `$` and let the
 *    escape character escape only `"`, `$` and itself (elsewhere it stays);
 *  - outside quotes the escape character takes the next character literally (a trailing one
 *    is dropped);
 *  - `$V`, `${V}`, `${V:-w}`, `${V-w}`, `${V:+w}`, `${V+w}`, `${V:?msg}`, `${V?msg}`, and the
 *    pattern forms `${V#p}`, `${V##p}`, `${V%p}`, `${V%%p}`, `${V/p/r}`, `${V//p/r}`; the word
 *    after the operator is itself expanded; an unset variable is empty; `$1`, `$@`, `$#`...
 *    (positional and special parameters) are never set;
 *  - `$` followed by anything else stays a literal `$`.
 *
 * `processWord` returns one string (quotes removed, no field splitting); `processWords`
 * also splits on unquoted whitespace, the way BuildKit splits some arguments.
 */
type Env = ReadonlyMap<string, string> | Record<string, string>;

export class ShellError extends Error {}

const EOF = '';

function isSpecial(c: string): boolean { return '@*#?-$!0'.includes(c) && c !== ''; }
function isSpace(c: string): boolean { return c !== '' && /\s/u.test(c); }

class Words {
  buf = '';
  words: string[] = [];
  inWord = false;
  addChar(c: string): void {
    if (isSpace(c)) {
      if (this.inWord && this.buf.length) { this.words.push(this.buf); this.buf = ''; this.inWord = false; }
    } else this.addRaw(c);
  }
  addRaw(s: string): void { this.buf += s; this.inWord = true; }
  addString(s: string): void { for (const c of s) this.addChar(c); }
  get(): string[] {
    if (this.buf.length) { this.words.push(this.buf); this.buf = ''; this.inWord = false; }
    return this.words;
  }
}

class Lexer {
  private readonly chars: string[];
  private i = 0;
  private raw = false;
  readonly used = new Set<string>();

  constructor(s: string, private readonly env: Env, private readonly esc: string) { this.chars = [...s]; }

  private peek(): string { return this.chars[this.i] ?? EOF; }
  private next(): string { return this.chars[this.i++] ?? EOF; }

  private get(name: string): { value: string; set: boolean } {
    let v: string | undefined;
    if (this.env instanceof Map) v = this.env.get(name);
    else if (Object.prototype.hasOwnProperty.call(this.env, name)) v = (this.env as Record<string, string>)[name];
    if (v === undefined) return { value: '', set: false };
    this.used.add(name);
    return { value: v, set: true };
  }

  /** Process up to `stop` (consumed) or the end (stop = EOF). */
  processStopOn(stop: string, rawEscapes: boolean): { word: string; words: string[] } {
    const saved = this.raw;
    this.raw = rawEscapes;
    try {
      let result = '';
      const words = new Words();
      while (this.peek() !== EOF) {
        const ch = this.peek();
        if (stop !== EOF && ch === stop) { this.next(); return { word: result, words: words.get() }; }
        if (ch === '$') {
          const t = this.dollar();
          result += t;
          words.addString(t);
        } else if (ch === "'") {
          const t = this.single();
          result += t;
          words.addRaw(t);
        } else if (ch === '"') {
          const t = this.double();
          result += t;
          words.addRaw(t);
        } else {
          let c = this.next();
          if (c === this.esc) {
            if (this.raw) { words.addRaw(c); result += c; }
            c = this.next();
            if (c === EOF) break;
            words.addRaw(c);
          } else words.addChar(c);
          result += c;
        }
      }
      if (stop !== EOF) throw new ShellError(`unexpected end of statement while looking for matching ${stop}`);
      return { word: result, words: words.get() };
    } finally {
      this.raw = saved;
    }
  }

  private single(): string {
    this.next();
    let out = '';
    for (;;) {
      const c = this.next();
      if (c === EOF) throw new ShellError('unexpected end of statement while looking for matching single-quote');
      if (c === "'") return out;
      out += c;
    }
  }

  private double(): string {
    this.next();
    let out = '';
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new ShellError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') { this.next(); return out; }
      if (p === '$') { out += this.dollar(); continue; }
      let c = this.next();
      if (c === this.esc) {
        if (this.raw) out += c;
        const n = this.peek();
        if (n === EOF) continue;
        if (n === '"' || n === '$' || n === this.esc) c = this.next();
      }
      out += c;
    }
  }

  private name(): string {
    let n = '';
    while (this.peek() !== EOF) {
      const c = this.peek();
      if (n === '' && /\p{Nd}/u.test(c)) {
        while (this.peek() !== EOF && /\p{Nd}/u.test(this.peek())) n += this.next();
        return n;
      }
      if (n === '' && isSpecial(c)) return this.next();
      if (!/[\p{L}\p{Nd}_]/u.test(c)) break;
      n += this.next();
    }
    return n;
  }

  private dollar(): string {
    this.next(); // $
    if (this.peek() !== '{') {
      const n = this.name();
      if (n === '') return '$';
      return this.get(n).value;
    }
    this.next(); // {
    const p = this.peek();
    if (p === EOF) throw new ShellError("syntax error: missing '}'");
    if (p === '{' || p === '}' || p === ':') throw new ShellError('syntax error: bad substitution');
    const name = this.name();
    let ch = this.next();
    let chs = ch;
    let nullIsUnset = false;
    if (ch === '}') return this.get(name).value;
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      chs += ch;
    }
    if (ch === '+' || ch === '-' || ch === '?' || ch === '#' || ch === '%') {
      const rawEscapes = ch === '#' || ch === '%';
      if (nullIsUnset && rawEscapes) throw new ShellError(`unsupported modifier (${chs}) in substitution`);
      let word: string;
      try {
        word = this.processStopOn('}', rawEscapes).word;
      } catch (e) {
        if (this.peek() === EOF) throw new ShellError("syntax error: missing '}'");
        throw e;
      }
      const { value, set } = this.get(name);
      switch (ch) {
        case '-': return !set || (nullIsUnset && value === '') ? word : value;
        case '+': return !set || (nullIsUnset && value === '') ? '' : word;
        case '?':
          if (!set) throw new ShellError(`${name}: ${word || 'is not allowed to be unset'}`);
          if (nullIsUnset && value === '') throw new ShellError(`${name}: ${word || 'is not allowed to be empty'}`);
          return value;
        default: {
          let greedy = false;
          if (word.startsWith(ch)) { greedy = true; word = word.slice(1); }
          return ch === '%' ? trimSuffix(word, value, greedy) : trimPrefix(word, value, greedy);
        }
      }
    }
    if (ch === '/') {
      const all = this.peek() === '/';
      if (all) this.next();
      let pattern: string;
      try { pattern = this.processStopOn('/', true).word; } catch (e) {
        if (this.peek() === EOF) throw new ShellError("syntax error: missing '/' in ${}");
        throw e;
      }
      let repl: string;
      try { repl = this.processStopOn('}', true).word; } catch (e) {
        if (this.peek() === EOF) throw new ShellError("syntax error: missing '}'");
        throw e;
      }
      let { value } = this.get(name);
      const re = patternRegex(pattern, true, false);
      if (all) value = value.replace(new RegExp(re.source, 'gu'), () => repl);
      else {
        const m = re.exec(value);
        if (m) value = value.slice(0, m.index) + repl + value.slice(m.index + m[0].length);
      }
      return value;
    }
    throw new ShellError(`unsupported modifier (${chs}) in substitution`);
  }
}

/** A shell pattern (`*`, `?`, `\` escapes) as a regular expression. */
function patternRegex(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const cs = [...pattern];
  let out = anchored ? '^' : '';
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    if (c === '*') { out += greedy ? '[\\s\\S]*' : '[\\s\\S]*?'; continue; }
    if (c === '?') { out += '[\\s\\S]'; continue; }
    if (c === '\\') {
      const n = cs[i + 1];
      if (n === '}' || n === '/') continue;
      if (n !== '*' && n !== '?' && n !== '\\') throw new ShellError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? ''}'`);
      out += '\\' + n;
      i++;
      continue;
    }
    out += c.replace(/[[\]{}.+()|^$*?\\/-]/g, '\\$&');
  }
  return new RegExp(out, 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = patternRegex(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

function reversePattern(p: string): string {
  const cs = [...p];
  const out: string[] = new Array<string>(cs.length);
  const last = cs.length - 1;
  for (let i = 0; i <= last;) {
    const c = cs[i]!;
    const o = last - i;
    if (c === '\\' && i !== last) { out[o - 1] = c; out[o] = cs[i + 1]!; i += 2; } else { out[o] = c; i++; }
  }
  return out.join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const rev = (s: string) => [...s].reverse().join('');
  return rev(trimPrefix(reversePattern(pattern), rev(value), greedy));
}

/** Expand one word (quotes removed, no field splitting). */
export function processWord(word: string, env: Env, escape = '\\'): string {
  return new Lexer(word, env, escape).processStopOn(EOF, false).word;
}

/** Expand one word and report which variables it used. */
export function processWordWithMatches(word: string, env: Env, escape = '\\'): { word: string; used: Set<string> } {
  const l = new Lexer(word, env, escape);
  return { word: l.processStopOn(EOF, false).word, used: l.used };
}

/** Expand and split into fields on unquoted whitespace. */
export function processWords(word: string, env: Env, escape = '\\'): string[] {
  return new Lexer(word, env, escape).processStopOn(EOF, false).words;
}
