/**
 * File operations of COPY and ADD, done from the host side on a step's rootfs:
 * confined path resolution (symlinks resolve inside the rootfs), the walk of the context
 * with `.dockerignore`, content checksums for cache keys, and the copy itself with BuildKit's
 * rules for directories, wildcards and trailing slashes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { IgnoreMatcher } from './ignore.js';

/** Resolve an absolute in-image path to a host path under root, following symlinks inside root. */
export function resolveIn(root: string, p: string, followFinal = true): string {
  const parts = p.split('/').filter((x) => x && x !== '.');
  let cur: string[] = [];
  let hops = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '..') { cur.pop(); continue; }
    const candidate = [...cur, part];
    const host = path.join(root, ...candidate);
    const last = i === parts.length - 1;
    let st: fs.Stats | undefined;
    try { st = fs.lstatSync(host); } catch { st = undefined; }
    if (st?.isSymbolicLink() && (!last || followFinal)) {
      if (++hops > 40) throw new Error(`too many levels of symbolic links: ${p}`);
      const target = fs.readlinkSync(host);
      const rest = parts.slice(i + 1);
      const base = target.startsWith('/') ? [] : cur;
      const next = [...base, ...target.split('/').filter((x) => x && x !== '.'), ...rest];
      // restart resolution with the substituted path
      parts.splice(0, parts.length, ...next);
      cur = [];
      i = -1;
      continue;
    }
    cur = candidate;
  }
  return path.join(root, ...cur);
}

interface PasswdInfo { uid: number; gid: number }

function readLines(file: string): string[] {
  try { return fs.readFileSync(file, 'utf8').split('\n'); } catch { return []; }
}

/** `--chown=user[:group]` against a rootfs's /etc/passwd and /etc/group (BuildKit: the user's primary gid when no group). */
export function resolveChown(root: string, spec: string): PasswdInfo {
  const [u, g] = spec.split(':') as [string, string | undefined];
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    if (g === undefined) gid = uid;
  } else {
    const line = readLines(resolveIn(root, '/etc/passwd')).map((l) => l.split(':')).find((f) => f[0] === u);
    if (!line) throw new Error(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${u}: no such user: ${u}`);
    uid = Number(line[2]);
    if (g === undefined) gid = Number(line[3]);
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const line = readLines(resolveIn(root, '/etc/group')).map((l) => l.split(':')).find((f) => f[0] === g);
      if (!line) throw new Error(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${g}: no such group: ${g}`);
      gid = Number(line[2]);
    }
  }
  return { uid, gid: gid ?? uid };
}

/** The numeric uid/gid for a USER value (for WORKDIR's directory owner). */
export function resolveUserIds(root: string, user: string): PasswdInfo {
  if (!user) return { uid: 0, gid: 0 };
  try { return resolveChown(root, user); } catch { return { uid: 0, gid: 0 }; }
}

// ------------------------------------------------------------------ the context

/** A directory's entries with 7 lstat fields each (mode, size, mtime s, ns, ctime s, ns, inode); null: none, use readdir + lstat. */
type DirLister = (dir: string) => { names: string[]; fields: Float64Array } | null;

/** The lstat fields a context walk reads (an fs.Stats has them too). */
interface EntryStat { mode: number; size: number; mtimeMs: number; ctimeMs: number; ino: number }

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK } = fs.constants;

export class Context {
  /**
   * content hashes by path + size + mtime + ctime + inode: a file is read once, and not again
   * in later builds while its stat is the same (the map persists in `hashFile`)
   */
  private readonly hashes = new Map<string, string>();
  private readonly used = new Map<string, string>();
  /** a hash was computed this build (else, when every saved one was used, the file stays as it is) */
  private computed = false;

  constructor(readonly dir: string, readonly ignore: IgnoreMatcher, private readonly hashFile?: string, private readonly lister?: DirLister) {
    if (hashFile) {
      try {
        // a flat array [key, hash, key, hash, …]: parsed several times faster than an object of 10,000 keys
        const saved = JSON.parse(fs.readFileSync(hashFile, 'utf8')) as unknown;
        if (Array.isArray(saved)) {
          for (let i = 0; i + 1 < saved.length; i += 2) {
            const k = saved[i] as unknown;
            const v = saved[i + 1] as unknown;
            if (typeof k === 'string' && typeof v === 'string') this.hashes.set(k, v);
          }
        }
      } catch { /* none yet, or unreadable: start afresh */ }
    }
  }

  /** Keep the hashes this build used for the next one (temp + rename). */
  save(): void {
    if (!this.hashFile || this.used.size === 0) return;
    if (!this.computed && this.used.size === this.hashes.size) return;
    const tmp = `${this.hashFile}.${process.pid}.tmp`;
    try {
      const flat: string[] = [];
      for (const [k, v] of this.used) flat.push(k, v);
      fs.writeFileSync(tmp, JSON.stringify(flat));
      fs.renameSync(tmp, this.hashFile);
    } catch { fs.rmSync(tmp, { force: true }); }
  }

  /** Is this context-relative path excluded? */
  excluded(rel: string): boolean {
    if (rel === '' || rel === '.') return false;
    return this.ignore.matches(rel);
  }

  /** Leave this path out of a walk? An excluded directory is still walked when an exception may re-include something in it. */
  skip(rel: string, isDir: boolean): boolean {
    return this.excluded(rel) && !(isDir && this.ignore.mayReinclude(rel));
  }

  private isDir(rel: string): boolean {
    try { return fs.statSync(path.join(this.dir, rel)).isDirectory(); } catch { return false; }
  }

  /** Expand a COPY/ADD source (wildcards allowed) to context-relative paths (sorted); [] when nothing matches. */
  expand(src: string): { rels: string[]; wildcard: boolean } {
    const clean = path.posix.normalize('/' + src).slice(1);
    const wildcard = /[*?[]/.test(clean);
    if (!wildcard) {
      const rel = clean === '' ? '.' : clean.replace(/\/$/, '');
      const abs = path.join(this.dir, rel);
      if (rel !== '.' && this.skip(rel, this.isDir(rel))) return { rels: [], wildcard };
      if (!fs.existsSync(abs) && !isSymlink(abs)) return { rels: [], wildcard };
      return { rels: [rel], wildcard };
    }
    const parts = clean.split('/');
    let found = [''];
    for (const part of parts) {
      const next: string[] = [];
      const re = globRe(part);
      for (const base of found) {
        if (!/[*?[]/.test(part)) { next.push(base ? `${base}/${part}` : part); continue; }
        let names: string[];
        try { names = fs.readdirSync(path.join(this.dir, base)); } catch { continue; }
        for (const n of names.sort()) if (re.test(n)) next.push(base ? `${base}/${n}` : n);
      }
      found = next;
    }
    return { rels: found.filter((r) => (fs.existsSync(path.join(this.dir, r)) || isSymlink(path.join(this.dir, r))) && !this.skip(r, this.isDir(r))), wildcard };
  }

  /** The checksum of a context path's contents and metadata (not mtimes), ignore rules applied. */
  checksum(rel: string): string {
    const h = createHash('sha256');
    // one update per entry (the same bytes as one per field: the digest is unchanged)
    const walk = (r: string, abs: string, st: EntryStat): void => {
      const type = st.mode & S_IFMT;
      if (type === S_IFLNK) h.update(`${r}\0${st.mode.toString(8)}\0L${fs.readlinkSync(abs)}\0`);
      else if (type === S_IFREG) h.update(`${r}\0${st.mode.toString(8)}\0F${this.fileHash(r, abs, st)}\0`);
      else {
        h.update(`${r}\0${st.mode.toString(8)}\0`);
        if (type !== S_IFDIR) return;
        const listed = this.lister?.(abs);
        if (listed) {
          // the names sorted as readdir's are below, each with its fields
          const { names, fields } = listed;
          const order = names.map((_, i) => i).sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
          for (const i of order) {
            const n = names[i]!;
            const child = r === '.' ? n : `${r}/${n}`;
            const o = i * 7;
            const cst: EntryStat = {
              mode: fields[o]!, size: fields[o + 1]!,
              // as Node computes Stats' mtimeMs/ctimeMs, so the saved keys match either way
              mtimeMs: fields[o + 2]! * 1e3 + fields[o + 3]! / 1e6,
              ctimeMs: fields[o + 4]! * 1e3 + fields[o + 5]! / 1e6,
              ino: fields[o + 6]!,
            };
            if (this.skip(child, (cst.mode & S_IFMT) === S_IFDIR)) continue;
            walk(child, `${abs}/${n}`, cst);
          }
          return;
        }
        for (const n of fs.readdirSync(abs).sort()) {
          const child = r === '.' ? n : `${r}/${n}`;
          const childAbs = `${abs}/${n}`;
          const cst = fs.lstatSync(childAbs);
          if (this.skip(child, cst.isDirectory())) continue;
          walk(child, childAbs, cst);
        }
      }
    };
    const abs = path.join(this.dir, rel);
    walk(rel, abs, fs.lstatSync(abs));
    return h.digest('hex');
  }

  /** A file's content hash, keyed by its context-relative path and the stat fields a change moves. */
  private fileHash(rel: string, abs: string, st: EntryStat): string {
    const k = `${rel}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\0${st.ino}`;
    let v = this.hashes.get(k);
    if (!v) {
      v = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
      this.hashes.set(k, v);
      this.computed = true;
    }
    this.used.set(k, v);
    return v;
  }
}

function isSymlink(p: string): boolean {
  try { return fs.lstatSync(p).isSymbolicLink(); } catch { return false; }
}

function globRe(part: string): RegExp {
  let re = '^';
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const j = part.indexOf(']', i + 1);
      if (j < 0) { re += '\\['; continue; }
      let cls = part.slice(i + 1, j);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += `[${cls}]`;
      i = j;
    } else if (c === '\\' && i + 1 < part.length) re += '\\' + part[++i];
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

// ------------------------------------------------------------------ copying

interface CopyOpts {
  owner?: PasswdInfo;
  /** keep the source's owner (COPY --from) instead of root */
  keepOwner?: boolean;
  chmod?: number;
  /** skip these source-relative paths (the context's ignore rules) */
  skip?: (rel: string, isDir: boolean) => boolean;
  /** clamp mtimes (SOURCE_DATE_EPOCH) */
  epoch?: number;
}

function applyMeta(dst: string, st: fs.Stats, o: CopyOpts, isLink: boolean): void {
  const uid = o.owner ? o.owner.uid : o.keepOwner ? st.uid : 0;
  const gid = o.owner ? o.owner.gid : o.keepOwner ? st.gid : 0;
  fs.lchownSync(dst, uid, gid);
  if (!isLink) {
    const mode = o.chmod !== undefined ? o.chmod : st.mode & 0o7777;
    fs.chmodSync(dst, mode);
    const mt = o.epoch !== undefined ? Math.min(st.mtimeMs / 1000, o.epoch) : st.mtimeMs / 1000;
    fs.utimesSync(dst, mt, mt);
  } else {
    const mt = o.epoch !== undefined ? Math.min(st.mtimeMs / 1000, o.epoch) : st.mtimeMs / 1000;
    try { fs.lutimesSync(dst, mt, mt); } catch { /* not everywhere */ }
  }
}

/** Make a directory chain inside a rootfs (host path), new dirs 0755 owned by owner (root by default). */
export function mkdirIn(root: string, p: string, owner?: PasswdInfo): string {
  const parts = p.split('/').filter(Boolean);
  let cur = '/';
  for (const part of parts) {
    cur = path.posix.join(cur, part);
    const host = resolveIn(root, cur);
    let st: fs.Stats | undefined;
    try { st = fs.statSync(host); } catch { st = undefined; }
    if (!st) {
      // a symlink may point at a path that does not exist yet: make every missing directory of
      // the resolved path (all of them under root: resolveIn confines it, and none is a link)
      const missing: string[] = [];
      for (let d = host; d.startsWith(root + '/') && !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
      for (const d of missing) {
        fs.mkdirSync(d, { mode: 0o755 });
        fs.chmodSync(d, 0o755);
        if (owner) fs.chownSync(d, owner.uid, owner.gid);
      }
    } else if (!st.isDirectory()) throw new Error(`mkdir ${cur}: not a directory`);
  }
  return resolveIn(root, p);
}

/**
 * Copy a host path (file, link, dir) to a host destination path, recursively. One lstat per
 * source entry; inside a directory this copy created, nothing is looked up at the destination.
 */
export function copyTree(src: string, dst: string, o: CopyOpts, rel = ''): void {
  copyEntry(src, fs.lstatSync(src), dst, o, rel, false);
}

function copyEntry(src: string, st: fs.Stats, dst: string, o: CopyOpts, rel: string, fresh: boolean): void {
  if (st.isDirectory()) {
    let made = fresh;
    if (!fresh) {
      const dstSt = fs.lstatSync(dst, { throwIfNoEntry: false });
      if (dstSt && !dstSt.isDirectory()) fs.rmSync(dst, { force: true, recursive: true });
      if (!dstSt || !dstSt.isDirectory()) { fs.mkdirSync(dst); made = true; }
    } else fs.mkdirSync(dst);
    const names = fs.readdirSync(src).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const childSrc = path.join(src, n);
      const childSt = fs.lstatSync(childSrc);
      if (o.skip?.(r, childSt.isDirectory())) continue;
      copyEntry(childSrc, childSt, path.join(dst, n), o, r, made);
    }
    applyMeta(dst, st, o, false);
    return;
  }
  if (!fresh) {
    const d = fs.lstatSync(dst, { throwIfNoEntry: false });
    if (d?.isDirectory()) fs.rmSync(dst, { recursive: true, force: true });
    else if (d) fs.unlinkSync(dst);
  }
  if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(src), dst);
    applyMeta(dst, st, o, true);
  } else if (st.isFile()) {
    copyFile(src, st, dst, o);
  }
  // sockets, fifos, devices: not copied (BuildKit's context transfer drops them)
}

/** A regular file: small ones read whole and written through one descriptor that also takes the metadata. */
function copyFile(src: string, st: fs.Stats, dst: string, o: CopyOpts): void {
  if (st.size > 1 << 20) {
    fs.copyFileSync(src, dst);
    applyMeta(dst, st, o, false);
    return;
  }
  const data = fs.readFileSync(src);
  const fd = fs.openSync(dst, 'wx', 0o600);
  try {
    if (data.length) fs.writeSync(fd, data);
    const uid = o.owner ? o.owner.uid : o.keepOwner ? st.uid : 0;
    const gid = o.owner ? o.owner.gid : o.keepOwner ? st.gid : 0;
    fs.fchownSync(fd, uid, gid);
    // after the chown (which clears set-id bits)
    fs.fchmodSync(fd, o.chmod !== undefined ? o.chmod : st.mode & 0o7777);
    const mt = o.epoch !== undefined ? Math.min(st.mtimeMs / 1000, o.epoch) : st.mtimeMs / 1000;
    fs.futimesSync(fd, mt, mt);
  } finally {
    fs.closeSync(fd);
  }
}

/** Is the file a tar archive BuildKit would extract (plain, gzip, bzip2, xz)? */
export function archiveKind(file: string): 'tar' | 'gzip' | 'bzip2' | 'xz' | undefined {
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch { return undefined; }
  const b = Buffer.alloc(512);
  let n = 0;
  try { n = fs.readSync(fd, b, 0, 512, 0); } finally { fs.closeSync(fd); }
  if (n >= 3 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (n >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (n >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (n >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return undefined;
}
