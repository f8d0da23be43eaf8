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

/**
 * A directory's entries (names in one Buffer, each followed by a NUL byte) with 7 lstat fields
 * each (mode, size, mtime s, ns, ctime s, ns, inode).
 */
export interface DirListing { names: Buffer; fields: Float64Array }
/** A listing of a directory; null: none, use readdir + lstat. */
type DirLister = (dir: string) => DirListing | null;
/** The same on the thread pool; null: none. */
type AsyncDirLister = (dir: string) => Promise<DirListing> | null;

/** A directory listing and when it was started (ms since the epoch). */
interface Listing extends DirListing { at: number }

/**
 * An entry changed this close before its listing may change again within the same ctime tick
 * (the kernel's coarse clock: 4 ms at HZ=250) with nothing in its stat moving: its hash and its
 * directory's record are not kept for the next build (git's "racily clean" entries).
 */
const RACY_MS = 100;

/** What the walk of one directory leaves for the next build. */
interface DirRecord {
  /**
   * the listing's signature: sha256 of the names and all 7 fields of every entry, in directory
   * order. While it is the same (and the ignore rules are), `own` and `subs` are too: a file's
   * content does not change without its ctime (or inode) changing.
   */
  sig: string;
  /** sha256 of the directory's own entries, sorted: name, mode, and a file's content hash, a link's target; a subdirectory by name and mode */
  own: string;
  /** the subdirectories walked (not ignored), sorted */
  subs: string[];
  /** content hashes of its files, `name/size/mtimeMs/ctimeMs/ino/hash/` each (no name holds a `/`); undefined: the saved ones still hold */
  files?: string;
}

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK } = fs.constants;

/**
 * The context of a build: what COPY and ADD read, with `.dockerignore` applied.
 *
 * A directory's checksum is a Merkle digest: its own entries (`DirRecord.own`) and then each
 * subdirectory's digest. Only names, modes, contents and link targets enter it (never mtimes,
 * inodes or the context's path), so two machines with the same files agree. Between builds the
 * walk persists (`stateFile`, per context): a directory whose listing (names + lstat fields, one
 * hash over the addon's buffers) and ignore rules are unchanged reuses its saved `own` digest
 * without a string, a Stats or a file read per entry; a changed one is walked entry by entry, its
 * unchanged files still taking their saved content hashes. A cached rebuild of 10,000 files in
 * 20 directories thus hashes 21 listings instead of keying and looking up 10,000 files.
 */
export class Context {
  /** the saved records, by context-relative directory (sig '' when the ignore rules changed: never reused) */
  private readonly saved = new Map<string, DirRecord>();
  /** the saved state after its first line: file hashes by directory, parsed on the first directory that changed */
  private restAt = -1;
  private savedFiles?: Map<string, string>;
  /** content hashes of files checksummed on their own (COPY file), `rel/size/mtimeMs/ctimeMs/ino` -> hash */
  private readonly savedLoose = new Map<string, string>();
  /** this build's records */
  private readonly walked = new Map<string, DirRecord>();
  private readonly loose = new Map<string, string>();
  private readonly digests = new Map<string, string>();
  /** something was recomputed: the state is written again */
  private dirty = false;
  private readonly rules: string;
  /** listings made ahead on the thread pool (`prefetch`), by directory; each used once */
  private readonly fetched = new Map<string, Listing>();
  private pending: Promise<void>[] = [];
  /** when the listings were started; none is used once a step ran or a second passed (`dropPrefetched`) */
  private fetchedAt = 0;
  private dropped = false;

  constructor(readonly dir: string, readonly ignore: IgnoreMatcher, private readonly stateFile?: string, private readonly lister?: DirLister, private readonly asyncLister?: AsyncDirLister) {
    this.rules = createHash('sha256').update(JSON.stringify(ignore.lines)).digest('base64');
    if (!stateFile) return;
    try {
      // line 1 (read every build): {"v":2,"rules":…,"d":[rel, sig, own, subs, …],"l":[key, hash, …]};
      // line 2 (read when a directory changed): [rel, files, …]
      // only the first line is read here (0.1 ms; the whole file, 1.2 MB for 10,000 files: 1.5 ms)
      const text = readLine(stateFile);
      const head = JSON.parse(text.toString('utf8')) as { v?: unknown; rules?: unknown; d?: unknown; l?: unknown };
      if (head?.v !== 2 || !Array.isArray(head.d) || !Array.isArray(head.l)) return;
      const same = head.rules === this.rules;
      const d = head.d as unknown[];
      for (let i = 0; i + 3 < d.length; i += 4) {
        const [rel, sig, own, subs] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
        if (typeof rel !== 'string' || typeof sig !== 'string' || typeof own !== 'string' || typeof subs !== 'string') throw new Error('bad record');
        this.saved.set(rel, { sig: same ? sig : '', own, subs: subs === '' ? [] : subs.split('/') });
      }
      const l = head.l as unknown[];
      for (let i = 0; i + 1 < l.length; i += 2) if (typeof l[i] === 'string' && typeof l[i + 1] === 'string') this.savedLoose.set(l[i] as string, l[i + 1] as string);
      this.restAt = text.length + 1;
    } catch { this.saved.clear(); this.savedLoose.clear(); /* none yet, or unreadable: start afresh */ }
  }

  /** Keep this build's walk for the next one (temp + fsync + rename); nothing when all of it was reused. */
  save(): void {
    if (!this.stateFile || !this.dirty) return;
    const files = this.loadFiles();
    const d: string[] = [];
    const f: string[] = [];
    for (const [rel, r] of this.walked) {
      d.push(rel, r.sig, r.own, r.subs.join('/'));
      f.push(rel, r.files ?? files.get(rel) ?? '');
    }
    // records of directories not walked this time, unless a walk above them found them gone or ignored
    for (const [rel, r] of this.saved) {
      if (this.walked.has(rel) || this.walkedAbove(rel)) continue;
      d.push(rel, r.sig, r.own, r.subs.join('/'));
      f.push(rel, files.get(rel) ?? '');
    }
    const l: string[] = [];
    for (const [k, v] of this.loose) l.push(k, v);
    const text = `${JSON.stringify({ v: 2, rules: this.rules, d, l })}\n${JSON.stringify(f)}\n`;
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    try {
      const fd = fs.openSync(tmp, 'w', 0o600);
      try { fs.writeSync(fd, text); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
      fs.renameSync(tmp, this.stateFile);
    } catch { fs.rmSync(tmp, { force: true }); }
  }

  /**
   * List, on the thread pool, every directory the last build walked, while the build goes on
   * parsing, resolving its base and looking up the steps before the first COPY: the fstatat of
   * each file (~2.5 us here, 25 ms of kernel time for 10,000 files) leaves the main thread.
   * `settled()` waits for them; a listing that failed is made again, synchronously, when walked.
   */
  prefetch(): void {
    if (!this.asyncLister) return;
    this.fetchedAt = performance.now();
    const at = Date.now();
    for (const rel of this.saved.keys()) {
      const p = this.asyncLister(path.join(this.dir, rel));
      if (!p) return;
      this.pending.push(p.then((l) => { if (!this.dropped) this.fetched.set(rel, { ...l, at }); }, () => { /* listed again when walked */ }));
    }
  }

  /** The listings `prefetch` started are in (call before `checksum`). */
  async settled(): Promise<void> {
    if (this.pending.length) await Promise.all(this.pending.splice(0));
    if (this.fetched.size && performance.now() - this.fetchedAt > 1000) this.dropPrefetched();
  }

  /**
   * Forget the listings made ahead: files may have changed since, and a COPY must checksum
   * what it copies (a saved digest for content it did not copy would poison the cache). A
   * step that runs calls this; so does the first use of listings older than a second.
   */
  dropPrefetched(): void {
    this.dropped = true;
    this.fetched.clear();
  }

  private walkedAbove(rel: string): boolean {
    if (rel === '.') return false;
    for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) if (this.walked.has(rel.slice(0, i))) return true;
    return this.walked.has('.');
  }

  /** The saved file hashes, by directory (parsed once, on first need). */
  private loadFiles(): Map<string, string> {
    if (this.savedFiles) return this.savedFiles;
    this.savedFiles = new Map();
    try {
      // read again: should another build have replaced the file meanwhile, its hashes are as good
      // (each is keyed by the file's name, size, times and inode), or the line is cut at the wrong
      // place and fails to parse (the files are read again)
      const rest = this.restAt < 0 ? [] : JSON.parse(fs.readFileSync(this.stateFile!).subarray(this.restAt).toString('utf8')) as unknown;
      const f = Array.isArray(rest) ? rest as unknown[] : [];
      for (let i = 0; i + 1 < f.length; i += 2) if (typeof f[i] === 'string' && typeof f[i + 1] === 'string') this.savedFiles.set(f[i] as string, f[i + 1] as string);
    } catch { /* unreadable: every file is read again */ }
    return this.savedFiles;
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
    const abs = path.join(this.dir, rel);
    const at = Date.now();
    const st = fs.lstatSync(abs);
    const type = st.mode & S_IFMT;
    let body = '';
    if (type === S_IFDIR) body = `D${this.dirDigest(rel, abs)}`;
    else if (type === S_IFREG) body = `F${this.looseHash(rel, abs, st, at - RACY_MS)}`;
    else if (type === S_IFLNK) body = `L${fs.readlinkSync(abs)}`;
    return createHash('sha256').update(`${rel}\0${st.mode.toString(8)}\0${body}\0`).digest('hex');
  }

  /** A directory's entries: the addon's one call, else readdir + lstat into the same shape. */
  private list(rel: string, abs: string): Listing {
    const ahead = this.fetched.get(rel);
    if (ahead) {
      this.fetched.delete(rel);
      return ahead;
    }
    const at = Date.now();
    const listed = this.lister?.(abs);
    if (listed) return { ...listed, at };
    const names = fs.readdirSync(abs);
    const fields = new Float64Array(names.length * 7);
    names.forEach((n, i) => {
      const st = fs.lstatSync(`${abs}/${n}`, { bigint: true });
      fields.set([Number(st.mode), Number(st.size), Number(st.mtimeNs / 1000000000n), Number(st.mtimeNs % 1000000000n),
        Number(st.ctimeNs / 1000000000n), Number(st.ctimeNs % 1000000000n), Number(st.ino)], i * 7);
    });
    return { names: Buffer.from(names.map((n) => `${n}\0`).join('')), fields, at };
  }

  /** A directory's Merkle digest: its own entries', then each subdirectory's. */
  private dirDigest(rel: string, abs: string): string {
    const done = this.digests.get(rel);
    if (done !== undefined) return done;
    const { names, fields, at } = this.list(rel, abs);
    const sig = createHash('sha256').update(names).update(fields).digest('base64');
    const saved = this.saved.get(rel);
    let rec: DirRecord;
    if (saved && saved.sig === sig) rec = saved;
    else {
      rec = this.walkDir(rel, abs, names, fields, sig, at - RACY_MS);
      this.dirty = true;
    }
    this.walked.set(rel, rec);
    const h = createHash('sha256').update(rec.own);
    for (const n of rec.subs) h.update(`${n}\0${this.dirDigest(rel === '.' ? n : `${rel}/${n}`, `${abs}/${n}`)}\0`);
    const digest = h.digest('hex');
    this.digests.set(rel, digest);
    return digest;
  }

  /** A directory whose listing changed: every entry, sorted; files keep their saved hash while size, times and inode are the same. */
  private walkDir(rel: string, abs: string, buf: Buffer, fields: Float64Array, sig: string, racyAfter: number): DirRecord {
    const names = buf.length ? buf.toString('utf8', 0, buf.length - 1).split('\0') : [];
    const order = names.map((_, i) => i).sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
    const before = new Map<string, string>();
    const blob = this.loadFiles().get(rel);
    if (blob) {
      const p = blob.split('/');
      for (let i = 0; i + 5 < p.length; i += 6) before.set(`${p[i]}/${p[i + 1]}/${p[i + 2]}/${p[i + 3]}/${p[i + 4]}`, p[i + 5]!);
    }
    const own = createHash('sha256');
    const subs: string[] = [];
    let files = '';
    for (const i of order) {
      const n = names[i]!;
      const o = i * 7;
      const mode = fields[o]!;
      const type = mode & S_IFMT;
      if (this.skip(rel === '.' ? n : `${rel}/${n}`, type === S_IFDIR)) continue;
      // as Node computes Stats' mtimeMs/ctimeMs
      const ctimeMs = fields[o + 4]! * 1e3 + fields[o + 5]! / 1e6;
      const racy = ctimeMs >= racyAfter;
      if (racy) sig = '';
      if (type === S_IFREG) {
        const key = `${n}/${fields[o + 1]}/${fields[o + 2]! * 1e3 + fields[o + 3]! / 1e6}/${ctimeMs}/${fields[o + 6]}`;
        let hash = before.get(key);
        if (!hash) hash = createHash('sha256').update(fs.readFileSync(`${abs}/${n}`)).digest('hex');
        if (!racy) files += `${key}/${hash}/`;
        own.update(`${n}\0${mode.toString(8)}\0F${hash}\0`);
      } else if (type === S_IFLNK) own.update(`${n}\0${mode.toString(8)}\0L${fs.readlinkSync(`${abs}/${n}`)}\0`);
      else if (type === S_IFDIR) {
        own.update(`${n}\0${mode.toString(8)}\0D\0`);
        subs.push(n);
      } else own.update(`${n}\0${mode.toString(8)}\0\0`);
    }
    return { sig, own: own.digest('hex'), subs, files };
  }

  /** A file checksummed on its own (COPY of one file): its content hash, reused while its stat is the same. */
  private looseHash(rel: string, abs: string, st: fs.Stats, racyAfter: number): string {
    const k = `${rel}/${st.size}/${st.mtimeMs}/${st.ctimeMs}/${st.ino}`;
    let v = this.savedLoose.get(k);
    if (!v) {
      v = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
      this.dirty = true;
    }
    if (st.ctimeMs < racyAfter) this.loose.set(k, v);
    return v;
  }
}

/** A file's first line (without the newline), or all of it when it has none. */
function readLine(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const parts: Buffer[] = [];
    let size = 0;
    for (;;) {
      const b = Buffer.allocUnsafe(65536);
      const n = fs.readSync(fd, b, 0, b.length, size);
      const nl = b.subarray(0, n).indexOf(10);
      if (nl >= 0 || n === 0) {
        parts.push(b.subarray(0, nl >= 0 ? nl : n));
        return Buffer.concat(parts);
      }
      parts.push(b.subarray(0, n));
      size += n;
    }
  } finally { fs.closeSync(fd); }
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
