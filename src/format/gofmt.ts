import { rfc3339Nano } from '../base/time.js';
/**
 * The parts of Go's `fmt`, `strconv` and `encoding/json` that docker output
 * depends on: `%v` printing of values, `Sprintf` verbs and flags, float
 * formatting with Go's rounding (half-to-even on the exact binary value, which
 * `toPrecision`/`toFixed` do not do), `strconv.Quote`, and JSON encoding with
 * Go's escaping rules.
 */

import {
  GO_MARSHAL_JSON,
  GoStructView,
  goTypeInfo,
  goTypeName,
  kindOf,
  sortedEntries,
  stringerOf,
} from './govalue.js';
import { runeCount } from './width.js';

// ---------------------------------------------------------------------------
// Float formatting (strconv.FormatFloat)

/** A decimal: value = 0.d1d2d3... × 10^dp. `digits` has no trailing zeros; "" is zero. */
interface Decimal {
  digits: string;
  dp: number;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The exact decimal expansion of a finite, non-negative double. */
function exactDecimal(x: number): Decimal {
  if (x === 0) return { digits: '', dp: 0 };
  f64[0] = x;
  const hi = u32[LITTLE_ENDIAN ? 1 : 0]!;
  const lo = u32[LITTLE_ENDIAN ? 0 : 1]!;
  const biasedExp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (biasedExp === 0) {
    e2 = -1074;
  } else {
    mant |= 1n << 52n;
    e2 = biasedExp - 1075;
  }
  let digits: string;
  let dp: number;
  if (e2 >= 0) {
    digits = (mant << BigInt(e2)).toString();
    dp = digits.length;
  } else {
    digits = (mant * 5n ** BigInt(-e2)).toString();
    dp = digits.length + e2;
  }
  return trimZeros({ digits, dp });
}

function trimZeros(d: Decimal): Decimal {
  let end = d.digits.length;
  while (end > 0 && d.digits.charCodeAt(end - 1) === 48) end--;
  const digits = d.digits.slice(0, end);
  return { digits, dp: digits === '' ? 0 : d.dp };
}

/** The shortest decimal that reads back as x (what Go's `-1` precision uses). */
function shortestDecimal(x: number): Decimal {
  if (x === 0) return { digits: '', dp: 0 };
  const s = x.toExponential(); // shortest round-trip digits
  const ePos = s.indexOf('e');
  const mant = s.slice(0, ePos).replace('.', '');
  const exp = Number(s.slice(ePos + 1));
  return trimZeros({ digits: mant, dp: exp + 1 });
}

/** Rounds to `nd` significant digits, half to even (Go's decimal.Round). */
function roundDecimal(d: Decimal, nd: number): Decimal {
  if (nd < 0) return { digits: '', dp: 0 };
  if (nd >= d.digits.length) return d;
  const c = d.digits.charCodeAt(nd);
  let up: boolean;
  if (c === 53 /* 5 */ && nd + 1 === d.digits.length) {
    up = nd > 0 && (d.digits.charCodeAt(nd - 1) - 48) % 2 === 1;
  } else {
    up = c >= 53;
  }
  if (!up) return trimZeros({ digits: d.digits.slice(0, nd), dp: d.dp });
  // Round up: increment digits[0..nd), carrying.
  const arr = d.digits.slice(0, nd).split('');
  let i = nd - 1;
  while (i >= 0 && arr[i] === '9') i--;
  if (i < 0) return { digits: '1', dp: d.dp + 1 };
  arr[i] = String.fromCharCode(arr[i]!.charCodeAt(0) + 1);
  return { digits: arr.slice(0, i + 1).join(''), dp: d.dp };
}

function fmtE(neg: boolean, d: Decimal, prec: number, ch: 'e' | 'E'): string {
  let s = neg ? '-' : '';
  s += d.digits.length > 0 ? d.digits[0] : '0';
  if (prec > 0) {
    s += '.';
    const frac = d.digits.slice(1, 1 + prec);
    s += frac + '0'.repeat(prec - frac.length);
  }
  s += ch;
  let exp = d.digits.length === 0 ? 0 : d.dp - 1;
  if (exp < 0) {
    s += '-';
    exp = -exp;
  } else {
    s += '+';
  }
  s += exp < 10 ? '0' + exp : String(exp);
  return s;
}

function fmtF(neg: boolean, d: Decimal, prec: number): string {
  let s = neg ? '-' : '';
  if (d.dp > 0) {
    const m = Math.min(d.digits.length, d.dp);
    s += d.digits.slice(0, m) + '0'.repeat(d.dp - m);
  } else {
    s += '0';
  }
  if (prec > 0) {
    s += '.';
    for (let i = 1; i <= prec; i++) {
      const j = d.dp + i - 1;
      s += j >= 0 && j < d.digits.length ? d.digits[j] : '0';
    }
  }
  return s;
}

/**
 * Go's `strconv.FormatFloat(x, fmt, prec, 64)` for fmt in e, E, f, g, G.
 * `prec < 0` means the shortest representation that round-trips.
 */
export function formatFloat(x: number, fmt: 'e' | 'E' | 'f' | 'g' | 'G', prec: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  const neg = x < 0 || Object.is(x, -0);
  const abs = Math.abs(x);
  const shortest = prec < 0;
  let d: Decimal;
  if (shortest) {
    d = shortestDecimal(abs);
    switch (fmt) {
      case 'e':
      case 'E':
        prec = Math.max(d.digits.length - 1, 0);
        break;
      case 'f':
        prec = Math.max(d.digits.length - d.dp, 0);
        break;
      default:
        prec = d.digits.length;
    }
  } else {
    const exact = exactDecimal(abs);
    switch (fmt) {
      case 'e':
      case 'E':
        d = roundDecimal(exact, prec + 1);
        break;
      case 'f':
        d = roundDecimal(exact, exact.dp + prec);
        break;
      default:
        if (prec === 0) prec = 1;
        d = roundDecimal(exact, prec);
    }
  }
  switch (fmt) {
    case 'e':
    case 'E':
      return fmtE(neg, d, prec, fmt);
    case 'f':
      return fmtF(neg, d, prec);
    default: {
      let eprec = prec;
      if (eprec > d.digits.length && d.digits.length >= d.dp) eprec = d.digits.length;
      if (shortest) eprec = 6;
      const exp = d.dp - 1;
      if (d.digits.length > 0 && (exp < -4 || exp >= eprec)) {
        if (prec > d.digits.length) prec = d.digits.length;
        return fmtE(neg, d, prec - 1, fmt === 'g' ? 'e' : 'E');
      }
      if (prec > d.dp) prec = d.digits.length;
      return fmtF(neg, d, Math.max(prec - d.dp, 0));
    }
  }
}

// ---------------------------------------------------------------------------
// Quoting

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** Go's `unicode.IsPrint` / `strconv.IsPrint`. */
export function isGoPrint(ch: string): boolean {
  return PRINTABLE.test(ch);
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function escapeRune(ch: string, quote: string, asciiOnly: boolean): string {
  if (ch === quote || ch === '\\') return '\\' + ch;
  const cp = ch.codePointAt(0)!;
  if (asciiOnly) {
    if (cp < 0x80 && isGoPrint(ch)) return ch;
  } else if (isGoPrint(ch)) {
    return ch;
  }
  switch (ch) {
    case '\x07':
      return '\\a';
    case '\b':
      return '\\b';
    case '\f':
      return '\\f';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    case '\v':
      return '\\v';
  }
  if (cp < 0x20 || cp === 0x7f) return '\\x' + hex(cp, 2);
  if (cp >= 0xd800 && cp <= 0xdfff) return '\\ufffd'; // lone surrogate: invalid UTF-8 in Go
  if (cp < 0x10000) return '\\u' + hex(cp, 4);
  return '\\U' + hex(cp, 8);
}

/** Go's `strconv.Quote`: double-quoted, with Go escapes for non-printable runes. */
export function goQuote(s: string, asciiOnly = false): string {
  let out = '"';
  for (const ch of s) out += escapeRune(ch, '"', asciiOnly);
  return out + '"';
}

/** Go's `strconv.QuoteRune`. */
export function goQuoteRune(cp: number): string {
  if (cp > 0x10ffff || cp < 0 || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;
  return "'" + escapeRune(String.fromCodePoint(cp), "'", false) + "'";
}

function canBackquote(s: string): boolean {
  for (const ch of s) {
    if (ch === '`' || ch === '\ufeff') return false;
    const cp = ch.codePointAt(0)!;
    if ((cp < 0x20 && ch !== '\t') || cp === 0x7f) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Time

const pad2 = (n: number) => String(n).padStart(2, '0');

function zoneName(date: Date): string {
  try {
    const parts = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(date);
    const tz = parts.find((p) => p.type === 'timeZoneName')?.value;
    if (tz && /^[A-Z]{2,5}$/.test(tz)) return tz;
  } catch {
    // fall through
  }
  return '';
}

/**
 * Go's `time.Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`
 * (fraction only when non-zero). Local time unless `utc` is set.
 */
export function goTimeString(date: Date, opts: { utc?: boolean } = {}): string {
  const ms = date.getTime();
  const offsetMin = opts.utc ? 0 : -date.getTimezoneOffset();
  const local = new Date(ms + offsetMin * 60_000);
  let s =
    `${String(local.getUTCFullYear()).padStart(4, '0')}-${pad2(local.getUTCMonth() + 1)}-${pad2(local.getUTCDate())} ` +
    `${pad2(local.getUTCHours())}:${pad2(local.getUTCMinutes())}:${pad2(local.getUTCSeconds())}`;
  const frac = local.getUTCMilliseconds();
  if (frac) s += '.' + String(frac).padStart(3, '0').replace(/0+$/, '');
  const sign = offsetMin < 0 ? '-' : '+';
  const a = Math.abs(offsetMin);
  const off = `${sign}${pad2(Math.floor(a / 60))}${pad2(a % 60)}`;
  let name = 'UTC';
  if (!opts.utc) {
    const z = zoneName(date);
    if (offsetMin !== 0 || z !== '') {
      // Zones without an abbreviation print as Go does: +03, +0530.
      name = z || (a % 60 ? off : off.slice(0, 3));
    }
  }
  return `${s} ${off} ${name}`;
}

/** RFC 3339 with nanosecond precision, trailing zeros dropped (Go's time.RFC3339Nano), in UTC. */
export { rfc3339Nano };

// ---------------------------------------------------------------------------
// fmt: Sprint, Sprintln, Sprintf

interface Flags {
  plus: boolean;
  /** %+v: field names in structs (the plus flag itself is cleared for 'v'). */
  plusV: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  wid: number;
  widPresent: boolean;
  prec: number;
  precPresent: boolean;
}

const NO_FLAGS: Flags = {
  plus: false,
  plusV: false,
  minus: false,
  sharp: false,
  space: false,
  zero: false,
  wid: 0,
  widPresent: false,
  prec: 0,
  precPresent: false,
};

function pad(s: string, f: Flags): string {
  if (!f.widPresent || f.wid === 0) return s;
  const n = f.wid - runeCount(s);
  if (n <= 0) return s;
  if (f.minus) return s + ' '.repeat(n);
  return (f.zero ? '0' : ' ').repeat(n) + s;
}

function truncateRunes(s: string, f: Flags): string {
  if (!f.precPresent) return s;
  let n = 0;
  let i = 0;
  for (const ch of s) {
    if (n === f.prec) return s.slice(0, i);
    n++;
    i += ch.length;
  }
  return s;
}

function fmtString(s: string, verb: string, f: Flags): string {
  switch (verb) {
    case 'v':
    case 's':
      return pad(truncateRunes(s, f), f);
    case 'q': {
      s = truncateRunes(s, f);
      if (f.sharp && canBackquote(s)) return pad('`' + s + '`', f);
      return pad(goQuote(s, f.plus), f);
    }
    case 'x':
    case 'X': {
      const bytes = Buffer.from(truncateRunes(s, f), 'utf8');
      let out = '';
      bytes.forEach((b, i) => {
        if (f.space && i > 0) out += ' ';
        if (f.sharp && (f.space || i === 0)) out += verb === 'x' ? '0x' : '0X';
        const h = hex(b, 2);
        out += verb === 'X' ? h.toUpperCase() : h;
      });
      return pad(out, f);
    }
  }
  return badVerb(verb, s);
}

function fmtInteger(v: bigint, verb: string, f: Flags): string {
  const negative = v < 0n;
  const u = negative ? -v : v;
  let base = 10;
  switch (verb) {
    case 'b':
      base = 2;
      break;
    case 'o':
    case 'O':
      base = 8;
      break;
    case 'x':
    case 'X':
      base = 16;
      break;
    case 'c':
      return pad(String.fromCodePoint(Number(u) > 0x10ffff ? 0xfffd : Number(v)), f);
    case 'q':
      return pad(goQuoteRune(Number(v)), f);
    case 'U': {
      let s = 'U+' + u.toString(16).toUpperCase().padStart(4, '0');
      if (f.sharp && u <= 0x10ffffn && isGoPrint(String.fromCodePoint(Number(u)))) {
        s += " '" + String.fromCodePoint(Number(u)) + "'";
      }
      return pad(s, f);
    }
  }
  let prec = 0;
  if (f.precPresent) {
    prec = f.prec;
    if (prec === 0 && v === 0n) return pad('', { ...f, zero: false });
  } else if (f.zero && !f.minus && f.widPresent) {
    prec = f.wid;
    if (negative || f.plus || f.space) prec--;
  }
  let digits = u.toString(base);
  if (verb === 'X') digits = digits.toUpperCase();
  if (digits.length < prec) digits = '0'.repeat(prec - digits.length) + digits;
  if (f.sharp) {
    if (base === 2) digits = '0b' + digits;
    else if (base === 8 && digits[0] !== '0') digits = '0' + digits;
    else if (base === 16) digits = (verb === 'X' ? '0X' : '0x') + digits;
  }
  if (verb === 'O') digits = '0o' + digits;
  if (negative) digits = '-' + digits;
  else if (f.plus) digits = '+' + digits;
  else if (f.space) digits = ' ' + digits;
  return pad(digits, { ...f, zero: false });
}

function fmtFloatVerb(v: number, verb: string, f: Flags): string {
  let fmtCh: 'e' | 'E' | 'f' | 'g' | 'G';
  let prec: number;
  switch (verb) {
    case 'v':
      fmtCh = 'g';
      prec = -1;
      break;
    case 'g':
    case 'G':
      fmtCh = verb;
      prec = -1;
      break;
    case 'e':
    case 'E':
      fmtCh = verb;
      prec = 6;
      break;
    case 'f':
    case 'F':
      fmtCh = 'f';
      prec = 6;
      break;
    default:
      return badVerb(verb, v);
  }
  if (f.precPresent) prec = f.prec;
  let num = formatFloat(v, fmtCh, prec);
  if (num[0] !== '-' && num[0] !== '+') num = '+' + num;
  if (f.space && num[0] === '+' && !f.plus) num = ' ' + num.slice(1);
  if (num[1] === 'I' || num[1] === 'N') {
    if (num[1] === 'N' && !f.space && !f.plus) num = num.slice(1);
    return pad(num, { ...f, zero: false });
  }
  if (f.plus || num[0] !== '+') {
    if (f.zero && !f.minus && f.widPresent && f.wid > num.length) {
      return num[0] + '0'.repeat(f.wid - num.length) + num.slice(1);
    }
    return pad(num, f);
  }
  return pad(num.slice(1), f);
}

function badVerb(verb: string, arg: unknown): string {
  if (arg === null || arg === undefined) return `%!${verb}(<nil>)`;
  return `%!${verb}(${goTypeName(arg)}=${printArg(arg, 'v', NO_FLAGS, 1)})`;
}

function printArg(arg: unknown, verb: string, f: Flags, depth: number): string {
  if (verb === 'T') return pad(goTypeName(arg), f);
  const kind = kindOf(arg);
  if (kind === 'invalid' || kind === 'nil') {
    return verb === 'v' ? pad('<nil>', f) : badVerb(verb, arg);
  }
  if (kind === 'struct' && 'vsxXq'.includes(verb)) {
    const s = stringerOf(arg);
    if (s !== undefined) return fmtString(s, verb, f);
  }
  switch (kind) {
    case 'bool':
      return verb === 't' || verb === 'v' ? pad(String(arg), f) : badVerb(verb, arg);
    case 'int':
      if ('eEfFgG'.includes(verb)) return fmtFloatVerb(Number(arg), verb, f);
      if ('bcdoOqxXUv'.includes(verb)) {
        return fmtInteger(typeof arg === 'bigint' ? arg : BigInt(arg as number), verb === 'v' ? 'd' : verb, f);
      }
      return badVerb(verb, arg);
    case 'float':
      return fmtFloatVerb(arg as number, verb, f);
    case 'string':
      return 'vsqxX'.includes(verb) ? fmtString(String(arg), verb, f) : badVerb(verb, arg);
    case 'time':
      return 'vsqxX'.includes(verb) ? fmtString(goTimeString(arg as Date), verb, f) : badVerb(verb, arg);
    case 'func':
      return verb === 'v' || verb === 'p' ? pad('0x0', f) : badVerb(verb, arg);
    case 'slice': {
      const arr = Array.from(arg as ArrayLike<unknown>);
      return '[' + arr.map((x) => printArg(x, verb, f, depth + 1)).join(' ') + ']';
    }
    case 'map': {
      const parts = sortedEntries(arg as object).map(
        ([k, x]) => printArg(k, verb, f, depth + 1) + ':' + printArg(x, verb, f, depth + 1),
      );
      return 'map[' + parts.join(' ') + ']';
    }
    case 'struct': {
      const obj = (arg instanceof GoStructView ? arg.target : arg) as Record<string, unknown>;
      const parts = Object.keys(obj)
        .filter((k) => typeof obj[k] !== 'function')
        .map((k) => (f.plusV ? k + ':' : '') + printArg(obj[k], verb, f, depth + 1));
      return '{' + parts.join(' ') + '}';
    }
  }
  return badVerb(verb, arg);
}

/** Go's `%v` formatting of a single value. */
export function formatValue(v: unknown): string {
  return printArg(v, 'v', NO_FLAGS, 0);
}

/** Go's `fmt.Sprint`: spaces between operands when neither is a string. */
export function sprint(args: readonly unknown[]): string {
  let out = '';
  let prevString = false;
  args.forEach((a, i) => {
    const isString = typeof a === 'string';
    if (i > 0 && !isString && !prevString) out += ' ';
    out += formatValue(a);
    prevString = isString;
  });
  return out;
}

/** Go's `fmt.Sprintln`: spaces between all operands, newline at the end. */
export function sprintln(args: readonly unknown[]): string {
  return args.map((a) => formatValue(a)).join(' ') + '\n';
}

function toIntArg(v: unknown): number | undefined {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return undefined;
}

/** Go's `fmt.Sprintf` (verbs b c d e E f F g G o O q s t T U v x X %; flags `+-# 0`; width, precision, `*`). */
export function sprintf(format: string, args: readonly unknown[]): string {
  let out = '';
  let argNum = 0;
  const n = format.length;
  let i = 0;
  while (i < n) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    const f: Flags = { ...NO_FLAGS };
    flags: for (; i < n; i++) {
      switch (format[i]) {
        case '#':
          f.sharp = true;
          break;
        case '0':
          f.zero = !f.minus;
          break;
        case '+':
          f.plus = true;
          break;
        case '-':
          f.minus = true;
          f.zero = false;
          break;
        case ' ':
          f.space = true;
          break;
        default:
          break flags;
      }
    }
    // width
    if (format[i] === '*') {
      i++;
      const w = toIntArg(args[argNum]);
      if (argNum < args.length) argNum++;
      if (w === undefined) {
        out += '%!(BADWIDTH)';
      } else {
        f.widPresent = true;
        f.wid = w;
        if (w < 0) {
          f.minus = true;
          f.zero = false;
          f.wid = -w;
        }
      }
    } else {
      const start = i;
      while (i < n && format[i]! >= '0' && format[i]! <= '9') i++;
      if (i > start) {
        f.widPresent = true;
        f.wid = Number(format.slice(start, i));
      }
    }
    // precision
    if (format[i] === '.') {
      i++;
      if (format[i] === '*') {
        i++;
        const p = toIntArg(args[argNum]);
        if (argNum < args.length) argNum++;
        if (p === undefined || p < 0) {
          out += '%!(BADPREC)';
        } else {
          f.precPresent = true;
          f.prec = p;
        }
      } else {
        const start = i;
        while (i < n && format[i]! >= '0' && format[i]! <= '9') i++;
        f.precPresent = true;
        f.prec = i > start ? Number(format.slice(start, i)) : 0;
      }
    }
    if (i >= n) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argNum >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    if (verb === 'v' && f.plus) {
      f.plus = false;
      f.plusV = true;
    }
    out += printArg(args[argNum++], verb, f, 0);
  }
  if (argNum < args.length) {
    out +=
      '%!(EXTRA ' +
      args
        .slice(argNum)
        .map((a) => (a === null || a === undefined ? '<nil>' : `${goTypeName(a)}=${formatValue(a)}`))
        .join(', ') +
      ')';
  }
  return out;
}

// ---------------------------------------------------------------------------
// JSON (encoding/json)

export interface GoJsonOptions {
  /** Escape `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026` (json.Marshal's default). Default false, as the docker CLI's `json` template function and the daemon's API responses do. */
  escapeHTML?: boolean;
  /** Indentation per level (json.MarshalIndent); default: compact. */
  indent?: string;
  /** Prefix for each new line when indenting. */
  prefix?: string;
}

// eslint-disable-next-line no-control-regex
const JSON_SAFE = /^[^"\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]*$/;

/** A JSON string literal with Go's escaping. */
export function goJsonString(s: string, escapeHTML = false): string {
  if (JSON_SAFE.test(s)) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i]!;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20) {
      switch (c) {
        case 0x0a:
          out += '\\n';
          break;
        case 0x0d:
          out += '\\r';
          break;
        case 0x09:
          out += '\\t';
          break;
        case 0x08:
          out += '\\b';
          break;
        case 0x0c:
          out += '\\f';
          break;
        default:
          out += '\\u00' + hex(c, 2);
      }
    } else if (escapeHTML && (ch === '<' || ch === '>' || ch === '&')) out += '\\u00' + hex(c, 2);
    else if (c === 0x2028 || c === 0x2029) out += '\\u' + hex(c, 4);
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += ch + s[i + 1];
        i++;
      } else out += '\\ufffd';
    } else if (c >= 0xdc00 && c <= 0xdfff) out += '\\ufffd';
    else out += ch;
  }
  return out + '"';
}

function jsonNumber(n: number): string {
  if (!Number.isFinite(n)) return 'null';
  if (Object.is(n, -0)) return '-0';
  return String(n);
}

/**
 * Go-style JSON encoding. Strings are escaped as encoding/json does
 * (`\u2028`/`\u2029` always, `<>&` with `escapeHTML`); Dates are RFC 3339 with
 * nanoseconds; Maps and `goMap` objects have sorted keys; plain objects keep
 * insertion order; `undefined` and function properties are omitted.
 */
export function goJson(value: unknown, opts: GoJsonOptions = {}): string {
  const escapeHTML = opts.escapeHTML ?? false;
  const indent = opts.indent ?? '';
  const prefix = opts.prefix ?? '';
  const seen = new Set<object>();

  const nl = (depth: number) => (indent ? '\n' + prefix + indent.repeat(depth) : '');
  const colon = indent ? ': ' : ':';

  function enc(v: unknown, depth: number): string {
    switch (typeof v) {
      case 'string':
        return goJsonString(v, escapeHTML);
      case 'number':
        return jsonNumber(v);
      case 'bigint':
        return v.toString();
      case 'boolean':
        return v ? 'true' : 'false';
      case 'undefined':
      case 'function':
      case 'symbol':
        return 'null';
    }
    if (v === null) return 'null';
    const obj = v as object;
    if (obj instanceof Date) return goJsonString(rfc3339Nano(obj), escapeHTML);
    if (obj instanceof GoStructView) {
      if (!obj.marshalJSON) return enc(obj.target, depth);
      const raw = obj.marshalJSON(obj.target);
      return indent ? goJson(JSON.parse(raw), { ...opts, prefix: prefix + indent.repeat(depth) }) : raw;
    }
    const marshal = (obj as { [GO_MARSHAL_JSON]?: unknown })[GO_MARSHAL_JSON];
    if (typeof marshal === 'function') {
      const raw = String(marshal.call(obj));
      return indent ? goJson(JSON.parse(raw), { ...opts, prefix: prefix + indent.repeat(depth) }) : raw;
    }
    const toJSON = (obj as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return enc(toJSON.call(obj), depth);
    if (seen.has(obj)) throw new TypeError('json: unsupported value: encountered a cycle');
    seen.add(obj);
    try {
      if (Array.isArray(obj) || ArrayBuffer.isView(obj)) {
        const arr = Array.from(obj as ArrayLike<unknown>);
        if (arr.length === 0) return '[]';
        return '[' + arr.map((x) => nl(depth + 1) + enc(x, depth + 1)).join(',') + nl(depth) + ']';
      }
      let entries: Array<[string, unknown]>;
      if (obj instanceof Map) {
        entries = sortedEntries(obj).map(([k, x]) => [String(k), x]);
      } else if (goTypeInfo(obj)?.kind === 'map') {
        entries = sortedEntries(obj).map(([k, x]) => [String(k), x]);
      } else {
        entries = Object.keys(obj).map((k) => [k, (obj as Record<string, unknown>)[k]]);
      }
      entries = entries.filter(([, x]) => x !== undefined && typeof x !== 'function' && typeof x !== 'symbol');
      if (entries.length === 0) return '{}';
      return (
        '{' +
        entries.map(([k, x]) => nl(depth + 1) + goJsonString(k, escapeHTML) + colon + enc(x, depth + 1)).join(',') +
        nl(depth) +
        '}'
      );
    } finally {
      seen.delete(obj);
    }
  }

  return enc(value, 0);
}
