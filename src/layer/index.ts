/**
 * layer/: Strata's own tar codec and layer pack/unpack.
 *
 *   unpackLayer(stream, dir, {mode:'overlay'})  -> { diffId, tarSize, compression, contentSize, entries }
 *   scanLayer(stream)                            -> the same figures, without writing a file
 *   packDir(upperDir, out, {mode:'overlay-upper'}) -> { diffId, size, entries }
 *   readTar(stream) / TarWriter                  low-level reading and writing
 *   compressStream / decompressStream            gzip (node:zlib), zstd (zstd-napi)
 */
export { type Compression, compressStream, compressionOfMediaType, decompressStream, detectCompression } from './compression.js';
export { type UnpackOptions, type UnpackResult, scanLayer, unpackLayer } from './unpack.js';
export { type PackOptions, type PackStat, fileType, packDir, spliceStaged } from './pack.js';
export { TarWriter } from './tar-writer.js';
export { readTar } from './tar-reader.js';
export { type TarHeader } from './tar-header.js';
export { mknodCli } from './mknod.js';
export { binToUtf8, fsPath, toBin } from './paths.js';
export { getXattr, withXattrPath } from './xattr.js';
