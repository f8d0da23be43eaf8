/** String and number literals of templates (a subset of Go's strconv.Unquote, ParseInt, ParseFloat). */


function unquoteEscapes(body: string, quote: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    switch (e) {
      case 'a':
        out += '\x07';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
        out += '\\';
        break;
      case "'":
      case '"':
        if (e !== quote) throw new Error('invalid syntax');
        out += e;
        break;
      case 'x': {
        const h = body.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new Error('invalid syntax');
        out += String.fromCharCode(parseInt(h, 16));
        i += 2;
        break;
      }
      case 'u':
      case 'U': {
        const len = e === 'u' ? 4 : 8;
        const h = body.slice(i + 1, i + 1 + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(h)) throw new Error('invalid syntax');
        const cp = parseInt(h, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new Error('invalid syntax');
        out += String.fromCodePoint(cp);
        i += len;
        break;
      }
      default:
        if (e !== undefined && e >= '0' && e <= '7') {
          const o = body.slice(i, i + 3);
          if (!/^[0-7]{3}$/.test(o) || parseInt(o, 8) > 255) throw new Error('invalid syntax');
          out += String.fromCharCode(parseInt(o, 8));
          i += 2;
          break;
        }
        throw new Error('invalid syntax');
    }
  }
  return out;
}

export function unquote(s: string): string {
  const q = s[0];
  if (q === '`') return s.slice(1, -1).replace(/\r/g, '');
  if (s.length < 2 || s[s.length - 1] !== q) throw new Error('invalid syntax');
  const body = s.slice(1, -1);
  if (q === '"' && body.includes('\n')) throw new Error('invalid syntax');
  return unquoteEscapes(body, q!);
}

function parseGoInt(text: string): bigint | undefined {
  let s = text;
  let neg = false;
  if (s[0] === '+' || s[0] === '-') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  let base = 10;
  let body = s;
  const prefixed = /^0[xXoObB]/.test(s);
  if (prefixed) {
    base = { x: 16, o: 8, b: 2 }[s[1]!.toLowerCase() as 'x' | 'o' | 'b'];
    body = s.slice(2);
  } else if (s.length > 1 && s[0] === '0') {
    base = 8;
    body = s.slice(1);
  }
  if (body.includes('_')) {
    // Underscores only between digits, and only with a base prefix (or leading 0).
    if (!prefixed && base === 10) return undefined;
    if (/^_|__|_$/.test(body) && !(prefixed && /^_[^_]/.test(body) && !/__|_$/.test(body))) return undefined;
    body = body.replace(/_/g, '');
  }
  if (body === '') return undefined;
  const digitRe = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[base]!;
  if (!digitRe.test(body)) return undefined;
  let v = 0n;
  const b = BigInt(base);
  for (const ch of body) v = v * b + BigInt(parseInt(ch, 16));
  return neg ? -v : v;
}

function parseGoFloat(text: string): number | undefined {
  const s = text.replace(/_/g, '');
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return Number(s);
  if (/^[+-]?0[xX]/.test(s)) {
    const m = /^([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)[pP]([+-]?\d+)$/.exec(s);
    if (!m || (m[2] === '' && m[3] === '')) return undefined;
    const mant = parseInt((m[2] || '0') + (m[3] ?? ''), 16) / 16 ** (m[3]?.length ?? 0);
    const v = mant * 2 ** Number(m[4]);
    return m[1] === '-' ? -v : v;
  }
  return undefined;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;

export function makeNumber(text: string, isChar: boolean): number | bigint {
  if (isChar) {
    const s = unquote(text);
    const chars = Array.from(s);
    if (chars.length !== 1) throw new Error(`malformed character constant: ${text}`);
    return chars[0]!.codePointAt(0)!;
  }
  if (text.endsWith('i') && !/^0[xX]/.test(text)) {
    throw new Error(`complex numbers are not supported: ${JSON.stringify(text)}`);
  }
  const i = parseGoInt(text);
  if (i !== undefined && i >= INT64_MIN && i <= UINT64_MAX) {
    if (i > INT64_MAX) throw new Error(`${text} overflows int`);
    return i >= BigInt(Number.MIN_SAFE_INTEGER) && i <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(i) : i;
  }
  const f = parseGoFloat(text);
  if (f !== undefined) {
    if (!/[.eEpP]/.test(text)) throw new Error(`integer overflow: ${JSON.stringify(text)}`);
    return f;
  }
  throw new Error(`illegal number syntax: ${JSON.stringify(text)}`);
}
