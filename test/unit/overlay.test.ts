/**
 * Overlay mounts and short links on FakeSys: the option string, where mount runs, the
 * unmount loop, and the short link a deleted layer leaves behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeSys } from '../../src/sys/fake.js';
import { isMounted, mountOverlay, MOUNT_DATA_LIMIT, shortLinkName, unmount } from '../../src/snapshot/index.js';
import type { MountRequest } from '../../src/sys/index.js';
import { StoreRoot } from '../../src/engine/store-root.js';
import { deleteLayerFiles } from '../../src/engine/images.js';

function tmp(t: { after(fn: () => void): void }, prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `strata-unit-${prefix}-`));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('mountOverlay: relative short-link lowerdirs top-most first, run from the link dir parent', async (t) => {
  const root = tmp(t, 'ovl');
  const sys = new FakeSys({ runDir: path.join(root, 'run') });
  const lowers = ['top', 'mid', 'base'].map((n) => { const d = path.join(root, 'layers', n, 'diff'); fs.mkdirSync(d, { recursive: true }); return d; });
  const target = path.join(root, 'c', 'merged');
  await mountOverlay({ lowerDirs: lowers, upperDir: path.join(root, 'c', 'upper'), workDir: path.join(root, 'c', 'work'), target, linkDir: path.join(root, 'l'), sys });
  const [req] = sys.callsOf('mount')[0] as [MountRequest];
  assert.equal(req.type, 'overlay');
  assert.equal(req.cwd, root);
  assert.equal(req.target, target);
  const lowerOpt = /^lowerdir=([^,]+)/.exec(req.data!)![1]!;
  assert.deepEqual(lowerOpt.split(':'), lowers.map((d) => `l/${shortLinkName(d)}`));
  assert.ok(req.data!.includes(`upperdir=${path.join(root, 'c', 'upper')},workdir=${path.join(root, 'c', 'work')}`));
  for (const d of lowers) assert.equal(fs.readlinkSync(path.join(root, 'l', shortLinkName(d))), path.relative(path.join(root, 'l'), d));
  assert.ok(fs.statSync(path.join(root, 'c', 'upper')).isDirectory(), 'upper and work are made');
  assert.equal(isMounted(target, sys), true);
  await unmount(target, sys);
  assert.equal(isMounted(target, sys), false);
  await unmount(target, sys); // not mounted: the goal, no error
  assert.equal(sys.callsOf('unmount').length, 1);
});

test('mountOverlay: an empty stack gets the _empty lower dir; read-only has no upper', async (t) => {
  const root = tmp(t, 'ovl-empty');
  const sys = new FakeSys({ runDir: path.join(root, 'run') });
  await mountOverlay({ lowerDirs: [], upperDir: path.join(root, 'u'), workDir: path.join(root, 'w'), target: path.join(root, 'm'), linkDir: path.join(root, 'l'), readonly: true, sys });
  const [req] = sys.callsOf('mount')[0] as [MountRequest];
  assert.match(req.data!, /^lowerdir=l\/_empty(,|$)/);
  assert.ok(!req.data!.includes('upperdir='));
  assert.equal(req.readonly, true);
  assert.equal(fs.existsSync(path.join(root, 'u')), false);
});

test('mountOverlay: 150 deep-path layers fit in a page; a missing lower dir is refused before mounting', async (t) => {
  const root = tmp(t, 'ovl-150');
  const sys = new FakeSys({ runDir: path.join(root, 'run') });
  const lowers: string[] = [];
  for (let i = 0; i < 150; i++) {
    const d = path.join(root, 'layers', `${'x'.repeat(40)}${String(i).padStart(24, '0')}`, 'diff');
    fs.mkdirSync(d, { recursive: true });
    lowers.push(d);
  }
  await mountOverlay({ lowerDirs: lowers, upperDir: path.join(root, 'u'), workDir: path.join(root, 'w'), target: path.join(root, 'm'), linkDir: path.join(root, 'l'), sys });
  const [req] = sys.callsOf('mount')[0] as [MountRequest];
  assert.ok(Buffer.byteLength(req.data!) < MOUNT_DATA_LIMIT, `${Buffer.byteLength(req.data!)} bytes`);
  await assert.rejects(
    mountOverlay({ lowerDirs: [path.join(root, 'nope')], upperDir: path.join(root, 'u'), workDir: path.join(root, 'w'), target: path.join(root, 'm2'), linkDir: path.join(root, 'l'), sys }),
    /overlay lower dir missing/,
  );
  assert.equal(sys.callsOf('mount').length, 1);
});

test('mountOverlay: a failing mount is reported with the tool message', async (t) => {
  const root = tmp(t, 'ovl-fail');
  const sys = new FakeSys({ runDir: path.join(root, 'run') });
  sys.failNext('mount', new Error('mount: wrong fs type, bad option'));
  await assert.rejects(
    mountOverlay({ lowerDirs: [], upperDir: path.join(root, 'u'), workDir: path.join(root, 'w'), target: path.join(root, 'm'), linkDir: path.join(root, 'l'), sys }),
    (e: Error) => e.message === `mount overlay on ${path.join(root, 'm')}: mount: wrong fs type, bad option`,
  );
});

test('unmount: a busy mount is detached lazily', async (t) => {
  const root = tmp(t, 'ovl-busy');
  const sys = new FakeSys({ runDir: path.join(root, 'run') });
  const target = path.join(root, 'm');
  await mountOverlay({ lowerDirs: [], upperDir: path.join(root, 'u'), workDir: path.join(root, 'w'), target, linkDir: path.join(root, 'l'), sys });
  sys.busy.add(target);
  await unmount(target, sys);
  assert.deepEqual(sys.callsOf('unmount').map((a) => a[1]), [{}, { detach: true }]);
  assert.equal(isMounted(target, sys), false);
});

test('deleting a layer removes its short link under l/', async (t) => {
  const root = tmp(t, 'layer-rm');
  const store = new StoreRoot(root);
  t.after(() => store.close());
  const diffId = 'sha256:' + 'ab'.repeat(32);
  const dir = store.layerDir(diffId);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  const sys = new FakeSys({ runDir: path.join(root, 'run') });
  await mountOverlay({ lowerDirs: [dir], upperDir: path.join(root, 'u'), workDir: path.join(root, 'w'), target: path.join(root, 'm'), linkDir: path.join(root, 'l'), sys });
  const link = path.join(root, 'l', shortLinkName(dir));
  assert.ok(fs.lstatSync(link).isSymbolicLink());
  deleteLayerFiles(store, { diffId, blobs: [] });
  assert.equal(fs.existsSync(dir), false);
  assert.equal(fs.lstatSync(link, { throwIfNoEntry: false }), undefined, 'no dangling l/ link');
});
