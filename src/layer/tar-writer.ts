/**
 * TarWriter: a small streaming writer for archives Strata builds itself
 * (docker save / OCI layouts). Same header encoder as packDir.
 */
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import { StrataError, invalidArgument } from '../base/errors.js';
import { BLOCK, type EntryMeta, type TarEntryType, TYPE_MODE_BITS, encodeEntry, padding } from './tar-header.js';
import { TarSink } from './tar-sink.js';

interface TarEntryOptions {
  /** permission bits; default 0644 for files, 0755 for directories, 0777 for symlinks */
  mode?: number;
  /** seconds since the epoch (fractions kept as PAX nanoseconds); default 0 */
  mtime?: number;
  uid?: number;
  gid?: number;
  /** xattrs written as SCHILY.xattr.* records */
  xattrs?: Record<string, Uint8Array | string>;
}

function nameBuf(name: string, dir: boolean): Buffer {
  if (name.length === 0 || name.includes('\0')) throw invalidArgument(`invalid tar entry name ${JSON.stringify(name)}`);
  const n = name.replace(/^\/+/, '');
  return Buffer.from(dir && !n.endsWith('/') ? n + '/' : n, 'utf8');
}

export class TarWriter {
  private readonly sink: TarSink;
  private finished = false;
  private count = 0;

  constructor(private readonly out: Writable) {
    this.sink = TarSink.toStream(out);
  }

  /** Bytes produced so far (after finish(): the archive size). */
  get size(): number {
    return this.sink.position;
  }

  /** Entries written so far. */
  get entries(): number {
    return this.count;
  }

  /** 'sha256:<hex>' of the archive; available after finish(). */
  digest(): string {
    if (!this.finished) throw new StrataError('failed_precondition', 'TarWriter.digest() before finish()');
    return this.sink.digest();
  }

  private meta(name: Buffer, type: TarEntryType, size: number, defMode: number, opts: TarEntryOptions | undefined): EntryMeta {
    if (this.finished) throw new StrataError('failed_precondition', 'TarWriter used after finish()');
    const t = opts?.mtime ?? 0;
    const sec = Math.floor(t);
    const m: EntryMeta = {
      name,
      type,
      mode: TYPE_MODE_BITS[type] | ((opts?.mode ?? defMode) & 0o7777),
      uid: opts?.uid ?? 0,
      gid: opts?.gid ?? 0,
      size,
      mtime: sec,
      mtimeNsec: Math.round((t - sec) * 1e9) % 1_000_000_000,
    };
    if (opts?.xattrs) {
      m.xattrs = Object.keys(opts.xattrs).sort().map((k) => {
        const v = opts.xattrs![k]!;
        return [k, typeof v === 'string' ? Buffer.from(v) : Buffer.from(v)] as [string, Buffer];
      });
    }
    return m;
  }

  private async put(m: EntryMeta): Promise<void> {
    this.sink.put(encodeEntry(m));
    this.count++;
    if (this.sink.needDrain) await this.sink.drain();
  }

  async addFile(name: string, data: Uint8Array, opts?: TarEntryOptions): Promise<void> {
    await this.put(this.meta(nameBuf(name, false), 'file', data.length, 0o644, opts));
    this.sink.put(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.sink.zeros(padding(data.length));
    if (this.sink.needDrain) await this.sink.drain();
  }

  /** Stream a file's content; `size` is what the header declares and must match the file. */
  async addFileFromPath(name: string, srcPath: string, size: number, opts?: TarEntryOptions): Promise<void> {
    const fd = fs.openSync(srcPath, fs.constants.O_RDONLY);
    try {
      const actual = fs.fstatSync(fd).size;
      if (actual !== size) throw new StrataError('failed_precondition', `${srcPath}: size is ${actual}, expected ${size}`);
      await this.put(this.meta(nameBuf(name, false), 'file', size, 0o644, opts));
      const sink = this.sink;
      let left = size;
      while (left > 0) {
        const room = sink.room();
        const n = fs.readSync(fd, sink.buf, sink.off, room < left ? room : left, null);
        if (n === 0) throw new StrataError('failed_precondition', `${srcPath} shrank while it was archived`);
        sink.off += n;
        left -= n;
        if (sink.needDrain) await sink.drain();
      }
      sink.zeros(padding(size));
    } finally {
      fs.closeSync(fd);
    }
  }

  async addDir(name: string, opts?: TarEntryOptions): Promise<void> {
    await this.put(this.meta(nameBuf(name, true), 'dir', 0, 0o755, opts));
  }

  async addSymlink(name: string, target: string, opts?: TarEntryOptions): Promise<void> {
    const m = this.meta(nameBuf(name, false), 'symlink', 0, 0o777, opts);
    m.linkname = Buffer.from(target, 'utf8');
    await this.put(m);
  }

  async addHardlink(name: string, target: string, opts?: TarEntryOptions): Promise<void> {
    const m = this.meta(nameBuf(name, false), 'link', 0, 0o644, opts);
    m.linkname = Buffer.from(target.replace(/^\/+/, ''), 'utf8');
    await this.put(m);
  }

  /** Write the end-of-archive blocks, end the output stream and wait for it to finish. */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.sink.zeros(2 * BLOCK);
    this.finished = true;
    try {
      await this.sink.end(true);
    } finally {
      this.sink.close();
    }
  }

  /** Give up: destroy the output stream and release resources. */
  abort(err?: Error): void {
    this.finished = true;
    this.sink.close();
    this.out.destroy(err);
  }
}
