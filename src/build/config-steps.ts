/**
 * Metadata instructions' values and the history text BuildKit writes for them (Go's %q quoting).
 */
import { formatGoDuration, parseDuration } from '../format/index.js';
import { BuildError, llbError, type Instruction } from './instructions.js';

/** Go's %q for a string (strconv.Quote). */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 7) out += '\\a'; else if (c === 8) out += '\\b'; else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n'; else if (c === 13) out += '\\r'; else if (c === 9) out += '\\t'; else if (c === 11) out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}
export const goQuoteList = (l: readonly string[]) => `[${l.map(goQuote).join(' ')}]`;

/** HEALTHCHECK: its config value and the text of its history entry. */
export function healthcheck(ins: Instruction): { text: string; value: Record<string, unknown> } {
  const n = ins.node;
  const typ = n.args[0]!.toUpperCase();
  if (typ === 'NONE') {
    if (n.args.length > 1) throw llbError(`dockerfile parse error line ${n.startLine}: HEALTHCHECK NONE takes no arguments`);
    return { text: '&{["NONE"] "0s" "0s" "0s" \'\\x00\'}', value: { Test: ['NONE'] } };
  }
  if (typ !== 'CMD') throw llbError(`dockerfile parse error line ${n.startLine}: Unknown type "${typ}" in HEALTHCHECK (try CMD)`);
  const rest = n.args.slice(1);
  if (rest.length === 0) throw llbError(`dockerfile parse error line ${n.startLine}: Missing command after HEALTHCHECK CMD`);
  const test = n.json ? ['CMD', ...rest] : ['CMD-SHELL', rest[0]!];
  const dur = (name: string): number => {
    const v = ins.flags[name] as string | undefined;
    if (v === undefined || v === '') return 0;
    let ms: number;
    try { ms = parseDuration(v); } catch (e) { throw llbError(`dockerfile parse error line ${n.startLine}: ${(e as Error).message}`); }
    if (ms < 0) throw llbError(`dockerfile parse error line ${n.startLine}: Interval "${name}" cannot be negative`);
    if (ms !== 0 && ms < 1) throw llbError(`dockerfile parse error line ${n.startLine}: Interval "${name}" cannot be less than 1ms`);
    return Math.round(ms * 1e6);
  };
  const interval = dur('interval');
  const timeout = dur('timeout');
  const start = dur('start-period');
  let retries = 0;
  if (ins.flags.retries !== undefined) {
    retries = Number(ins.flags.retries);
    if (!Number.isInteger(retries)) throw llbError(`dockerfile parse error line ${n.startLine}: strconv.ParseInt: parsing "${ins.flags.retries}": invalid syntax`);
    if (retries < 0) throw llbError(`dockerfile parse error line ${n.startLine}: --retries cannot be negative (${retries})`);
  }
  const value: Record<string, unknown> = { Test: test };
  if (interval) value.Interval = interval;
  if (timeout) value.Timeout = timeout;
  if (start) value.StartPeriod = start;
  if (retries) value.Retries = retries;
  const rq = retries < 0x20 || retries === 0x7f ? `'\\x${retries.toString(16).padStart(2, '0')}'` : `'${String.fromCodePoint(retries).replace(/'/g, "\\'")}'`;
  const text = `&{${goQuoteList(test)} ${goQuote(formatGoDuration(interval))} ${goQuote(formatGoDuration(timeout))} ${goQuote(formatGoDuration(start))} ${rq}}`;
  return { text, value };
}

/** `EXPOSE 80`, `80/udp`, `8000-8002/tcp` -> port keys. */
export function exposeSpec(w: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
  if (!m) throw new BuildError(`invalid containerPort: ${w}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const lo = Number(m[1]);
  const hi = m[2] ? Number(m[2]) : lo;
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}
