/**
 * Extended attributes through @napi-rs/xattr, which acts on a symlink itself
 * (lgetxattr/lsetxattr semantics) but only takes UTF-8 string paths. Paths that
 * are not UTF-8 are reached through /proc/self/fd/<dirfd>/.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as NapiXattr from '@napi-rs/xattr';
import { binToUtf8, fsPath } from './paths.js';

/** the addon, loaded when first needed (most commands never touch an xattr) */
let addon: typeof NapiXattr | undefined;
const xattrAddon = (): typeof NapiXattr => (addon ??= createRequire(import.meta.url)('@napi-rs/xattr') as typeof NapiXattr);

/** The errno of an @napi-rs/xattr error ("... (os error 95)"). */
export function xattrErrno(e: unknown): number | undefined {
  const m = /\(os error (\d+)\)/.exec(e instanceof Error ? e.message : String(e));
  return m ? Number(m[1]) : undefined;
}

export const EPERM = 1;
export const ENOENT = 2;
export const ENODATA = 61;
export const EOPNOTSUPP = 95;

/**
 * Run `fn` with a UTF-8 path naming the object at binary path `absBin`
 * (without following a final symlink). Returns undefined when no such path
 * can be made (a non-directory whose own name is not UTF-8).
 */
export function withXattrPath<T>(absBin: string, isDir: boolean, fn: (p: string) => T): T | undefined {
  const direct = binToUtf8(absBin);
  if (direct !== null) return fn(direct);
  const slash = absBin.lastIndexOf('/');
  const base = binToUtf8(absBin.slice(slash + 1));
  let fd: number;
  let p: string;
  if (base !== null && base !== '' && slash > 0) {
    fd = fs.openSync(fsPath(absBin.slice(0, slash)), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    p = `/proc/self/fd/${fd}/${base}`;
  } else if (isDir) {
    fd = fs.openSync(fsPath(absBin), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    p = `/proc/self/fd/${fd}/.`;
  } else {
    return undefined;
  }
  try {
    return fn(p);
  } finally {
    fs.closeSync(fd);
  }
}

/** All xattrs of a path (not following a final symlink), sorted by name. */
export function readXattrs(p: string, filter?: (name: string) => boolean): Array<[string, Buffer]> {
  let names: string[];
  try {
    names = xattrAddon().listAttributesSync(p);
  } catch (e) {
    const errno = xattrErrno(e);
    if (errno === EOPNOTSUPP || errno === ENODATA) return [];
    throw e;
  }
  if (names.length === 0) return [];
  names.sort();
  const out: Array<[string, Buffer]> = [];
  for (const n of names) {
    if (filter && !filter(n)) continue;
    const v = xattrAddon().getAttributeSync(p, n);
    if (v !== null) out.push([n, Buffer.from(v)]);
  }
  return out;
}

export function getXattr(p: string, name: string): Buffer | null {
  try {
    return xattrAddon().getAttributeSync(p, name);
  } catch (e) {
    const errno = xattrErrno(e);
    if (errno === EOPNOTSUPP || errno === ENODATA) return null;
    throw e;
  }
}

export function setXattr(p: string, name: string, value: Uint8Array | string): void {
  xattrAddon().setAttributeSync(p, name, value);
}
