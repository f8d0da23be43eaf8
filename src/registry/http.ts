/**
 * Minimal HTTP/1.1 client on node:http(s) for the distribution API: keep-alive agents,
 * streamed request and response bodies (no layer is ever held in memory), redirects for
 * GET/HEAD (blob storage backends redirect to S3-like URLs), and network errors described
 * the way Go's net/http does, since that is what Docker users see.
 *
 * Why not global fetch: web streams cost a copy per chunk and hide the socket; here a
 * dropped connection is an ordinary stream error that the blob reader resumes from.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { Readable } from 'node:stream';
import { StrataError, errnoCode } from '../base/errors.js';

interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** A Buffer, or a stream (sent with Content-Length when `contentLength` is given, chunked otherwise). */
  body?: Buffer | Readable;
  contentLength?: number;
  /** Follow redirects (GET/HEAD only); default true for those. */
  followRedirects?: boolean;
  /** Accept any TLS certificate (insecure registries). */
  insecureTls?: boolean;
  /** Socket idle timeout in ms (default 60 s). */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The final URL (after redirects). */
  url: URL;
  body: http.IncomingMessage;
}

/** keep-alive agents, made on first use (a command that never talks to a registry loads no TLS) */
let agentSet: { http: http.Agent; https: https.Agent; httpsInsecure: https.Agent } | undefined;
const agents = (): NonNullable<typeof agentSet> => (agentSet ??= {
  http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
  httpsInsecure: new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false }),
});

const MAX_REDIRECTS = 10;
const USER_AGENT = 'strata/0.1.0';

/** A network failure (no HTTP status): retryable unless it is a name or TLS problem. */
export class NetworkError extends StrataError {
  constructor(message: string, readonly errno: string | undefined, options?: { cause?: unknown }) {
    super('unavailable', message, options);
    this.name = 'NetworkError';
  }
  get retryable(): boolean {
    return !['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'EPROTO'].includes(this.errno ?? '');
  }
}

function goMethod(m: string): string {
  return m.charAt(0) + m.slice(1).toLowerCase();
}

/** Go's wording: `Get "https://x/v2/": dial tcp: lookup x: no such host`. */
function describeNetError(method: string, url: URL, e: unknown): NetworkError {
  const code = errnoCode(e);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  let what: string;
  switch (code) {
    case 'ENOTFOUND': case 'EAI_AGAIN': what = `dial tcp: lookup ${host}: no such host`; break;
    case 'ECONNREFUSED': what = `dial tcp ${addr}: connect: connection refused`; break;
    case 'ETIMEDOUT': case 'ESOCKETTIMEDOUT': what = `dial tcp ${addr}: i/o timeout`; break;
    case 'ECONNRESET': what = `read tcp ${addr}: read: connection reset by peer`; break;
    case 'EPIPE': what = `write tcp ${addr}: write: broken pipe`; break;
    case 'EPROTO': what = `http: server gave HTTP response to HTTPS client`; break;
    default: what = (e as Error)?.message ?? String(e);
  }
  return new NetworkError(`${goMethod(method)} "${url.href}": ${what}`, code, { cause: e });
}

/** Send one request; resolves once the response headers are in. Redirects are followed for GET/HEAD. */
export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  let url = req.url;
  let headers: Record<string, string> = { 'User-Agent': USER_AGENT, ...req.headers };
  const follow = req.followRedirects ?? (req.method === 'GET' || req.method === 'HEAD');
  for (let hop = 0; ; hop++) {
    const res = await once({ ...req, url, headers });
    const loc = res.headers.location;
    if (follow && loc && [301, 302, 303, 307, 308].includes(res.status)) {
      if (hop >= MAX_REDIRECTS) {
        res.body.resume();
        throw new NetworkError(`${goMethod(req.method)} "${url.href}": stopped after ${MAX_REDIRECTS} redirects`, undefined);
      }
      res.body.resume();
      const next = new URL(loc, url);
      // credentials for the registry must not leak to the storage backend (presigned URLs refuse them anyway)
      if (next.host !== url.host) {
        const { Authorization: _a, authorization: _b, ...rest } = headers as Record<string, string>;
        headers = rest;
      }
      url = next;
      continue;
    }
    return res;
  }
}

function once(req: HttpRequest): Promise<HttpResponse> {
  const url = req.url;
  const isHttps = url.protocol === 'https:';
  const mod = isHttps ? https : http;
  const agent = isHttps ? (req.insecureTls ? agents().httpsInsecure : agents().https) : agents().http;
  const headers: Record<string, string> = { ...req.headers };
  if (Buffer.isBuffer(req.body)) headers['Content-Length'] = String(req.body.length);
  else if (req.body && req.contentLength !== undefined) headers['Content-Length'] = String(req.contentLength);
  else if (!req.body && ['PUT', 'POST', 'PATCH'].includes(req.method)) headers['Content-Length'] = '0';
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown) => {
      if (req.body && !Buffer.isBuffer(req.body)) { req.body.unpipe(); req.body.destroy(); }
      if (settled) return;
      settled = true;
      reject(e instanceof NetworkError ? e : describeNetError(req.method, url, e));
    };
    const cr = mod.request(url, { method: req.method, headers, agent }, (res) => {
      settled = true;
      res.setTimeout(req.timeoutMs ?? 60_000, () => res.destroy(Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' })));
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
    });
    cr.setTimeout(req.timeoutMs ?? 60_000, () => cr.destroy(Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' })));
    cr.on('error', fail);
    if (Buffer.isBuffer(req.body)) cr.end(req.body);
    else if (req.body) {
      const body = req.body;
      body.on('error', (e) => { cr.destroy(e); fail(e); });
      body.pipe(cr);
    } else cr.end();
  });
}

/** Read a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy();
    throw new StrataError('corrupt', `response from ${res.url.href} is too large (${declared} bytes, limit ${limit})`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res.body as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > limit) {
        res.body.destroy();
        throw new StrataError('corrupt', `response from ${res.url.href} is too large (more than ${limit} bytes)`);
      }
      chunks.push(c);
    }
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw describeNetError('GET', res.url, e);
  }
  return Buffer.concat(chunks);
}

/** Discard a body so the socket goes back to the pool. */
export function discard(res: HttpResponse): void {
  res.body.resume();
  res.body.on('error', () => { /* the request is over; a late reset changes nothing */ });
}
