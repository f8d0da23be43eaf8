/**
 * packDir: the tar of a directory tree, in Docker's overlay2 order.
 *
 * Synchronous walk and reads (file data is read straight into the output
 * buffer); the only awaits are for backpressure of a Writable output.
 *
 * Order: depth-first pre-order, siblings in byte order of their on-disk names
 * (so a whiteout `.wh.www` sits where `www` sorts); an opaque marker comes right
 * after its directory. Entries carry numeric owners (empty uname/gname), the
 * mode with its S_IFMT type bits as Go's archive/tar writes it, mtimes (PAX with
 * nanoseconds when not whole seconds), xattrs except trusted.* as binary
 * SCHILY.xattr.* records, hard links to the first name met, never for whiteouts.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { StrataError, invalidArgument } from '../base/errors.js';
import { LONG_PATH } from '../base/fs.js';
import { fsPath, show, toBin } from './paths.js';
import { BLOCK, type EntryMeta, type TarEntryType, TYPE_MODE_BITS, encodeEntry, padding } from './tar-header.js';
import { TarSink } from './tar-sink.js';
import { linuxSys, SCAN_FIELDS, type Sys } from '../sys/index.js';
import { readXattrs, withXattrPath } from './xattr.js';

export interface PackOptions {
  /**
   * 'overlay-upper': the dir is an overlay upper dir: char dev 0/0 -> `.wh.NAME`
   * entry; a dir with trusted.overlay.opaque=y -> dir entry then
   * `.wh..wh..opq`; whiteouts are never treated as hard links (the kernel
   * hard-links them to each other). 'plain': a normal tree (export, save of a
   * rootfs). Default 'plain'.
   */
  mode?: 'overlay-upper' | 'plain';
  /** return true to leave a path out ('/'-prefixed relative path like '/var/run/x.pid'); excluded dirs drop their subtree */
  exclude?: (path: string, st: PackStat) => boolean;
  /** reproducible layers: clamp every mtime to at most this epoch (seconds); atime/ctime are never written */
  sourceDateEpoch?: number;
  /** truncate mtimes to whole seconds, as Docker's own layers do (default false: PAX mtime with ns) */
  wholeSecondMtimes?: boolean;
  /**
   * mtime (seconds) written for every whiteout entry instead of the device's
   * own (Docker writes the deletion time). Layer dirs keep their whiteouts as
   * one shared device node, so a tar re-packed from a layer dir reproduces the
   * original bytes only when whiteout mtimes do not depend on the node.
   */
  whiteoutMtime?: number;
  /** end a Writable output when done (default true) */
  end?: boolean;
  /** the kernel door for xattrs (default: linuxSys) */
  sys?: Sys;
  /**
   * Regular files of at least minSize bytes are not written into the output
   * (a file path or fd only): their data goes to a new file under dir (read
   * once, hashed on the way), the output gets the entry with size 0 in its
   * place, and the result lists them (`staged`). The digest, size and entry
   * count are those of the full tar. unpackLayer's `staged` option puts such
   * files in place by renaming them; `spliceStaged` rebuilds the full tar.
   */
  stage?: { dir: string; minSize: number };
}

/** A file packDir left out of its output (PackOptions.stage). */
export interface StagedFile {
  /** the entry name as written in the tar (latin1 of its bytes) */
  name: string;
  /** the file holding the data */
  path: string;
  size: number;
  /** where the size-0 entry starts in the output, and its length */
  outOffset: number;
  outLength: number;
  /** the full tar's header for this entry */
  header: Buffer;
}

interface PackResult {
  /** 'sha256:<hex>' of the tar written */
  diffId: string;
  /** bytes written */
  size: number;
  /** entries written (whiteouts and opaque markers included) */
  entries: number;
  /** Docker's layer size: regular-file bytes (each inode once) + symlink target lengths */
  contentSize: number;
  /** files left out of the output (PackOptions.stage), in tar order */
  staged: StagedFile[];
}

const OPEN_READ = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;
/** files below this size are read by one addon call (Packer.smallFile) */
const SMALL_FILE = 256 * 1024;
const NS = 1_000_000_000n;
/** longest stretch of synchronous work before packDir lets the event loop run */
const YIELD_MS = 25;

function devNumbers(rdev: bigint): [number, number] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

/** The entry type of a stat mode (null for a type a tar cannot hold). */
export function fileType(mode: number): TarEntryType | 'socket' | null {
  switch (mode & 0o170000) {
    case 0o100000: return 'file';
    case 0o040000: return 'dir';
    case 0o120000: return 'symlink';
    case 0o020000: return 'char';
    case 0o060000: return 'block';
    case 0o010000: return 'fifo';
    case 0o140000: return 'socket';
    default: return null;
  }
}

/** What exclude() is given of an entry (fs.Stats has it too). */
export interface PackStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  rdev: number;
  isDirectory(): boolean;
  isFile(): boolean;
  isSymbolicLink(): boolean;
  isCharacterDevice(): boolean;
}

/** One directory entry as packing needs it. */
class Entry implements PackStat {
  constructor(
    readonly name: string,
    readonly mode: number,
    readonly uid: number,
    readonly gid: number,
    readonly size: number,
    readonly mtimeSec: number,
    readonly mtimeNsec: number,
    readonly ino: number,
    readonly dev: number,
    readonly nlink: number,
    readonly rdevMajor: number,
    readonly rdevMinor: number,
    /** null: not read yet (no addon) */
    readonly xattrs: Array<[string, Buffer]> | null,
  ) {}

  /** 0 for a whiteout's 0/0; otherwise not a real dev_t, only ever compared with 0 */
  get rdev(): number { return this.rdevMajor * 0x100000 + this.rdevMinor; }
  isDirectory(): boolean { return (this.mode & 0o170000) === 0o040000; }
  isFile(): boolean { return (this.mode & 0o170000) === 0o100000; }
  isSymbolicLink(): boolean { return (this.mode & 0o170000) === 0o120000; }
  isCharacterDevice(): boolean { return (this.mode & 0o170000) === 0o020000; }
}

class Packer {
  entries = 0;
  contentSize = 0;
  private readonly links = new Map<string, string>();
  readonly staged: StagedFile[] = [];
  private stageBuf: Buffer | null = null;
  private readonly overlay: boolean;
  private readonly epoch: number | undefined;

  constructor(private readonly sink: TarSink, private readonly opts: PackOptions) {
    this.overlay = opts.mode === 'overlay-upper';
    this.epoch = opts.sourceDateEpoch;
  }

  private times(st: Entry): [number, number] {
    let s = st.mtimeSec;
    let n = st.mtimeNsec;
    if (this.opts.wholeSecondMtimes) n = 0;
    if (this.epoch !== undefined && (s > this.epoch || (s === this.epoch && n > 0))) {
      s = this.epoch;
      n = 0;
    }
    return [s, n];
  }

  /** The walk is synchronous: let timers and sockets run now and then. */
  private lastYield = performance.now();
  private async yieldToEventLoop(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.lastYield = performance.now();
  }

  private header(m: EntryMeta): void {
    this.sink.put(encodeEntry(m));
    this.entries++;
  }

  /**
   * A directory's entries, sorted: from one addon call (stat fields and xattrs, native/scan.c)
   * or, without the addon, readdir and an lstat each (xattrs read later, by path).
   */
  private list(absDir: string): Entry[] {
    const sys = this.opts.sys ?? linuxSys;
    const scan = sys.scanDir(fsPath(absDir || '/'));
    const out: Entry[] = [];
    if (scan) {
      const { names, fields: f, xattrs } = scan;
      let at = 0;
      for (let i = 0, o = 0; at < names.length; i++, o += SCAN_FIELDS) {
        const end = names.indexOf(0, at);
        out.push(new Entry(names.toString('latin1', at, end), f[o]!, f[o + 1]!, f[o + 2]!, f[o + 3]!, f[o + 4]!, f[o + 5]!, f[o + 6]!, f[o + 7]!, f[o + 8]!, f[o + 9]!, f[o + 10]!, xattrs[i] ?? []));
        at = end + 1;
      }
    } else {
      for (const b of fs.readdirSync(fsPath(absDir || '/'), { encoding: 'buffer' }) as Buffer[]) {
        const name = b.toString('latin1');
        const st = fs.lstatSync(fsPath(absDir + '/' + name), { bigint: true });
        let sec = st.mtimeNs / NS;
        let nsec = st.mtimeNs % NS;
        if (nsec < 0n) { sec -= 1n; nsec += NS; }
        const [major, minor] = devNumbers(st.rdev);
        out.push(new Entry(name, Number(st.mode), Number(st.uid), Number(st.gid), Number(st.size), Number(sec), Number(nsec), Number(st.ino), Number(st.dev), Number(st.nlink), major, minor, null));
      }
    }
    return out.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  }

  async walk(relDir: string, absDir: string): Promise<void> {
    for (const st of this.list(absDir)) {
      const n = st.name;
      if (this.sink.needDrain) await this.sink.drain();
      if (performance.now() - this.lastYield > YIELD_MS) await this.yieldToEventLoop();
      const rel = relDir === '' ? n : relDir + '/' + n;
      const abs = absDir + '/' + n;
      const p = fsPath(abs);
      if (this.opts.exclude) {
        const utf8 = Buffer.from(rel, 'latin1').toString('utf8');
        if (this.opts.exclude('/' + utf8, st)) continue;
      }
      const mode = st.mode;
      const type = fileType(mode);
      if (type === null || type === 'socket') continue; // sockets cannot be archived (tar skips them too)
      const [mtime, mtimeNsec] = this.times(st);
      const uid = st.uid;
      const gid = st.gid;
      const nameBytes = Buffer.from(rel, 'latin1');

      if (this.overlay) {
        if (type === 'char' && st.rdev === 0) {
          // whiteout: Docker writes a regular `.wh.NAME`, mode 0600 without type bits
          const wh = Buffer.from((relDir === '' ? '' : relDir + '/') + '.wh.' + n, 'latin1');
          const fixed = this.opts.whiteoutMtime;
          this.header({ name: wh, type: 'file', mode: 0o600, uid, gid, size: 0, mtime: fixed ?? mtime, mtimeNsec: fixed === undefined ? mtimeNsec : 0 });
          continue;
        }
        if (n.startsWith('.wh.')) {
          throw invalidArgument(`cannot pack ${show(rel)}: a file named like a whiteout would be read as one (umoci refuses these too)`);
        }
      }

      const isDir = type === 'dir';
      const all = st.xattrs === null
        ? withXattrPath(abs, isDir, (xp) => readXattrs(xp, undefined, this.opts.sys ?? linuxSys)) ?? []
        : st.xattrs.length > 1 ? [...st.xattrs].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)) : st.xattrs;
      let opaque = false;
      const xattrs: Array<[string, Buffer]> = [];
      for (const [k, v] of all) {
        if (k.startsWith('trusted.')) {
          if (this.overlay) {
            if (k === 'trusted.overlay.opaque' && v.length === 1 && v[0] === 0x79) opaque = true;
            else if (k === 'trusted.overlay.metacopy' || k === 'trusted.overlay.redirect') {
              throw new StrataError('failed_precondition', `cannot pack ${show(rel)}: overlay ${k.slice(16)} entries keep their data in a lower layer (mount overlay with metacopy=off,redirect_dir=off)`);
            }
          }
          continue;
        }
        xattrs.push([k, v]);
      }
      const meta: EntryMeta = {
        name: nameBytes,
        type,
        mode: TYPE_MODE_BITS[type] | (mode & 0o7777),
        uid,
        gid,
        size: 0,
        mtime,
        mtimeNsec,
      };
      if (xattrs.length > 0) meta.xattrs = xattrs;

      switch (type) {
        case 'dir': {
          meta.name = Buffer.from(rel + '/', 'latin1');
          this.header(meta);
          if (opaque) {
            const marker = Buffer.from(rel + '/.wh..wh..opq', 'latin1');
            this.header({ name: marker, type: 'file', mode: mode & 0o7777, uid, gid, size: 0, mtime: 0, mtimeNsec: 0 });
          }
          if (this.sink.needDrain) await this.sink.drain();
          if (abs.length < LONG_PATH) {
            await this.walk(rel, abs);
          } else {
            // deeper than PATH_MAX allows: go on through a descriptor of this directory
            const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
            try { await this.walk(rel, `/proc/self/fd/${fd}`); } finally { fs.closeSync(fd); }
          }
          continue;
        }
        case 'symlink': {
          const target = fs.readlinkSync(p, { encoding: 'buffer' }) as Buffer;
          meta.linkname = target;
          this.header(meta);
          this.contentSize += target.length;
          continue;
        }
        case 'char':
        case 'block': {
          meta.devmajor = st.rdevMajor;
          meta.devminor = st.rdevMinor;
          break;
        }
        case 'fifo':
          break;
        case 'file': {
          if (st.nlink > 1) {
            const key = `${st.dev}:${st.ino}`;
            const first = this.links.get(key);
            if (first !== undefined) {
              meta.type = 'link';
              meta.linkname = Buffer.from(first, 'latin1');
              this.header(meta);
              continue;
            }
            this.links.set(key, rel);
          }
          await this.file(meta, p, st, rel);
          continue;
        }
      }
      this.header(meta);
    }
  }

  private async file(meta: EntryMeta, p: string | Buffer, st: Entry, rel: string): Promise<void> {
    const stage = this.opts.stage;
    if (st.size < SMALL_FILE && (stage === undefined || st.size < stage.minSize) && this.smallFile(meta, p, st, rel)) return;
    const fd = fs.openSync(p, OPEN_READ);
    try {
      const fst = fs.fstatSync(fd);
      if (fst.ino !== st.ino || fst.dev !== st.dev) throw new StrataError('failed_precondition', `${show(rel)} changed while packing`);
      const size = st.size;
      meta.size = size;
      if (stage !== undefined && size >= stage.minSize) {
        await this.stagedFile(meta, fd, size, rel, stage.dir);
        return;
      }
      this.header(meta);
      const sink = this.sink;
      let left = size;
      while (left > 0) {
        const room = sink.room();
        const n = fs.readSync(fd, sink.buf, sink.off, room < left ? room : left, null);
        if (n === 0) throw new StrataError('failed_precondition', `${show(rel)} shrank while packing`);
        sink.off += n;
        left -= n;
        if (sink.needDrain) await sink.drain();
        if (performance.now() - this.lastYield > YIELD_MS) await this.yieldToEventLoop();
      }
      const pad = padding(size);
      if (pad > 0) sink.zeros(pad);
      this.contentSize += size;
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * A small file read straight into the sink's buffer by one addon call (open, fstat, read,
   * close): false, with nothing written, where the addon is not built or the buffer is short.
   */
  private smallFile(meta: EntryMeta, p: string | Buffer, st: Entry, rel: string): boolean {
    const size = st.size;
    meta.size = size;
    const head = encodeEntry(meta);
    const sink = this.sink;
    if (sink.room() < head.length + size) sink.flush();
    if (sink.room() < head.length + size) return false;
    const dataAt = sink.off + head.length;
    const n = (this.opts.sys ?? linuxSys).readInto(p, st.ino, st.dev, sink.buf, dataAt, size);
    if (n === null) return false;
    if (n < 0) throw new StrataError('failed_precondition', `${show(rel)} changed while packing`);
    if (n < size) throw new StrataError('failed_precondition', `${show(rel)} shrank while packing`);
    sink.put(head); // into the buffer before the data already there
    this.entries++;
    sink.off += size;
    const pad = padding(size);
    if (pad > 0) sink.zeros(pad);
    this.contentSize += size;
    return true;
  }

  /** A big file: its data goes to a file of its own, the output gets a size-0 entry (see PackOptions.stage). */
  private async stagedFile(meta: EntryMeta, fd: number, size: number, rel: string, dir: string): Promise<void> {
    const sink = this.sink;
    const header = encodeEntry(meta);
    const empty = encodeEntry({ ...meta, size: 0 });
    const outLength = empty.length;
    const outOffset = sink.writeOnly(empty);
    sink.hashOnly(header);
    this.entries++;
    const dest = path.join(dir, String(this.staged.length));
    const out = fs.openSync(dest, 'wx', 0o600);
    this.staged.push({ name: rel, path: dest, size, outOffset, outLength, header });
    try {
      const buf = this.stageBuf ??= Buffer.allocUnsafe(1 << 20);
      let left = size;
      while (left > 0) {
        const n = fs.readSync(fd, buf, 0, buf.length < left ? buf.length : left, null);
        if (n === 0) throw new StrataError('failed_precondition', `${show(rel)} shrank while packing`);
        const piece = buf.subarray(0, n);
        let o = 0;
        while (o < n) o += fs.writeSync(out, piece, o, n - o);
        sink.hashOnly(piece);
        left -= n;
        if (sink.needDrain) await sink.drain();
        if (performance.now() - this.lastYield > YIELD_MS) await this.yieldToEventLoop();
      }
    } finally {
      fs.closeSync(out);
    }
    const pad = padding(size);
    if (pad > 0) sink.hashOnly(Buffer.alloc(pad));
    this.contentSize += size;
  }
}

/**
 * Write an uncompressed tar of `dir` to `out`: a file path (created or
 * truncated), an open file descriptor, or a Writable (ended when done unless
 * opts.end === false). No entry for the root; names relative, directories with
 * a trailing '/'.
 */
export async function packDir(dir: string, out: string | number | Writable, opts: PackOptions = {}): Promise<PackResult> {
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (!st || !st.isDirectory()) throw invalidArgument(`cannot pack ${JSON.stringify(dir)}: not a directory`);
  let ownFd: number | null = null;
  let sink: TarSink;
  if (typeof out === 'string') {
    ownFd = fs.openSync(out, 'w', 0o644);
    sink = TarSink.toFd(ownFd);
  } else if (typeof out === 'number') {
    sink = TarSink.toFd(out);
  } else {
    if (opts.stage) throw invalidArgument('packDir: staging needs a file output');
    sink = TarSink.toStream(out);
  }
  try {
    const packer = new Packer(sink, opts);
    const root = path.resolve(dir);
    await packer.walk('', root === '/' ? '' : toBin(root));
    sink.zeros(2 * BLOCK);
    await sink.end(opts.end !== false);
    return { diffId: sink.digest(), size: sink.size, entries: packer.entries, contentSize: packer.contentSize, staged: packer.staged };
  } catch (e) {
    if (typeof out === 'object' && opts.end !== false) out.destroy(e instanceof Error ? e : undefined);
    await sink.abort(); // no write of ours may reach the descriptor after the caller closes it
    throw e;
  } finally {
    sink.close();
    if (ownFd !== null) fs.closeSync(ownFd);
  }
}

/**
 * The full tar of a packDir output whose big files were staged: the output's
 * bytes with each size-0 entry replaced by the real header, the data (read
 * from dataOf(file), e.g. where unpackLayer put it) and its padding. Returns
 * the digest and size of what it wrote to outPath.
 */
export function spliceStaged(packedPath: string, staged: readonly StagedFile[], dataOf: (f: StagedFile) => string | Buffer, outPath: string): { diffId: string; size: number } {
  const h = createHash('sha256');
  const src = fs.openSync(packedPath, 'r');
  const out = fs.openSync(outPath, 'wx', 0o644);
  const buf = Buffer.allocUnsafe(1 << 20);
  let size = 0;
  const emit = (b: Buffer): void => {
    h.update(b);
    let o = 0;
    while (o < b.length) o += fs.writeSync(out, b, o, b.length - o);
    size += b.length;
  };
  const copy = (fd: number, from: number, len: number, what: string): void => {
    let pos = from;
    let left = len;
    while (left > 0) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, left), pos);
      if (n === 0) throw new StrataError('internal', `${what} is shorter than expected`);
      emit(buf.subarray(0, n));
      pos += n;
      left -= n;
    }
  };
  try {
    let at = 0;
    for (const f of [...staged].sort((a, b) => a.outOffset - b.outOffset)) {
      copy(src, at, f.outOffset - at, 'the packed tar');
      emit(f.header);
      const data = fs.openSync(dataOf(f), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try { copy(data, 0, f.size, show(f.name)); } finally { fs.closeSync(data); }
      const pad = padding(f.size);
      if (pad > 0) emit(Buffer.alloc(pad));
      at = f.outOffset + f.outLength;
    }
    copy(src, at, fs.fstatSync(src).size - at, 'the packed tar');
  } finally {
    fs.closeSync(src);
    fs.closeSync(out);
  }
  return { diffId: `sha256:${h.digest('hex')}`, size };
}
