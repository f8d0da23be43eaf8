/**
 * Overlay whiteouts in both directions, on a real overlay mount.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { getAttributeSync } from '@napi-rs/xattr';
import { mknodCli, packDir, readTar, unpackLayer } from '../../src/layer/index.js';
import { craftTar, diffSnapshots, rm, snapshot, streamOf, tempDir } from './helpers.js';

function isWhiteout(p: string): boolean {
  const st = fs.lstatSync(p);
  return st.isCharacterDevice() && st.rdev === 0;
}

function mountOverlay(merged: string, lower: string[], upper?: string, work?: string): void {
  let o = `lowerdir=${lower.join(':')}`;
  if (upper && work) o += `,upperdir=${upper},workdir=${work}`;
  o += ',index=off,metacopy=off,redirect_dir=off';
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', o, merged]);
}

function umount(p: string): void {
  try {
    execFileSync('umount', [p], { stdio: 'ignore' });
  } catch { /* not mounted */ }
}

const WHITEOUT_TAR = craftTar([
  { name: 'a/', type: '5', mode: 0o755 },
  { name: 'a/.wh..wh..opq', data: '' },
  { name: 'a/new', data: 'new\n' },
  { name: '.wh.gone', data: '', mode: 0o600 },
  { name: 'b/', type: '5', mode: 0o755 },
  { name: 'b/.wh.x', data: '' },
  { name: 'b/.wh.y', data: '' },
  { name: '.wh..wh.plnk', type: '5' },
  { name: 'c/deeper/.wh.z', data: '' },
]);

test('unpack in overlay mode turns whiteouts into 0/0 devices and opaque markers into xattrs', async (t) => {
  const dir = tempDir('ovl-unpack');
  t.after(() => rm(dir));
  let mknods = 0;
  const res = await unpackLayer(streamOf(WHITEOUT_TAR), dir, {
    mode: 'overlay',
    mknod: (p, kind, mode, major, minor) => { mknods++; mknodCli(p, kind, mode, major, minor); },
  });
  assert.equal(res.entries, 9);
  assert.equal(mknods, 1, 'whiteouts after the first are hard links to it');
  assert.equal(fs.lstatSync(path.join(dir, 'gone')).nlink, 4);
  assert.equal(getAttributeSync(path.join(dir, 'a'), 'trusted.overlay.opaque')?.toString(), 'y');
  assert.equal(fs.readFileSync(path.join(dir, 'a/new'), 'utf8'), 'new\n');
  for (const w of ['gone', 'b/x', 'b/y', 'c/deeper/z']) assert.ok(isWhiteout(path.join(dir, w)), `${w} is a whiteout`);
  assert.equal(getAttributeSync(path.join(dir, 'b'), 'trusted.overlay.opaque'), null);
  const names = fs.readdirSync(dir, { recursive: true }) as string[];
  assert.ok(!names.some((n) => n.includes('.wh.')), `no .wh. files left: ${names.join(',')}`);
});

test('unpack in plain mode keeps .wh. files as they are', async (t) => {
  const dir = tempDir('ovl-plain');
  t.after(() => rm(dir));
  await unpackLayer(streamOf(WHITEOUT_TAR), dir, { mode: 'plain' });
  assert.ok(fs.lstatSync(path.join(dir, '.wh.gone')).isFile());
  assert.ok(fs.lstatSync(path.join(dir, 'a/.wh..wh..opq')).isFile());
  assert.ok(fs.lstatSync(path.join(dir, '.wh..wh.plnk')).isDirectory());
  assert.equal(getAttributeSync(path.join(dir, 'a'), 'trusted.overlay.opaque'), null);
});

test('packDir of a real overlay upper dir: whiteouts, opaque dirs, hard links, order; and back', async (t) => {
  const dir = tempDir('ovl-pack');
  const d = (n: string): string => path.join(dir, n);
  for (const n of ['lower', 'upper', 'work', 'merged', 'layer', 'merged2']) fs.mkdirSync(d(n));
  t.after(() => {
    umount(d('merged2'));
    umount(d('merged'));
    rm(dir);
  });
  const L = (rel: string, data = rel + '\n'): void => {
    fs.mkdirSync(path.dirname(path.join(d('lower'), rel)), { recursive: true });
    fs.writeFileSync(path.join(d('lower'), rel), data);
  };
  L('keep.txt');
  L('gone.txt');
  L('gone2.txt');
  L('www/index.html');
  L('www/old.css');
  L('etc/passwd');
  L('data/a');
  L('zzz/keep');
  mountOverlay(d('merged'), [d('lower')], d('upper'), d('work'));
  const m = (rel: string): string => path.join(d('merged'), rel);
  fs.rmSync(m('gone.txt'));
  fs.rmSync(m('gone2.txt'));
  fs.rmSync(m('www'), { recursive: true });
  fs.mkdirSync(m('www'));
  fs.writeFileSync(m('www/new.html'), 'new\n');
  fs.writeFileSync(m('added.txt'), 'added\n');
  fs.linkSync(m('data/a'), m('data/a-link'));
  fs.mkdirSync(m('newdir/sub'), { recursive: true });
  fs.writeFileSync(m('newdir/sub/f'), '');
  fs.chmodSync(m('etc/passwd'), 0o4755);
  fs.rmSync(m('zzz/keep'));

  // the upper dir as the kernel left it
  assert.ok(isWhiteout(path.join(d('upper'), 'gone.txt')));
  assert.equal(getAttributeSync(path.join(d('upper'), 'www'), 'trusted.overlay.opaque')?.toString(), 'y');
  const w1 = fs.lstatSync(path.join(d('upper'), 'gone.txt'));
  const w2 = fs.lstatSync(path.join(d('upper'), 'gone2.txt'));
  t.diagnostic(`whiteout link counts ${w1.nlink}/${w2.nlink}, shared inode: ${w1.ino === w2.ino}`);

  const tarPath = d('layer.tar');
  const res = await packDir(d('upper'), tarPath, { mode: 'overlay-upper' });
  const entries: Array<{ name: string; type: string; mode: number; size: number; mtime: number; linkname: string }> = [];
  for await (const e of readTar(fs.createReadStream(tarPath))) {
    const h = e.header;
    entries.push({ name: h.name, type: h.typeflag, mode: h.mode, size: h.size, mtime: h.mtime, linkname: h.linkname });
  }
  assert.equal(res.entries, entries.length);
  assert.deepEqual(entries.map((e) => e.name), [
    'added.txt',
    'data/',
    'data/a',
    'data/a-link',
    'etc/',
    'etc/passwd',
    '.wh.gone.txt',
    '.wh.gone2.txt',
    'newdir/',
    'newdir/sub/',
    'newdir/sub/f',
    'www/',
    'www/.wh..wh..opq',
    'www/new.html',
    'zzz/',
    'zzz/.wh.keep',
  ]);
  const byName = new Map(entries.map((e) => [e.name, e]));
  // whiteouts: regular, empty, 0600, never links (the kernel may hard-link them to each other)
  for (const w of ['.wh.gone.txt', '.wh.gone2.txt', 'zzz/.wh.keep']) {
    const e = byName.get(w)!;
    assert.equal(e.type, '0');
    assert.equal(e.size, 0);
    assert.equal(e.mode, 0o600);
  }
  assert.ok(!entries.some((e) => e.type === '1' && (e.name.includes('.wh.') || e.linkname.includes('.wh.'))));
  // opaque marker: directory's permission bits, mtime 0
  assert.equal(byName.get('www/.wh..wh..opq')!.mtime, 0);
  assert.equal(byName.get('www/.wh..wh..opq')!.mode, 0o755);
  // hard link: first name is the file, second a link to it
  assert.equal(byName.get('data/a')!.type, '0');
  assert.equal(byName.get('data/a-link')!.type, '1');
  assert.equal(byName.get('data/a-link')!.linkname, 'data/a');
  assert.equal(byName.get('etc/passwd')!.mode, 0o4755);

  // Unpack it as a layer and stack it on the lower: the merged view is the same.
  const u = await unpackLayer(fs.createReadStream(tarPath), d('layer'), { mode: 'overlay' });
  assert.equal(u.diffId, res.diffId);
  mountOverlay(d('merged2'), [d('layer'), d('lower')]);
  const a = snapshot(d('merged'));
  const b = snapshot(d('merged2'));
  assert.ok(!b.has('gone.txt') && !b.has('www/index.html') && !b.has('zzz/keep'));
  assert.deepEqual(diffSnapshots(a, b, { mtimeToleranceNs: 1000n }), []);
});
