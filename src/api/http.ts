/**
 * HTTP plumbing of the Engine API: Docker's status codes (mapped once from StrataError
 * codes), JSON bodies with a size cap, query booleans and filters in both JSON shapes.
 */
import type * as http from 'node:http';
import { Writable } from 'node:stream';
import { StrataError, diskFullMessage, errnoCode, type ErrorCode } from '../base/errors.js';
import { VERSION } from '../base/version.js';

export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';
/** Largest JSON request body accepted. */
export const MAX_JSON_BODY = 1 << 20;

const STATUS: Record<ErrorCode, number> = {
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  invalid_argument: 400,
  failed_precondition: 409,
  corrupt: 500,
  unavailable: 503,
  not_implemented: 501,
  internal: 500,
};

/** The one mapping from an error to Docker's status code and message. */
export function errorStatus(e: unknown): { status: number; message: string } {
  // a full disk reads as Docker's (and the CLI's) line, whatever the layer that hit it
  const full = diskFullMessage(e, process.env.STRATA_ROOT || '/var/lib/strata');
  if (full) return { status: 500, message: full };
  if (e instanceof StrataError) return { status: STATUS[e.code] ?? 500, message: e.message };
  const code = errnoCode(e);
  if (code === 'ENOENT') return { status: 404, message: (e as Error).message };
  if (code === 'EACCES' || code === 'EPERM') return { status: 403, message: (e as Error).message };
  if (e instanceof SyntaxError) return { status: 400, message: e.message };
  return { status: 500, message: e instanceof Error ? e.message : String(e) };
}

/** Headers every response carries. */
export function commonHeaders(): Record<string, string> {
  return { 'Api-Version': API_VERSION, 'Docker-Experimental': 'false', Ostype: 'linux', Server: `Strata/${VERSION} (linux)` };
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { ...commonHeaders(), 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendEmpty(res: http.ServerResponse, status: number): void {
  res.writeHead(status, { ...commonHeaders(), ...(status === 204 || status === 304 ? {} : { 'Content-Length': 0 }) });
  res.end();
}

export function sendError(res: http.ServerResponse, e: unknown): void {
  const { status, message } = errorStatus(e);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { message });
}

/** A raw HTTP error response on a socket (before a hijack answered 101). */
export function rawError(status: number, message: string): string {
  const body = JSON.stringify({ message }) + '\n';
  const head = [`HTTP/1.1 ${status} ${statusText(status)}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, `Api-Version: ${API_VERSION}`, 'Connection: close'];
  return head.join('\r\n') + '\r\n\r\n' + body;
}

function statusText(status: number): string {
  return ({ 200: 'OK', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable' } as Record<number, string>)[status] ?? 'Error';
}

/** Read a request body, failing once it passes `limit` bytes. */
export function readBody(req: http.IncomingMessage, limit = MAX_JSON_BODY): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (d: Buffer) => {
      if (failed) return;
      size += d.length;
      if (size > limit) {
        failed = true;
        reject(new StrataError('invalid_argument', `request body is too large (limit ${limit} bytes)`));
        req.resume();
        return;
      }
      chunks.push(d);
    });
    req.on('end', () => { if (!failed) resolve(Buffer.concat(chunks)); });
    req.on('error', (e) => { if (!failed) { failed = true; reject(e); } });
  });
}

/** A JSON body: empty and `null` bodies give `null`; anything but JSON is a 400. */
export function parseJson(buf: Buffer): unknown {
  const text = buf.toString('utf8').trim();
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new StrataError('invalid_argument', `invalid JSON body: ${(e as Error).message}`);
  }
}

export async function jsonBody<T extends object>(req: http.IncomingMessage): Promise<Partial<T>> {
  const v = parseJson(await readBody(req));
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new StrataError('invalid_argument', 'invalid JSON body: expected an object');
  return v as Partial<T>;
}

/** The daemon's boolean rule: missing, "", 0, false, no, none are false; anything else true. */
export function qbool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  return !['', '0', 'false', 'no', 'none'].includes(v.trim().toLowerCase());
}

export function qint(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new StrataError('invalid_argument', `invalid value for ${name}: ${v}`);
  return Math.trunc(n);
}

/**
 * `filters` in either JSON shape — `{"key":{"value":true}}` (docker CLI) or
 * `{"key":["value"]}` (dockerode) — as the engine's `key=value` strings.
 */
export function parseFilters(raw: string | null): string[] {
  if (!raw) return [];
  let v: unknown;
  try { v = JSON.parse(raw); } catch { throw new StrataError('invalid_argument', `invalid filter: ${raw}`); }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new StrataError('invalid_argument', `invalid filter: ${raw}`);
  const out: string[] = [];
  for (const [k, vals] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(vals)) for (const x of vals) out.push(`${k}=${String(x)}`);
    else if (vals && typeof vals === 'object') {
      for (const [x, on] of Object.entries(vals as Record<string, unknown>)) if (on) out.push(`${k}=${x}`);
    } else if (typeof vals === 'string') out.push(`${k}=${vals}`);
    else throw new StrataError('invalid_argument', `invalid filter: ${raw}`);
  }
  return out;
}

/** `filters` as a map key → values. */
export function filterMap(list: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const f of list) {
    const i = f.indexOf('=');
    const k = i < 0 ? f : f.slice(0, i);
    const v = i < 0 ? '' : f.slice(i + 1);
    const a = m.get(k);
    if (a) a.push(v); else m.set(k, [v]);
  }
  return m;
}

/**
 * A response body written as a stream, with the 200 headers sent only with the first byte:
 * an error found before any output (no such image, no such path) is still a JSON error.
 */
export function lazyBody(res: http.ServerResponse, contentType: string): Writable {
  const begin = () => { if (!res.headersSent) res.writeHead(200, { ...commonHeaders(), 'Content-Type': contentType }); };
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      begin();
      if (res.destroyed) return cb(new Error('client went away'));
      if (res.write(chunk)) cb(); else res.once('drain', () => cb());
    },
    final(cb) { begin(); res.end(); cb(); },
  });
  res.on('close', () => { if (!res.writableFinished) out.destroy(); });
  return out;
}

/** End a lazyBody stream and wait until it is flushed. */
export function finish(out: Writable): Promise<void> {
  if (out.writableFinished) return Promise.resolve();
  return new Promise<void>((resolve, reject) => { out.once('finish', resolve); out.once('error', reject); out.end(); });
}
