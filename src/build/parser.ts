/**
 * Dockerfile parser with BuildKit's rules (frontend/dockerfile/parser):
 *
 *  - parser directives (`# escape=`, `# syntax=`, `# check=`) only in the leading comment
 *    block; the first other line (blank line, comment of another shape, instruction) ends it;
 *  - lines: leading whitespace dropped, `#` comment lines dropped (also inside continuations),
 *    the escape character at the end of a line continues it (unless itself escaped), empty
 *    continuation lines skipped;
 *  - `CMD arg`: the instruction word is case-insensitive; `--flag=value` words right after it
 *    are the instruction's flags (quote-aware);
 *  - per instruction, arguments as BuildKit splits them: JSON arrays for the exec forms,
 *    whitespace words, `key=value` pairs (quote-aware, quotes kept for the expansion step);
 *  - heredocs (`<<EOF`, `<<-EOF`, quoted terminators disable expansion) for RUN, COPY, ADD.
 *
 * The result is a list of nodes; `instructions.ts` gives them meaning.
 */
import { processWords } from './shell.js';

interface Heredoc {
  name: string;
  /** the body, leading tabs stripped for `<<-` */
  content: string;
  /** the body as written (what BuildKit hands the shell when a RUN has several heredocs) */
  raw: string;
  expand: boolean;
  chomp: boolean;
  fd: number;
}

export interface Node {
  /** lower-cased instruction word */
  cmd: string;
  /** the whole logical line as written (continuations joined) */
  original: string;
  flags: string[];
  args: string[];
  /** the exec (JSON array) form was used */
  json: boolean;
  heredocs: Heredoc[];
  startLine: number;
  endLine: number;
  /** ONBUILD's instruction */
  sub?: Node;
}

interface ParseResult {
  nodes: Node[];
  escape: string;
  directives: Record<string, string>;
  warnings: string[];
}

export class ParseError extends Error {
  constructor(message: string, readonly line: number) { super(message); }
}

const ALLOWED_DIRECTIVES = new Set(['escape', 'syntax', 'check']);
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const WS = /[\t\v\f\r ]+/;

class Directives {
  escape = '\\';
  continuation = this.makeContinuation('\\');
  done = false;
  seen: Record<string, string> = {};

  makeContinuation(e: string): RegExp {
    const q = e === '\\' ? '\\\\' : '`';
    return new RegExp(`([^${q}])${q}[ \\t]*$|^${q}[ \\t]*$`);
  }

  setEscape(s: string): void {
    if (s !== '`' && s !== '\\') throw new Error(`invalid escape token '${s}' does not match \` or \\`);
    this.escape = s;
    this.continuation = this.makeContinuation(s);
  }

  /** true when the line was a directive */
  possible(line: string): boolean {
    if (this.done) return false;
    if (line.length === 0 || line[0] !== '#') { this.done = true; return false; }
    const m = DIRECTIVE.exec(line.slice(1).replace(/^\s+/u, ''));
    if (!m) { this.done = true; return false; }
    const key = m[1]!.toLowerCase();
    if (!ALLOWED_DIRECTIVES.has(key)) { this.done = true; return false; }
    if (key in this.seen) throw new Error(`only one ${key} parser directive can be used`);
    this.seen[key] = m[2]!;
    if (key === 'escape') this.setEscape(m[2]!);
    return true;
  }
}

const trimNewline = (s: string) => s.replace(/[\r\n]+$/, '');
const trimLeft = (s: string) => s.replace(/^\s+/u, '');
const isComment = (s: string) => { const t = trimLeft(s); return t.length > 0 && t[0] === '#'; };

function trimContinuation(line: string, d: Directives): { line: string; end: boolean } {
  if (d.continuation.test(line)) return { line: line.replace(d.continuation, '$1'), end: false };
  return { line, end: true };
}

/** Parse a Dockerfile's text. Throws ParseError with BuildKit's message. */
export function parseDockerfile(text: string): ParseResult {
  const d = new Directives();
  // lines with their endings (heredoc contents keep them)
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  if (lines.length && lines[0]!.charCodeAt(0) === 0xfeff) lines[0] = lines[0]!.slice(1);
  const nodes: Node[] = [];
  const warnings: string[] = [];
  let cur = 0; // lines consumed
  let idx = 0;
  const nextLine = (): string | undefined => (idx < lines.length ? lines[idx++] : undefined);

  for (let raw = nextLine(); raw !== undefined; raw = nextLine()) {
    let token = trimLeft(trimNewline(raw));
    let isDirective = false;
    try { isDirective = d.possible(token); } catch (e) { throw new ParseError((e as Error).message, cur + 1); }
    if (isComment(token)) token = '';
    cur++;
    if (isDirective) continue;
    const start = cur;
    let { line: first, end } = trimContinuation(token, d);
    if (end && first.length === 0) continue;
    let buf = first;
    let emptyCont = false;
    while (!end) {
      const r = nextLine();
      if (r === undefined) break;
      cur++;
      const t = trimNewline(r);
      if (isComment(r)) continue;
      if (trimLeft(t).length === 0) { emptyCont = true; continue; }
      const c = trimContinuation(t, d);
      end = c.end;
      buf += c.line;
    }
    if (emptyCont) warnings.push(`Empty continuation line found in: ${buf}`);
    let node: Node;
    try {
      node = nodeFromLine(buf, d, start, cur);
    } catch (e) {
      if (e instanceof ParseError) throw e;
      throw new ParseError((e as Error).message, start);
    }
    if (['run', 'copy', 'add'].includes(node.cmd) && buf.includes('<<')) {
      for (const h of heredocsFromLine(buf)) {
        let content = '';
        let terminated = false;
        for (let r = nextLine(); r !== undefined; r = nextLine()) {
          cur++;
          let possible = trimNewline(r);
          if (h.chomp) possible = possible.replace(/^\t+/, '');
          if (possible === h.name) { terminated = true; break; }
          content += r;
        }
        if (!terminated) throw new ParseError('unterminated heredoc', start);
        h.content = h.chomp ? content.replace(/^\t+/gm, '') : content;
        h.raw = content;
        node.heredocs.push(h);
      }
      node.endLine = cur;
    }
    nodes.push(node);
    void first;
  }
  if (nodes.length === 0) throw new ParseError('file with no instructions', cur);
  return { nodes, escape: d.escape, directives: d.seen, warnings };
}

function heredocsFromLine(line: string): Heredoc[] {
  // words with quotes and escapes kept, as BuildKit splits them
  const words = rawWords(line);
  const out: Heredoc[] = [];
  for (const w of words) {
    const m = /^(\d*)<<(-?)\s*([^<]*)$/.exec(w);
    if (!m || !m[3]) continue;
    let plain: string[];
    try { plain = processWords(m[3], {}); } catch { continue; }
    if (plain.length !== 1) continue;
    const name = plain[0]!;
    const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
    out.push({ name, content: '', raw: '', expand: quotes(name) === quotes(m[3]), chomp: m[2] === '-', fd: Number(m[1] || 0) });
  }
  return out;
}

/** Whitespace-separated words, quotes and escapes kept (for finding heredoc markers). */
function rawWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (q) { cur += c; if (c === q) q = ''; continue; }
    if (c === '\\' && i + 1 < s.length) { cur += c + s[++i]; inWord = true; continue; }
    if (c === '"' || c === "'") { q = c; cur += c; inWord = true; continue; }
    if (/\s/.test(c)) { if (inWord) out.push(cur); cur = ''; inWord = false; continue; }
    cur += c;
    inWord = true;
  }
  if (inWord) out.push(cur);
  return out;
}

function nodeFromLine(line: string, d: Directives, start: number, end: number): Node {
  const parts = line.trim().split(WS);
  const cmdWord = parts[0] ?? '';
  const cmd = cmdWord.toLowerCase();
  let rest = '';
  let flags: string[] = [];
  const trimmed = line.trim();
  if (trimmed.length > cmdWord.length) {
    const after = trimmed.slice(cmdWord.length).replace(WS.source === '' ? /^/ : /^[\t\v\f\r ]+/, '');
    ({ rest, flags } = extractFlags(after, d));
  }
  const node: Node = { cmd, original: line, flags, args: [], json: false, heredocs: [], startLine: start, endLine: end };
  switch (cmd) {
    case 'add': case 'copy': case 'shell': case 'volume':
      ({ args: node.args, json: node.json } = maybeJsonToList(rest, d));
      break;
    case 'arg':
      node.args = parseWords(rest, d);
      break;
    case 'cmd': case 'entrypoint': case 'run':
      ({ args: node.args, json: node.json } = maybeJson(rest));
      break;
    case 'env': case 'label':
      node.args = nameVal(rest, cmd === 'env' ? 'ENV' : 'LABEL', d);
      break;
    case 'expose': case 'from': case 'onbuild-none':
      node.args = whitespaceWords(rest);
      break;
    case 'healthcheck': {
      const m = /^(\S*)\s*([\s\S]*)$/.exec(rest)!;
      if (m[1]) {
        const r = maybeJson(m[2]!);
        node.args = [m[1], ...r.args];
        node.json = r.json;
      }
      break;
    }
    case 'maintainer': case 'stopsignal': case 'user': case 'workdir':
      node.args = rest === '' ? [] : [rest];
      break;
    case 'onbuild': {
      if (rest.trim() === '') break;
      node.sub = nodeFromLine(rest, d, start, end);
      node.args = [rest];
      break;
    }
    default:
      node.args = rest === '' ? [] : [rest];
  }
  return node;
}

/** `--flag=value` words right after the instruction; returns the rest of the line. */
function extractFlags(line: string, d: Directives): { rest: string; flags: string[] } {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let buf = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const ch = pos < line.length ? line[pos]! : '';
    if (phase === 'spaces') {
      if (pos === line.length) break;
      if (/\s/.test(ch)) continue;
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-') return { rest: line.slice(pos), flags: words };
      phase = 'word';
    }
    if (pos === line.length) {
      if (buf !== '--' && (blankOK || buf.length > 0)) words.push(buf);
      break;
    }
    if (phase === 'word') {
      if (/\s/.test(ch)) {
        phase = 'spaces';
        if (buf === '--') return { rest: line.slice(pos), flags: words };
        if (blankOK || buf.length > 0) words.push(buf);
        buf = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') { quote = ch; blankOK = true; phase = 'quote'; continue; }
      if (ch === d.escape) {
        if (pos + 1 === line.length) continue;
        pos++;
        buf += line[pos];
        continue;
      }
      buf += ch;
      continue;
    }
    // quote
    if (ch === quote) { phase = 'word'; continue; }
    if (ch === d.escape) {
      if (pos + 1 === line.length) { phase = 'word'; continue; }
      pos++;
      buf += line[pos];
      continue;
    }
    buf += ch;
  }
  return { rest: '', flags: words };
}

/** Quote-aware word split; quotes and escapes kept in the words (BuildKit's parseWords). */
function parseWords(rest: string, d: { escape: string }): string[] {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOK = false;
  let buf = '';
  const cs = [...rest];
  for (let pos = 0; pos <= cs.length; pos++) {
    let ch = pos < cs.length ? cs[pos]! : '';
    if (phase === 'spaces') {
      if (pos === cs.length) break;
      if (/\s/u.test(ch)) continue;
      phase = 'word';
    }
    if (pos === cs.length) {
      if (blankOK || buf.length > 0) words.push(buf);
      break;
    }
    if (phase === 'word') {
      if (/\s/u.test(ch)) {
        phase = 'spaces';
        if (blankOK || buf.length > 0) words.push(buf);
        buf = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') { quote = ch; blankOK = true; phase = 'quote'; }
      if (ch === d.escape) {
        if (pos + 1 === cs.length) continue;
        buf += ch;
        pos++;
        ch = cs[pos]!;
      }
      buf += ch;
      continue;
    }
    if (ch === quote) phase = 'word';
    if (ch === d.escape && quote !== "'") {
      if (pos + 1 === cs.length) { phase = 'word'; continue; }
      pos++;
      buf += ch;
      ch = cs[pos]!;
    }
    buf += ch;
  }
  return words;
}

/** key=value pairs as [k1, v1, k2, v2...]; the legacy `KEY name value` form gives one pair. */
function nameVal(rest: string, key: string, d: Directives): string[] {
  const words = parseWords(rest, d);
  if (words.length === 0) return [];
  if (!words[0]!.includes('=')) {
    const parts = rest.split(WS);
    const i = rest.search(WS);
    if (parts.length < 2 || i < 0) throw new Error(`${key} must have two arguments`);
    const value = rest.slice(i).replace(/^[\t\v\f\r ]+/, '');
    return [parts[0]!, value];
  }
  const out: string[] = [];
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) throw new Error(`Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    out.push(w.slice(0, eq), w.slice(eq + 1));
  }
  return out;
}

function whitespaceWords(rest: string): string[] {
  const t = rest.trim();
  return t === '' ? [] : t.split(WS);
}

class NotStringArray extends Error {}

function parseJson(rest: string): string[] | undefined {
  const t = rest.replace(/^\s+/u, '');
  if (!t.startsWith('[')) return undefined;
  let v: unknown;
  try { v = JSON.parse(t); } catch { return undefined; }
  if (!Array.isArray(v)) return undefined;
  if (!v.every((x) => typeof x === 'string')) throw new NotStringArray('dockerfile: JSON arrays must contain only strings');
  return v as string[];
}

function maybeJson(rest: string): { args: string[]; json: boolean } {
  if (rest === '') return { args: [], json: false };
  let j: string[] | undefined;
  try { j = parseJson(rest); } catch (e) { throw new Error((e as Error).message); }
  if (j) return { args: j, json: true };
  return { args: [rest], json: false };
}

function maybeJsonToList(rest: string, d: Directives): { args: string[]; json: boolean } {
  void d;
  const j = parseJson(rest);
  if (j) return { args: j, json: true };
  return { args: whitespaceWords(rest), json: false };
}
