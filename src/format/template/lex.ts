/**
 * Lexer for Go text/template syntax (delimiters `{{` `}}`), following the
 * structure and error texts of Go's text/template/parse/lex.go.
 */

export type ItemType =
  | 'error'
  | 'bool'
  | 'char'
  | 'charConstant'
  | 'assign'
  | 'declare'
  | 'eof'
  | 'field'
  | 'identifier'
  | 'leftDelim'
  | 'leftParen'
  | 'number'
  | 'pipe'
  | 'rawString'
  | 'rightDelim'
  | 'rightParen'
  | 'space'
  | 'string'
  | 'text'
  | 'variable'
  // keywords
  | 'block'
  | 'break'
  | 'continue'
  | 'dot'
  | 'define'
  | 'else'
  | 'end'
  | 'if'
  | 'nil'
  | 'range'
  | 'template'
  | 'with';

export interface Item {
  typ: ItemType;
  /** Offset (UTF-16 index) of the item in the input. */
  pos: number;
  val: string;
  /** Line number (1-based) at the start of the item. */
  line: number;
}

const KEYWORDS: Record<string, ItemType> = {
  '.': 'dot',
  block: 'block',
  break: 'break',
  continue: 'continue',
  define: 'define',
  else: 'else',
  end: 'end',
  if: 'if',
  range: 'range',
  nil: 'nil',
  template: 'template',
  with: 'with',
};

const KEYWORD_TYPES = new Set<ItemType>(Object.values(KEYWORDS));

function isKeyword(t: ItemType): boolean {
  return KEYWORD_TYPES.has(t);
}

/** Go's `item.String()`, used in "unexpected X in Y" messages. */
export function itemString(i: Item): string {
  if (i.typ === 'eof') return 'EOF';
  if (i.typ === 'error') return i.val;
  if (isKeyword(i.typ)) return `<${i.val}>`;
  if (Array.from(i.val).length > 10) return goQuoteShort(i.val, 10) + '...';
  return goQuoteShort(i.val, Infinity);
}

function goQuoteShort(s: string, maxRunes: number): string {
  // Enough of strconv.Quote for template source text.
  let out = '"';
  let n = 0;
  for (const ch of s) {
    if (n++ >= maxRunes) break;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch.charCodeAt(0) < 0x20) out += '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

const LEFT = '{{';
const RIGHT = '}}';
const LEFT_COMMENT = '/*';
const RIGHT_COMMENT = '*/';

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}

let alnum: RegExp | undefined; // made on first use: the literal builds its Unicode sets when evaluated
function isAlphaNumeric(c: string | undefined): boolean {
  if (c === undefined) return false;
  // ASCII without the Unicode-class regex (its first use compiles for ~1 ms)
  if (c < '\x80') return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_';
  return (alnum ??= /^[\p{L}\p{Nd}_]$/u).test(c);
}

function hasLeftTrimMarker(s: string, at: number): boolean {
  return s[at] === '-' && isSpace(s[at + 1]);
}

function hasRightTrimMarker(s: string, at: number): boolean {
  return isSpace(s[at]) && s[at + 1] === '-';
}

/** `%#U` formatting of a rune, e.g. `U+0023 '#'`. */
function runeDesc(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const u = 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch) ? `${u} '${ch}'` : u;
}

/** Tokenizes a whole template. The last item is `eof` or `error`. */
export function lex(input: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  let start = 0;
  let parenDepth = 0;

  // Line bookkeeping: line number at a given offset.
  const newlines: number[] = [];
  for (let i = input.indexOf('\n'); i >= 0; i = input.indexOf('\n', i + 1)) newlines.push(i);
  const lineAt = (p: number): number => {
    let lo = 0;
    let hi = newlines.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newlines[mid]! < p) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };

  const emit = (typ: ItemType, val?: string) => {
    items.push({ typ, pos: start, val: val ?? input.slice(start, pos), line: lineAt(start) });
    start = pos;
  };
  const fail = (msg: string): false => {
    items.push({ typ: 'error', pos: start, val: msg, line: lineAt(start) });
    return false;
  };
  const peekChar = (): string | undefined => {
    if (pos >= input.length) return undefined;
    const cp = input.codePointAt(pos)!;
    return String.fromCodePoint(cp);
  };
  const nextChar = (): string | undefined => {
    const c = peekChar();
    if (c !== undefined) pos += c.length;
    return c;
  };
  const atRightDelim = (): { delim: boolean; trim: boolean } => {
    if (hasRightTrimMarker(input, pos) && input.startsWith(RIGHT, pos + 2)) return { delim: true, trim: true };
    if (input.startsWith(RIGHT, pos)) return { delim: true, trim: false };
    return { delim: false, trim: false };
  };
  const atTerminator = (): boolean => {
    const c = peekChar();
    if (c === undefined || isSpace(c)) return true;
    if ('.,|:)('.includes(c)) return true;
    return input.startsWith(RIGHT, pos);
  };
  const leftTrimLength = (at: number): number => {
    let i = at;
    while (i < input.length && isSpace(input[i])) i++;
    return i - at;
  };
  const accept = (valid: string): boolean => {
    const c = peekChar();
    if (c !== undefined && valid.includes(c)) {
      pos += c.length;
      return true;
    }
    return false;
  };
  const acceptRun = (valid: string) => {
    while (accept(valid)) {
      /* absorb */
    }
  };

  // Returns false when lexing must stop (error emitted).
  const lexRightDelim = (): boolean => {
    const { trim } = atRightDelim();
    if (trim) {
      pos += 2;
      start = pos;
    }
    pos += RIGHT.length;
    emit('rightDelim');
    if (trim) {
      pos += leftTrimLength(pos);
      start = pos;
    }
    return true;
  };

  const lexComment = (): boolean => {
    pos += LEFT_COMMENT.length;
    const x = input.indexOf(RIGHT_COMMENT, pos);
    if (x < 0) return fail('unclosed comment');
    pos = x + RIGHT_COMMENT.length;
    const { delim, trim } = atRightDelim();
    if (!delim) return fail('comment ends before closing delimiter');
    if (trim) pos += 2;
    pos += RIGHT.length;
    if (trim) pos += leftTrimLength(pos);
    start = pos;
    return true;
  };

  const lexQuote = (): boolean => {
    for (;;) {
      const c = nextChar();
      if (c === '\\') {
        const r = nextChar();
        if (r !== undefined && r !== '\n') continue;
        return fail('unterminated quoted string');
      }
      if (c === undefined || c === '\n') return fail('unterminated quoted string');
      if (c === '"') break;
    }
    emit('string');
    return true;
  };

  const lexRawQuote = (): boolean => {
    const x = input.indexOf('`', pos);
    if (x < 0) return fail('unterminated raw quoted string');
    pos = x + 1;
    emit('rawString');
    return true;
  };

  const lexChar = (): boolean => {
    for (;;) {
      const c = nextChar();
      if (c === '\\') {
        const r = nextChar();
        if (r !== undefined && r !== '\n') continue;
        return fail('unterminated character constant');
      }
      if (c === undefined || c === '\n') return fail('unterminated character constant');
      if (c === "'") break;
    }
    emit('charConstant');
    return true;
  };

  const scanNumber = (): boolean => {
    accept('+-');
    let digits = '0123456789_';
    if (accept('0')) {
      if (accept('xX')) digits = '0123456789abcdefABCDEF_';
      else if (accept('oO')) digits = '01234567_';
      else if (accept('bB')) digits = '01_';
    }
    acceptRun(digits);
    if (accept('.')) acceptRun(digits);
    if (digits.length === 11 && accept('eE')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    if (digits.length === 23 && accept('pP')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    accept('i');
    if (isAlphaNumeric(peekChar())) {
      nextChar();
      return false;
    }
    return true;
  };

  const lexNumber = (): boolean => {
    if (!scanNumber()) return fail(`bad number syntax: ${goQuoteShort(input.slice(start, pos), Infinity)}`);
    emit('number');
    return true;
  };

  const lexFieldOrVariable = (typ: 'field' | 'variable'): boolean => {
    if (atTerminator()) {
      emit(typ === 'variable' ? 'variable' : 'dot');
      return true;
    }
    let c: string | undefined;
    for (;;) {
      c = peekChar();
      if (!isAlphaNumeric(c)) break;
      nextChar();
    }
    if (!atTerminator()) return fail(`bad character ${runeDesc(c ?? '')}`);
    emit(typ);
    return true;
  };

  const lexIdentifier = (): boolean => {
    while (isAlphaNumeric(peekChar())) nextChar();
    const word = input.slice(start, pos);
    if (!atTerminator()) return fail(`bad character ${runeDesc(peekChar() ?? '')}`);
    const kw = KEYWORDS[word];
    if (kw) emit(kw);
    else if (word === 'true' || word === 'false') emit('bool');
    else emit('identifier');
    return true;
  };

  const lexSpace = (): boolean => {
    let numSpaces = 0;
    while (isSpace(input[pos])) {
      pos++;
      numSpaces++;
    }
    if (hasRightTrimMarker(input, pos - 1) && input.startsWith(RIGHT, pos + 1)) {
      pos--; // before the space
      if (numSpaces === 1) return lexRightDelim();
    }
    emit('space');
    return true;
  };

  /** Lexes one token inside an action; returns 'text' when the action ended. */
  const lexInsideAction = (): 'more' | 'text' | 'stop' => {
    const { delim } = atRightDelim();
    if (delim) {
      if (parenDepth === 0) return lexRightDelim() ? 'text' : 'stop';
      return fail('unclosed left paren') ? 'more' : 'stop';
    }
    const c = nextChar();
    let ok = true;
    if (c === undefined) ok = fail('unclosed action');
    else if (isSpace(c)) {
      pos -= c.length;
      ok = lexSpace();
      if (ok && items[items.length - 1]?.typ === 'rightDelim') return 'text';
    } else if (c === '=') emit('assign');
    else if (c === ':') {
      if (nextChar() !== '=') ok = fail('expected :=');
      else emit('declare');
    } else if (c === '|') emit('pipe');
    else if (c === '"') ok = lexQuote();
    else if (c === '`') ok = lexRawQuote();
    else if (c === '$') ok = lexFieldOrVariable('variable');
    else if (c === "'") ok = lexChar();
    else if (c === '.' && !(input[pos]! >= '0' && input[pos]! <= '9')) ok = lexFieldOrVariable('field');
    else if (c === '.' || c === '+' || c === '-' || (c >= '0' && c <= '9')) {
      pos -= c.length;
      ok = lexNumber();
    } else if (isAlphaNumeric(c)) {
      pos -= c.length;
      ok = lexIdentifier();
    } else if (c === '(') {
      parenDepth++;
      emit('leftParen');
    } else if (c === ')') {
      parenDepth--;
      if (parenDepth < 0) ok = fail('unexpected right paren');
      else emit('rightParen');
    } else if (c.codePointAt(0)! < 0x80 && c >= ' ' && c !== '\x7f') emit('char');
    else ok = fail(`unrecognized character in action: ${runeDesc(c)}`);
    return ok ? 'more' : 'stop';
  };

  // Main loop: alternate between text and actions.
  for (;;) {
    const x = input.indexOf(LEFT, pos);
    if (x < 0) {
      pos = input.length;
      if (pos > start) emit('text');
      emit('eof');
      return items;
    }
    let textEnd = x;
    if (hasLeftTrimMarker(input, x + LEFT.length)) {
      while (textEnd > start && isSpace(input[textEnd - 1])) textEnd--;
    }
    if (textEnd > start) {
      pos = textEnd;
      emit('text');
    }
    pos = x;
    start = x;
    // Left delimiter.
    pos += LEFT.length;
    const trim = hasLeftTrimMarker(input, pos);
    const after = trim ? 2 : 0;
    if (input.startsWith(LEFT_COMMENT, pos + after)) {
      pos += after;
      start = pos;
      if (!lexComment()) return items;
      continue;
    }
    emit('leftDelim');
    pos += after;
    start = pos;
    parenDepth = 0;
    for (;;) {
      const r = lexInsideAction();
      if (r === 'stop') return items;
      if (r === 'text') break;
    }
  }
}
