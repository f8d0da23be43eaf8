import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { corrupt, notFound } from '../base/errors.js';
import { fsyncDir, mkdirp, writeAllAsync } from '../base/fs.js';
import { urandom } from '../base/random.js';
import { hexOf, isDigestHex, type Digest } from '../image/digest.js';
import { definedOnUse } from '../base/lazy.js';
import { sha256Hex } from '../base/sha256.js';

/** Blobs up to this size are verified by base/sha256.ts (~1 ms at most): see readBytes. */
const SMALL_BLOB = 64 * 1024;

/** A blob's digest: by base/sha256.ts up to SMALL_BLOB (no node:crypto to load), by node:crypto above. */
function blobDigest(bytes: Uint8Array): Digest {
  return `sha256:${bytes.length <= SMALL_BLOB ? sha256Hex(bytes) : createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

/** A sha256 computed on the thread pool (the kernel door's poolHasher): updates one at a time, in order. */
interface PoolHasher {
  update(buf: Buffer): Promise<void>;
  digest(): string;
}

/**
 * Content-addressed blob store: blobs/sha256/<hex>.
 * Writes go to a temp file in tmp/ (same filesystem) -> digest verified -> fsync -> rename,
 * so a blob never exists half-written under its final name. Reads verify.
 */
export class ContentStore {
  readonly blobDir: string;
  /** `poolHasher`: where a background ingest may hash on the thread pool (null: not here) */
  constructor(readonly root: string, readonly tmpDir: string, private readonly poolHasher?: () => PoolHasher | null) {
    this.blobDir = path.join(root, 'blobs', 'sha256');
    mkdirp(this.blobDir);
    mkdirp(tmpDir);
  }

  pathOf(digest: string): string {
    return path.join(this.blobDir, hexOf(digest));
  }

  has(digest: string): boolean {
    try { return fs.statSync(this.pathOf(digest)).isFile(); } catch { return false; }
  }

  size(digest: string): number {
    try { return fs.statSync(this.pathOf(digest)).size; } catch { throw notFound(`blob ${digest} not found`); }
  }

  /**
   * Start an ingest. Write chunks, then commit() with the expected digest (if known). A
   * `background` ingest writes on the thread pool while the caller goes on (an unpacker on the
   * main thread); it ends with finish() or abortAsync().
   */
  ingest(opts: { background?: boolean; hashOnPool?: boolean } = {}): Ingest {
    const bg = opts.background === true;
    return new Ingest(this, bg, bg && opts.hashOnPool === true ? this.poolHasher?.() ?? undefined : undefined);
  }

  /** Store a small buffer (manifest, config). Returns its digest. */
  putBytes(data: Uint8Array | string, expected?: string): Digest {
    // already stored (a rebuilt image's config): no temp file, no fsync
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    // hashed once, here (blobDigest: a config or a manifest without node:crypto)
    const digest = blobDigest(bytes);
    if ((expected === undefined || expected === digest) && this.has(digest)) return digest;
    if (expected !== undefined && expected !== digest) throw corrupt(`digest mismatch: expected ${expected}, got ${digest}`);
    const ing = this.ingest();
    try {
      ing.hashElsewhere();
      ing.write(bytes);
      return ing.commit(digest);
    } catch (e) {
      ing.abort();
      throw e;
    }
  }

  /** Read a whole blob and verify its digest. */
  readBytes(digest: string): Buffer {
    let buf: Buffer;
    try { buf = fs.readFileSync(this.pathOf(digest)); } catch { throw notFound(`blob ${digest} not found`); }
    // a config or a manifest is a few KiB: hashed in JavaScript, without loading node:crypto (~6 ms)
    const got = blobDigest(buf);
    if (got !== digest) throw corrupt(`blob ${digest} is corrupt (content hashes to ${got})`);
    return buf;
  }

  /** Stream a blob; the stream errors at the end if the bytes do not match the digest. */
  openRead(digest: string): Readable {
    const p = this.pathOf(digest);
    if (!this.has(digest)) throw notFound(`blob ${digest} not found`);
    return fs.createReadStream(p, { highWaterMark: 1 << 20 }).pipe(new (verifyStreamClass())(digest));
  }

  /** Verify a blob on disk (for `system check`). */
  async verify(digest: string): Promise<boolean> {
    const h = createHash('sha256');
    const fd = fs.openSync(this.pathOf(digest), 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
      }
    } finally { fs.closeSync(fd); }
    return `sha256:${h.digest('hex')}` === digest;
  }

  /**
   * Move a file whose digest the caller has just verified (it is in tmp/, on this filesystem)
   * into the store: fsync, rename. Used by load, so a layer is not copied a second time.
   */
  adopt(file: string, digest: string): void {
    if (this.has(digest)) { fs.rmSync(file, { force: true }); return; }
    const fd = fs.openSync(file, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    fs.renameSync(file, this.pathOf(digest));
    fsyncDir(this.blobDir);
  }

  list(): Digest[] {
    let names: string[] = [];
    try { names = fs.readdirSync(this.blobDir); } catch { /* empty store */ }
    return names.filter((n) => isDigestHex(n)).map((n) => `sha256:${n}` as Digest);
  }

  delete(digest: string): void {
    fs.rmSync(this.pathOf(digest), { force: true });
  }
}

/** Bytes a background ingest may hold before its producer waits (drained()). */
const BACKLOG = 8 << 20;

/**
 * A background ingest starts the disk writing every this many bytes (fdatasync on another
 * thread while the writes go on), so that the fsync that ends it waits for the last stretch
 * only: the page cache would otherwise hold the whole blob until then (a 246 MB import here:
 * ~300 ms of writeback after the last write).
 */
const FLUSH_EVERY = 32 << 20;

export class Ingest {
  private fd: number;
  readonly tmpPath: string;
  /** made by the first write that this ingest hashes itself (none with a pool hash or hashElsewhere) */
  private hashState: Hash | undefined;
  private get hash(): Hash {
    return (this.hashState ??= createHash('sha256'));
  }
  private done = false;
  written = 0;
  /** background writes: the chain of pending writes, the bytes in it, the first failure */
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];
  /** the chains of background writes and of the pool hash's updates (each in order, one at a time) */
  private writing: Promise<void> = Promise.resolve();
  private hashing: Promise<void> = Promise.resolve();
  /** background writes done since the last early flush started, and that flush */
  private unflushed = 0;
  private flushing: Promise<void> | undefined;

  /**
   * `pool`: the writes hash too, on the thread pool (a background ingest): the main thread
   * never hashes, and the digest is known once the writes are over (settledDigest()).
   */
  constructor(private store: ContentStore, private readonly background = false, private readonly pool?: PoolHasher) {
    // random bytes from /dev/urandom, as for every temp name: node:crypto costs ~6 ms to load
    this.tmpPath = path.join(store.tmpDir, `${process.pid}-blob-${urandom(6).toString('hex')}`);
    this.fd = fs.openSync(this.tmpPath, 'wx', 0o644);
  }

  /** The caller computes the digest of these bytes itself (e.g. a plain tar's diff_id): don't hash twice. */
  private external = false;
  hashElsewhere(): void {
    if (this.written) throw new Error('hashElsewhere() must come before the first write');
    this.external = true;
  }

  write(chunk: Uint8Array): void {
    if (!this.external && !this.pool) this.hash.update(chunk);
    this.written += chunk.length;
    if (this.background) {
      // in order, one at a time; the caller must not change the chunk afterwards
      this.queued += chunk.length;
      const settle = (e?: unknown): void => {
        if (e) this.failure ??= e as Error;
        else if ((this.unflushed += chunk.length) >= FLUSH_EVERY && !this.flushing) this.flushEarly();
        this.queued -= chunk.length;
        if (this.queued <= BACKLOG || this.failure) for (const w of this.waiters.splice(0)) w();
      };
      // writes in order, one at a time; with a pool hash, the hash's updates likewise, beside
      // them on another thread (246 MB here: ~180 ms of hashing, ~60 of writing)
      const written = this.writing.then(() => (this.failure ? undefined : writeAllAsync(this.fd, chunk)));
      this.writing = written.then(noop, noop);
      let done: Promise<unknown> = written;
      const pool = this.pool;
      if (pool) {
        const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        const hashed = this.hashing.then(() => (this.failure ? undefined : pool.update(buf)));
        this.hashing = hashed.then(noop, noop);
        done = Promise.all([written, hashed]);
      }
      this.queue = Promise.all([this.queue, done.then(() => settle(), settle)]).then(noop);
      return;
    }
    let off = 0;
    while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
  }

  private flushEarly(): void {
    this.unflushed = 0;
    this.flushing = new Promise<void>((resolve) => fs.fdatasync(this.fd, () => { this.flushing = undefined; resolve(); }));
  }

  /** The first background write that failed (ENOSPC...): the producer stops with it. */
  get error(): Error | undefined {
    return this.background ? this.failure : undefined;
  }

  /** For a producer: a promise while a background ingest holds more than BACKLOG bytes. */
  drained(): Promise<void> | undefined {
    if (!this.background || this.queued <= BACKLOG) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * commit() for a background ingest: waits for its writes, then fsyncs on the thread pool.
   * A failed write is reported here; nothing is left under any name.
   */
  async finish(expected?: string, expectedSize?: number): Promise<Digest> {
    await this.queue;
    await this.flushing; // its errors are the fsync's below
    if (this.failure) {
      this.abort();
      throw this.failure;
    }
    if (!this.done) {
      try {
        await new Promise<void>((resolve, reject) => fs.fsync(this.fd, (e) => (e ? reject(e) : resolve())));
      } catch (e) {
        this.abort();
        throw e;
      }
    }
    return this.seal(expected, expectedSize, false);
  }

  /** abort() once the background writes are over (none of them touches a closed descriptor). */
  async abortAsync(): Promise<void> {
    this.failure ??= new Error('aborted');
    await this.queue;
    await this.flushing;
    this.abort();
  }

  /** The digest of what was written so far (the ingest goes on); with a pool hash, of the writes already done. */
  peekDigest(): Digest {
    if (this.pool) return this.pool.digest() as Digest;
    return `sha256:${this.hash.copy().digest('hex')}` as Digest;
  }

  /** Settles once every write so far is done (and hashed); never rejects. */
  settled(): Promise<void> {
    return this.queue;
  }

  /** The digest of everything written, once the background writes are over. */
  async settledDigest(): Promise<Digest> {
    await this.queue;
    if (this.failure) throw this.failure;
    return this.peekDigest();
  }

  /** Verify (when expected is given), fsync, rename into place. Returns the digest. */
  commit(expected?: string, expectedSize?: number): Digest {
    if (this.background) throw new Error('a background ingest ends with finish()');
    return this.seal(expected, expectedSize, true);
  }

  /** Verify, fsync unless finish() did, close and rename into place. */
  private seal(expected: string | undefined, expectedSize: number | undefined, fsync: boolean): Digest {
    if (this.done) throw new Error('ingest already finished');
    if (this.external && expected === undefined) throw new Error('an ingest hashed elsewhere needs its digest');
    const digest = (this.external ? expected : this.pool ? this.pool.digest() : `sha256:${this.hash.digest('hex')}`) as Digest;
    try {
      if (expectedSize !== undefined && expectedSize !== this.written) {
        throw corrupt(`size mismatch: expected ${expectedSize} bytes, got ${this.written}`);
      }
      if (expected !== undefined && expected !== digest) {
        throw corrupt(`digest mismatch: expected ${expected}, got ${digest}`);
      }
      if (fsync) fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.done = true;
      const final = this.store.pathOf(digest);
      if (this.store.has(digest)) fs.rmSync(this.tmpPath, { force: true });
      else {
        fs.renameSync(this.tmpPath, final);
        fsyncDir(this.store.blobDir);
      }
      return digest;
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  abort(): void {
    if (this.background && this.queued > 0) throw new Error('a background ingest with writes pending ends with abortAsync()');
    if (!this.done) {
      this.done = true;
      try { fs.closeSync(this.fd); } catch { /* already closed */ }
    }
    fs.rmSync(this.tmpPath, { force: true });
  }
}

const noop = (): void => undefined;


/** Pass-through that fails at the end when the digest differs. */
const verifyStreamClass = definedOnUse(() =>
  class VerifyStream extends Transform {
    private h = createHash('sha256');
    constructor(private expected: string) { super(); }
    override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      this.h.update(chunk);
      cb(null, chunk);
    }
    override _flush(cb: TransformCallback): void {
      const got = `sha256:${this.h.digest('hex')}`;
      cb(got === this.expected ? null : corrupt(`blob ${this.expected} is corrupt (content hashes to ${got})`));
    }
  });
