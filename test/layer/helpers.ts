/**
 * Test helpers for layer/: temp dirs, GNU tar, a raw tar crafter that does not
 * use the code under test (so broken and hostile archives can be built), and a
 * tree snapshot for comparing extraction results.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `strata-layer-${prefix}-`));
}

export function rm(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

export function sh(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export function streamOf(b: Buffer, chunk = 65536): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += chunk) parts.push(b.subarray(i, i + chunk));
  return Readable.from(parts);
}

// ---------------------------------------------------------------------------
// Raw tar crafting

export interface RawEntry {
  name: string | Buffer;
  type?: string; // typeflag char, default '0'
  size?: number; // declared size; default data length
  data?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string | Buffer;
  devmajor?: number;
  devminor?: number;
  /** PAX records to put in an 'x' header before this entry */
  pax?: Array<[string, Buffer | string]>;
  /** corrupt the checksum */
  badChecksum?: boolean;
  /** raw bytes for the size field (12 bytes) */
  rawSize?: Buffer;
}

function oct(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

export function rawHeader(e: RawEntry): Buffer {
  const b = Buffer.alloc(512);
  const name = typeof e.name === 'string' ? Buffer.from(e.name) : e.name;
  name.copy(b, 0, 0, Math.min(100, name.length));
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
  b.write(oct(e.mode ?? 0o644, 8), 100, 'latin1');
  b.write(oct(e.uid ?? 0, 8), 108, 'latin1');
  b.write(oct(e.gid ?? 0, 8), 116, 'latin1');
  if (e.rawSize) e.rawSize.copy(b, 124);
  else b.write(oct(e.size ?? data.length, 12), 124, 'latin1');
  b.write(oct(e.mtime ?? 1700000000, 12), 136, 'latin1');
  b.write(e.type ?? '0', 156, 'latin1');
  if (e.linkname !== undefined) {
    const l = typeof e.linkname === 'string' ? Buffer.from(e.linkname) : e.linkname;
    l.copy(b, 157, 0, Math.min(100, l.length));
  }
  b.write('ustar\0' + '00', 257, 'latin1');
  b.write(oct(e.devmajor ?? 0, 8), 329, 'latin1');
  b.write(oct(e.devminor ?? 0, 8), 337, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i]!;
  if (e.badChecksum) sum += 1;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

function pad(b: Buffer): Buffer {
  const r = b.length % 512;
  return r === 0 ? b : Buffer.concat([b, Buffer.alloc(512 - r)]);
}

export function paxData(records: Array<[string, Buffer | string]>): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of records) {
    const val = Buffer.from(v);
    const base = 1 + Buffer.byteLength(k) + 1 + val.length + 1;
    let len = base + String(base).length;
    if (String(len).length !== String(base).length) len = base + String(len).length;
    out.push(Buffer.from(`${len} ${k}=`), val, Buffer.from('\n'));
  }
  return Buffer.concat(out);
}

/** A tar from raw entries; `end` adds the two zero blocks (default true). */
export function craftTar(entries: RawEntry[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) {
      const d = paxData(e.pax);
      parts.push(rawHeader({ name: 'PaxHeaders/x', type: 'x', data: d }), pad(d));
    }
    parts.push(rawHeader(e));
    if (e.data !== undefined) parts.push(pad(Buffer.from(e.data)));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// Tree snapshots

export interface NodeInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  mtimeNs: bigint;
  rdev?: string;
  target?: string;
  sha?: string;
  xattrs: Record<string, string>;
  /** first path (in sorted walk order) sharing this inode, for hard links */
  linkGroup?: string;
}

function typeOf(st: fs.BigIntStats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'other';
}

export function xattrsOf(p: string, skipTrusted = true): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of listAttributesSync(p).sort()) {
    if (skipTrusted && n.startsWith('trusted.')) continue;
    const v = getAttributeSync(p, n);
    if (v) out[n] = v.toString('hex');
  }
  return out;
}

/** Every entry below root (root itself excluded), keyed by relative path. */
export function snapshot(root: string, opts: { skipTrusted?: boolean } = {}): Map<string, NodeInfo> {
  const out = new Map<string, NodeInfo>();
  const inodes = new Map<string, string>();
  const walk = (rel: string): void => {
    const names = fs.readdirSync(path.join(root, rel)).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const p = path.join(root, r);
      const st = fs.lstatSync(p, { bigint: true });
      const info: NodeInfo = {
        type: typeOf(st),
        mode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtimeNs: st.mtimeNs,
        xattrs: xattrsOf(p, opts.skipTrusted ?? true),
      };
      if (info.type === 'file') {
        info.size = Number(st.size);
        info.sha = sha256(fs.readFileSync(p));
      }
      if (info.type === 'symlink') info.target = fs.readlinkSync(p);
      if (info.type === 'char' || info.type === 'block') info.rdev = st.rdev.toString();
      if (info.type !== 'dir' && st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        if (!inodes.has(key)) inodes.set(key, r);
        info.linkGroup = inodes.get(key)!;
      }
      out.set(r, info);
      if (info.type === 'dir') walk(r);
    }
  };
  walk('');
  return out;
}

/** Differences between two snapshots, as readable strings (empty = same). */
export function diffSnapshots(a: Map<string, NodeInfo>, b: Map<string, NodeInfo>, opts: { mtimeToleranceNs?: bigint; ignoreDirMtime?: boolean } = {}): string[] {
  const tol = opts.mtimeToleranceNs ?? 0n;
  const out: string[] = [];
  for (const [k, x] of a) {
    const y = b.get(k);
    if (!y) { out.push(`missing in second: ${k}`); continue; }
    for (const f of ['type', 'mode', 'uid', 'gid', 'size', 'rdev', 'target', 'sha', 'linkGroup'] as const) {
      if (x[f] !== y[f]) out.push(`${k}: ${f} ${String(x[f])} != ${String(y[f])}`);
    }
    if (JSON.stringify(x.xattrs) !== JSON.stringify(y.xattrs)) out.push(`${k}: xattrs ${JSON.stringify(x.xattrs)} != ${JSON.stringify(y.xattrs)}`);
    if (!(opts.ignoreDirMtime && x.type === 'dir')) {
      const d = x.mtimeNs - y.mtimeNs;
      if (d > tol || -d > tol) out.push(`${k}: mtime ${x.mtimeNs} != ${y.mtimeNs}`);
    }
  }
  for (const k of b.keys()) if (!a.has(k)) out.push(`extra in second: ${k}`);
  return out;
}

// ---------------------------------------------------------------------------
// The fixture tree of libraries.md A.1

/** security.capability v2: cap_net_raw in permitted, effective flag set. */
export const CAP_V2 = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
export const BIN_XATTR = Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x3d, 0x20]);
export const LONG_TARGET = 't'.repeat(60) + '/' + 'u'.repeat(89); // 150 chars
export const UTF8_NAME = 'ünïcødé-文件.txt';

/** Path of 357 characters below the root. */
export const LONG_PATH = ['a'.repeat(100), 'b'.repeat(100), 'c'.repeat(100), 'd'.repeat(54)].join('/');

export function buildFixture(root: string): void {
  const w = (rel: string, data: string | Buffer, mode = 0o644): string => {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    fs.chmodSync(p, mode);
    return p;
  };
  const big = Buffer.alloc(151 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  const cap = w('bin/capbin', big, 0o755);
  setAttributeSync(cap, 'security.capability', CAP_V2);
  const xf = w('etc/xattr-file', 'xattrs here\n');
  setAttributeSync(xf, 'user.bin', BIN_XATTR);
  setAttributeSync(xf, 'user.text', 'hello');
  const h1 = w('hard/one', 'shared inode\n');
  fs.linkSync(h1, path.join(root, 'hard/two'));
  fs.chownSync(h1, 1000000, 1000000);
  fs.utimesSync(h1, 1700000000.5, 1700000000.123456789);
  fs.symlinkSync(LONG_TARGET, path.join(root, 'links-long'));
  fs.symlinkSync('etc/xattr-file', path.join(root, 'links-short'));
  w(LONG_PATH, 'deep\n');
  w(UTF8_NAME, 'utf8\n');
  fs.mkdirSync(path.join(root, 'dev'));
  sh('mknod', ['-m', '0666', path.join(root, 'dev/null'), 'c', '1', '3']);
  sh('mknod', ['-m', '0660', path.join(root, 'dev/loop0'), 'b', '7', '0']);
  sh('mknod', ['-m', '0644', path.join(root, 'fifo'), 'p']);
  const su = w('usr/bin/su', 'setuid\n', 0o755);
  fs.chmodSync(su, 0o4755);
  const sg = w('usr/bin/sg', 'setgid\n', 0o755);
  fs.chmodSync(sg, 0o2711);
  fs.mkdirSync(path.join(root, 'tmp'));
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  const priv = path.join(root, 'private');
  fs.mkdirSync(priv, { mode: 0o700 });
  fs.chownSync(priv, 3000000, 3000000); // beyond 7 octal digits: PAX / base-256
  w('empty', '');
  // fixed directory mtimes last (children changed them)
  const dirs: string[] = [];
  const walk = (d: string): void => {
    for (const n of fs.readdirSync(d)) {
      const p = path.join(d, n);
      if (fs.lstatSync(p).isDirectory()) { walk(p); dirs.push(p); }
    }
  };
  walk(root);
  for (const d of dirs) fs.utimesSync(d, 1600000000, 1600000000);
}
