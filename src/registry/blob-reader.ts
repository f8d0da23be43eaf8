/** Reading a blob: a stream that resumes after dropped connections and verifies what it read. */
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { StrataError, corrupt } from '../base/errors.js';
import { NetworkError, type HttpResponse } from './http.js';
import { RETRY, backoff, isRetryable, sleep } from './retry.js';
import { definedOnUse } from '../base/lazy.js';

export interface BlobDescriptor { digest: string; size: number; mediaType?: string; }

/** Where a BlobReader gets its bytes (a repository). */
interface BlobSource {
  /** A response for a blob, from `offset` on (Range). */
  blobResponse(digest: string, offset: number): Promise<HttpResponse>;
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
export const blobReaderClass = definedOnUse(() =>
  class BlobReader extends Readable {
    received = 0;
    /** The digest of what was received, once all of it was. */
    digest: string | undefined;
    private hash: Hash = createHash('sha256');
    private res: IncomingMessage | undefined;
    private connecting = false;
    private failures = 0;
    private ended = false;

    private verify: boolean;

    constructor(private repo: BlobSource, readonly desc: BlobDescriptor, private opts: BlobReaderOptions = {}) {
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
  });
export type BlobReader = InstanceType<ReturnType<typeof blobReaderClass>>;

/** Counts bytes passing through (upload progress). */
export const counterClass = definedOnUse(() =>
  class Counter extends Transform {
    bytes = 0;
    constructor(private onBytes: (n: number) => void) { super({ highWaterMark: 1 << 20 }); }
    override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
      this.bytes += chunk.length;
      this.onBytes(this.bytes);
      cb(null, chunk);
    }
  });
