/**
 * The parts of Go's `fmt` and `strconv` that docker output depends on: `%v` printing of
 * values, `Sprintf` verbs and flags, float formatting with Go's rounding (half-to-even on the
 * exact binary value, which `toPrecision`/`toFixed` do not do), `strconv.Quote`, and Go's
 * time strings. JSON encoding with Go's escaping rules is in gojson.ts.
 */

import { rfc3339Nano } from '../base/time.js';
import {
  GoStructView,
  goTypeName,
  kindOf,
  sortedEntries,
  stringerOf,
} from './govalue.js';
import { runeCount } from './width.js';
import { canBackquote, formatFloat, goQuote, goQuoteRune, hex, isGoPrint } from './strconv.js';

// ---------------------------------------------------------------------------
// Time

const pad2 = (n: number) => String(n).padStart(2, '0');

let zoneFormat: Intl.DateTimeFormat | undefined;

function zoneName(date: Date): string {
  // Making an Intl.DateTimeFormat loads ICU's zone data (~40 ms, most of a `ps`): the host's
  // zone is UTC on most servers, which Date's own text names without it.
  if (date.toString().endsWith(' (Coordinated Universal Time)')) return 'UTC';
  try {
    zoneFormat ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
    const parts = zoneFormat.formatToParts(date);
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
