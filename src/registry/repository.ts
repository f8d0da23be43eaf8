/** One repository of a registry: manifests, blob existence and reads, uploads, tags. */
import type { Readable } from 'node:stream';
import { StrataError, corrupt } from '../base/errors.js';
import { DIGEST_RE, sha256 } from '../image/digest.js';
import { MediaType } from '../image/types.js';
import { mergeScopes, repoScope } from './auth.js';
import { discard, readBody, type HttpResponse } from './http.js';
import { CONFIG_LIMIT, MANIFEST_ACCEPT, MANIFEST_LIMIT, registryError, type Transport } from './endpoint.js';
import { RETRY, backoff, isRetryable, sleep } from './retry.js';
import { blobReaderClass, type BlobReader, type BlobDescriptor, type BlobReaderOptions } from './blob-reader.js';

export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  mediaType: string;
}


/** One repository on a registry, with the actions its token must grant. */
export class Repository {
  readonly scopes: string[];
  constructor(readonly client: Transport, readonly path: string, readonly actions: string[], extraScopes: string[] = []) {
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
    return new (blobReaderClass())(this, desc, opts);
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
function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
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
