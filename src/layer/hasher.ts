/**
 * sha256 of a byte stream, computed on a worker thread once the stream is big
 * enough to be worth it. Without SHA-NI (as on the CI machines) sha256 runs at
 * roughly the speed of extracting the tar itself, so hashing inline would
 * nearly double the time of unpacking or packing a large layer; on a second
 * core it overlaps with the filesystem work.
 *
 * Small streams (< 4 MiB) are hashed inline: starting a worker costs ~50 ms. Where the CPU
 * hashes in hardware (SHA-NI, arm64 SHA2) everything is hashed inline: see hardwareSha256().
 * Chunks are copied (callers reuse their buffers); at most 64 MiB is in flight
 * before update() asks the caller to wait.
 */
import { type Hash, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';

/**
 * Whether the CPU hashes sha256 in hardware (x86 SHA-NI, arm64 SHA2): then OpenSSL does
 * ~1.2 GB/s and hashing inline is cheaper than handing the bytes to a worker, whose copy and
 * postMessage of each chunk cost the main thread more than the hash itself (a pull of an
 * 89 MB layer: ~110 ms of postMessage plus GC, against ~75 ms to hash it inline).
 * Read when first needed (a cpuinfo read per process that hashes, none for the others).
 */
let hwSha: boolean | undefined;
function hardwareSha256(): boolean {
  if (hwSha === undefined) {
    try {
      const info = fs.readFileSync('/proc/cpuinfo', 'latin1');
      const flags = /^(?:flags|Features)\s*:(.*)$/m.exec(info)?.[1] ?? '';
      hwSha = / (?:sha_ni|sha2)(?= |$)/.test(flags);
    } catch {
      hwSha = false;
    }
  }
  return hwSha;
}

const WORKER_CODE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const h = createHash('sha256');
parentPort.on('message', (m) => {
  if (m === null) { parentPort.postMessage({ digest: h.digest('hex') }); return; }
  h.update(new Uint8Array(m));
  parentPort.postMessage({ done: m.byteLength });
});
`;

export interface ChunkHasher {
  /** Add bytes; a returned promise asks the caller to wait (backpressure). */
  update(chunk: Buffer): Promise<void> | undefined;
  /** 'sha256:<hex>' of everything added. */
  digest(): Promise<string>;
  /** Release the worker (idempotent; also after digest()). */
  close(): void;
}

interface HasherOptions {
  /** bytes hashed inline before a worker is started (default 4 MiB; Infinity = never) */
  threshold?: number;
  maxInflight?: number;
}

const DEFAULT_THRESHOLD = 4 * 1024 * 1024;

export class Sha256Hasher implements ChunkHasher {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inline: Hash | null = null;
  private worker: Worker | null = null;
  private inflight = 0;
  private waiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private digestWaiter: { resolve: (d: string) => void; reject: (e: Error) => void } | null = null;
  private error: Error | null = null;
  private readonly threshold: number;
  private readonly maxInflight: number;

  constructor(opts: HasherOptions = {}) {
    const env = process.env['STRATA_LAYER_HASH_WORKER'];
    this.threshold = env === '0' ? Infinity : opts.threshold ?? (env === '1' || !hardwareSha256() ? DEFAULT_THRESHOLD : Infinity);
    this.maxInflight = opts.maxInflight ?? 64 * 1024 * 1024;
  }

  update(chunk: Buffer): Promise<void> | undefined {
    if (this.error) throw this.error;
    // no worker ever: hash as the bytes come (buffering copies of them all for digest() cost a
    // copy and a serial hash at the end); node:crypto is loaded by the first bytes (~6 ms), not
    // by a hasher that gets none (an import of a plain tar, whose blob's digest is its diff_id)
    if (this.threshold === Infinity) this.inline ??= createHash('sha256');
    if (this.inline) {
      this.inline.update(chunk);
      return undefined;
    }
    if (this.worker === null) {
      // keep a copy (callers reuse their buffers) until we know whether the stream is big
      this.pending.push(Buffer.from(chunk));
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < this.threshold) return undefined;
      if (!this.startWorker()) {
        this.inline = createHash('sha256');
        for (const p of this.pending) this.inline.update(p);
        this.pending = [];
        return undefined;
      }
      const buffered = this.pending;
      this.pending = [];
      for (const p of buffered) this.post(p);
      return this.backpressure();
    }
    this.post(chunk);
    return this.backpressure();
  }

  private startWorker(): boolean {
    try {
      const w = new Worker(WORKER_CODE, { eval: true });
      w.unref();
      w.on('message', (m: { done?: number; digest?: string }) => {
        if (m.digest !== undefined) {
          this.digestWaiter?.resolve(`sha256:${m.digest}`);
          this.digestWaiter = null;
          return;
        }
        this.inflight -= m.done ?? 0;
        if (this.waiter && this.inflight <= this.maxInflight / 2) {
          const w2 = this.waiter;
          this.waiter = null;
          w2.resolve();
        }
      });
      w.on('error', (e: Error) => this.fail(e));
      w.on('exit', (code) => {
        if (this.digestWaiter || this.waiter) this.fail(new Error(`hash worker exited (${code})`));
      });
      this.worker = w;
      return true;
    } catch {
      return false;
    }
  }

  private fail(e: Error): void {
    this.error ??= e;
    this.waiter?.reject(e);
    this.waiter = null;
    this.digestWaiter?.reject(e);
    this.digestWaiter = null;
  }

  private post(chunk: Buffer): void {
    const ab = new ArrayBuffer(chunk.length);
    new Uint8Array(ab).set(chunk);
    this.worker!.postMessage(ab, [ab]);
    this.inflight += chunk.length;
  }

  private backpressure(): Promise<void> | undefined {
    if (this.inflight <= this.maxInflight) return undefined;
    return new Promise((resolve, reject) => { this.waiter = { resolve, reject }; });
  }

  async digest(): Promise<string> {
    if (this.error) throw this.error;
    if (this.worker === null) {
      const h = this.inline ?? createHash('sha256');
      if (!this.inline) for (const p of this.pending) h.update(p);
      this.pending = [];
      return `sha256:${h.digest('hex')}`;
    }
    const w = this.worker;
    const d = await new Promise<string>((resolve, reject) => {
      this.digestWaiter = { resolve, reject };
      w.postMessage(null);
    });
    this.close();
    return d;
  }

  close(): void {
    this.pending = [];
    if (this.worker) {
      const w = this.worker;
      this.worker = null;
      this.inline = null;
      void w.terminate();
    }
  }
}
