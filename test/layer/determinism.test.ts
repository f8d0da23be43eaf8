/**
 * packDir is deterministic, clamps mtimes for reproducible layers, honours
 * exclusions, and writes Docker's header conventions.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { type PackStat, packDir, readTar } from '../../src/layer/index.js';
import { linuxSys } from '../../src/sys/index.js';
import { execFileSync } from 'node:child_process';
import { setAttributeSync } from '@napi-rs/xattr';
import { StrataError } from '../../src/base/errors.js';
import { buildFixture, rm, sha256, tempDir } from './helpers.js';

async function headers(tarPath: string): Promise<Array<{ name: string; mtime: number; mtimeNsec: number }>> {
  const out: Array<{ name: string; mtime: number; mtimeNsec: number }> = [];
  for await (const e of readTar(fs.createReadStream(tarPath))) out.push({ name: e.header.name, mtime: e.header.mtime, mtimeNsec: e.header.mtimeNsec });
  return out;
}

test('packing the same tree twice gives identical bytes', async (t) => {
  const dir = tempDir('determinism');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  buildFixture(src);
  const a = await packDir(src, path.join(dir, 'a.tar'));
  // reading the tree (atime changes) must not matter; neither must the output kind
  const chunks: Buffer[] = [];
  const sink = new Writable({ highWaterMark: 4096, write(c, _e, cb) { chunks.push(c as Buffer); setImmediate(cb); } });
  const b = await packDir(src, sink);
  const bytesA = fs.readFileSync(path.join(dir, 'a.tar'));
  assert.ok(bytesA.equals(Buffer.concat(chunks)));
  assert.equal(a.diffId, b.diffId);
  assert.equal(a.diffId, 'sha256:' + sha256(bytesA));
  assert.equal(a.entries, b.entries);
});

test("the addon's directory scan and the readdir + lstat walk pack the same bytes", async (t) => {
  const dir = tempDir('scan');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  buildFixture(src);
  // an overlay upper dir's own entries too: a whiteout and an opaque directory
  execFileSync('mknod', [path.join(src, 'gone'), 'c', '0', '0']);
  fs.mkdirSync(path.join(src, 'opaque'));
  fs.writeFileSync(path.join(src, 'opaque/new'), 'new\n');
  setAttributeSync(path.join(src, 'opaque'), 'trusted.overlay.opaque', 'y');
  assert.ok(linuxSys.scanDir(src) !== null, 'the addon is built');
  const noScan = Object.create(linuxSys, { scanDir: { value: () => null }, readInto: { value: () => null } }) as typeof linuxSys;
  for (const mode of ['plain', 'overlay-upper'] as const) {
    const seen: Array<[string, string]> = [];
    const exclude = (p: string, st: PackStat): boolean => { seen.push([p, `${st.mode} ${st.uid} ${st.gid} ${st.size} ${st.isDirectory()} ${st.isFile()} ${st.isSymbolicLink()} ${st.isCharacterDevice()} ${st.rdev === 0}`]); return false; };
    const withScan = path.join(dir, `${mode}-scan.tar`);
    const without = path.join(dir, `${mode}-walk.tar`);
    const a = await packDir(src, withScan, { mode, exclude });
    const seenA = seen.splice(0);
    const b = await packDir(src, without, { mode, exclude, sys: noScan });
    assert.ok(fs.readFileSync(withScan).equals(fs.readFileSync(without)), mode);
    assert.equal(a.diffId, b.diffId);
    assert.equal(a.contentSize, b.contentSize);
    assert.deepEqual(seenA, seen, 'exclude sees the same entries and fields');
  }
  const names = (await headers(path.join(dir, 'overlay-upper-scan.tar'))).map((h) => h.name);
  assert.ok(names.includes('.wh.gone') && names.includes('opaque/.wh..wh..opq'), names.join(' '));
});

test('sourceDateEpoch clamps mtimes; older mtimes stay', async (t) => {
  const dir = tempDir('epoch');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  buildFixture(src);
  const epoch = 1650000000;
  await packDir(src, path.join(dir, 'e.tar'), { sourceDateEpoch: epoch });
  const hs = await headers(path.join(dir, 'e.tar'));
  for (const h of hs) assert.ok(h.mtime < epoch || (h.mtime === epoch && h.mtimeNsec === 0), `${h.name} ${h.mtime}.${h.mtimeNsec}`);
  assert.equal(hs.find((h) => h.name === 'bin/')!.mtime, 1600000000);
  assert.equal(hs.find((h) => h.name === 'hard/one')!.mtime, epoch);
  assert.equal(hs.find((h) => h.name === 'empty')!.mtime, epoch);
  // and the result no longer depends on when the tree was written
  const again = path.join(dir, 'src2');
  fs.mkdirSync(again);
  buildFixture(again);
  const r1 = await packDir(src, path.join(dir, 'r1.tar'), { sourceDateEpoch: epoch });
  const r2 = await packDir(again, path.join(dir, 'r2.tar'), { sourceDateEpoch: epoch });
  assert.equal(r1.diffId, r2.diffId);
});

test('wholeSecondMtimes drops nanoseconds', async (t) => {
  const dir = tempDir('wholesec');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  buildFixture(src);
  await packDir(src, path.join(dir, 'w.tar'), { wholeSecondMtimes: true });
  const hs = await headers(path.join(dir, 'w.tar'));
  assert.ok(hs.every((h) => h.mtimeNsec === 0));
  assert.equal(hs.find((h) => h.name === 'hard/one')!.mtime, 1700000000);
});

test('exclude drops paths and whole subtrees', async (t) => {
  const dir = tempDir('exclude');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  buildFixture(src);
  const seen: string[] = [];
  const r = await packDir(src, path.join(dir, 'x.tar'), {
    exclude: (p, st) => {
      seen.push(p);
      assert.equal(typeof st.isDirectory, 'function');
      return p === '/etc' || p === '/fifo' || (p.startsWith('/usr/bin/') && st.isFile() && (st.mode & 0o4000) !== 0);
    },
  });
  const names = (await headers(path.join(dir, 'x.tar'))).map((h) => h.name);
  assert.ok(!names.some((n) => n.startsWith('etc')));
  assert.ok(!names.includes('fifo'));
  assert.ok(!names.includes('usr/bin/su'));
  assert.ok(names.includes('usr/bin/sg'));
  assert.ok(!seen.includes('/etc/xattr-file'), 'an excluded dir is not walked');
  assert.equal(r.entries, names.length);
});

test('Docker header conventions: type bits in mode, numeric owners, no root entry, 1024-byte empty tar', async (t) => {
  const dir = tempDir('conventions');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'a'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a/f'), 'abc');
  fs.utimesSync(path.join(src, 'a/f'), 1000, 1000);
  fs.utimesSync(path.join(src, 'a'), 1000, 1000);
  const r = await packDir(src, path.join(dir, 'c.tar'));
  const b = fs.readFileSync(path.join(dir, 'c.tar'));
  assert.equal(r.size, 512 + 512 + 512 + 1024, 'ustar only, no PAX, no record padding');
  assert.equal(b.toString('latin1', 0, 2), 'a/');
  assert.equal(b.toString('latin1', 100, 108), '0040755\0');
  assert.equal(b.toString('latin1', 512 + 100, 512 + 108), '0100644\0');
  assert.equal(b.toString('latin1', 512 + 257, 512 + 265), 'ustar\x0000');
  assert.equal(b[512 + 265], 0, 'empty uname');
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(empty);
  const e = await packDir(empty, path.join(dir, 'e.tar'));
  assert.equal(e.size, 1024);
  assert.equal(e.entries, 0);
});

test("overlay-upper refuses a literal '.wh.' file", async (t) => {
  const dir = tempDir('literal-wh');
  t.after(() => rm(dir));
  const tree = path.join(dir, 'tree');
  fs.mkdirSync(tree);
  fs.writeFileSync(path.join(tree, '.wh.fake'), '');
  await assert.rejects(packDir(tree, path.join(dir, 'x.tar'), { mode: 'overlay-upper' }), (e: unknown) => e instanceof StrataError && /whiteout/.test(e.message));
  // in plain mode it is just a file
  const r = await packDir(tree, path.join(dir, 'y.tar'));
  assert.equal(r.entries, 1);
});
