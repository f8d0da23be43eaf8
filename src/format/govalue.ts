/**
 * How JavaScript values stand in for Go values in templates and in `fmt`-style
 * printing.
 *
 * | JavaScript                         | Go                                    |
 * |------------------------------------|---------------------------------------|
 * | `undefined`                        | invalid value (missing map key): prints `<no value>` |
 * | `null`                             | nil: prints `<nil>`                   |
 * | string, boolean                    | string, bool                          |
 * | integer number, bigint             | int                                   |
 * | non-integer number, NaN, ±Infinity | float64                               |
 * | Array                              | slice: prints `[a b c]`               |
 * | Map, plain object                  | map: prints `map[k:v]`, keys sorted   |
 * | class instance, `goStruct(obj)`    | struct: prints `{v1 v2}`; a missing field is an error |
 * | Date                               | time.Time                             |
 * | function                           | func (a function-valued field is called like a method) |
 *
 * `{{json}}` writes plain objects in insertion order (as the engine API builds
 * them, in Go struct order); objects marked with `goMap` and JS Maps are
 * written with sorted keys, as Go writes maps.
 */

const GO_TYPE: unique symbol = Symbol.for('strata.format.goType');

/**
 * A method key: an object with `[GO_MARSHAL_JSON]()` supplies its own JSON
 * text to `goJson`/`{{json}}`, inserted as is (Go's json.Marshaler).
 */
export const GO_MARSHAL_JSON: unique symbol = Symbol.for('strata.format.marshalJSON');

interface GoTypeInfo {
  kind: 'struct' | 'map';
  /** Go type name used in error messages, e.g. `*formatter.imageContext`. */
  name?: string;
}

function mark<T extends object>(obj: T, info: GoTypeInfo): T {
  Object.defineProperty(obj, GO_TYPE, { value: info, enumerable: false, configurable: true });
  return obj;
}

/**
 * Marks an object as a Go struct: templates error on a missing field
 * (`can't evaluate field X in type T`) instead of printing `<no value>`, and
 * `%v` prints `{v1 v2}`. The object is marked in place and returned.
 */
export function goStruct<T extends object>(obj: T, typeName = 'struct'): T {
  return mark(obj, { kind: 'struct', name: typeName });
}

/** Marks an object as a Go map: `{{json}}` writes its keys sorted. */
export function goMap<T extends object>(obj: T): T {
  return mark(obj, { kind: 'map' });
}

/**
 * A struct view of an object that leaves the object untouched: templates see
 * the target's fields and methods as those of a Go struct named `typeName`
 * (unknown fields are errors), and `{{json}}` uses `marshalJSON` when given.
 */
export class GoStructView {
  constructor(
    readonly target: object,
    readonly typeName: string,
    readonly marshalJSON?: (target: object) => string,
  ) {}
}

export function goTypeInfo(v: object): GoTypeInfo | undefined {
  return (v as { [GO_TYPE]?: GoTypeInfo })[GO_TYPE];
}

type GoKind =
  | 'invalid'
  | 'nil'
  | 'bool'
  | 'int'
  | 'float'
  | 'string'
  | 'slice'
  | 'map'
  | 'struct'
  | 'func'
  | 'time';

export function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function kindOf(v: unknown): GoKind {
  switch (typeof v) {
    case 'undefined':
      return 'invalid';
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
    case 'function':
      return 'func';
    case 'symbol':
      return 'string';
    case 'object': {
      if (v === null) return 'nil';
      if (Array.isArray(v) || ArrayBuffer.isView(v)) return 'slice';
      if (v instanceof Map) return 'map';
      if (v instanceof Date) return 'time';
      if (v instanceof GoStructView) return 'struct';
      const info = goTypeInfo(v);
      if (info) return info.kind;
      return isPlainObject(v) ? 'map' : 'struct';
    }
  }
  return 'invalid';
}

function allStrings(values: Iterable<unknown>): boolean {
  for (const x of values) if (typeof x !== 'string') return false;
  return true;
}

/** A Go-looking type name, for error messages and `%T`. */
export function goTypeName(v: unknown): string {
  switch (kindOf(v)) {
    case 'invalid':
    case 'nil':
      return '<nil>';
    case 'bool':
      return 'bool';
    case 'int':
      return 'int';
    case 'float':
      return 'float64';
    case 'string':
      return 'string';
    case 'func':
      return 'func()';
    case 'time':
      return 'time.Time';
    case 'slice': {
      const arr = v as unknown[];
      return arr.length > 0 && allStrings(arr) ? '[]string' : '[]interface {}';
    }
    case 'map': {
      const vals = v instanceof Map ? v.values() : Object.values(v as object);
      return allStrings(vals) ? 'map[string]string' : 'map[string]interface {}';
    }
    case 'struct': {
      if (v instanceof GoStructView) return v.typeName;
      const info = goTypeInfo(v as object);
      if (info?.name) return info.name;
      const ctor = (v as object).constructor;
      return ctor && ctor.name ? ctor.name : 'struct';
    }
  }
}

/** Compares strings the way Go does (by UTF-8 bytes). */
function compareGoStrings(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 order equals UTF-8 byte order except around surrogates.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const sx = x >= 0xd800 && x <= 0xdfff;
      const sy = y >= 0xd800 && y <= 0xdfff;
      if (sx !== sy) return sx ? (y >= 0xe000 ? -1 : 1) : x >= 0xe000 ? 1 : -1;
      return x < y ? -1 : 1;
    }
  }
  return a.length - b.length;
}

function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  return compareGoStrings(String(a), String(b));
}

/** The entries of a Go map value (Map or object), sorted by key as Go sorts them. */
export function sortedEntries(v: object): Array<[unknown, unknown]> {
  let entries: Array<[unknown, unknown]>;
  if (v instanceof Map) entries = Array.from(v.entries());
  else entries = Object.keys(v).map((k) => [k, (v as Record<string, unknown>)[k]]);
  entries.sort((x, y) => compareKeys(x[0], y[0]));
  return entries;
}

/** Number of elements of a map value. */
function mapSize(v: object): number {
  return v instanceof Map ? v.size : Object.keys(v).length;
}

/** Looks up a key in a Go map value; `undefined` when absent. */
export function mapGet(v: object, key: unknown): unknown {
  if (v instanceof Map) {
    if (v.has(key)) return v.get(key);
    if (typeof key === 'number' && v.has(String(key))) return v.get(String(key));
    return undefined;
  }
  const k = String(key);
  return Object.prototype.hasOwnProperty.call(v, k) ? (v as Record<string, unknown>)[k] : undefined;
}

export function mapHas(v: object, key: unknown): boolean {
  if (v instanceof Map) return v.has(key);
  return Object.prototype.hasOwnProperty.call(v, String(key));
}

/**
 * The value's `String()` method, if it has one that is not the default:
 * class instances with their own `toString`, and Errors (Go's `Error()`).
 */
export function stringerOf(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  if (v instanceof GoStructView) return stringerOf(v.target);
  if (v instanceof Error) return v.message;
  if (Array.isArray(v) || v instanceof Map || v instanceof Date) return undefined;
  const ts = (v as { toString?: unknown }).toString;
  if (typeof ts === 'function' && ts !== Object.prototype.toString) {
    return String(ts.call(v));
  }
  return undefined;
}

/** Go's template truth: false, 0, nil, and empty strings/slices/maps are false. */
export function isTrue(v: unknown): boolean {
  switch (kindOf(v)) {
    case 'invalid':
    case 'nil':
      return false;
    case 'bool':
      return v as boolean;
    case 'int':
    case 'float':
      return typeof v === 'bigint' ? v !== 0n : (v as number) !== 0;
    case 'string':
      return (v as string).length > 0;
    case 'slice':
      return (v as ArrayLike<unknown>).length > 0;
    case 'map':
      return mapSize(v as object) > 0;
    default:
      return true;
  }
}
