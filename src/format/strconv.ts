/** Go's `strconv` as docker output uses it: FormatFloat with Go's rounding, and Quote. */
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

// made on first use: a Unicode-property literal builds its sets when it is evaluated (~0.4 ms)
let printable: RegExp | undefined;

/** Go's `unicode.IsPrint` / `strconv.IsPrint`. */
export function isGoPrint(ch: string): boolean {
  // ASCII without the regex: compiling its Unicode classes costs ~1 ms, on `ps`'s path (COMMAND is quoted)
  if (ch.length === 1 && ch.charCodeAt(0) < 0x80) return ch >= ' ' && ch <= '~';
  return (printable ??= /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u).test(ch);
}

/** `n` in lowercase hex, zero-padded to `width`. */
export function hex(n: number, width: number): string {
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

/** True when Go's %#q would print `s` in backquotes. */
export function canBackquote(s: string): boolean {
  for (const ch of s) {
    if (ch === '`' || ch === '\ufeff') return false;
    const cp = ch.codePointAt(0)!;
    if ((cp < 0x20 && ch !== '\t') || cp === 0x7f) return false;
  }
  return true;
}
