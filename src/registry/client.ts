/**
 * Distribution (OCI) API client: ping, manifests, blobs, uploads, tags.
 *
 *   const reg = RegistryClient.for('localhost:5000');
 *   const repo = reg.repository('team/app', ['pull']);
 *   const m = await repo.getManifest('v1');              // verified against its digest
 *   const rd = repo.openBlob(m.layers[0]);                // Readable; resumes, verifies at the end
 *
 * Every request carries the auth the registry asked for (see auth.ts); 5xx, 429 and dropped
 * connections are retried with backoff where the request can be replayed; blob reads resume
 * with `Range` (or by skipping what was already received when the server ignores Range).
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { StrataError, corrupt, type ErrorCode } from '../base/errors.js';
import { sha256 } from '../image/digest.js';
import { MediaType } from '../image/types.js';
import { Authorizer, errorText, mergeScopes, parseChallenges, repoScope } from './auth.js';
import { DOCKER_HUB, getCredentials, registrySettings, type Credentials } from './config.js';
import { NetworkError, discard, httpRequest, readBody, type HttpResponse } from './http.js';

export const MANIFEST_LIMIT = 4 << 20;
export const CONFIG_LIMIT = 8 << 20;

export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
];

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** An HTTP error from the registry, with its error codes (`MANIFEST_UNKNOWN`, `DENIED`, …). */
export class RegistryError extends StrataError {
  constructor(code: ErrorCode, message: string, readonly status: number, readonly codes: string[], readonly text: string) {
    super(code, message);
    this.name = 'RegistryError';
  }
}

function errorCodes(body: Buffer): string[] {
  try {
    const j = JSON.parse(body.toString()) as { errors?: { code?: string }[] };
    return (j.errors ?? []).map((e) => String(e.code ?? ''));
  } catch { return []; }
}

export async function registryError(res: HttpResponse, what?: string): Promise<RegistryError> {
  let body: Buffer = Buffer.alloc(0);
  if (res.body.readable && res.headers['content-length'] !== '0') {
    try { body = await readBody(res, 64 << 10); } catch { /* keep the status */ }
  }
  const codes = errorCodes(body);
  let text = errorText(body, res.status);
  if (body.length === 0) {
    // HEAD answers carry no body: say what distribution's error codes would
    if (res.status === 401) text = 'unauthorized: authentication required';
    else if (res.status === 403) text = 'denied: requested access to the resource is denied';
  }
  const code: ErrorCode = res.status === 404 ? 'not_found' : res.status === 401 || res.status === 403 ? 'failed_precondition'
    : res.status >= 500 || res.status === 429 ? 'unavailable' : 'invalid_argument';
  return new RegistryError(code, what ? `${what}: ${text}` : text, res.status, codes, text);
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h.endsWith('.localhost');
}

/** host[:port] of a reference domain (IPv6 literals keep their brackets). */
function hostOf(domain: string): string {
  if (domain.startsWith('[')) return domain.slice(0, domain.indexOf(']') + 1);
  const i = domain.lastIndexOf(':');
  return i < 0 ? domain : domain.slice(0, i);
}

export interface Endpoint { domain: string; base: URL; insecureTls: boolean; httpFallback: boolean; }

/**
 * Where a registry domain is served: Docker Hub at registry-1.docker.io; loopback over plain
 * HTTP (as Docker does); insecure registries over HTTPS without verification, then HTTP;
 * everything else HTTPS.
 */
export function resolveEndpoint(domain: string, insecure: string[] = registrySettings().insecureRegistries): Endpoint {
  if (domain === DOCKER_HUB) return { domain, base: new URL('https://registry-1.docker.io'), insecureTls: false, httpFallback: false };
  const host = hostOf(domain);
  if (isLoopback(host)) return { domain, base: new URL(`http://${domain}`), insecureTls: false, httpFallback: false };
  const listed = insecure.some((e) => e === domain || e === host);
  return { domain, base: new URL(`https://${domain}`), insecureTls: listed, httpFallback: listed };
}

export interface RequestOptions {
  method: string;
  /** A path below the endpoint (`/v2/...`) or an absolute URL (upload locations). */
  url: string | URL;
  scopes: string[];
  headers?: Record<string, string>;
  /** Body factory, called again on a retry. */
  body?: () => Buffer | Readable;
  contentLength?: number;
  /** Retry on 5xx/429/network errors (the request must be replayable). Default: true when there is no body or it is a Buffer. */
  retry?: boolean;
  followRedirects?: boolean;
  /** The body factory can be called again (false for a stream handed in once). Default true. */
  replayable?: boolean;
}

export interface RetryPolicy { attempts: number; baseDelayMs: number; }
export const RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250 };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export function backoff(attempt: number): number {
  return RETRY.baseDelayMs * 2 ** attempt;
}

export function isRetryable(e: unknown): boolean {
  if (e instanceof NetworkError) return e.retryable;
  if (e instanceof RegistryError) return e.status >= 500 || e.status === 429;
  return false;
}

const clients = new Map<string, RegistryClient>();

/** One registry (host). Shared per process so tokens and connections are reused. */
export class RegistryClient {
  readonly endpoint: Endpoint;
  readonly auth: Authorizer;
  private pinged: Promise<void> | undefined;

  /** `creds`: use these instead of the stored ones (login checks them; null = anonymous). */
  constructor(readonly domain: string, opts: { endpoint?: Endpoint; creds?: Credentials | null } = {}) {
    this.endpoint = opts.endpoint ?? resolveEndpoint(domain);
    const creds = opts.creds === undefined ? getCredentials(domain) : opts.creds ?? undefined;
    this.auth = new Authorizer(creds, this.endpoint.insecureTls);
  }

  static for(domain: string): RegistryClient {
    let c = clients.get(domain);
    if (!c) { c = new RegistryClient(domain); clients.set(domain, c); }
    return c;
  }

  /** Forget cached clients (credentials changed: login/logout). */
  static reset(): void { clients.clear(); }

  repository(path: string, actions: string[] = ['pull']): Repository {
    return new Repository(this, path, actions);
  }

  url(path: string): URL {
    return new URL(path, this.endpoint.base);
  }

  /** GET /v2/ once: learns the auth challenge, and for insecure registries whether HTTPS works. */
  ping(): Promise<void> {
    this.pinged ??= this.doPing().catch((e) => { this.pinged = undefined; throw e; });
    return this.pinged;
  }

  private async doPing(): Promise<void> {
    let res: HttpResponse;
    try {
      res = await this.withRetries(() => httpRequest({ method: 'GET', url: this.url('/v2/'), insecureTls: this.endpoint.insecureTls }));
    } catch (e) {
      if (!(this.endpoint.httpFallback && e instanceof NetworkError)) throw e;
      this.endpoint.base = new URL(`http://${this.domain}`);
      this.endpoint.httpFallback = false;
      res = await this.withRetries(() => httpRequest({ method: 'GET', url: this.url('/v2/') }));
    }
    if (res.status === 401) this.auth.setChallenge(res);
    discard(res);
  }

  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try { return await fn(); } catch (e) {
        if (attempt + 1 >= RETRY.attempts || !isRetryable(e)) throw e;
        await sleep(backoff(attempt));
      }
    }
  }

  /**
   * One API request with auth; a 401 is answered once (new token for the challenge's scope),
   * 5xx/429/network errors are retried with backoff when `retry`. Returns any other status.
   */
  async request(o: RequestOptions): Promise<HttpResponse> {
    await this.ping();
    const retry = o.retry ?? true;
    let scopes = o.scopes;
    let authRetried = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...o.headers };
      const url = typeof o.url === 'string' ? this.url(o.url) : o.url;
      const req: Parameters<typeof httpRequest>[0] = { method: o.method, url, headers, insecureTls: this.endpoint.insecureTls };
      let res: HttpResponse;
      try {
        // the token server can fail like the registry: inside the retried part
        const authz = await this.auth.authorize(scopes);
        if (authz) headers.Authorization = authz;
        if (o.body) req.body = o.body();
        if (o.contentLength !== undefined) req.contentLength = o.contentLength;
        if (o.followRedirects !== undefined) req.followRedirects = o.followRedirects;
        res = await httpRequest(req);
      } catch (e) {
        if (retry && attempt + 1 < RETRY.attempts && isRetryable(e)) { await sleep(backoff(attempt)); continue; }
        throw e;
      }
      if (res.status === 401 && !this.auth.creds && parseChallenges(res.headers['www-authenticate']).some((c) => c.scheme === 'basic')) {
        discard(res);
        if (req.body && !Buffer.isBuffer(req.body)) req.body.destroy();
        throw new RegistryError('failed_precondition', 'no basic auth credentials', 401, ['UNAUTHORIZED'], 'no basic auth credentials');
      }
      if (res.status === 401 && !authRetried) {
        // the token expired or the registry wants a scope we did not ask for: ask once more
        authRetried = true;
        this.auth.setChallenge(res);
        discard(res);
        if (req.body && !Buffer.isBuffer(req.body)) req.body.destroy();
        if (this.auth.challenge?.scheme === 'bearer') {
          this.auth.invalidate(scopes);
          scopes = mergeScopes([...scopes, ...this.auth.challengeScopes()]);
        }
        if (o.replayable === false) {
          throw new RegistryError('failed_precondition', 'unauthorized: authentication required', 401, ['UNAUTHORIZED'], 'unauthorized: authentication required');
        }
        attempt--;
        continue;
      }
      if ((res.status >= 500 || res.status === 429) && retry && attempt + 1 < RETRY.attempts) {
        discard(res);
        const ra = Number(res.headers['retry-after']);
        await sleep(Number.isFinite(ra) && ra > 0 ? Math.min(ra * 1000, 10_000) : backoff(attempt));
        continue;
      }
      return res;
    }
  }
}

export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  mediaType: string;
}

export interface BlobDescriptor { digest: string; size: number; mediaType?: string; }

/** One repository on a registry, with the actions its token must grant. */
export class Repository {
  readonly scopes: string[];
  constructor(readonly client: RegistryClient, readonly path: string, readonly actions: string[], extraScopes: string[] = []) {
    this.scopes = mergeScopes([repoScope(path, actions), ...extraScopes]);
  }

  /** The same repository with more scopes (a cross-repository mount needs pull on the source). */
  withScopes(extra: string[]): Repository {
    return new Repository(this.client, this.path, this.actions, extra);
  }

  private p(rest: string): string {
    return `/v2/${this.path}/${rest}`;
  }

  /**
   * GET a manifest by tag or digest, verified: by digest, the bytes must hash to it; by tag,
   * to the registry's Docker-Content-Digest when it sends one.
   */
  async getManifest(reference: string): Promise<FetchedManifest> {
    const res = await this.client.request({ method: 'GET', url: this.p(`manifests/${reference}`), scopes: this.scopes, headers: { Accept: MANIFEST_ACCEPT.join(', ') } });
    if (res.status !== 200) throw await registryError(res);
    const bytes = await readBody(res, MANIFEST_LIMIT);
    const digest = sha256(bytes);
    if (DIGEST_RE.test(reference) && reference !== digest) {
      throw corrupt(`manifest verification failed for digest ${reference}: content hashes to ${digest}`);
    }
    const header = String(res.headers['docker-content-digest'] ?? '');
    if (header.startsWith('sha256:') && header !== digest) {
      throw corrupt(`manifest verification failed for digest ${header}: content hashes to ${digest}`);
    }
    return { bytes, digest, mediaType: manifestMediaType(res.headers['content-type'], bytes) };
  }

  /** HEAD a blob: present (with the right size) or not. */
  async hasBlob(desc: BlobDescriptor): Promise<boolean> {
    const res = await this.client.request({ method: 'HEAD', url: this.p(`blobs/${desc.digest}`), scopes: this.scopes });
    discard(res);
    if (res.status === 200) {
      const len = Number(res.headers['content-length']);
      return !Number.isFinite(len) || len === desc.size;
    }
    if (res.status === 404) return false;
    throw await registryError(res);
  }

  /** A response for a blob, from `offset` on (Range). */
  async blobResponse(digest: string, offset: number): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    const res = await this.client.request({ method: 'GET', url: this.p(`blobs/${digest}`), scopes: this.scopes, headers });
    if (res.status === 200 || res.status === 206) return res;
    throw await registryError(res);
  }

  /** A small blob (config), read whole and verified. */
  async getBlobBytes(desc: BlobDescriptor, limit = CONFIG_LIMIT): Promise<Buffer> {
    if (desc.size > limit) throw corrupt(`blob ${desc.digest} is too large (${desc.size} bytes, limit ${limit})`);
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.blobResponse(desc.digest, 0);
        const bytes = await readBody(res, limit);
        const got = sha256(bytes);
        if (got !== desc.digest || bytes.length !== desc.size) {
          throw corrupt(`blob verification failed for digest ${desc.digest}: got ${bytes.length} bytes hashing to ${got}`);
        }
        return bytes;
      } catch (e) {
        if (attempt + 1 >= RETRY.attempts || !isRetryable(e)) throw e;
        await sleep(backoff(attempt));
      }
    }
  }

  /** A resuming stream of a blob, verified unless the consumer verifies (`verify: false`). */
  openBlob(desc: BlobDescriptor, opts: BlobReaderOptions = {}): BlobReader {
    return new BlobReader(this, desc, opts);
  }

  /**
   * POST an upload session. With `mountFrom`, ask for a cross-repository mount first:
   * 201 = mounted, nothing to upload; 202 = a plain upload session.
   */
  async startUpload(mount?: { digest: string; from: string }): Promise<{ mounted: true } | { mounted: false; location: URL }> {
    let path = this.p('blobs/uploads/');
    if (mount) path += `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}`;
    const res = await this.client.request({ method: 'POST', url: path, scopes: this.scopes });
    discard(res);
    if (mount && res.status === 201) return { mounted: true };
    if (res.status !== 202) throw await registryError(res);
    const loc = res.headers.location;
    if (!loc) throw new StrataError('unavailable', 'registry started an upload without a Location');
    return { mounted: false, location: new URL(loc, res.url) };
  }

  /** Monolithic upload: PUT location?digest= with the whole blob. */
  async putBlob(location: URL, desc: BlobDescriptor, open: () => Readable): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', desc.digest);
    const res = await this.client.request({
      method: 'PUT', url, scopes: this.scopes, body: open, contentLength: desc.size, retry: false,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    if (res.status !== 201 && res.status !== 204) throw await registryError(res);
    discard(res);
  }

  /** Chunked upload: PATCH Content-Range chunks, then PUT ?digest= (no body). */
  async patchBlob(location: URL, desc: BlobDescriptor, open: (start: number, end: number) => Readable, chunkSize: number): Promise<void> {
    let loc = location;
    for (let start = 0; start < desc.size; start += chunkSize) {
      const end = Math.min(start + chunkSize, desc.size) - 1;
      const res = await this.client.request({
        method: 'PATCH', url: loc, scopes: this.scopes, body: () => open(start, end), contentLength: end - start + 1, retry: false,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${end}` },
      });
      if (res.status !== 202) throw await registryError(res);
      discard(res);
      if (res.headers.location) loc = new URL(res.headers.location, res.url);
    }
    await this.finishUpload(loc, desc.digest);
  }

  /** Stream a blob of unknown digest in one PATCH (chunked encoding); returns the next location. */
  async patchStream(location: URL, body: Readable): Promise<URL> {
    const res = await this.client.request({
      method: 'PATCH', url: location, scopes: this.scopes, body: () => body, retry: false, replayable: false,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    if (res.status !== 202) throw await registryError(res);
    discard(res);
    return res.headers.location ? new URL(res.headers.location, res.url) : location;
  }

  async finishUpload(location: URL, digest: string): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const res = await this.client.request({ method: 'PUT', url, scopes: this.scopes, retry: false });
    if (res.status !== 201 && res.status !== 204) throw await registryError(res);
    discard(res);
  }

  /** Best effort: cancel an upload session. */
  async cancelUpload(location: URL): Promise<void> {
    try { discard(await this.client.request({ method: 'DELETE', url: location, scopes: this.scopes, retry: false })); } catch { /* the session expires anyway */ }
  }

  /** PUT a manifest; returns its digest (checked against the registry's). */
  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const res = await this.client.request({
      method: 'PUT', url: this.p(`manifests/${reference}`), scopes: this.scopes, body: () => bytes,
      headers: { 'Content-Type': mediaType },
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await registryError(res);
    discard(res);
    const header = String(res.headers['docker-content-digest'] ?? '');
    if (header && header !== digest) throw corrupt(`registry stored the manifest as ${header}, expected ${digest}`);
    return digest;
  }

  /** All tags (follows `Link: <…>; rel="next"` pagination). */
  async listTags(): Promise<string[]> {
    const tags: string[] = [];
    let next: string | URL | undefined = this.p('tags/list');
    for (let pages = 0; next && pages < 1000; pages++) {
      const res: HttpResponse = await this.client.request({ method: 'GET', url: next, scopes: this.scopes });
      if (res.status !== 200) throw await registryError(res);
      const j = JSON.parse((await readBody(res, 16 << 20)).toString()) as { tags?: string[] | null };
      tags.push(...(j.tags ?? []));
      const link = String(res.headers.link ?? '');
      const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
      next = m ? new URL(m[1]!, res.url) : undefined;
    }
    return tags;
  }
}

/** The manifest media type from Content-Type, else from the document itself. */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const ct = (contentType ?? '').split(';')[0]!.trim();
  if ((MANIFEST_ACCEPT as string[]).includes(ct)) return ct;
  try {
    const j = JSON.parse(bytes.toString()) as { mediaType?: string; manifests?: unknown; config?: unknown; schemaVersion?: number };
    if (typeof j.mediaType === 'string' && j.mediaType) return j.mediaType;
    if (j.schemaVersion === 1) return 'application/vnd.docker.distribution.manifest.v1+prettyjws';
    if (Array.isArray(j.manifests)) return MediaType.OciIndex;
    if (j.config) return MediaType.OciManifest;
  } catch { /* reported by the parser */ }
  return ct || 'application/octet-stream';
}

export interface BlobReaderOptions {
  onBytes?: (received: number) => void;
  /**
   * Hash as the bytes arrive and fail the stream at the end on a mismatch (default). A
   * consumer that hashes anyway (the pull's content ingest) passes false: one sha256 pass
   * fewer, and verifyRemainder() then downloads the blob again to judge it.
   */
  verify?: boolean;
}

/**
 * A blob as a Readable. A connection that drops (or a 5xx) is resumed with
 * `Range: bytes=N-` (a server that answers 200 instead has the first N bytes skipped); at the
 * end the size (and unless told otherwise the digest) must match or the stream errors ("digest
 * mismatch"). More bytes than the descriptor's size fail at once.
 */
export class BlobReader extends Readable {
  received = 0;
  /** The digest of what was received, once all of it was. */
  digest: string | undefined;
  private hash: Hash = createHash('sha256');
  private res: IncomingMessage | undefined;
  private connecting = false;
  private failures = 0;
  private ended = false;

  private verify: boolean;

  constructor(private repo: Repository, readonly desc: BlobDescriptor, private opts: BlobReaderOptions = {}) {
    super({ highWaterMark: 1 << 20 });
    this.verify = opts.verify ?? true;
  }

  override _read(): void {
    if (this.res) this.res.resume();
    else if (!this.connecting && !this.ended) void this.connect();
  }

  private async connect(): Promise<void> {
    this.connecting = true;
    try {
      const res = await this.repo.blobResponse(this.desc.digest, this.received);
      if (this.destroyed) { res.body.destroy(); return; }
      let skip = 0;
      if (this.received > 0) {
        if (res.status === 206) {
          const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
          if (!m || Number(m[1]) !== this.received) { res.body.destroy(); throw corrupt(`registry resumed blob ${this.desc.digest} at the wrong offset`); }
        } else skip = this.received; // no Range support: read again, drop what we have
      }
      this.attach(res.body, skip);
    } catch (e) {
      this.retryOrFail(e);
    } finally {
      this.connecting = false;
    }
  }

  private attach(res: IncomingMessage, skip: number): void {
    this.res = res;
    let toSkip = skip;
    let over = false;
    res.on('data', (chunk: Buffer) => {
      if (this.destroyed) return;
      if (toSkip > 0) {
        if (chunk.length <= toSkip) { toSkip -= chunk.length; return; }
        chunk = chunk.subarray(toSkip);
        toSkip = 0;
      }
      if (this.received + chunk.length > this.desc.size) {
        this.fail(corrupt(`blob ${this.desc.digest} is larger than its descriptor says (${this.desc.size} bytes): digest mismatch`));
        return;
      }
      if (this.verify) this.hash.update(chunk);
      this.received += chunk.length;
      this.failures = 0;
      this.opts.onBytes?.(this.received);
      if (!this.push(chunk)) res.pause();
    });
    res.once('end', () => {
      if (over) return;
      over = true;
      this.res = undefined;
      if (this.destroyed) return;
      if (this.received < this.desc.size) this.retryOrFail(new NetworkError(`blob ${this.desc.digest}: connection closed after ${this.received} of ${this.desc.size} bytes`, 'ECONNRESET'));
      else this.finish();
    });
    res.on('error', (e) => {
      if (over) return;
      over = true;
      this.res = undefined;
      if (!this.destroyed) this.retryOrFail(e);
    });
  }

  private retryOrFail(e: unknown): void {
    this.res = undefined;
    const err = e instanceof StrataError ? e : new NetworkError(`blob ${this.desc.digest}: ${(e as Error).message}`, (e as NodeJS.ErrnoException).code, { cause: e });
    const retryable = isRetryable(err) || (err instanceof NetworkError && err.errno === undefined);
    if (!retryable || ++this.failures >= RETRY.attempts) { this.fail(err); return; }
    setTimeout(() => { if (!this.destroyed) void this.connect(); }, backoff(this.failures - 1));
  }

  private finish(): void {
    this.ended = true;
    if (!this.verify) { this.push(null); return; }
    this.digest = `sha256:${this.hash.digest('hex')}`;
    if (this.digest !== this.desc.digest) {
      this.fail(corrupt(`filesystem layer verification failed for digest ${this.desc.digest}: digest mismatch (content hashes to ${this.digest})`));
      return;
    }
    this.push(null);
  }

  private fail(e: Error): void {
    this.ended = true;
    this.res?.destroy();
    this.res = undefined;
    this.destroy(e);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.res?.destroy();
    this.res = undefined;
    cb(err);
  }

  /**
   * After the consumer gave up (say the unpacker choked on the bytes): fetch the rest and tell
   * whether the blob as served matches its digest. Returns the digest of what was served.
   */
  async verifyRemainder(): Promise<string> {
    if (this.digest) return this.digest;
    if (!this.verify) {
      // nothing was hashed: judge the blob from a fresh download
      this.verify = true;
      this.hash = createHash('sha256');
      this.received = 0;
    }
    for (let failures = 0; this.received < this.desc.size;) {
      try {
        const res = await this.repo.blobResponse(this.desc.digest, this.received);
        let skip = res.status === 206 ? 0 : this.received;
        for await (const c of res.body as AsyncIterable<Buffer>) {
          let chunk = c;
          if (skip > 0) {
            if (chunk.length <= skip) { skip -= chunk.length; continue; }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          if (this.received + chunk.length > this.desc.size) { res.body.destroy(); this.received = Infinity; break; }
          this.hash.update(chunk);
          this.received += chunk.length;
        }
      } catch (e) {
        if (++failures >= RETRY.attempts || !isRetryable(e instanceof StrataError ? e : new NetworkError(String(e), undefined))) throw e;
        await sleep(backoff(failures - 1));
      }
    }
    this.digest = this.received === this.desc.size ? `sha256:${this.hash.digest('hex')}` : 'sha256:size-mismatch';
    return this.digest;
  }
}

/** Counts bytes passing through (upload progress). */
export class Counter extends Transform {
  bytes = 0;
  constructor(private onBytes: (n: number) => void) { super({ highWaterMark: 1 << 20 }); }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    cb(null, chunk);
  }
}

export { DIGEST_RE };
