/**
 * GNU sparse files: the segment map as given by PAX records (formats 0.0, 0.1, 1.0)
 * and its check against the real and stored sizes.
 */
import { StrataError, corrupt } from '../base/errors.js';
import { SPARSE_00_MAP, paxDecimal } from './tar-pax.js';

/** One data segment of a sparse file: `length` bytes stored for logical offset `offset`. */
export interface SparseSegment {
  offset: number;
  length: number;
}

/** Where a sparse entry's map is, as learned from the headers (internal to the reader). */
export interface SparsePending {
  /** the map when the headers held it; null for format 1.0 (the map opens the body) */
  map: SparseSegment[] | null;
  /** old GNU 'S': extension blocks with more map entries follow the header */
  extended: boolean;
  /** stored bytes of the body (the map blocks of format 1.0 included) */
  storedSize: number;
}

/** Largest accepted number of segments in one sparse map. */
export const MAX_SPARSE_SEGMENTS = 1_000_000;

/** GNU sparse PAX formats 0.0, 0.1 and 1.0; null when the records describe no sparse file. */
export function paxSparse(pax: Map<string, Buffer>, storedSize: number): { pending: SparsePending; realSize: number } | null {
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
