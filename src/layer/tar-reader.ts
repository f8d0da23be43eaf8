/**
 * Streaming tar reading: a byte source that sniffs and removes compression,
 * counts and hashes the uncompressed bytes and enforces the expansion limit;
 * and a pull-based reader that yields one header at a time and hands out the
 * body as views into the incoming chunks (no per-entry copies).
 */
import type { Hash } from 'node:crypto';
import type { ChunkHasher } from './hasher.js';
import { Readable, pipeline } from 'node:stream';
import { StrataError, corrupt, invalidArgument } from '../base/errors.js';
import { type Compression, decompressStream, detectCompression, detectUnsupportedCompression } from './compression.js';
import {
  BLOCK, MAX_GNU_LONG_BYTES, MAX_PAX_BYTES, type TarHeader,
  buildHeader, decodeRawHeader, gnuSparseEntries, isZeroBlock, padding, takeSparse,
} from './tar-header.js';
import { parsePax } from './tar-pax.js';
import { MAX_SPARSE_SEGMENTS, type SparseSegment, checkSparseMap } from './tar-sparse.js';

const EMPTY = Buffer.alloc(0);
/** What the holes of sparse files read as (never written to). */
const ZEROS = Buffer.alloc(64 * 1024);
/** Largest accepted sparse map at the start of a format 1.0 body. */
const MAX_SPARSE_MAP_BYTES = 16 * 1024 * 1024;
const GiB = 1024 * 1024 * 1024;
export const DEFAULT_MAX_ENTRIES = 5_000_000;

/** STRATA_MAX_LAYER_BYTES, or 64 GiB. */
export function defaultMaxExpandedBytes(): number {
  const env = process.env['STRATA_MAX_LAYER_BYTES'];
  if (env !== undefined && /^[0-9]+$/.test(env.trim())) {
    const n = Number(env.trim());
    if (Number.isSafeInteger(n) && n > 0) return n;
  }
  return 64 * GiB;
}

function expansionLimitError(limit: number): StrataError {
  return invalidArgument(`archive expands beyond the limit of ${limit} bytes (set STRATA_MAX_LAYER_BYTES)`);
}

export type ByteInput = NodeJS.ReadableStream | Readable | AsyncIterable<Uint8Array | string>;

/** What a TarSource learned about its input; filled in as bytes flow. */
export interface SourceInfo {
  compression: Compression;
  /** uncompressed bytes seen */
  bytes: number;
}

interface SourceOptions {
  /** detect and remove gzip/zstd (default true) */
  decompress?: boolean;
  /** fail once more than this many uncompressed bytes arrive */
  maxBytes?: number;
  /** updated with every uncompressed chunk; a promise returned by update() is awaited (backpressure) */
  hash?: Hash | ChunkHasher;
  /** leave `hash` alone when the input is not compressed (its caller hashes those bytes already) */
  hashCompressedOnly?: boolean;
  /** called with every uncompressed chunk */
  onChunk?: (chunk: Buffer) => void;
}

/** Marks an error raised by the input itself, so it is not reported as a compression error. */
class InputError {
  constructor(readonly cause: unknown) {}
}

function toBuffer(c: Uint8Array | string): Buffer {
  if (typeof c === 'string') return Buffer.from(c);
  return Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

/**
 * The uncompressed bytes of `input` as a stream of Buffers. Compression is
 * sniffed from the first bytes; `info` is filled in as data flows.
 */
export async function* uncompressedChunks(input: ByteInput, info: SourceInfo, opts: SourceOptions = {}): AsyncGenerator<Buffer, void, undefined> {
  const it = (input as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
  const maxBytes = opts.maxBytes ?? Infinity;
  let hash = opts.hash;
  const meter = (c: Buffer): Promise<void> | undefined => {
    info.bytes += c.length;
    if (info.bytes > maxBytes) throw expansionLimitError(maxBytes);
    opts.onChunk?.(c);
    const r = hash?.update(c);
    return r instanceof Promise ? r : undefined;
  };
  let itDone = false;
  try {
    // Peek at least 6 bytes for the magic.
    const head: Buffer[] = [];
    let headLen = 0;
    while (headLen < 6) {
      const r = await it.next();
      if (r.done) { itDone = true; break; }
      const b = toBuffer(r.value);
      if (b.length > 0) { head.push(b); headLen += b.length; }
    }
    const first = head.length === 1 ? head[0]! : Buffer.concat(head);
    let kind: Compression = 'none';
    if (opts.decompress !== false) {
      const unsupported = detectUnsupportedCompression(first);
      if (unsupported) throw invalidArgument(`${unsupported}-compressed archives are not supported (use gzip, zstd or no compression)`);
      kind = detectCompression(first);
    }
    info.compression = kind;
    if (kind === 'none' && opts.hashCompressedOnly) hash = undefined;
    if (kind === 'none') {
      if (first.length > 0) { const w = meter(first); if (w) await w; yield first; }
      while (!itDone) {
        const r = await it.next();
        if (r.done) { itDone = true; break; }
        const b = toBuffer(r.value);
        if (b.length === 0) continue;
        const w = meter(b);
        if (w) await w;
        yield b;
      }
      return;
    }
    async function* compressed(): AsyncGenerator<Buffer> {
      try {
        if (first.length > 0) yield first;
        while (!itDone) {
          const r = await it.next();
          if (r.done) { itDone = true; break; }
          yield toBuffer(r.value);
        }
      } catch (e) {
        throw new InputError(e);
      }
    }
    const src = Readable.from(compressed(), { objectMode: false });
    const d = decompressStream(kind);
    pipeline(src, d, () => { /* errors surface through iterating d */ });
    try {
      for await (const c of d as AsyncIterable<Buffer>) {
        const w = meter(c);
        if (w) await w;
        yield c;
      }
    } catch (e) {
      if (e instanceof InputError) throw e.cause;
      if (e instanceof StrataError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      throw corrupt(`invalid ${kind} stream: ${msg}`, e);
    } finally {
      d.destroy();
      src.destroy();
    }
  } finally {
    if (!itDone) {
      // stop the input (closes a file stream early on errors)
      try { await it.return?.(); } catch { /* already failing */ }
      const s = input as { destroy?: () => void };
      if (typeof s.destroy === 'function') s.destroy();
    }
  }
}

interface TarReaderOptions {
  /** a declared entry size reaching past this many bytes fails early */
  maxBytes?: number;
  /** more real entries than this fail */
  maxEntries?: number;
}

/**
 * Pull-based tar reader. `next()` returns the next real entry's header (PAX and
 * GNU long-name records applied) or null at the end-of-archive marker; the body
 * is read with bodyPieceSync()/bodyPiece() while `bodyLeft > 0`, or skipped by
 * the next call to next().
 */
export class TarReader {
  private readonly it: AsyncIterator<Buffer>;
  private chunk: Buffer = EMPTY;
  private pos = 0;
  private eof = false;
  private finished = false;
  /** bytes of the tar consumed so far */
  offset = 0;
  /** body bytes of the current entry not read yet (logical bytes: a sparse file's holes count) */
  bodyLeft = 0;
  /** stored body bytes of the current entry not consumed yet */
  private storedLeft = 0;
  private padLeft = 0;
  /** the current entry's sparse map, or null */
  private sparse: SparseSegment[] | null = null;
  private sparseIdx = 0;
  private bodySize = 0;
  /** real entries returned so far */
  entries = 0;
  private readonly maxBytes: number;
  private readonly maxEntries: number;

  constructor(source: AsyncIterable<Buffer>, opts: TarReaderOptions = {}) {
    this.it = source[Symbol.asyncIterator]();
    this.maxBytes = opts.maxBytes ?? Infinity;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  private async pull(): Promise<boolean> {
    while (!this.eof) {
      const r = await this.it.next();
      if (r.done) { this.eof = true; break; }
      if (r.value.length === 0) continue;
      this.chunk = r.value;
      this.pos = 0;
      return true;
    }
    this.chunk = EMPTY;
    this.pos = 0;
    return false;
  }

  private unexpectedEof(): StrataError {
    return corrupt(`unexpected EOF: the archive is truncated (at offset ${this.offset})`);
  }

  /** One 512-byte block (a view, valid until the next read), or null at a clean EOF. */
  private async readBlock(): Promise<Buffer | null> {
    if (this.chunk.length - this.pos >= BLOCK) {
      const b = this.chunk.subarray(this.pos, this.pos + BLOCK);
      this.pos += BLOCK;
      this.offset += BLOCK;
      return b;
    }
    const out = Buffer.allocUnsafe(BLOCK);
    let have = 0;
    while (have < BLOCK) {
      if (this.pos >= this.chunk.length && !(await this.pull())) {
        if (have === 0) return null;
        throw this.unexpectedEof();
      }
      const n = Math.min(BLOCK - have, this.chunk.length - this.pos);
      this.chunk.copy(out, have, this.pos, this.pos + n);
      this.pos += n;
      have += n;
      this.offset += n;
    }
    return out;
  }

  /** Exactly n bytes (a copy). */
  private async readExact(n: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(n);
    let have = 0;
    while (have < n) {
      if (this.pos >= this.chunk.length && !(await this.pull())) throw this.unexpectedEof();
      const k = Math.min(n - have, this.chunk.length - this.pos);
      this.chunk.copy(out, have, this.pos, this.pos + k);
      this.pos += k;
      have += k;
      this.offset += k;
    }
    return out;
  }

  private async skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.pos >= this.chunk.length && !(await this.pull())) throw this.unexpectedEof();
      const k = Math.min(n, this.chunk.length - this.pos);
      this.pos += k;
      this.offset += k;
      n -= k;
    }
  }

  /** Next piece of the current body from what is already buffered, or null if a pull is needed. */
  bodyPieceSync(): Buffer | null {
    if (this.bodyLeft === 0) return null;
    let n: number;
    if (this.sparse !== null) {
      const hole = this.holeLeft();
      if (hole > 0) {
        n = hole < ZEROS.length ? hole : ZEROS.length;
        this.bodyLeft -= n;
        return ZEROS.subarray(0, n);
      }
      const seg = this.sparse[this.sparseIdx]!;
      const inSeg = seg.offset + seg.length - (this.bodySize - this.bodyLeft);
      const avail = this.chunk.length - this.pos;
      if (avail === 0) return null;
      n = avail < inSeg ? avail : inSeg;
    } else {
      const avail = this.chunk.length - this.pos;
      if (avail === 0) return null;
      n = avail < this.bodyLeft ? avail : this.bodyLeft;
    }
    const b = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.offset += n;
    this.bodyLeft -= n;
    this.storedLeft -= n;
    return b;
  }

  /** Next piece of the current body (a view into the input chunk); EMPTY when the body is done. */
  async bodyPiece(): Promise<Buffer> {
    if (this.bodyLeft === 0) return EMPTY;
    const b = this.bodyPieceSync();
    if (b !== null) return b;
    if (!(await this.pull())) throw this.unexpectedEof();
    return this.bodyPieceSync()!;
  }

  /** Bytes of hole (zeros not stored in the archive) at the current body position; 0 in data. */
  holeLeft(): number {
    if (this.sparse === null || this.bodyLeft === 0) return 0;
    const pos = this.bodySize - this.bodyLeft;
    let seg = this.sparse[this.sparseIdx];
    while (seg !== undefined && pos >= seg.offset + seg.length) seg = this.sparse[++this.sparseIdx];
    return seg === undefined ? this.bodyLeft : pos < seg.offset ? seg.offset - pos : 0;
  }

  /** Pass over n bytes of hole (at most holeLeft()). */
  skipHole(n: number): void {
    if (n > this.holeLeft()) throw new StrataError('internal', 'skipHole past the end of a hole');
    this.bodyLeft -= n;
  }

  /** The map of a format 1.0 sparse body: decimal lines (count, then offset/length pairs), block padded. */
  private async readSparseMap(storedSize: number): Promise<{ map: SparseSegment[]; bytes: number }> {
    const nums: number[] = [];
    let want = -1;
    let bytes = 0;
    let cur = '';
    while (want < 0 || nums.length < want) {
      if (bytes + BLOCK > storedSize || bytes + BLOCK > MAX_SPARSE_MAP_BYTES) throw corrupt('invalid tar entry: bad sparse map');
      const blk = await this.readBlock();
      if (blk === null) throw this.unexpectedEof();
      bytes += BLOCK;
      for (let i = 0; i < BLOCK && (want < 0 || nums.length < want); i++) {
        const c = blk[i]!;
        if (c === 0x0a) {
          if (cur === '' || cur.length > 19) throw corrupt('invalid tar entry: bad sparse map');
          const v = Number(cur);
          if (!Number.isSafeInteger(v)) throw corrupt('invalid tar entry: bad sparse map');
          cur = '';
          if (want < 0) {
            if (v > MAX_SPARSE_SEGMENTS) throw corrupt(`invalid tar entry: too many sparse segments (${v})`);
            want = 2 * v;
          } else {
            nums.push(v);
          }
        } else if (c >= 0x30 && c <= 0x39) {
          cur += String.fromCharCode(c);
        } else {
          throw corrupt('invalid tar entry: bad sparse map');
        }
      }
    }
    const map: SparseSegment[] = [];
    for (let i = 0; i < nums.length; i += 2) map.push({ offset: nums[i]!, length: nums[i + 1]! });
    return { map, bytes };
  }

  async next(): Promise<TarHeader | null> {
    if (this.finished) return null;
    if (this.storedLeft + this.padLeft > 0) await this.skip(this.storedLeft + this.padLeft);
    this.bodyLeft = 0;
    this.storedLeft = 0;
    this.padLeft = 0;
    this.sparse = null;
    let pax: Map<string, Buffer> | null = null;
    let longName: Buffer | null = null;
    let longLink: Buffer | null = null;
    for (;;) {
      const at = this.offset;
      const blk = await this.readBlock();
      if (blk === null) throw corrupt(`unexpected EOF: the archive ended without an end-of-archive marker (at offset ${at})`);
      if (isZeroBlock(blk)) {
        // End of archive: two zero blocks. A lone zero block at EOF is accepted (GNU tar and Go do).
        const second = await this.readBlock();
        if (second !== null && !isZeroBlock(second)) throw corrupt(`invalid tar archive: a zero block followed by data at offset ${at}`);
        if (pax || longName || longLink) throw corrupt('invalid tar archive: extended header records without an entry');
        this.finished = true;
        return null;
      }
      const raw = decodeRawHeader(blk, at);
      const tf = raw.typeflag;
      if (tf === 0x78 || tf === 0x67 || tf === 0x58) {
        // 'x' local PAX, 'g' global PAX (ignored), 'X' old Solaris PAX
        if (raw.size > MAX_PAX_BYTES) throw corrupt(`invalid tar archive: PAX header too large (${raw.size} bytes at offset ${at})`);
        const data = await this.readExact(raw.size);
        await this.skip(padding(raw.size));
        if (tf === 0x67) {
          parsePax(data, new Map());
        } else {
          pax ??= new Map();
          parsePax(data, pax);
        }
        continue;
      }
      if (tf === 0x4c || tf === 0x4b) {
        // GNU 'L' long name / 'K' long link: the data is the NUL-terminated name
        if (raw.size > MAX_GNU_LONG_BYTES) throw corrupt(`invalid tar archive: GNU long ${tf === 0x4c ? 'name' : 'link'} record too large (${raw.size} bytes at offset ${at})`);
        const data = await this.readExact(raw.size);
        await this.skip(padding(raw.size));
        const nul = data.indexOf(0);
        const v = nul >= 0 ? data.subarray(0, nul) : data;
        if (tf === 0x4c) longName = v; else longLink = v;
        continue;
      }
      const h = buildHeader(raw, pax, longName, longLink);
      if (++this.entries > this.maxEntries) throw invalidArgument(`archive has more than ${this.maxEntries} entries`);
      const sp = takeSparse(h);
      if (sp === undefined) {
        if (this.offset + h.size > this.maxBytes) throw expansionLimitError(this.maxBytes);
        this.bodyLeft = h.size;
        this.storedLeft = h.size;
        this.padLeft = padding(h.size);
        return h;
      }
      // GNU sparse: complete the map (extension blocks, or the start of a 1.0 body)
      let map = sp.map;
      let mapBytes = 0;
      if (map !== null && sp.extended) {
        for (let more = true; more;) {
          const blk = await this.readBlock();
          if (blk === null) throw this.unexpectedEof();
          gnuSparseEntries(blk, 0, 21, map);
          if (map.length > MAX_SPARSE_SEGMENTS) throw corrupt(`invalid tar entry: too many sparse segments`);
          more = blk[504] !== 0;
        }
      }
      if (map === null) ({ map, bytes: mapBytes } = await this.readSparseMap(sp.storedSize));
      if (this.offset + sp.storedSize - mapBytes > this.maxBytes || h.size > this.maxBytes) throw expansionLimitError(this.maxBytes);
      h.sparse = checkSparseMap(map, h.size, sp.storedSize - mapBytes);
      this.sparse = h.sparse;
      this.sparseIdx = 0;
      this.bodySize = h.size;
      this.bodyLeft = h.size;
      this.storedLeft = sp.storedSize - mapBytes;
      this.padLeft = padding(sp.storedSize);
      return h;
    }
  }

  /** After the end-of-archive marker: consume the rest of the input (hashing/trailer checks happen upstream). */
  async drain(): Promise<void> {
    if (this.storedLeft + this.padLeft > 0) await this.skip(this.storedLeft + this.padLeft);
    this.bodyLeft = 0;
    this.storedLeft = 0;
    this.padLeft = 0;
    this.sparse = null;
    this.pos = this.chunk.length;
    while (await this.pull()) this.pos = this.chunk.length;
  }

  /** Stop reading early; closes the source. */
  async close(): Promise<void> {
    try { await this.it.return?.(); } catch { /* closing after a failure */ }
  }
}

/** One entry of readTar(): its header and a way to read or skip its body. */
interface TarEntry {
  header: TarHeader;
  /** the body in pieces (views valid until the next piece is requested) */
  body(): AsyncIterable<Buffer>;
  /** the whole body in one Buffer; fails when it is larger than maxBytes (default 64 MiB) */
  read(maxBytes?: number): Promise<Buffer>;
  /** skip the body (also done implicitly by asking for the next entry) */
  skip(): Promise<void>;
}

interface ReadTarOptions extends SourceOptions, TarReaderOptions {
  /** filled in with the detected compression and byte count */
  info?: SourceInfo;
}

/**
 * Iterate the entries of a tar stream (gzip/zstd detected unless
 * decompress:false). Stops at the end-of-archive marker without reading the rest.
 */
export async function* readTar(input: ByteInput, opts: ReadTarOptions = {}): AsyncGenerator<TarEntry, void, undefined> {
  const info: SourceInfo = opts.info ?? { compression: 'none', bytes: 0 };
  const reader = new TarReader(uncompressedChunks(input, info, opts), opts);
  try {
    for (;;) {
      const header = await reader.next();
      if (!header) return;
      let consumed = false;
      const entry: TarEntry = {
        header,
        body: async function* () {
          if (consumed) throw new StrataError('failed_precondition', 'tar entry body was already read');
          consumed = true;
          while (reader.bodyLeft > 0) yield reader.bodyPieceSync() ?? (await reader.bodyPiece());
        },
        read: async (maxBytes = 64 * 1024 * 1024) => {
          if (header.size > maxBytes) throw invalidArgument(`tar entry ${JSON.stringify(header.name)} is too large (${header.size} bytes, limit ${maxBytes})`);
          if (consumed) throw new StrataError('failed_precondition', 'tar entry body was already read');
          consumed = true;
          const out = Buffer.allocUnsafe(reader.bodyLeft);
          let off = 0;
          while (reader.bodyLeft > 0) {
            const p = reader.bodyPieceSync() ?? (await reader.bodyPiece());
            p.copy(out, off);
            off += p.length;
          }
          return out;
        },
        skip: async () => {
          consumed = true;
          while (reader.bodyLeft > 0) {
            const hole = reader.holeLeft();
            if (hole > 0) reader.skipHole(hole);
            else if (reader.bodyPieceSync() === null) await reader.bodyPiece();
          }
        },
      };
      yield entry;
    }
  } finally {
    await reader.close();
  }
}

