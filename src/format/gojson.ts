/** Go's `encoding/json` as docker output uses it: Go's escaping, key order and number format. */
import { rfc3339Nano } from '../base/time.js';
import { GO_MARSHAL_JSON, GoStructView, goTypeInfo, sortedEntries } from './govalue.js';
import { hex } from './strconv.js';


interface GoJsonOptions {
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
function goJsonString(s: string, escapeHTML = false): string {
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
