/**
 * Template functions: Go's builtins (eq, index, printf, ...) and the docker
 * CLI's additions (json, join, split, lower, upper, title, pad, truncate).
 */

import { sprint, sprintf, sprintln, formatValue } from '../gofmt.js';
import { isGoPrint } from '../strconv.js';
import { goJson } from '../gojson.js';
import { goTypeName, isTrue, kindOf, mapGet, mapHas } from '../govalue.js';

/** A template function. Throw `FuncError` to report a message as-is. */
export type TemplateFunc = (...args: any[]) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any
export type FuncMap = Record<string, TemplateFunc>;

/**
 * An error a function raises about its own call; the executor reports it
 * without the `error calling NAME:` prefix (like Go's argument-type errors).
 */
export class FuncError extends Error {
  /** Index of the offending argument, if the error is about one argument. */
  readonly argIndex?: number;
  /** Go type the argument should have had (for literal arguments Go words the error differently). */
  readonly expected?: string;
  constructor(message: string, argIndex?: number, expected?: string) {
    super(message);
    this.name = 'FuncError';
    if (argIndex !== undefined) this.argIndex = argIndex;
    if (expected !== undefined) this.expected = expected;
  }
}

function wantArgs(name: string, args: unknown[], n: number): void {
  if (args.length !== n) throw new FuncError(`wrong number of args for ${name}: want ${n} got ${args.length}`);
}
function wantAtLeast(name: string, args: unknown[], n: number): void {
  if (args.length < n) {
    throw new FuncError(`wrong number of args for ${name}: want at least ${n} got ${args.length}`);
  }
}

/** Checks an argument declared as `string` in Go. */
function stringArg(v: unknown, i: number): string {
  if (typeof v === 'string') return v;
  if (v === undefined) throw new FuncError('invalid value; expected string', i, 'string');
  throw new FuncError(`wrong type for value; expected string; got ${goTypeName(v)}`, i, 'string');
}

/** Checks an argument declared as `int` in Go. */
function intArg(v: unknown, i: number): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  if (v === undefined) throw new FuncError('invalid value; expected int', i, 'int');
  throw new FuncError(`wrong type for value; expected int; got ${goTypeName(v)}`, i, 'int');
}

// --- comparison ------------------------------------------------------------

type BasicKind = 'bool' | 'number' | 'string' | 'invalid';

function basicKind(v: unknown): BasicKind | undefined {
  switch (kindOf(v)) {
    case 'bool':
      return 'bool';
    case 'int':
    case 'float':
      return 'number';
    case 'string':
      return 'string';
    case 'invalid':
    case 'nil':
      return 'invalid';
  }
  return undefined;
}

function num(v: unknown): number | bigint {
  return v as number | bigint;
}

function eq(...args: unknown[]): boolean {
  wantAtLeast('eq', args, 1);
  const [a, ...rest] = args;
  if (rest.length === 0) throw new Error('missing argument for comparison');
  // Non-basic values (slices, maps, structs) share one "kind" here, as in Go.
  const k1 = basicKind(a) ?? 'other';
  for (const b of rest) {
    const k2 = basicKind(b) ?? 'other';
    let truth = false;
    if (k1 !== k2) {
      if (k1 !== 'invalid' && k2 !== 'invalid') throw new Error('incompatible types for comparison');
    } else if (k1 === 'invalid') {
      truth = true;
    } else if (k1 === 'number') {
      // eslint-disable-next-line eqeqeq
      truth = num(a) == num(b);
    } else if (k1 === 'other') {
      for (const v of [b, a]) {
        const k = kindOf(v);
        if (k === 'slice' || k === 'map' || k === 'func') {
          throw new Error(`non-comparable type ${formatValue(v)}: ${goTypeName(v)}`);
        }
      }
      truth = a === b || (a instanceof Date && b instanceof Date && a.getTime() === b.getTime());
    } else {
      truth = a === b;
    }
    if (truth) return true;
  }
  return false;
}

function lt(a: unknown, b: unknown): boolean {
  const k1 = basicKind(a);
  const k2 = basicKind(b);
  if (k1 === undefined || k1 === 'invalid' || k2 === undefined || k2 === 'invalid') {
    throw new Error('invalid type for comparison');
  }
  if (k1 !== k2) throw new Error('incompatible types for comparison');
  if (k1 === 'bool') throw new Error('invalid type for comparison');
  if (k1 === 'number') return num(a) < num(b);
  return (a as string) < (b as string);
}

// --- index / slice / len ----------------------------------------------------

function indexArg(v: unknown, cap: number): number {
  let x: number;
  if (typeof v === 'number' && Number.isInteger(v)) x = v;
  else if (typeof v === 'bigint') x = Number(v);
  else if (v === null || v === undefined) throw new Error('cannot index slice/array with nil');
  else throw new Error(`cannot index slice/array with type ${goTypeName(v)}`);
  if (x < 0 || x > cap) throw new Error(`index out of range: ${x}`);
  return x;
}

/** Zero value returned by `index` for a missing map key: "" for string maps, else nil. */
function zeroOfMap(m: object): unknown {
  const values = m instanceof Map ? Array.from(m.values()) : Object.values(m);
  return values.every((x) => typeof x === 'string') ? '' : null;
}

function index(item: unknown, ...indexes: unknown[]): unknown {
  if (item === undefined || item === null) throw new Error('index of untyped nil');
  for (const ix of indexes) {
    if (item === null || item === undefined) throw new Error('index of nil pointer');
    const k = kindOf(item);
    if (k === 'slice' || k === 'string') {
      if (k === 'string') {
        const bytes = Buffer.from(item as string, 'utf8');
        const x = indexArg(ix, bytes.length);
        if (x === bytes.length) throw new Error(`index out of range: ${x}`);
        item = bytes[x];
      } else {
        const arr = item as ArrayLike<unknown>;
        const x = indexArg(ix, arr.length);
        if (x === arr.length) throw new Error(`index out of range: ${x}`);
        item = arr[x];
      }
    } else if (k === 'map') {
      const m = item as object;
      item = mapHas(m, ix) && mapGet(m, ix) !== undefined ? mapGet(m, ix) : zeroOfMap(m);
    } else {
      throw new Error(`can't index item of type ${goTypeName(item)}`);
    }
  }
  return item;
}

function slice(item: unknown, ...indexes: unknown[]): unknown {
  if (item === undefined || item === null) throw new Error('slice of untyped nil');
  if (indexes.length > 3) throw new Error(`too many slice indexes: ${indexes.length}`);
  const k = kindOf(item);
  let len: number;
  let bytes: Buffer | undefined;
  if (k === 'string') {
    if (indexes.length === 3) throw new Error('cannot 3-index slice a string');
    bytes = Buffer.from(item as string, 'utf8');
    len = bytes.length;
  } else if (k === 'slice') {
    len = (item as ArrayLike<unknown>).length;
  } else {
    throw new Error(`can't slice item of type ${goTypeName(item)}`);
  }
  const idx = [0, len, len];
  indexes.forEach((ix, i) => {
    idx[i] = indexArg(ix, len);
  });
  if (idx[0]! > idx[1]!) throw new Error(`invalid slice index: ${idx[0]} > ${idx[1]}`);
  if (indexes.length === 3 && idx[1]! > idx[2]!) throw new Error(`invalid slice index: ${idx[1]} > ${idx[2]}`);
  if (bytes) return bytes.subarray(idx[0], idx[1]).toString('utf8');
  return Array.prototype.slice.call(item, idx[0], idx[1]);
}

function len(v: unknown): number {
  switch (kindOf(v)) {
    case 'string':
      return Buffer.byteLength(v as string, 'utf8');
    case 'slice':
      return (v as ArrayLike<unknown>).length;
    case 'map':
      return v instanceof Map ? v.size : Object.keys(v as object).length;
    case 'invalid':
    case 'nil':
      throw new Error('len of nil pointer');
    default:
      throw new Error(`len of type ${goTypeName(v)}`);
  }
}

// --- escaping -----------------------------------------------------------------

/** Go's evalArgs: a single string stays as is, anything else goes through fmt.Sprint. */
function evalArgs(args: unknown[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return sprint(args.map((a) => (a === undefined ? '<no value>' : a)));
}

function htmlEscapeString(s: string): string {
  return s.replace(/["'&<>\0]/g, (c) =>
    c === '"' ? '&#34;' : c === "'" ? '&#39;' : c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '\ufffd',
  );
}

function jsEscapeString(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) {
      switch (ch) {
        case '\\':
          out += '\\\\';
          continue;
        case "'":
          out += "\\'";
          continue;
        case '"':
          out += '\\"';
          continue;
        case '<':
          out += '\\u003C';
          continue;
        case '>':
          out += '\\u003E';
          continue;
        case '&':
          out += '\\u0026';
          continue;
        case '=':
          out += '\\u003D';
          continue;
      }
      out += c < 0x20 ? '\\u00' + c.toString(16).toUpperCase().padStart(2, '0') : ch;
    } else {
      out += isGoPrint(ch) ? ch : '\\u' + c.toString(16).toUpperCase().padStart(4, '0');
    }
  }
  return out;
}

/** Go's url.QueryEscape. */
function queryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(ch)) out += ch;
    else if (b === 0x20) out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

// --- docker's functions ---------------------------------------------------------

function isTitleSeparator(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  if (c <= 0x7f) {
    if (/[0-9a-zA-Z_]/.test(ch)) return false;
    return true;
  }
  if (/\p{L}|\p{Nd}/u.test(ch)) return false;
  return /\s/u.test(ch);
}

/** Go's (deprecated) strings.Title: upper-cases the first letter of each word. */
function goTitle(s: string): string {
  let prev = ' ';
  let out = '';
  for (const ch of s) {
    out += isTitleSeparator(prev) ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

function goSplit(s: string, sep: string): string[] {
  if (sep === '') return Array.from(s);
  return s.split(sep);
}

function stringSlice(v: unknown): string[] {
  if (v === null) return [];
  if (v === undefined) throw new FuncError('invalid value; expected []string', 0, '[]string');
  if (kindOf(v) !== 'slice') {
    throw new FuncError(`wrong type for value; expected []string; got ${goTypeName(v)}`, 0, '[]string');
  }
  return Array.from(v as ArrayLike<unknown>, (x) => (typeof x === 'string' ? x : formatValue(x)));
}

function truncateBytes(s: string, n: number): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length < n) return s;
  return b.subarray(0, Math.max(n, 0)).toString('utf8');
}

/** Functions the docker CLI adds to every template (cli/templates). */
export const dockerFuncs: FuncMap = {
  json: (...args: unknown[]) => {
    wantArgs('json', args, 1);
    return goJson(args[0]);
  },
  split: (...args: unknown[]) => {
    wantArgs('split', args, 2);
    return goSplit(stringArg(args[0], 0), stringArg(args[1], 1));
  },
  join: (...args: unknown[]) => {
    wantArgs('join', args, 2);
    return stringSlice(args[0]).join(stringArg(args[1], 1));
  },
  title: (...args: unknown[]) => {
    wantArgs('title', args, 1);
    return goTitle(stringArg(args[0], 0));
  },
  lower: (...args: unknown[]) => {
    wantArgs('lower', args, 1);
    return stringArg(args[0], 0).toLowerCase();
  },
  upper: (...args: unknown[]) => {
    wantArgs('upper', args, 1);
    return stringArg(args[0], 0).toUpperCase();
  },
  pad: (...args: unknown[]) => {
    wantArgs('pad', args, 3);
    const s = stringArg(args[0], 0);
    const pre = intArg(args[1], 1);
    const post = intArg(args[2], 2);
    return s === '' ? s : ' '.repeat(Math.max(pre, 0)) + s + ' '.repeat(Math.max(post, 0));
  },
  truncate: (...args: unknown[]) => {
    wantArgs('truncate', args, 2);
    return truncateBytes(stringArg(args[0], 0), intArg(args[1], 1));
  },
};

/**
 * The docker CLI's header functions: when a `table` format's header row is
 * rendered, these replace the ones above so that the column names stay intact.
 */
export const headerFuncs: FuncMap = {
  json: (...args: unknown[]) => {
    wantArgs('json', args, 1);
    return stringArg(args[0], 0);
  },
  split: (...args: unknown[]) => {
    wantArgs('split', args, 2);
    return stringArg(args[0], 0);
  },
  join: (...args: unknown[]) => {
    wantArgs('join', args, 2);
    return stringArg(args[0], 0);
  },
  title: (...args: unknown[]) => {
    wantArgs('title', args, 1);
    return stringArg(args[0], 0);
  },
  lower: (...args: unknown[]) => {
    wantArgs('lower', args, 1);
    return stringArg(args[0], 0);
  },
  upper: (...args: unknown[]) => {
    wantArgs('upper', args, 1);
    return stringArg(args[0], 0);
  },
  truncate: (...args: unknown[]) => {
    wantArgs('truncate', args, 2);
    return stringArg(args[0], 0);
  },
};

// --- builtins ----------------------------------------------------------------------

/** Go's predefined template functions. `and`/`or` are short-circuited by the executor. */
export const builtinFuncs: FuncMap = {
  and: (...args: unknown[]) => {
    wantAtLeast('and', args, 1);
    for (const a of args) if (!isTrue(a)) return a;
    return args[args.length - 1];
  },
  or: (...args: unknown[]) => {
    wantAtLeast('or', args, 1);
    for (const a of args) if (isTrue(a)) return a;
    return args[args.length - 1];
  },
  not: (...args: unknown[]) => {
    wantArgs('not', args, 1);
    return !isTrue(args[0]);
  },
  len: (...args: unknown[]) => {
    wantArgs('len', args, 1);
    return len(args[0]);
  },
  index: (...args: unknown[]) => {
    wantAtLeast('index', args, 1);
    return index(args[0], ...args.slice(1));
  },
  slice: (...args: unknown[]) => {
    wantAtLeast('slice', args, 1);
    return slice(args[0], ...args.slice(1));
  },
  print: (...args: unknown[]) => sprint(args),
  println: (...args: unknown[]) => sprintln(args),
  printf: (...args: unknown[]) => {
    wantAtLeast('printf', args, 1);
    return sprintf(stringArg(args[0], 0), args.slice(1));
  },
  html: (...args: unknown[]) => htmlEscapeString(evalArgs(args)),
  js: (...args: unknown[]) => jsEscapeString(evalArgs(args)),
  urlquery: (...args: unknown[]) => queryEscape(evalArgs(args)),
  eq,
  ne: (...args: unknown[]) => {
    wantArgs('ne', args, 2);
    return !eq(args[0], args[1]);
  },
  lt: (...args: unknown[]) => {
    wantArgs('lt', args, 2);
    return lt(args[0], args[1]);
  },
  le: (...args: unknown[]) => {
    wantArgs('le', args, 2);
    return lt(args[0], args[1]) || eq(args[0], args[1]);
  },
  gt: (...args: unknown[]) => {
    wantArgs('gt', args, 2);
    return !lt(args[0], args[1]) && !eq(args[0], args[1]);
  },
  ge: (...args: unknown[]) => {
    wantArgs('ge', args, 2);
    return !lt(args[0], args[1]);
  },
  call: (...args: unknown[]) => {
    wantAtLeast('call', args, 1);
    const fn = args[0];
    if (typeof fn !== 'function') {
      if (fn === null || fn === undefined) throw new Error('call of nil');
      throw new Error(`non-function of type ${goTypeName(fn)}`);
    }
    return fn(...args.slice(1));
  },
};
