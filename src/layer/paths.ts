/**
 * Paths inside the layer code are "binary strings": one char per byte
 * (latin1), so names that are not UTF-8 survive exactly and '/' splitting and
 * byte-order sorting work on them directly. They turn into fs paths here.
 */
import { isUtf8 } from 'node:buffer';
import { invalidArgument } from '../base/errors.js';

const NON_ASCII = /[^\x00-\x7f]/;

/** A binary string as something node:fs accepts: the string itself when ASCII, else a Buffer. */
export function fsPath(bin: string): string | Buffer {
  return NON_ASCII.test(bin) ? Buffer.from(bin, 'latin1') : bin;
}

/** UTF-8 string -> binary string. */
export function toBin(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s;
}

/** Binary string -> UTF-8 string, or null when the bytes are not valid UTF-8. */
export function binToUtf8(bin: string): string | null {
  if (!NON_ASCII.test(bin)) return bin;
  const b = Buffer.from(bin, 'latin1');
  return isUtf8(b) ? b.toString('utf8') : null;
}

/** For messages: a readable, quoted, bounded rendering of a binary string. */
export function show(bin: string): string {
  const s = Buffer.from(bin, 'latin1').toString('utf8');
  return JSON.stringify(s.length > 300 ? s.slice(0, 300) + '…' : s);
}

/**
 * Clean an archive name the way Docker does before using it: strip leading
 * '/', drop '.' and empty components, apply '..' lexically. A name that climbs
 * above the root is refused. Returns '' for the root itself.
 */
const NEEDS_CLEANING = /(?:^|\/)\.{1,2}(?:\/|$)|\/\/|^\//;

export function cleanName(bin: string): string {
  if (!NEEDS_CLEANING.test(bin)) return bin.endsWith('/') ? bin.slice(0, -1) : bin;
  const out: string[] = [];
  for (const p of bin.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (out.length === 0) throw invalidArgument(`path escapes the destination: ${show(bin)}`);
      out.pop();
      continue;
    }
    out.push(p);
  }
  return out.join('/');
}
