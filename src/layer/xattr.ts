/**
 * Extended attributes through the kernel door (`Sys.l*xattr`: @napi-rs/xattr in the real
 * one, which acts on a symlink itself but only takes UTF-8 string paths). Paths that are
 * not UTF-8 are reached through /proc/self/fd/<dirfd>/.
 */
import * as fs from 'node:fs';
import { linuxSys, xattrErrno, type Sys } from '../sys/index.js';
import { binToUtf8, fsPath } from './paths.js';

export { xattrErrno };

export const EPERM = 1;
const ENODATA = 61;
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
export function readXattrs(p: string, filter?: (name: string) => boolean, sys: Sys = linuxSys): Array<[string, Buffer]> {
  let names: string[];
  try {
    names = sys.llistxattr(p);
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
    const v = sys.lgetxattr(p, n);
    if (v !== null) out.push([n, Buffer.from(v)]);
  }
  return out;
}

export function getXattr(p: string, name: string, sys: Sys = linuxSys): Buffer | null {
  try {
    return sys.lgetxattr(p, name);
  } catch (e) {
    const errno = xattrErrno(e);
    if (errno === EOPNOTSUPP || errno === ENODATA) return null;
    throw e;
  }
}

export function setXattr(p: string, name: string, value: Uint8Array | string, sys: Sys = linuxSys): void {
  sys.lsetxattr(p, name, value);
}
