/**
 * `--user` resolution against the container's own /etc/passwd and /etc/group,
 * with Docker's (runc libcontainer/user) rules:
 *
 * - `""` means root (uid 0, gid 0).
 * - `name` or `uid`, optionally `:group` or `:gid`.
 * - A name must exist in passwd (`unable to find user xyz: no matching entries in passwd file`);
 *   a numeric uid need not.
 * - Without an explicit group the primary gid is the passwd entry's, and the
 *   supplementary gids are the groups listing the user's name as a member.
 * - With an explicit group there are no supplementary gids from /etc/group.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../base/errors.js';

interface PasswdEntry { name: string; uid: number; gid: number; home: string; shell: string }
interface GroupEntry { name: string; gid: number; members: string[] }

interface ExecUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
  /** Name of the matched passwd entry, if any. */
  name?: string;
}

const MAX_ID = 2147483647;

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3] ?? 0), home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

/**
 * Read a file of the container's rootfs without following symlinks out of it:
 * an absolute link inside an image is resolved against the rootfs.
 */
function readRootfsFile(rootfs: string, rel: string): string | undefined {
  let p = rel.replace(/^\/+/, '');
  for (let hops = 0; hops < 40; hops++) {
    const parts = p.split('/').filter((s) => s && s !== '.');
    const clean: string[] = [];
    let redirected = false;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '..') { clean.pop(); continue; }
      clean.push(part);
      const full = path.join(rootfs, ...clean);
      let st: fs.Stats | undefined;
      try { st = fs.lstatSync(full); } catch { return undefined; }
      if (st.isSymbolicLink()) {
        const target = fs.readlinkSync(full);
        const rest = parts.slice(i + 1).join('/');
        const base = target.startsWith('/') ? target : path.posix.join(clean.slice(0, -1).join('/'), target);
        p = path.posix.join(base.replace(/^\/+/, ''), rest);
        redirected = true;
        break;
      }
    }
    if (!redirected) {
      try { return fs.readFileSync(path.join(rootfs, ...clean), 'utf8'); } catch { return undefined; }
    }
  }
  return undefined;
}

const isNumeric = (s: string) => /^\d+$/.test(s);

function checkRange(n: number): number {
  if (n < 0 || n > MAX_ID) {
    throw new StrataError('invalid_argument', `uids and gids must be in range 0-${MAX_ID}`);
  }
  return n;
}

/** Resolve `spec` (`user[:group]`) against passwd/group text (either may be missing). */
export function resolveUserFrom(spec: string, passwdText: string | undefined, groupText: string | undefined): ExecUser {
  const [userArg = '', groupArg = ''] = spec.split(':', 2) as [string?, string?];
  const hasGroup = spec.includes(':');
  const users = passwdText === undefined ? [] : parsePasswd(passwdText);
  const result: ExecUser = { uid: 0, gid: 0, additionalGids: [], home: '/' };

  let matched: PasswdEntry | undefined;
  if (userArg === '') {
    matched = users.find((u) => u.uid === 0);
  } else {
    matched = users.find((u) => u.name === userArg) ?? (isNumeric(userArg) ? users.find((u) => u.uid === Number(userArg)) : undefined);
  }
  if (matched) {
    result.uid = matched.uid;
    result.gid = matched.gid;
    result.home = matched.home || '/';
    result.name = matched.name;
  } else if (userArg !== '') {
    if (!isNumeric(userArg)) {
      throw new StrataError('invalid_argument', `unable to find user ${userArg}: no matching entries in passwd file`);
    }
    result.uid = checkRange(Number(userArg));
  }

  if (hasGroup && groupArg !== '') {
    const groups = groupText === undefined ? [] : parseGroup(groupText);
    const g = groups.find((e) => e.name === groupArg) ?? (isNumeric(groupArg) ? groups.find((e) => e.gid === Number(groupArg)) : undefined);
    if (g) result.gid = g.gid;
    else if (isNumeric(groupArg)) result.gid = checkRange(Number(groupArg));
    else throw new StrataError('invalid_argument', `unable to find group ${groupArg}: no matching entries in group file`);
  } else if (matched && groupText !== undefined) {
    for (const g of parseGroup(groupText)) {
      if (g.members.includes(matched.name) && !result.additionalGids.includes(g.gid)) result.additionalGids.push(g.gid);
    }
  }
  return result;
}

/** Resolve `spec` against `<rootfs>/etc/passwd` and `<rootfs>/etc/group`. */
export function resolveUser(rootfs: string, spec: string | undefined): ExecUser {
  const s = spec ?? '';
  return resolveUserFrom(s, readRootfsFile(rootfs, 'etc/passwd'), readRootfsFile(rootfs, 'etc/group'));
}

/**
 * `--group-add` entries: numeric gids, or names looked up in the rootfs's
 * /etc/group (`unable to find group xyz: no matching entries in group file`).
 */
export function resolveGroups(rootfs: string, names: readonly string[]): number[] {
  if (names.length === 0) return [];
  const text = readRootfsFile(rootfs, 'etc/group');
  const groups = text === undefined ? [] : parseGroup(text);
  return names.map((n) => {
    const g = groups.find((e) => e.name === n);
    if (g) return g.gid;
    if (isNumeric(n)) return checkRange(Number(n));
    throw new StrataError('invalid_argument', `unable to find group ${n}: no matching entries in group file`);
  });
}
