/**
 * Low-level codec: TarWriter, readTar, PAX over bytes, base-256 numbers,
 * non-UTF-8 names.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { getAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import { TarWriter, packDir, readTar, unpackLayer } from '../../src/layer/index.js';
import { buildHeader, decodeRawHeader, encodeEntry } from '../../src/layer/tar-header.js';
import { parsePax } from '../../src/layer/tar-pax.js';
import { craftTar, rawHeader, rm, sh, sha256, streamOf, tempDir } from './helpers.js';

async function collect(s: PassThrough): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test('TarWriter output is read back by GNU tar and readTar', async (t) => {
  const dir = tempDir('writer');
  t.after(() => rm(dir));
  const blobPath = path.join(dir, 'blob');
  const blob = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  fs.writeFileSync(blobPath, blob);
  const out = new PassThrough();
  const done = collect(out);
  const w = new TarWriter(out);
  const longName = 'blobs/sha256/' + 'f'.repeat(64) + '/' + 'x'.repeat(120);
  await w.addDir('blobs', { mtime: 1 });
  await w.addFile('manifest.json', Buffer.from('[{"Config":"c.json"}]'), { mtime: 1700000000.25 });
  await w.addFileFromPath(longName, blobPath, blob.length);
  await w.addSymlink('latest', 'blobs/' + 'l'.repeat(150));
  await w.addHardlink('copy.json', 'manifest.json');
  await w.addFile('x.bin', Buffer.from([0, 1, 2]), { mode: 0o600, uid: 3000000, gid: 5, xattrs: { 'user.bin': Buffer.from([0, 0xff, 0x0a, 0x3d]) } });
  await w.finish();
  const tar = await done;
  assert.equal(w.size, tar.length);
  assert.equal(w.digest(), 'sha256:' + sha256(tar));
  assert.equal(w.entries, 6);

  const tarPath = path.join(dir, 'w.tar');
  fs.writeFileSync(tarPath, tar);
  const listing = sh('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-tvvf', tarPath]).toString();
  assert.ok(listing.includes(longName));
  assert.ok(listing.includes('copy.json link to manifest.json'));
  assert.match(listing, /3000000\/5/);
  const gnuOut = path.join(dir, 'gnu');
  fs.mkdirSync(gnuOut);
  sh('tar', ['--xattrs', '--xattrs-include=*', '-xpf', tarPath, '-C', gnuOut]);
  assert.ok(fs.readFileSync(path.join(gnuOut, longName)).equals(blob));
  assert.deepEqual(getAttributeSync(path.join(gnuOut, 'x.bin'), 'user.bin'), Buffer.from([0, 0xff, 0x0a, 0x3d]));

  const seen: string[] = [];
  for await (const e of readTar(streamOf(tar, 1000))) {
    seen.push(e.header.name);
    if (e.header.name === 'manifest.json') {
      assert.equal((await e.read()).toString(), '[{"Config":"c.json"}]');
      assert.equal(e.header.mtime, 1700000000);
      assert.equal(e.header.mtimeNsec, 250000000);
    }
    if (e.header.name === longName) {
      let n = 0;
      for await (const piece of e.body()) n += piece.length;
      assert.equal(n, blob.length);
    }
    if (e.header.name === 'x.bin') {
      assert.equal(e.header.uid, 3000000);
      assert.equal(e.header.mode, 0o600);
      assert.deepEqual(e.header.xattrs.get('user.bin'), Buffer.from([0, 0xff, 0x0a, 0x3d]));
    }
    if (e.header.type === 'symlink') assert.equal(e.header.linkname, 'blobs/' + 'l'.repeat(150));
  }
  assert.deepEqual(seen, ['blobs/', 'manifest.json', longName, 'latest', 'copy.json', 'x.bin']);
});

test('readTar can stop early and read entries it wants', async () => {
  const tar = craftTar([{ name: 'a', data: 'A' }, { name: 'b', data: 'B'.repeat(5000) }, { name: 'c', data: 'C' }]);
  const got: string[] = [];
  for await (const e of readTar(streamOf(tar, 100))) {
    if (e.header.name === 'c') got.push((await e.read()).toString());
    if (e.header.name === 'a') got.push('skip-a');
  }
  assert.deepEqual(got, ['skip-a', 'C']);
  const it = readTar(streamOf(tar));
  const first = await it.next();
  assert.equal(first.done, false);
  await it.return();
});

test('PAX records are parsed over bytes: binary values with newlines and "=" survive', async (t) => {
  const value = Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x3d, 0x20, 0x0a, 0x0a, 0x31, 0x30, 0x20]);
  const tar = craftTar([{ name: 'f', data: 'x', pax: [['SCHILY.xattr.user.tricky', value], ['SCHILY.xattr.user.empty', ''], ['mtime', '-1.25'], ['atime', '5.000000001']] }]);
  for await (const e of readTar(streamOf(tar))) {
    assert.deepEqual(e.header.xattrs.get('user.tricky'), value);
    assert.deepEqual(e.header.xattrs.get('user.empty'), Buffer.alloc(0));
    assert.equal(e.header.mtime, -2);
    assert.equal(e.header.mtimeNsec, 750000000);
    assert.deepEqual(e.header.atime, { sec: 5, nsec: 1 });
  }
  const dir = tempDir('pax-bytes');
  t.after(() => rm(dir));
  await unpackLayer(streamOf(tar), dir);
  assert.deepEqual(getAttributeSync(path.join(dir, 'f'), 'user.tricky'), value);
  const m = new Map<string, Buffer>();
  assert.throws(() => parsePax(Buffer.from('99 path=x\n'), m), /bad record length/);
  assert.throws(() => parsePax(Buffer.from('x path=x\n'), m), /bad record length/);
  assert.throws(() => parsePax(Buffer.from('9 pathxy\n'), m), /key=value/);
});

test('base-256 and big numbers round trip through the header codec', () => {
  const meta = { name: Buffer.from('big'), type: 'file' as const, mode: 0o100644, uid: 4294967294, gid: 2 ** 40, size: 2 ** 34 + 3, mtime: -100, mtimeNsec: 0 };
  const enc = encodeEntry(meta);
  // a PAX header carries them too; decode the ustar block alone to check base-256
  const ustar = enc.subarray(enc.length - 512);
  assert.equal(ustar[108]! & 0x80, 0x80, 'uid in base-256');
  assert.equal(ustar[124]! & 0x80, 0x80, 'size in base-256');
  assert.equal(ustar[136], 0xff, 'negative mtime in base-256');
  const raw = decodeRawHeader(ustar, 0);
  assert.equal(raw.uid, 4294967294);
  assert.equal(raw.gid, 2 ** 40);
  assert.equal(raw.size, 2 ** 34 + 3);
  assert.equal(raw.mtime, -100);
  const pax = new Map<string, Buffer>();
  parsePax(enc.subarray(512, enc.length - 512).subarray(0, decodeRawHeader(enc, 0).size), pax);
  const h = buildHeader(raw, pax, null, null);
  assert.equal(h.uid, 4294967294);
  assert.equal(h.size, 2 ** 34 + 3);
  assert.equal(h.mtime, -100);
  // GNU tar reads the base-256 uid of a bare header
  const b = rawHeader({ name: 'g', data: '' });
  assert.equal(decodeRawHeader(b, 0).uid, 0);
});

test('GNU tar base-256 owners are read', async (t) => {
  const dir = tempDir('b256');
  t.after(() => rm(dir));
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  fs.chownSync(path.join(dir, 'f'), 4000000000, 4000000001);
  const tarPath = path.join(dir, 'g.tar');
  sh('tar', ['--format=gnu', '--numeric-owner', '-cf', tarPath, '-C', dir, 'f']);
  const b = fs.readFileSync(tarPath);
  assert.equal(b[108]! & 0x80, 0x80, 'GNU tar used base-256');
  for await (const e of readTar(fs.createReadStream(tarPath))) {
    assert.equal(e.header.uid, 4000000000);
    assert.equal(e.header.gid, 4000000001);
  }
});

test('non-UTF-8 names keep their bytes, xattrs included', async (t) => {
  const dir = tempDir('bytes');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const bad = Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0xe9]); // "latin" + é in latin-1
  const badDir = Buffer.concat([Buffer.from(src + '/'), bad]);
  fs.mkdirSync(badDir);
  fs.writeFileSync(Buffer.concat([badDir, Buffer.from('/inner')]), 'inner\n');
  fs.writeFileSync(Buffer.concat([badDir, Buffer.from('/'), bad]), 'same bytes\n');
  const fd = fs.openSync(badDir, 'r');
  setAttributeSync(`/proc/self/fd/${fd}/inner`, 'user.k', 'v');
  setAttributeSync(`/proc/self/fd/${fd}/.`, 'user.d', 'dir');
  fs.closeSync(fd);
  const tarPath = path.join(dir, 'b.tar');
  await packDir(src, tarPath);
  const names: Buffer[] = [];
  for await (const e of readTar(fs.createReadStream(tarPath))) names.push(e.header.nameBytes);
  assert.deepEqual(names, [Buffer.concat([bad, Buffer.from('/')]), Buffer.concat([bad, Buffer.from('/inner')]), Buffer.concat([bad, Buffer.from('/'), bad])]);
  // GNU tar extracts the same bytes
  const g = path.join(dir, 'gnu');
  fs.mkdirSync(g);
  sh('tar', ['--xattrs', '--xattrs-include=*', '-xpf', tarPath, '-C', g]);
  assert.deepEqual(fs.readdirSync(g, { encoding: 'buffer' }), [bad]);
  const gfd = fs.openSync(Buffer.concat([Buffer.from(g + '/'), bad]), 'r');
  try {
    assert.equal(getAttributeSync(`/proc/self/fd/${gfd}/.`, 'user.d')?.toString(), 'dir', 'packDir read the xattr of a non-UTF-8 dir');
    assert.equal(getAttributeSync(`/proc/self/fd/${gfd}/inner`, 'user.k')?.toString(), 'v', 'packDir read the xattr below a non-UTF-8 dir');
  } finally {
    fs.closeSync(gfd);
  }
  // and so does unpackLayer, xattrs on non-UTF-8 paths included
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const xtar = craftTar([
    { name: Buffer.concat([bad, Buffer.from('/')]), type: '5', pax: [['SCHILY.xattr.user.d', 'dir']] },
    { name: Buffer.concat([bad, Buffer.from('/inner')]), data: 'inner\n', pax: [['SCHILY.xattr.user.k', 'v']] },
    { name: Buffer.concat([bad, Buffer.from('/'), bad]), data: 'b\n', pax: [['SCHILY.xattr.user.k', 'w']] },
  ]);
  const r = await unpackLayer(streamOf(xtar), out);
  assert.deepEqual(r.warnings, []);
  const ofd = fs.openSync(Buffer.concat([Buffer.from(out + '/'), bad]), 'r');
  try {
    assert.equal(getAttributeSync(`/proc/self/fd/${ofd}/.`, 'user.d')?.toString(), 'dir');
    assert.equal(getAttributeSync(`/proc/self/fd/${ofd}/inner`, 'user.k')?.toString(), 'v');
  } finally {
    fs.closeSync(ofd);
  }
  assert.deepEqual(fs.readdirSync(out, { encoding: 'buffer' }), [bad]);
  assert.deepEqual(fs.readdirSync(Buffer.concat([Buffer.from(out + '/'), bad]), { encoding: 'buffer' }).sort(Buffer.compare), [Buffer.from('inner'), bad].sort(Buffer.compare));
});
