/**
 * Tar header codec: ustar blocks, base-256 numbers, PAX records.
 *
 * Names and link targets are kept as bytes (tar has no encoding); PAX records are
 * parsed by their length prefix over bytes so binary `SCHILY.xattr.*` values
 * survive exactly (node-tar and tar-stream both lose them, see libraries.md A.1).
 */
import { isUtf8 } from 'node:buffer';
import { StrataError, corrupt } from '../base/errors.js';

export const BLOCK = 512;

/** Largest accepted PAX extended header (local or global). */
export const MAX_PAX_BYTES = 1024 * 1024;
/** Largest accepted GNU long name / long link record. */
export const MAX_GNU_LONG_BYTES = 64 * 1024;
/** Largest accepted entry name or link target, in bytes (Linux PATH_MAX - 1). */
export const MAX_NAME_BYTES = 4095;

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

const TYPEFLAG: Record<TarEntryType, number> = {
  file: 0x30, // '0'
  link: 0x31, // '1'
  symlink: 0x32, // '2'
  char: 0x33, // '3'
  block: 0x34, // '4'
  dir: 0x35, // '5'
  fifo: 0x36, // '6'
};

/** S_IFMT bits Docker (Go's archive/tar) keeps in the mode field. */
export const TYPE_MODE_BITS: Record<TarEntryType, number> = {
  file: 0o100000,
  link: 0o100000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  dir: 0o040000,
  fifo: 0o010000,
};

/** A decoded entry header, after PAX / GNU long-name records were applied. */
export interface TarHeader {
  /** Entry name decoded as UTF-8 (lossy for non-UTF-8 bytes; use nameBytes for exactness). */
  name: string;
  nameBytes: Buffer;
  type: TarEntryType;
  /** the raw typeflag character ('0', '1', ... ; '\0' for old regular files) */
  typeflag: string;
  size: number;
  /** permission bits incl. setuid/setgid/sticky (type bits stripped) */
  mode: number;
  uid: number;
  gid: number;
  /** whole seconds since the epoch (floor) */
  mtime: number;
  /** nanoseconds part of the mtime, 0..999999999 */
  mtimeNsec: number;
  /** from PAX atime when present */
  atime?: { sec: number; nsec: number };
  linkname: string;
  linknameBytes: Buffer;
  devmajor: number;
  devminor: number;
  uname: string;
  gname: string;
  /** SCHILY.xattr.* records, values byte-exact */
  xattrs: Map<string, Buffer>;
  /**
   * A GNU sparse file: the data segments of the `size` logical bytes (the rest
   * are holes, read as zeros). Set by the reader once the map is known.
   */
  sparse?: SparseSegment[];
}

/** One data segment of a sparse file: `length` bytes stored for logical offset `offset`. */
export interface SparseSegment {
  offset: number;
  length: number;
}

/** Where a sparse entry's map is, as learned from the headers (internal to the reader). */
interface SparsePending {
  /** the map when the headers held it; null for format 1.0 (the map opens the body) */
  map: SparseSegment[] | null;
  /** old GNU 'S': extension blocks with more map entries follow the header */
  extended: boolean;
  /** stored bytes of the body (the map blocks of format 1.0 included) */
  storedSize: number;
}

/** Largest accepted number of segments in one sparse map. */
export const MAX_SPARSE_SEGMENTS = 1_000_000;

function ascii(buf: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && buf[end] !== 0) end++;
  return buf.toString('latin1', off, end);
}

/** bytes of a NUL-terminated field (a copy: headers outlive the chunk they came from) */
function fieldBytes(buf: Buffer, off: number, len: number): Buffer {
  let end = off;
  const max = off + len;
  while (end < max && buf[end] !== 0) end++;
  return Buffer.from(buf.subarray(off, end));
}

/**
 * Numeric header field: octal ASCII (leading spaces / NULs allowed, ended by
 * space or NUL) or base-256 (high bit of the first byte set; 0xff = negative).
 */
function parseNumeric(buf: Buffer, off: number, len: number, field: string, allowNegative = false): number {
  const b0 = buf[off]!;
  if (b0 & 0x80) {
    const negative = b0 === 0xff;
    if (negative && !allowNegative) throw corrupt(`invalid tar header: negative ${field}`);
    let v = 0;
    for (let i = 0; i < len; i++) {
      let b = buf[off + i]!;
      if (i === 0) b = negative ? 0xff : b & 0x7f;
      if (negative) b = 0xff - b; // ones' complement, add 1 at the end
      v = v * 256 + b;
      if (v > Number.MAX_SAFE_INTEGER) throw corrupt(`invalid tar header: ${field} overflows`);
    }
    return negative ? -(v + 1) : v;
  }
  let i = off;
  const end = off + len;
  while (i < end && buf[i] === 0x20) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw corrupt(`invalid tar header: bad ${field} field`);
    v = v * 8 + (c - 0x30);
  }
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c !== 0x20 && c !== 0) throw corrupt(`invalid tar header: bad ${field} field`);
  }
  return v;
}

export function isZeroBlock(b: Buffer, off = 0): boolean {
  for (let i = off; i < off + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** Sum of the header bytes with the checksum field read as spaces: unsigned and signed (old tars). */
function headerChecksums(b: Buffer, off = 0): [number, number] {
  let u = 0;
  let s = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[off + i]!;
    u += c;
    s += c > 127 ? c - 256 : c;
  }
  return [u, s];
}

/** The unsigned checksum only (the hot path: one tight loop). */
function unsignedChecksum(b: Buffer): number {
  let u = 0;
  for (let i = 0; i < BLOCK; i++) u += b[i]!;
  for (let i = 148; i < 156; i++) u -= b[i]!;
  return u + 8 * 0x20;
}

/** The raw ustar/GNU/v7 header fields of one 512-byte block. */
interface RawHeader {
  typeflag: number;
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: Buffer;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** old GNU sparse ('S') fields */
  gnuSparse?: { map: SparseSegment[]; extended: boolean; realSize: number };
}

/** Up to `count` old GNU sparse map entries (12-byte offset + 12-byte length) from `off`; stops at an empty one. */
export function gnuSparseEntries(b: Buffer, off: number, count: number, into: SparseSegment[]): void {
  for (let i = 0; i < count; i++) {
    const at = off + i * 24;
    if (b[at] === 0) break;
    into.push({ offset: parseNumeric(b, at, 12, 'sparse offset'), length: parseNumeric(b, at + 12, 12, 'sparse length') });
  }
}

/** Decode and checksum-verify one header block. `at` is the archive offset, for messages. */
export function decodeRawHeader(b: Buffer, at: number): RawHeader {
  let stored: number;
  try {
    stored = parseNumeric(b, 148, 8, 'checksum');
  } catch {
    throw corrupt(`invalid tar header at offset ${at} (not a tar archive?)`);
  }
  if (stored !== unsignedChecksum(b) && stored !== headerChecksums(b)[1]) {
    throw corrupt(`invalid tar header at offset ${at}: bad checksum (not a tar archive, or corrupted)`);
  }
  const typeflag = b[156]!;
  // "ustar\0" + "00": POSIX, has a prefix field. "ustar  \0": GNU, that area holds atime/ctime.
  const posix = b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72 && b[262] === 0;
  let name = fieldBytes(b, 0, 100);
  if (posix && b[345] !== 0) {
    const prefix = fieldBytes(b, 345, 155);
    name = Buffer.concat([prefix, Buffer.from('/'), name]);
  }
  return {
    typeflag,
    name,
    mode: parseNumeric(b, 100, 8, 'mode'),
    uid: parseNumeric(b, 108, 8, 'uid'),
    gid: parseNumeric(b, 116, 8, 'gid'),
    size: parseNumeric(b, 124, 12, 'size'),
    mtime: parseNumeric(b, 136, 12, 'mtime', true),
    linkname: fieldBytes(b, 157, 100),
    uname: ascii(b, 265, 32),
    gname: ascii(b, 297, 32),
    devmajor: typeflag === 0x33 || typeflag === 0x34 ? parseNumeric(b, 329, 8, 'devmajor') : 0,
    devminor: typeflag === 0x33 || typeflag === 0x34 ? parseNumeric(b, 337, 8, 'devminor') : 0,
    ...(typeflag === 0x53 ? { gnuSparse: oldGnuSparse(b) } : {}),
  };
}

function oldGnuSparse(b: Buffer): { map: SparseSegment[]; extended: boolean; realSize: number } {
  const map: SparseSegment[] = [];
  gnuSparseEntries(b, 386, 4, map);
  return { map, extended: b[482] !== 0, realSize: parseNumeric(b, 483, 12, 'sparse real size') };
}

/**
 * Parse PAX extended header records `"<len> <key>=<value>\n"` by their length
 * prefix, over bytes. Later records override earlier ones (merged into `into`).
 */
export function parsePax(data: Buffer, into: Map<string, Buffer>): void {
  let pos = 0;
  const n = data.length;
  while (pos < n) {
    if (data[pos] === 0) {
      // NUL padding after the last record (seen from some writers)
      for (let i = pos; i < n; i++) if (data[i] !== 0) throw corrupt('invalid PAX header: garbage after records');
      return;
    }
    let len = 0;
    let i = pos;
    while (i < n && data[i]! >= 0x30 && data[i]! <= 0x39 && i - pos < 10) {
      len = len * 10 + (data[i]! - 0x30);
      i++;
    }
    if (i === pos || i >= n || data[i] !== 0x20) throw corrupt('invalid PAX header: bad record length');
    const end = pos + len;
    if (len < 5 || end > n || data[end - 1] !== 0x0a) throw corrupt('invalid PAX header: bad record length');
    const kvStart = i + 1;
    const eq = data.indexOf(0x3d, kvStart);
    if (eq < 0 || eq >= end - 1 || eq === kvStart) throw corrupt('invalid PAX header: record without key=value');
    const key = data.toString('utf8', kvStart, eq);
    const value = Buffer.from(data.subarray(eq + 1, end - 1));
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      // format 0.0 repeats these two keys, one pair per segment: keep them all, in order
      const prev = into.get(SPARSE_00_MAP);
      into.set(SPARSE_00_MAP, prev === undefined ? value : Buffer.concat([prev, Buffer.from(','), value]));
    }
    into.set(key, value);
    pos = end;
  }
}

/** Where parsePax collects the repeated offset/numbytes records of sparse format 0.0. */
const SPARSE_00_MAP = 'GNU.sparse.offset+numbytes';

function paxDecimal(v: Buffer, key: string): number {
  const s = v.toString('latin1');
  if (!/^[0-9]{1,20}$/.test(s)) throw corrupt(`invalid PAX header: bad ${key} value ${JSON.stringify(s.slice(0, 40))}`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw corrupt(`invalid PAX header: ${key} overflows`);
  return n;
}

/** PAX time "[-]sec[.frac]" -> whole seconds (floor) + nanoseconds. */
function parsePaxTime(v: Buffer, key: string): { sec: number; nsec: number } {
  const s = v.toString('latin1');
  const m = /^(-?)([0-9]{1,19})(?:\.([0-9]*))?$/.exec(s);
  if (!m) throw corrupt(`invalid PAX header: bad ${key} value ${JSON.stringify(s.slice(0, 40))}`);
  let sec = Number(m[2]);
  if (!Number.isSafeInteger(sec)) throw corrupt(`invalid PAX header: ${key} overflows`);
  let nsec = m[3] ? Number((m[3] + '000000000').slice(0, 9)) : 0;
  if (m[1] === '-') {
    sec = -sec;
    if (nsec > 0) {
      sec -= 1;
      nsec = 1_000_000_000 - nsec;
    }
  }
  return { sec, nsec };
}

const TYPES: Record<number, TarEntryType> = {
  0x00: 'file',
  0x30: 'file',
  0x37: 'file', // contiguous file
  0x31: 'link',
  0x32: 'symlink',
  0x33: 'char',
  0x34: 'block',
  0x35: 'dir',
  0x36: 'fifo',
};

const XATTR_PREFIX = 'SCHILY.xattr.';

/**
 * Build the final header of a real entry from its raw block plus pending
 * PAX records and GNU long name/link.
 */
export function buildHeader(raw: RawHeader, pax: Map<string, Buffer> | null, longName: Buffer | null, longLink: Buffer | null): TarHeader {
  let type = TYPES[raw.typeflag];
  if (type === undefined) {
    const c = String.fromCharCode(raw.typeflag);
    if (raw.gnuSparse) type = 'file';
    else throw new StrataError('not_implemented', `unsupported tar entry type ${JSON.stringify(c)}`);
  }
  let nameBytes = longName ?? raw.name;
  let linkBytes = longLink ?? raw.linkname;
  let size = raw.size;
  let uid = raw.uid;
  let gid = raw.gid;
  let mtime = raw.mtime;
  let mtimeNsec = 0;
  let atime: { sec: number; nsec: number } | undefined;
  let uname = raw.uname;
  let gname = raw.gname;
  const xattrs = new Map<string, Buffer>();
  let sparse: SparsePending | undefined;
  let realSize: number | undefined;
  if (raw.gnuSparse) {
    sparse = { map: raw.gnuSparse.map, extended: raw.gnuSparse.extended, storedSize: size };
    realSize = raw.gnuSparse.realSize;
  }
  if (pax) {
    for (const [key, v] of pax) {
      if (key.startsWith(XATTR_PREFIX)) {
        xattrs.set(key.slice(XATTR_PREFIX.length), v);
        continue;
      }
      if (key.startsWith('GNU.sparse.')) continue; // below, once size is known
      if (v.length === 0) continue; // an empty value means "use the header field"
      switch (key) {
        case 'path': nameBytes = v; break;
        case 'linkpath': linkBytes = v; break;
        case 'size': size = paxDecimal(v, key); break;
        case 'uid': uid = paxDecimal(v, key); break;
        case 'gid': gid = paxDecimal(v, key); break;
        case 'mtime': { const t = parsePaxTime(v, key); mtime = t.sec; mtimeNsec = t.nsec; break; }
        case 'atime': atime = parsePaxTime(v, key); break;
        case 'uname': uname = v.toString('utf8'); break;
        case 'gname': gname = v.toString('utf8'); break;
        default: break; // ctime, comment, charset, LIBARCHIVE.*, SCHILY.dev/ino/nlink ...: not needed
      }
    }
  }
  if (pax && !sparse) {
    const r = paxSparse(pax, size);
    if (r) {
      sparse = r.pending;
      realSize = r.realSize;
      const sparseName = pax.get('GNU.sparse.name');
      if (sparseName !== undefined && sparseName.length > 0) nameBytes = sparseName;
    }
  }
  if (sparse) {
    if (type !== 'file') throw corrupt('invalid tar entry: sparse records on an entry that is not a regular file');
    if (realSize === undefined) throw corrupt('invalid tar entry: sparse file without a real size');
    size = realSize;
  }
  if (nameBytes.includes(0)) throw corrupt('invalid tar entry: name contains a NUL byte');
  if (linkBytes.includes(0)) throw corrupt('invalid tar entry: link target contains a NUL byte');
  // Old tars mark directories only by a trailing slash on a regular-file entry.
  if ((raw.typeflag === 0 || raw.typeflag === 0x30) && nameBytes.length > 0 && nameBytes[nameBytes.length - 1] === 0x2f) type = 'dir';
  const h: TarHeader = {
    name: nameBytes.toString('utf8'),
    nameBytes,
    type,
    typeflag: String.fromCharCode(raw.typeflag),
    size,
    mode: raw.mode & 0o7777,
    uid,
    gid,
    mtime,
    mtimeNsec,
    linkname: linkBytes.toString('utf8'),
    linknameBytes: linkBytes,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
    uname,
    gname,
    xattrs,
  };
  if (atime) h.atime = atime;
  if (sparse) pendingSparse.set(h, sparse);
  return h;
}

/** Sparse maps still to be completed by the reader, keyed by the header they belong to. */
const pendingSparse = new WeakMap<TarHeader, SparsePending>();

/** The pending sparse map of a header built by buildHeader (taken once). */
export function takeSparse(h: TarHeader): SparsePending | undefined {
  const s = pendingSparse.get(h);
  if (s) pendingSparse.delete(h);
  return s;
}

/** GNU sparse PAX formats 0.0, 0.1 and 1.0; null when the records describe no sparse file. */
function paxSparse(pax: Map<string, Buffer>, storedSize: number): { pending: SparsePending; realSize: number } | null {
  const str = (k: string): string | undefined => pax.get(k)?.toString('latin1');
  const major = str('GNU.sparse.major');
  const minor = str('GNU.sparse.minor');
  if (major === '1' && minor === '0') {
    const real = pax.get('GNU.sparse.realsize');
    if (real === undefined) throw corrupt('invalid PAX header: sparse format 1.0 without GNU.sparse.realsize');
    return { pending: { map: null, extended: false, storedSize }, realSize: paxDecimal(real, 'GNU.sparse.realsize') };
  }
  const numBlocks = pax.get('GNU.sparse.numblocks');
  if (numBlocks === undefined) {
    if (major !== undefined || minor !== undefined || pax.has('GNU.sparse.map') || pax.has('GNU.sparse.size')) {
      throw new StrataError('not_implemented', `unsupported GNU sparse format ${major ?? '?'}.${minor ?? '?'}`);
    }
    return null;
  }
  if (major !== undefined && !(major === '0' && (minor === '0' || minor === '1'))) {
    throw new StrataError('not_implemented', `unsupported GNU sparse format ${major}.${minor ?? '?'}`);
  }
  const n = paxDecimal(numBlocks, 'GNU.sparse.numblocks');
  if (n > MAX_SPARSE_SEGMENTS) throw corrupt(`invalid PAX header: too many sparse segments (${n})`);
  const mapText = pax.get('GNU.sparse.map') ?? pax.get(SPARSE_00_MAP);
  const nums = mapText === undefined || mapText.length === 0 ? [] : mapText.toString('latin1').split(',');
  if (nums.length !== 2 * n) throw corrupt(`invalid PAX header: the sparse map has ${nums.length} numbers for ${n} segments`);
  const map: SparseSegment[] = [];
  for (let i = 0; i < nums.length; i += 2) {
    map.push({ offset: paxDecimal(Buffer.from(nums[i]!), 'GNU.sparse.map'), length: paxDecimal(Buffer.from(nums[i + 1]!), 'GNU.sparse.map') });
  }
  const size = pax.get('GNU.sparse.size');
  if (size === undefined) throw corrupt('invalid PAX header: sparse file without GNU.sparse.size');
  return { pending: { map, extended: false, storedSize }, realSize: paxDecimal(size, 'GNU.sparse.size') };
}

/**
 * Check a complete sparse map against the real size and the stored body size:
 * segments in order, not overlapping, inside the file, their lengths adding up
 * to the stored bytes. Empty segments are dropped.
 */
export function checkSparseMap(map: SparseSegment[], realSize: number, storedData: number): SparseSegment[] {
  const out: SparseSegment[] = [];
  let end = 0;
  let total = 0;
  for (const s of map) {
    if (s.offset < end || s.offset + s.length > realSize || !Number.isSafeInteger(s.offset + s.length)) {
      throw corrupt('invalid tar entry: sparse map segments out of order or past the end of the file');
    }
    end = s.offset + s.length;
    total += s.length;
    if (s.length > 0) out.push(s);
  }
  if (total !== storedData) throw corrupt(`invalid tar entry: the sparse map holds ${total} bytes but ${storedData} are stored`);
  return out;
}

// ---------------------------------------------------------------------------
// Writing

/** What the writer needs to know about one entry. */
export interface EntryMeta {
  /** name bytes, already relative; directories end with '/' */
  name: Buffer;
  type: TarEntryType;
  /** full mode field value (permission bits, plus type bits if the caller wants them) */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  mtimeNsec: number;
  linkname?: Buffer;
  devmajor?: number;
  devminor?: number;
  /** sorted by name by the caller for reproducible output */
  xattrs?: Array<[string, Buffer]>;
}

const OCTAL_MAX_8 = 0o7777777; // 7 digits + NUL
const OCTAL_MAX_12 = 0o77777777777; // 11 digits + NUL

function writeOctal(b: Buffer, off: number, len: number, v: number): void {
  const s = v.toString(8).padStart(len - 1, '0');
  b.write(s, off, len - 1, 'latin1');
  b[off + len - 1] = 0;
}

/** GNU base-256: first byte 0x80 (or 0xff for negative), big-endian two's complement. */
function writeBase256(b: Buffer, off: number, len: number, v: number): void {
  let x = BigInt(v);
  if (x < 0n) x = (1n << BigInt(len * 8)) + x;
  for (let i = len - 1; i >= 1; i--) {
    b[off + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  b[off] = v < 0 ? 0xff : 0x80;
}

/** Write a numeric field; returns false when the value did not fit in octal (base-256 was used). */
function writeNumeric(b: Buffer, off: number, len: number, v: number): boolean {
  const max = len === 8 ? OCTAL_MAX_8 : OCTAL_MAX_12;
  if (v >= 0 && v <= max) {
    writeOctal(b, off, len, v);
    return true;
  }
  writeBase256(b, off, len, v);
  return false;
}

function isAscii(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]! > 0x7f) return false;
  return true;
}


/** Split a long name into ustar prefix (<=155) + name (<=100) at a '/'. */
function splitUstar(name: Buffer): [Buffer, Buffer] | null {
  if (name.length <= 100) return [Buffer.alloc(0), name];
  if (name.length > 256) return null;
  // the prefix must end at a '/', which is dropped; the rest must fit in 100 bytes
  const minCut = name.length - 101; // index of '/' must be >= this so rest <= 100
  for (let i = Math.min(155, name.length - 2); i >= Math.max(1, minCut); i--) {
    if (name[i] === 0x2f) {
      const rest = name.subarray(i + 1);
      if (rest.length === 0 || rest.length > 100) continue;
      return [name.subarray(0, i), rest];
    }
  }
  return null;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const keyLen = Buffer.byteLength(key);
  const base = 1 + keyLen + 1 + value.length + 1; // ' ' key '=' value '\n'
  let len = base + String(base).length;
  if (String(len).length !== String(base).length) len = base + String(len).length;
  const head = Buffer.from(`${len} ${key}=`, 'utf8');
  return Buffer.concat([head, value, Buffer.from('\n')]);
}

function fmtPaxTime(sec: number, nsec: number): string {
  if (nsec === 0) return String(sec);
  if (sec < 0) {
    // value = sec + nsec/1e9 with sec negative: print as -(|sec|-1).(1e9-nsec)
    const whole = -(sec + 1);
    const frac = String(1_000_000_000 - nsec).padStart(9, '0').replace(/0+$/, '');
    return `-${whole}.${frac}`;
  }
  return `${sec}.${String(nsec).padStart(9, '0').replace(/0+$/, '')}`;
}

/** One bare ustar header block (no PAX). Returns whether each numeric fit in octal. */
function ustarBlock(
  b: Buffer, off: number, name: Buffer, prefix: Buffer, typeflag: number,
  mode: number, uid: number, gid: number, size: number, mtime: number,
  linkname: Buffer, devmajor: number, devminor: number,
): { uid: boolean; gid: boolean; size: boolean; mtime: boolean } {
  b.fill(0, off, off + BLOCK);
  name.copy(b, off, 0, Math.min(100, name.length));
  writeOctal(b, off + 100, 8, mode & 0o7777777);
  const fitUid = writeNumeric(b, off + 108, 8, uid);
  const fitGid = writeNumeric(b, off + 116, 8, gid);
  const fitSize = writeNumeric(b, off + 124, 12, size);
  const fitMtime = writeNumeric(b, off + 136, 12, mtime);
  b[off + 156] = typeflag;
  linkname.copy(b, off + 157, 0, Math.min(100, linkname.length));
  b.write('ustar\x0000', off + 257, 8, 'latin1');
  writeNumeric(b, off + 329, 8, devmajor);
  writeNumeric(b, off + 337, 8, devminor);
  prefix.copy(b, off + 345, 0, Math.min(155, prefix.length));
  const [sum] = headerChecksums(b, off);
  b.write(sum.toString(8).padStart(6, '0'), off + 148, 6, 'latin1');
  b[off + 154] = 0;
  b[off + 155] = 0x20;
  return { uid: fitUid, gid: fitGid, size: fitSize, mtime: fitMtime };
}

const EMPTY: Buffer = Buffer.alloc(0);

function paxHeaderName(name: Buffer): Buffer {
  // Go's archive/tar style: dir/PaxHeaders.0/base, ASCII only, at most 100 bytes
  let s = name.toString('latin1').replace(/\/+$/, '');
  s = s.replace(/[^\x20-\x7e]/g, '');
  const slash = s.lastIndexOf('/');
  const dir = slash >= 0 ? s.slice(0, slash + 1) : '';
  const base = slash >= 0 ? s.slice(slash + 1) : s;
  return Buffer.from((dir + 'PaxHeaders.0/' + base).slice(0, 100), 'latin1');
}

/**
 * Encode the header block(s) of one entry: a PAX 'x' header (+ records) when
 * something does not fit ustar, then the ustar header. Does not include the body.
 */
export function encodeEntry(m: EntryMeta): Buffer {
  const linkname = m.linkname ?? EMPTY;
  const records: Buffer[] = [];
  let name = m.name;
  let prefix: Buffer = EMPTY;
  const split = isAscii(m.name) ? splitUstar(m.name) : m.name.length <= 100 && !isUtf8(m.name) ? [EMPTY, m.name] as [Buffer, Buffer] : null;
  let binaryNames = false;
  if (split) {
    [prefix, name] = split;
  } else {
    records.push(paxRecord('path', m.name));
    if (!isUtf8(m.name)) binaryNames = true;
  }
  let linkField = linkname;
  if (linkname.length > 100 || !isAscii(linkname)) {
    if (linkname.length <= 100 && !isUtf8(linkname)) {
      // raw bytes fit the field; PAX would need hdrcharset=BINARY
    } else {
      records.push(paxRecord('linkpath', linkname));
      if (!isUtf8(linkname)) binaryNames = true;
    }
  }
  const fields = { uid: m.uid <= OCTAL_MAX_8 && m.uid >= 0, gid: m.gid <= OCTAL_MAX_8 && m.gid >= 0, size: m.size <= OCTAL_MAX_12, mtime: m.mtime >= 0 && m.mtime <= OCTAL_MAX_12 };
  if (!fields.size) records.push(paxRecord('size', Buffer.from(String(m.size))));
  if (!fields.uid) records.push(paxRecord('uid', Buffer.from(String(m.uid))));
  if (!fields.gid) records.push(paxRecord('gid', Buffer.from(String(m.gid))));
  if (!fields.mtime || m.mtimeNsec !== 0) records.push(paxRecord('mtime', Buffer.from(fmtPaxTime(m.mtime, m.mtimeNsec))));
  if (m.xattrs) for (const [k, v] of m.xattrs) records.push(paxRecord(XATTR_PREFIX + k, v));
  if (binaryNames) records.unshift(paxRecord('hdrcharset', Buffer.from('BINARY')));
  if (name.length > 100) name = name.subarray(0, 100);
  if (linkField.length > 100) linkField = linkField.subarray(0, 100);

  const typeflag = TYPEFLAG[m.type];
  if (records.length === 0) {
    const out = Buffer.allocUnsafe(BLOCK);
    ustarBlock(out, 0, name, prefix, typeflag, m.mode, m.uid, m.gid, m.size, m.mtime, linkField, m.devmajor ?? 0, m.devminor ?? 0);
    return out;
  }
  const paxData = records.length === 1 ? records[0]! : Buffer.concat(records);
  const paxBlocks = Math.ceil(paxData.length / BLOCK);
  const out = Buffer.alloc(BLOCK * (2 + paxBlocks));
  ustarBlock(out, 0, paxHeaderName(m.name), EMPTY, 0x78, 0o644, 0, 0, paxData.length, 0, EMPTY, 0, 0);
  paxData.copy(out, BLOCK);
  const off = BLOCK * (1 + paxBlocks);
  ustarBlock(out, off, name, prefix, typeflag, m.mode, m.uid, m.gid, m.size, m.mtime, linkField, m.devmajor ?? 0, m.devminor ?? 0);
  return out;
}

/** Bytes of zero padding after a body of `size` bytes. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}
