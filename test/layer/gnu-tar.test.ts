/**
 * Round trips with GNU tar as the oracle (libraries.md A.1 fixture): our tars
 * must list and extract identically with GNU tar, and GNU tar's pax / gnu
 * archives must unpack to the same tree.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { packDir, readTar, unpackLayer } from '../../src/layer/index.js';
import {
  BIN_XATTR, CAP_V2, LONG_PATH, LONG_TARGET, UTF8_NAME, buildFixture, diffSnapshots, rm, sh, snapshot, tempDir,
} from './helpers.js';

const XATTR_ARGS = ['--xattrs', '--xattrs-include=*'];

test('packDir output lists and extracts identically with GNU tar', async (t) => {
  const dir = tempDir('gnu-pack');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  buildFixture(src);
  const tarPath = path.join(dir, 'ours.tar');
  const res = await packDir(src, tarPath);
  assert.equal(res.size, fs.statSync(tarPath).size);
  assert.equal(res.diffId, 'sha256:' + sh('sha256sum', [tarPath]).toString().split(' ')[0]);

  // GNU tar reads it without complaint and sees the details
  const listing = sh('tar', [...XATTR_ARGS, '--numeric-owner', '-tvvf', tarPath]).toString();
  assert.match(listing, /^hrw-r--r--[ *] +1000000\/1000000 +0 .* hard\/two link to hard\/one$/m);
  assert.match(listing, /^crw-rw-rw-[ *] +0\/0 +1,3 .* dev\/null$/m);
  assert.match(listing, /^brw-rw----[ *] +0\/0 +7,0 .* dev\/loop0$/m);
  assert.match(listing, /^prw-r--r--[ *] +0\/0 +0 .* fifo$/m);
  assert.match(listing, /^-rwsr-xr-x[ *] +0\/0 +7 .* usr\/bin\/su$/m);
  assert.match(listing, /^drwx------[ *] +3000000\/3000000 +0 .* private\/$/m);
  assert.ok(listing.includes(`links-long -> ${LONG_TARGET}`));
  assert.ok(listing.includes(LONG_PATH));
  assert.ok(listing.includes(UTF8_NAME));
  assert.match(listing, /x: +6 user\.bin/);
  assert.match(listing, /x: +20 security\.capability/);
  assert.ok(!listing.includes('./'), 'no root entry, no ./ prefix');

  // entry order: depth-first pre-order, siblings in byte order
  const names: string[] = [];
  for await (const e of readTar(fs.createReadStream(tarPath))) names.push(e.header.name);
  const expected = [...snapshot(src).keys()].map((k) => (fs.lstatSync(path.join(src, k)).isDirectory() ? k + '/' : k));
  const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
  // expected: pre-order with byte-sorted siblings
  const preorder = (prefix: string): string[] => {
    const kids = fs.readdirSync(path.join(src, prefix)).sort(byteOrder);
    return kids.flatMap((k) => {
      const r = prefix ? `${prefix}/${k}` : k;
      return fs.lstatSync(path.join(src, r)).isDirectory() ? [r + '/', ...preorder(r)] : [r];
    });
  };
  assert.deepEqual(names, preorder(''));
  assert.equal(names.length, expected.length);

  // GNU tar extracts the same tree
  const out = path.join(dir, 'gnu-out');
  fs.mkdirSync(out);
  sh('tar', [...XATTR_ARGS, '--numeric-owner', '-xpf', tarPath, '-C', out]);
  assert.deepEqual(diffSnapshots(snapshot(src), snapshot(out)), []);
  assert.deepEqual(Buffer.from(snapshot(out).get('etc/xattr-file')!.xattrs['user.bin']!, 'hex'), BIN_XATTR);
});

test('GNU tar pax archives unpack to the same tree', async (t) => {
  const dir = tempDir('gnu-unpack');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  buildFixture(src);
  const tarPath = path.join(dir, 'gnu.tar');
  sh('tar', ['--format=pax', ...XATTR_ARGS, '--numeric-owner', '-cf', tarPath, '-C', src, '.']);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const res = await unpackLayer(fs.createReadStream(tarPath), out, { mode: 'plain' });
  assert.equal(res.compression, 'none');
  assert.equal(res.tarSize, fs.statSync(tarPath).size);
  // Node sets times from a double: sub-microsecond digits of a ns mtime can differ
  assert.deepEqual(diffSnapshots(snapshot(src), snapshot(out), { mtimeToleranceNs: 1000n }), []);
  const cap = snapshot(out).get('bin/capbin')!;
  assert.deepEqual(Buffer.from(cap.xattrs['security.capability']!, 'hex'), CAP_V2);
  assert.equal(snapshot(out).get('usr/bin/su')!.mode, 0o4755);
  assert.equal(snapshot(out).get('usr/bin/sg')!.mode, 0o2711);
  assert.equal(snapshot(out).get('hard/two')!.linkGroup, 'hard/one');
  // the './' entry applied the root's metadata
  assert.equal(fs.statSync(out).mode & 0o7777, fs.statSync(src).mode & 0o7777);
  assert.deepEqual(res.warnings, []);
});

test('GNU tar gnu-format archives (L/K long names, base-256 numbers) unpack', async (t) => {
  const dir = tempDir('gnu-format');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const deep = path.join(src, LONG_PATH);
  fs.mkdirSync(path.dirname(deep), { recursive: true });
  fs.writeFileSync(deep, 'deep\n');
  fs.symlinkSync('x'.repeat(200), path.join(src, 'longlink'));
  fs.writeFileSync(path.join(src, 'bigowner'), 'b');
  fs.chownSync(path.join(src, 'bigowner'), 3000000, 4000000);
  fs.utimesSync(path.join(src, 'bigowner'), 1, 1);
  const tarPath = path.join(dir, 'gnu.tar');
  sh('tar', ['--format=gnu', '--numeric-owner', '-cf', tarPath, '-C', src, '.']);
  const tarBytes = fs.readFileSync(tarPath);
  assert.ok(tarBytes.includes(Buffer.from('././@LongLink')), 'GNU tar used L/K records');
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  await unpackLayer(fs.createReadStream(tarPath), out, { mode: 'plain' });
  // gnu format has whole-second mtimes
  const a = snapshot(src);
  for (const v of a.values()) v.mtimeNs -= v.mtimeNs % 1_000_000_000n;
  assert.deepEqual(diffSnapshots(a, snapshot(out)), []);
  const st = fs.lstatSync(path.join(out, 'bigowner'));
  assert.equal(st.uid, 3000000);
  assert.equal(st.gid, 4000000);
});

test('pack -> unpack round trip keeps everything, ns mtimes included', async (t) => {
  const dir = tempDir('roundtrip');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  buildFixture(src);
  const tarPath = path.join(dir, 'ours.tar');
  const p = await packDir(src, tarPath);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const u = await unpackLayer(fs.createReadStream(tarPath), out, { mode: 'plain' });
  assert.equal(u.diffId, p.diffId);
  assert.equal(u.entries, p.entries);
  assert.equal(u.contentSize, p.contentSize);
  assert.deepEqual(diffSnapshots(snapshot(src), snapshot(out), { mtimeToleranceNs: 1000n }), []);
});
