/**
 * layer/: Strata's own tar codec and layer pack/unpack.
 *
 *   unpackLayer(stream, dir, {mode:'overlay'})  -> { diffId, tarSize, compression, contentSize, entries }
 *   packDir(upperDir, out, {mode:'overlay-upper'}) -> { diffId, size, entries }
 *   readTar(stream) / TarWriter                  low-level reading and writing
 *   compressStream / decompressStream            gzip (node:zlib), zstd (zstd-napi)
 */
export {
  type Compression, compressStream, compressionOfMediaType, decompressStream, detectCompression, detectUnsupportedCompression,
} from './compression.js';
export { type UnpackOptions, type UnpackResult, unpackLayer } from './unpack.js';
export { type PackOptions, type PackResult, type StagedFile, packDir, spliceStaged } from './pack.js';
export { TarWriter, type TarEntryOptions } from './tar-writer.js';
export {
  type ByteInput, type ReadTarOptions, type SourceInfo, type TarEntry, DEFAULT_MAX_ENTRIES, defaultMaxExpandedBytes, readTar,
} from './tar-reader.js';
export { type TarEntryType, type TarHeader } from './tar-header.js';
export { type MknodFn, type NodeKind, mknodCli } from './mknod.js';
export { type ChunkHasher, Sha256Hasher } from './hasher.js';
export { binToUtf8, fsPath, show, toBin } from './paths.js';
export { getXattr, readXattrs, withXattrPath } from './xattr.js';
