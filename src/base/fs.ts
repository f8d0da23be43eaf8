import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoCode } from './errors.js';
import { urandom } from './random.js';

/**
 * Paths at least this long are reached through a directory descriptor
 * (/proc/self/fd/N/rest) instead: Linux refuses paths of PATH_MAX (4096) bytes
 * and more, and a layer may hold deeper trees than that.
 */
export const LONG_PATH = 3072;
const O_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

/** fsync a directory so a rename inside it is durable. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/** A unique temp name beside `target` (same filesystem, so rename is atomic). */
export function tempNameFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${urandom(4).toString('hex')}.tmp`);
}

/**
 * temp in the same dir -> write -> fsync -> rename -> fsync dir. `durable: false` keeps the
 * rename (no reader ever sees a half-written file) without the two fsyncs (~0.7 ms each here),
 * for a file that is written again before anything reads it after a machine crash: a start's
 * bundle files (config.json, hostname, hosts, resolv.conf).
 */
export function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o644, opts: { durable?: boolean } = {}): void {
  const durable = opts.durable !== false;
  const tmp = tempNameFor(target);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeFileSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, target);
  if (durable) fsyncDir(path.dirname(target));
}

export function mkdirp(dir: string, mode = 0o755): void {
  fs.mkdirSync(dir, { recursive: true, mode });
}


/** Remove a tree; tolerate it being gone already (the goal). Trees deeper than PATH_MAX are removed too. */
export function rmTree(p: string | Buffer): void {
  try {
    fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 });
    return;
  } catch (e) {
    if (errnoCode(e) !== 'ENAMETOOLONG') throw e;
  }
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (st === undefined) return;
  if (!st.isDirectory()) { fs.unlinkSync(p); return; }
  emptyDir(Buffer.from(p));
  fs.rmdirSync(p);
}

/** Remove the contents of directory `d` (a path short enough to use); deep levels go through a directory fd. */
function emptyDir(d: Buffer): void {
  for (const name of fs.readdirSync(d, { encoding: 'buffer' })) {
    const child = Buffer.concat([d, SLASH, name]);
    const st = fs.lstatSync(child, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (st.isDirectory()) {
      withShortDir(child, emptyDir);
      fs.rmdirSync(child);
    } else {
      fs.unlinkSync(child);
    }
  }
}

const SLASH = Buffer.from('/');

/** Call fn with a short path to directory `d`: itself, or /proc/self/fd/N when it is long. */
function withShortDir<T>(d: Buffer, fn: (short: Buffer) => T): T {
  if (d.length < LONG_PATH) return fn(d);
  const fd = fs.openSync(d, O_DIR);
  try {
    return fn(Buffer.from(`/proc/self/fd/${fd}`));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Short paths for entries of a tree whose full paths may exceed PATH_MAX: a
 * relative name (a binary string, as the tar code keeps names) becomes the
 * absolute path when that is short, else /proc/self/fd/N/rest with N an open
 * descriptor of a directory on the way (kept open until close()). The
 * directories on the way must be real directories (no symlinks are followed).
 */
export class ShortPaths {
  private readonly fds = new Map<string, number>();

  constructor(private readonly root: string) {}

  /** The path to use for `rel` ('' is the root). */
  of(rel: string): string {
    if (rel === '') return this.root;
    if (this.root.length + 1 + rel.length < LONG_PATH) return this.root + '/' + rel;
    let base = this.root;
    let done = 0; // rel[0..done) is reached by base
    for (;;) {
      const rest = rel.slice(done);
      if (base.length + 1 + rest.length < LONG_PATH) return base + '/' + rest;
      // the deepest directory of rest still reachable from base with a short path
      let cut = rest.lastIndexOf('/', LONG_PATH - base.length - 2);
      if (cut <= 0) cut = rest.indexOf('/');
      if (cut <= 0) return base + '/' + rest; // one name: the kernel will say what it thinks
      const dirRel = rel.slice(0, done + cut);
      let fd = this.fds.get(dirRel);
      if (fd === undefined) {
        const p = base + '/' + rest.slice(0, cut);
        fd = fs.openSync(/[^\x00-\x7f]/.test(p) ? Buffer.from(p, 'latin1') : p, O_DIR);
        this.fds.set(dirRel, fd);
      }
      base = `/proc/self/fd/${fd}`;
      done += cut + 1;
    }
  }

  /** Forget (close) descriptors of `rel` and everything below it: it is being removed or replaced. */
  forget(rel: string): void {
    if (this.fds.size === 0) return;
    for (const [k, fd] of this.fds) {
      if (rel === '' || k === rel || k.startsWith(rel + '/')) {
        fs.closeSync(fd);
        this.fds.delete(k);
      }
    }
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}

/**
 * Docker's size of a tree: non-directory st_size, symlinks as their target length,
 * each inode once.
 */
export function treeSize(dir: string): number {
  let total = 0;
  const seen = new Set<string>();
  const walk = (d: Buffer): void => {
    let names: Buffer[];
    try { names = fs.readdirSync(d, { encoding: 'buffer' }); } catch { return; }
    for (const n of names) {
      const p = Buffer.concat([d, SLASH, n]);
      let st: fs.Stats;
      try { st = fs.lstatSync(p); } catch { continue; }
      if (st.isDirectory()) { try { withShortDir(p, walk); } catch { /* gone or unreadable */ } continue; }
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += st.isSymbolicLink() ? fs.readlinkSync(p).length : st.size;
    }
  };
  walk(Buffer.from(dir));
  return total;
}

/** All of `data` written to fd at its current position, on the thread pool. */
export function writeAllAsync(fd: number, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const from = (off: number): void => {
      fs.write(fd, data, off, data.length - off, null, (e, n) => {
        if (e) reject(e);
        else if (off + n < data.length) from(off + n);
        else resolve();
      });
    };
    from(0);
  });
}
