/**
 * PAX extended header records: parsed by their length prefix over bytes, so binary
 * `SCHILY.xattr.*` values survive exactly; decimal and time values.
 */
import { corrupt } from '../base/errors.js';

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
export const SPARSE_00_MAP = 'GNU.sparse.offset+numbytes';

export function paxDecimal(v: Buffer, key: string): number {
  const s = v.toString('latin1');
  if (!/^[0-9]{1,20}$/.test(s)) throw corrupt(`invalid PAX header: bad ${key} value ${JSON.stringify(s.slice(0, 40))}`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw corrupt(`invalid PAX header: ${key} overflows`);
  return n;
}

/** PAX time "[-]sec[.frac]" -> whole seconds (floor) + nanoseconds. */
export function parsePaxTime(v: Buffer, key: string): { sec: number; nsec: number } {
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
