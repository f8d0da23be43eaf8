/**
 * unpackLayer: apply a (compressed) layer tar to a fresh directory, confined to
 * it. See shared/security.md (b) for the threat list this answers.
 *
 * Speed: the archive is parsed as chunks arrive and every filesystem call is
 * synchronous (writeSync & co.); per-file async round-trips are what made the
 * npm tar libraries 5-17x slower than GNU tar.
 *
 * Confinement: names are cleaned lexically (leading '/' stripped, '..' above the
 * root refused); every parent component is checked with lstat and a symlink in
 * the parent chain is refused (or, with symlinkParents:'resolve-in-root',
 * resolved with destDir as the root, as chroot would); the final component is
 * never followed (O_CREAT|O_EXCL|O_NOFOLLOW, lchown, lutimes, lsetxattr);
 * hard links must name an existing non-directory inside destDir. The
 * directory is assumed private to this call while it runs (the layer store
 * unpacks each layer into its own new directory), so checks and uses do not race.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError, errnoCode, invalidArgument } from '../base/errors.js';
import { ShortPaths, rmTree } from '../base/fs.js';
import type { Compression } from './compression.js';
import { Sha256Hasher } from './hasher.js';
import { linuxSys, type Sys, type Timespec } from '../sys/index.js';
import type { MknodFn, NodeKind } from './mknod.js';
import { cleanName, fsPath, show, toBin } from './paths.js';
import type { StagedFile } from './pack.js';
import { MAX_NAME_BYTES, type TarHeader } from './tar-header.js';
import { type ByteInput, type SourceInfo, TarReader, defaultMaxExpandedBytes, DEFAULT_MAX_ENTRIES, uncompressedChunks } from './tar-reader.js';
import { EOPNOTSUPP, EPERM, setXattr, withXattrPath, xattrErrno } from './xattr.js';

export interface UnpackOptions {
  /**
   * overlay: convert OCI whiteouts (.wh.NAME -> char dev 0/0, .wh..wh..opq ->
   * xattr trusted.overlay.opaque=y), for layer dirs used as overlay lowerdirs.
   * plain: extract as-is but still confined (outer docker-archive / OCI layout
   * tars, `cp` into a container). Default 'overlay'.
   */
  mode?: 'overlay' | 'plain';
  /** bound on uncompressed tar bytes; default STRATA_MAX_LAYER_BYTES or 64 GiB */
  maxExpandedBytes?: number;
  /** default 5,000,000 */
  maxEntries?: number;
  /** called with each uncompressed chunk, e.g. to hash */
  onChunk?: (chunk: Buffer) => void;
  /**
   * A symlink among the parent components of an entry: 'reject' (default)
   * fails with "path escapes the destination"; 'resolve-in-root' follows it
   * with destDir as the root (chroot semantics: '..' stops at the root,
   * absolute targets restart at it, at most 255 links).
   */
  symlinkParents?: 'reject' | 'resolve-in-root';
  /** the kernel door for device nodes and xattrs (default: linuxSys) */
  sys?: Sys;
  /** creates device nodes and FIFOs instead of `sys.mknod` (a counting wrapper, say) */
  mknod?: MknodFn;
  /**
   * Files packDir staged (PackOptions.stage): a size-0 file entry of one of
   * these names is put in place by renaming the staged file (same filesystem),
   * then gets the entry's owner, mode, xattrs and times as any file does.
   */
  staged?: readonly StagedFile[];
}

export interface UnpackResult {
  /** 'sha256:<hex>' of the uncompressed tar stream (all of it, as Docker hashes it) */
  diffId: string;
  /** uncompressed tar bytes */
  tarSize: number;
  compression: Compression;
  /** Docker's layer size: regular-file bytes (each inode once) + symlink target lengths */
  contentSize: number;
  /** real entries in the archive (whiteouts included) */
  entries: number;
  /** things skipped on purpose (dropped xattrs, xattrs the filesystem refused), at most 100 */
  warnings: string[];
}

const MAX_WARNINGS = 100;
const MAX_LINKS = 255;
const OPEN_NEW_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** Archive xattrs that are applied: no trusted.* (overlay steering), no security.* but file capabilities. */
function keepXattr(name: string): boolean {
  if (name.startsWith('trusted.')) return false;
  if (name.startsWith('security.')) return name === 'security.capability';
  return true;
}

function lstatOrNull(p: string | Buffer): fs.Stats | null {
  return fs.lstatSync(p, { throwIfNoEntry: false }) ?? null;
}

function writeAll(fd: number, b: Buffer): void {
  let o = 0;
  while (o < b.length) o += fs.writeSync(fd, b, o, b.length - o);
}

/** The entry's access time (its mtime when the header has none) and modification time. */
function timesOf(h: TarHeader): [Timespec, Timespec] {
  const m = { sec: h.mtime, nsec: h.mtimeNsec };
  return [h.atime ? { sec: h.atime.sec, nsec: h.atime.nsec } : m, m];
}

class Unpacker {
  /** binary string of the absolute destination */
  private readonly root: string;
  private readonly short: ShortPaths;
  /** lexical parent (relative) -> verified real directory (relative); '' is the root */
  private dirs = new Map<string, string>([['', '']]);
  /** directories whose times are applied at the end (deepest first) */
  private dirTimes = new Map<string, [Timespec, Timespec]>();
  /** an existing whiteout node new whiteouts are hard-linked to */
  private whiteoutTemplate: string | null = null;
  private tmpCounter = 0;
  /** temp names in the root: unpredictable, so an archive cannot plant something there first */
  private readonly tmpPrefix = `.strata-${process.pid}-${randomBytes(6).toString('hex')}`;
  contentSize = 0;
  readonly warnings: string[] = [];
  private warningsDropped = 0;
  private readonly overlay: boolean;
  private readonly follow: boolean;
  private readonly mknod: MknodFn;
  private readonly staged: Map<string, StagedFile> | null;
  private readonly sys: Sys;
  /**
   * Whether open(2)'s mode can be a file's final mode: in layer dirs (overlay mode), which
   * are new directories of the store (no default ACL replacing the umask).
   */
  private readonly createExact: boolean;
  private readonly umask: number;

  constructor(private readonly rootStr: string, opts: UnpackOptions) {
    this.staged = opts.staged && opts.staged.length > 0 ? new Map(opts.staged.map((f) => [f.name, f])) : null;
    this.root = toBin(rootStr);
    this.short = new ShortPaths(this.root);
    this.overlay = (opts.mode ?? 'overlay') === 'overlay';
    this.follow = opts.symlinkParents === 'resolve-in-root';
    this.createExact = this.overlay;
    this.umask = process.umask();
    const sys = (this.sys = opts.sys ?? linuxSys);
    this.mknod = opts.mknod ?? ((p, kind, mode, major, minor) => sys.mknod(p, kind, mode, major, minor));
  }

  /** A usable path for `rel`: the absolute one, or one through a directory fd when that would pass PATH_MAX. */
  private abs(rel: string): string {
    return this.short.of(rel);
  }

  /** Close the directory descriptors kept for deep trees. */
  close(): void {
    this.short.close();
  }

  private p(rel: string): string | Buffer {
    return fsPath(this.abs(rel));
  }

  private warn(msg: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(msg);
    else this.warningsDropped++;
  }

  finishWarnings(): void {
    if (this.warningsDropped > 0) this.warnings.push(`... and ${this.warningsDropped} more warnings`);
  }

  /**
   * The real directory (relative to the root) that holds entries whose
   * lexical parent is `parentLex`. Missing directories are created (mode 0755)
   * when `create`, else null is returned.
   */
  private resolveDir(parentLex: string, name: string, create: boolean): string | null {
    const hit = this.dirs.get(parentLex);
    if (hit !== undefined) return hit;
    return this.follow ? this.resolveInRoot(parentLex, name, create) : this.resolveStrict(parentLex, name, create);
  }

  private resolveStrict(parentLex: string, name: string, create: boolean): string | null {
    let cur = '';
    let i = 0;
    // start from the deepest cached ancestor
    for (let s = parentLex.lastIndexOf('/'); s > 0; s = parentLex.lastIndexOf('/', s - 1)) {
      if (this.dirs.has(parentLex.slice(0, s))) { cur = parentLex.slice(0, s); i = s + 1; break; }
    }
    while (i <= parentLex.length) {
      let j = parentLex.indexOf('/', i);
      if (j < 0) j = parentLex.length;
      const next = parentLex.slice(0, j);
      if (!this.dirs.has(next)) {
        const st = lstatOrNull(this.p(next));
        if (st === null) {
          if (!create) return null;
          this.implicitDir(next);
        } else if (st.isSymbolicLink()) {
          throw invalidArgument(`path escapes the destination: ${show(name)} goes through the symlink ${show(next)}`);
        } else if (!st.isDirectory()) {
          throw invalidArgument(`cannot extract ${show(name)}: ${show(next)} is not a directory`);
        }
        this.dirs.set(next, next);
      }
      cur = next;
      i = j + 1;
    }
    return cur;
  }

  private resolveInRoot(parentLex: string, name: string, create: boolean): string | null {
    const stack: string[] = [];
    const queue = parentLex.split('/');
    let links = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') { stack.pop(); continue; }
      stack.push(c);
      const cur = stack.join('/');
      if (this.dirs.get(cur) === cur) continue;
      const st = lstatOrNull(this.p(cur));
      if (st === null) {
        if (!create) return null;
        this.implicitDir(cur);
      } else if (st.isSymbolicLink()) {
        if (++links > MAX_LINKS) throw invalidArgument(`cannot extract ${show(name)}: too many levels of symbolic links`);
        const target = (fs.readlinkSync(this.p(cur), { encoding: 'buffer' }) as Buffer).toString('latin1');
        stack.pop();
        if (target.startsWith('/')) stack.length = 0;
        queue.unshift(...target.split('/'));
        continue;
      } else if (!st.isDirectory()) {
        throw invalidArgument(`cannot extract ${show(name)}: ${show(cur)} is not a directory`);
      }
      this.dirs.set(cur, cur);
    }
    const res = stack.join('/');
    this.dirs.set(parentLex, res);
    return res;
  }

  /** A parent the archive did not list: 0755 root:root like Docker's, whatever the umask. */
  private implicitDir(rel: string): void {
    fs.mkdirSync(this.p(rel), 0o755);
    fs.chmodSync(this.p(rel), 0o755);
  }

  /** Remove what is at `rel` (a tree for a directory) and forget what was known below it. */
  private removeExisting(rel: string, st: fs.Stats): void {
    if (st.isDirectory()) {
      this.short.forget(rel);
      rmTree(this.p(rel));
      const prefix = rel + '/';
      for (const k of this.dirTimes.keys()) if (k === rel || k.startsWith(prefix)) this.dirTimes.delete(k);
    } else {
      fs.unlinkSync(this.p(rel));
    }
    if (st.isDirectory() || st.isSymbolicLink()) {
      this.dirs = new Map([['', '']]);
    }
    const t = this.whiteoutTemplate;
    if (t !== null && (t === rel || t.startsWith(rel + '/'))) this.whiteoutTemplate = null;
  }

  private removeIfExists(rel: string): void {
    const st = lstatOrNull(this.p(rel));
    if (st) this.removeExisting(rel, st);
  }

  private setXattrs(rel: string, h: TarHeader, isDir: boolean, isSymlink: boolean): void {
    if (h.xattrs.size === 0) return;
    const wanted: Array<[string, Buffer]> = [];
    for (const [k, v] of h.xattrs) {
      if (keepXattr(k)) wanted.push([k, v]);
      else this.warn(`dropped xattr ${k} of ${show(h.nameBytes.toString('latin1'))}`);
    }
    if (wanted.length > 0) this.applyXattrs(rel, wanted, isDir, isSymlink);
  }

  /** `required`: a failure is an error (the opaque marker), not a warning. */
  private applyXattrs(rel: string, xattrs: Array<[string, Buffer | string]>, isDir: boolean, isSymlink: boolean, required = false): void {
    const apply = (p: string): void => {
      for (const [k, v] of xattrs) {
        try {
          setXattr(p, k, v, this.sys);
        } catch (e) {
          const errno = xattrErrno(e);
          // Docker: "ignoring xattr ... not supported by the underlying filesystem"; user.* is refused on symlinks
          if (!required && (errno === EOPNOTSUPP || errno === EPERM)) {
            this.warn(`xattr ${k} of ${show(rel)} not applied: ${isSymlink ? 'symlink' : 'not supported by the filesystem'}`);
            continue;
          }
          throw e;
        }
      }
    };
    const done = withXattrPath(this.abs(rel), isDir, (p) => { apply(p); return true; });
    if (done === undefined) {
      // A non-UTF-8 name: apply under a temporary UTF-8 name in the root, then move it back.
      const tmp = path.join(this.rootStr, `${this.tmpPrefix}-xattr-${this.tmpCounter++}`);
      fs.renameSync(this.p(rel), tmp);
      try { apply(tmp); } finally { fs.renameSync(tmp, this.p(rel)); }
    }
  }

  private makeNode(rel: string, kind: NodeKind, mode: number, major: number, minor: number): void {
    // Created under an ASCII temp name (the CLI takes strings), then renamed into place.
    const tmp = path.join(this.rootStr, `${this.tmpPrefix}-node-${this.tmpCounter++}`);
    this.mknod(tmp, kind, mode, major, minor);
    fs.renameSync(tmp, this.p(rel));
  }

  private makeWhiteout(rel: string): void {
    if (this.whiteoutTemplate !== null) {
      try {
        fs.linkSync(this.p(this.whiteoutTemplate), this.p(rel));
        return;
      } catch (e) {
        const c = errnoCode(e);
        if (c !== 'EMLINK' && c !== 'ENOENT') throw e;
      }
    }
    this.makeNode(rel, 'char', 0, 0, 0);
    this.whiteoutTemplate = rel;
  }

  async apply(h: TarHeader, reader: TarReader): Promise<void> {
    const { name, rel } = entryName(h);
    if (rel === '') {
      this.dirMeta('', h);
      return;
    }
    const slash = rel.lastIndexOf('/');
    const parentLex = slash < 0 ? '' : rel.slice(0, slash);
    const base = slash < 0 ? rel : rel.slice(slash + 1);

    if (this.overlay && base.startsWith('.wh.')) {
      const parent = this.resolveDir(parentLex, name, true)!;
      if (base === '.wh..wh..opq') {
        if (parent === '') this.warn('opaque marker at the layer root: overlayfs ignores it there');
        this.applyXattrs(parent, [['trusted.overlay.opaque', 'y']], true, false, true);
        return;
      }
      const victim = whiteoutVictim(base, name);
      if (victim === null) return;
      const target = parent === '' ? victim : parent + '/' + victim;
      this.removeIfExists(target);
      this.makeWhiteout(target);
      return;
    }

    const parent = this.resolveDir(parentLex, name, true)!;
    const target = parent === '' ? base : parent + '/' + base;
    switch (h.type) {
      case 'dir': {
        const st = lstatOrNull(this.p(target));
        if (st === null || !st.isDirectory()) {
          if (st !== null) this.removeExisting(target, st);
          fs.mkdirSync(this.p(target), 0o700);
        }
        this.dirs.set(target, target);
        if (rel !== target) this.dirs.set(rel, target);
        this.dirMeta(target, h);
        return;
      }
      case 'file':
        await this.file(target, h, reader);
        return;
      case 'symlink': {
        if (h.linknameBytes.length === 0) throw invalidArgument(`invalid symlink ${show(name)}: empty target`);
        this.removeIfExists(target);
        fs.symlinkSync(fsPath(h.linknameBytes.toString('latin1')), this.p(target));
        fs.lchownSync(this.p(target), h.uid, h.gid);
        this.setXattrs(target, h, false, true);
        this.sys.setTimes(this.p(target), ...timesOf(h));
        this.contentSize += h.linknameBytes.length;
        return;
      }
      case 'link':
        this.hardlink(name, target, h);
        return;
      case 'char':
      case 'block':
      case 'fifo': {
        this.removeIfExists(target);
        this.makeNode(target, h.type, 0o600, h.devmajor, h.devminor);
        fs.lchownSync(this.p(target), h.uid, h.gid);
        fs.chmodSync(this.p(target), h.mode); // after chown, which clears setuid/setgid
        this.setXattrs(target, h, false, false);
        this.sys.setTimes(this.p(target), ...timesOf(h));
        return;
      }
    }
  }

  private dirMeta(rel: string, h: TarHeader): void {
    const p = this.p(rel);
    fs.lchownSync(p, h.uid, h.gid);
    fs.chmodSync(p, h.mode);
    this.setXattrs(rel, h, true, false);
    this.dirTimes.set(rel, timesOf(h));
  }

  private async file(target: string, h: TarHeader, reader: TarReader): Promise<void> {
    const p = this.p(target);
    let fd: number;
    const staged = this.staged !== null && h.size === 0 ? this.staged.get(h.nameBytes.toString('latin1')) : undefined;
    if (staged !== undefined) {
      this.staged!.delete(staged.name);
      this.removeIfExists(target);
      fs.renameSync(staged.path, p);
      fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        this.fileMeta(fd, target, h);
      } finally {
        fs.closeSync(fd);
      }
      this.contentSize += staged.size;
      return;
    }
    // created with its final mode where open(2) gives exactly that (no special bits, none the
    // umask clears): one fchmod fewer per file (3,350 in the nginx layer)
    const mode = h.mode & 0o7777;
    const exact = this.createExact && (mode & ~0o777) === 0 && (mode & this.umask) === 0;
    const createMode = exact ? mode : 0o600;
    try {
      fd = fs.openSync(p, OPEN_NEW_FILE, createMode);
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
      this.removeIfExists(target);
      fd = fs.openSync(p, OPEN_NEW_FILE, createMode);
    }
    try {
      if (h.sparse) {
        // holes stay holes: write the data segments at their offsets, then set the length
        let at = 0;
        while (reader.bodyLeft > 0) {
          const hole = reader.holeLeft();
          if (hole > 0) {
            reader.skipHole(hole);
            at += hole;
            continue;
          }
          const piece = reader.bodyPieceSync() ?? (await reader.bodyPiece());
          let o = 0;
          while (o < piece.length) o += fs.writeSync(fd, piece, o, piece.length - o, at + o);
          at += piece.length;
        }
        fs.ftruncateSync(fd, h.size);
      } else {
        while (reader.bodyLeft > 0) {
          const piece = reader.bodyPieceSync() ?? (await reader.bodyPiece());
          writeAll(fd, piece);
        }
      }
      this.fileMeta(fd, target, h, exact);
    } finally {
      fs.closeSync(fd);
    }
    this.contentSize += h.size;
  }

  private fileMeta(fd: number, target: string, h: TarHeader, modeSet = false): void {
    fs.fchownSync(fd, h.uid, h.gid);
    if (!modeSet) fs.fchmodSync(fd, h.mode); // after chown, which clears setuid/setgid
    this.setXattrs(target, h, false, false); // after chown and writes, which clear security.capability
    this.sys.setTimes(fd, ...timesOf(h));
  }

  private hardlink(name: string, target: string, h: TarHeader): void {
    const { linkBin, linkRel, what } = hardLinkName(h, name, this.overlay);
    const slash = linkRel.lastIndexOf('/');
    const linkParentLex = slash < 0 ? '' : linkRel.slice(0, slash);
    const linkBase = slash < 0 ? linkRel : linkRel.slice(slash + 1);
    const linkParent = this.resolveDir(linkParentLex, linkBin, false);
    const src = linkParent === null ? null : linkParent === '' ? linkBase : linkParent + '/' + linkBase;
    const st = src === null ? null : lstatOrNull(this.p(src));
    if (src === null || st === null) throw invalidArgument(`invalid ${what}: the target is not in the archive`);
    if (st.isDirectory()) throw invalidArgument(`invalid ${what}: the target is a directory`);
    if (src === target) return;
    this.removeIfExists(target);
    fs.linkSync(this.p(src), this.p(target)); // link(2) does not follow a symlink target
  }

  /** Directory times last, deepest first: creating children changed them. */
  finishDirs(): void {
    const list = [...this.dirTimes];
    const depth = (s: string): number => {
      let n = 0;
      for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 0x2f) n++;
      return s === '' ? -1 : n;
    };
    list.sort((a, b) => depth(b[0]) - depth(a[0]));
    for (const [rel, [at, mt]] of list) {
      try {
        this.sys.setTimes(this.p(rel), at, mt);
      } catch (e) {
        if (errnoCode(e) !== 'ENOENT') throw e;
      }
    }
  }
}

/** A hard link's target name, checked as far as the header allows (not the root, not a whiteout). */
function hardLinkName(h: TarHeader, name: string, overlay: boolean): { linkBin: string; linkRel: string; what: string } {
  const linkBin = h.linknameBytes.toString('latin1');
  const linkRel = cleanName(linkBin);
  const what = `hard link ${show(name)} -> ${show(linkBin)}`;
  if (linkRel === '') throw invalidArgument(`invalid ${what}: the target is the root`);
  if (overlay && linkRel.slice(linkRel.lastIndexOf('/') + 1).startsWith('.wh.')) throw invalidArgument(`invalid ${what}: the target is a whiteout`);
  return { linkBin, linkRel, what };
}

/** What a `.wh.NAME` entry (not the opaque marker) whites out; null for AUFS metadata (`.wh..wh.*`), which Docker skips. */
function whiteoutVictim(base: string, name: string): string | null {
  if (base.startsWith('.wh..wh.')) return null;
  const victim = base.slice(4);
  if (victim === '' || victim === '.' || victim === '..') throw invalidArgument(`invalid whiteout ${show(name)}`);
  return victim;
}

/** An entry's name (binary string) and its cleaned relative path ('' for the root), with the checks that need only the header. */
function entryName(h: TarHeader): { name: string; rel: string } {
  const name = h.nameBytes.toString('latin1');
  if (name.length > MAX_NAME_BYTES) throw invalidArgument(`name too long (${name.length} bytes): ${show(name)}`);
  const rel = cleanName(name);
  // uid/gid -1 would make chown a no-op (Docker then silently leaves root ownership)
  if (h.uid > 0xfffffffe || h.gid > 0xfffffffe || h.uid < 0 || h.gid < 0) {
    throw invalidArgument(`invalid owner ${h.uid}:${h.gid} for ${show(name)}`);
  }
  if (rel === '' && h.type !== 'dir') throw invalidArgument(`cannot replace the destination root with ${show(name)}`);
  return { name, rel };
}

function wrapEntryError(e: unknown, h: TarHeader): unknown {
  if (e instanceof StrataError) return e;
  const code = errnoCode(e);
  const name = show(h.nameBytes.toString('latin1'));
  const msg = e instanceof Error ? e.message : String(e);
  if (code === 'ENAMETOOLONG') return invalidArgument(`name too long: ${name}`);
  if (code === 'ELOOP') return invalidArgument(`cannot extract ${name}: too many levels of symbolic links`);
  if (code === 'ENOTDIR') return invalidArgument(`cannot extract ${name}: a parent is not a directory`);
  return new StrataError('internal', `cannot extract ${name}: ${msg}`, { cause: e });
}

/** What scanLayer learns of a layer without unpacking it. */
type ScanResult = Omit<UnpackResult, 'warnings'>;

/**
 * Read a layer to its end as unpackLayer would, without writing a file: its diff_id and sizes,
 * and every check that needs only the archive (the input's integrity and limits, names that
 * climb out, owners, the root, whiteout and symlink forms). What needs the files themselves (a
 * symlink among an entry's parents, a hard link's target) is checked when it is unpacked.
 */
export async function scanLayer(input: ByteInput, opts: Pick<UnpackOptions, 'maxExpandedBytes' | 'maxEntries' | 'mode'> & { plainDigest?: () => Promise<string> } = {}): Promise<ScanResult> {
  const maxBytes = opts.maxExpandedBytes ?? defaultMaxExpandedBytes();
  const hash = new Sha256Hasher();
  const info: SourceInfo = { compression: 'none', bytes: 0 };
  // plainDigest: an uncompressed input's digest (its diff_id) comes from the caller, who hashes it anyway
  const reader = new TarReader(uncompressedChunks(input, info, { maxBytes, hash, hashCompressedOnly: opts.plainDigest !== undefined }), {
    maxBytes,
    maxEntries: opts.maxEntries ?? DEFAULT_MAX_ENTRIES,
  });
  const overlay = (opts.mode ?? 'overlay') === 'overlay';
  let contentSize = 0;
  let diffId: string;
  try {
    for (;;) {
      const h = await reader.next();
      if (h === null) break;
      try {
        const { name, rel } = entryName(h);
        if (rel === '') continue;
        const base = rel.slice(rel.lastIndexOf('/') + 1);
        if (overlay && base.startsWith('.wh.')) {
          whiteoutVictim(base, name);
          continue;
        }
        if (h.type === 'file') contentSize += h.size;
        else if (h.type === 'symlink') {
          if (h.linknameBytes.length === 0) throw invalidArgument(`invalid symlink ${show(name)}: empty target`);
          contentSize += h.linknameBytes.length;
        } else if (h.type === 'link') hardLinkName(h, name, overlay);
      } catch (e) {
        throw wrapEntryError(e, h);
      }
    }
    await reader.drain();
    diffId = info.compression === 'none' && opts.plainDigest ? await opts.plainDigest() : await hash.digest();
  } catch (e) {
    await reader.close();
    throw e;
  } finally {
    hash.close();
  }
  return { diffId, tarSize: info.bytes, compression: info.compression, contentSize, entries: reader.entries };
}

/**
 * Unpack a layer. Input may be gzip / zstd (detected by magic) or a plain
 * tar. destDir must exist and should be empty and private to this call.
 * Throws StrataError('corrupt') on truncated/corrupt input,
 * 'invalid_argument' on hostile or over-limit input. The caller deletes
 * destDir on failure.
 */
export async function unpackLayer(input: ByteInput, destDir: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const root = path.resolve(destDir);
  const st = lstatOrNull(root);
  if (st === null || !st.isDirectory()) {
    if (typeof (input as { destroy?: unknown }).destroy === 'function') (input as { destroy: () => void }).destroy();
    throw invalidArgument(`destination ${JSON.stringify(destDir)} is not a directory`);
  }
  const maxBytes = opts.maxExpandedBytes ?? defaultMaxExpandedBytes();
  const hash = new Sha256Hasher();
  const info: SourceInfo = { compression: 'none', bytes: 0 };
  const sourceOpts: { maxBytes: number; hash: Sha256Hasher; onChunk?: (c: Buffer) => void } = { maxBytes, hash };
  if (opts.onChunk) sourceOpts.onChunk = opts.onChunk;
  const reader = new TarReader(uncompressedChunks(input, info, sourceOpts), {
    maxBytes,
    maxEntries: opts.maxEntries ?? DEFAULT_MAX_ENTRIES,
  });
  const u = new Unpacker(root, opts);
  let diffId: string;
  try {
    let lastYield = performance.now();
    for (;;) {
      const h = await reader.next();
      if (h === null) break;
      if (performance.now() - lastYield > 25) {
        // fs work is synchronous: let timers and sockets run now and then
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
      try {
        await u.apply(h, reader);
      } catch (e) {
        throw wrapEntryError(e, h);
      }
    }
    // Read to the end: Docker hashes everything, and a compressed stream's trailer is checked there.
    await reader.drain();
    u.finishDirs();
    diffId = await hash.digest();
  } catch (e) {
    await reader.close();
    throw e;
  } finally {
    hash.close();
    u.close();
  }
  u.finishWarnings();
  return {
    diffId,
    tarSize: info.bytes,
    compression: info.compression,
    contentSize: u.contentSize,
    entries: reader.entries,
    warnings: u.warnings,
  };
}
