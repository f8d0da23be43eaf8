/**
 * Layer compression: gzip through node:zlib, zstd through zstd-napi (Node 20's
 * zlib has no zstd). Detection is by magic bytes, as Docker does.
 */
import { PassThrough, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { createRequire } from 'node:module';

// zstd-napi is a native addon: loaded on first use, so commands that never see zstd don't pay for it
type ZstdModule = typeof import('zstd-napi');
let zstd: ZstdModule | undefined;
const loadZstd = (): ZstdModule => (zstd ??= createRequire(import.meta.url)('zstd-napi') as ZstdModule);
import { invalidArgument } from '../base/errors.js';

export type Compression = 'none' | 'gzip' | 'zstd';

/** Output chunk size of the decompressors (zlib's default of 16 KiB costs extra per-chunk work). */
const DECOMPRESS_CHUNK = 1 << 20;
/**
 * Output the decompressor may hold unread: inflate runs on libuv's thread pool, and with the
 * default 16 KiB it stopped after each chunk until the (synchronous) unpacker came back for
 * it, so inflating and unpacking took turns instead of overlapping.
 */
const DECOMPRESS_AHEAD = 4 << 20;

/** Compression of a stream, from its first bytes (at least 4 are needed to see zstd). */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** Names a compression Strata recognises but cannot decompress (xz, bzip2, lz4), or null. */
export function detectUnsupportedCompression(head: Uint8Array): string | null {
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (head.length >= 4 && head[0] === 0x04 && head[1] === 0x22 && head[2] === 0x4d && head[3] === 0x18) return 'lz4';
  return null;
}

/** gzip level defaults to 6 (Docker's), zstd level to 3 (zstd's default). */
export function compressStream(kind: Compression, level?: number): Transform {
  switch (kind) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return zlib.createGzip({ level: level ?? 6 });
    case 'zstd':
      return new (loadZstd().CompressStream)({ compressionLevel: level ?? 3 });
    default:
      throw invalidArgument(`unknown compression ${JSON.stringify(kind)}`);
  }
}

export function decompressStream(kind: Compression): Transform {
  switch (kind) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      // zlib hands its options on to Transform (the stream options are not in ZlibOptions' type)
      return zlib.createGunzip({ chunkSize: DECOMPRESS_CHUNK, readableHighWaterMark: DECOMPRESS_AHEAD, writableHighWaterMark: 1 << 20 } as zlib.ZlibOptions);
    case 'zstd':
      return new (loadZstd().DecompressStream)();
    default:
      throw invalidArgument(`unknown compression ${JSON.stringify(kind)}`);
  }
}

/** Media-type suffix helpers for callers that label blobs. */
export function compressionOfMediaType(mediaType: string): Compression | null {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.tar.zstd')) return 'zstd';
  if (mediaType.endsWith('.tar')) return 'none';
  return null;
}
