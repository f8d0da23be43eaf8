/**
 * Wasted space and the explorer's directory views, on hand-built layer stacks:
 * real directories with real whiteouts (char 0/0) and opaque directories
 * (trusted.overlay.opaque=y), as Strata's unpacked layers are.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { setAttributeSync } from '@napi-rs/xattr';
import { analyzeLayers, dirSizes, listLayerDir, listMergedDir } from '../../src/changes/index.js';
import { rm, tempDir, whiteout } from './helpers.js';

let fx: string;
let L: string[];

function put(root: string, rel: string, bytes: number): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, Buffer.alloc(bytes, 0x61));
}

before(() => {
  fx = tempDir('waste');
  L = ['l0', 'l1', 'l2'].map((n) => path.join(fx, n));
  for (const d of L) fs.mkdirSync(d);
  // layer 0: the base
  put(L[0]!, 'root/base.txt', 100);
  put(L[0]!, 'etc/a', 10);
  put(L[0]!, 'd/x', 20);
  put(L[0]!, 'd/y', 30);
  put(L[0]!, 'keep/k', 5);
  put(L[0]!, 'o/p', 7);
  put(L[0]!, 'o/q', 8);
  // layer 1: a new file, an overwrite, a pid file
  put(L[1]!, 'root/saved.txt', 40);
  put(L[1]!, 'etc/a', 12);
  put(L[1]!, 'var/run/app.pid', 3);
  // layer 2: deletes a file and a directory, rewrites /etc/a, replaces /o wholesale
  whiteout(L[2]!, 'root/saved.txt');
  whiteout(L[2]!, 'd');
  put(L[2]!, 'etc/a', 12);
  put(L[2]!, 'o/new', 4);
  setAttributeSync(path.join(L[2]!, 'o'), 'trusted.overlay.opaque', 'y');
});
after(() => rm(fx));

test('waste: dive references, wasted bytes and efficiency on a hand-built stack', () => {
  const r = analyzeLayers(L);
  assert.deepEqual(r.references, [
    { count: 2, sizeBytes: 40, file: '/root/saved.txt' },
    { count: 3, sizeBytes: 34, file: '/etc/a' },
    { count: 2, sizeBytes: 30, file: '/d/y' },
    { count: 2, sizeBytes: 20, file: '/d/x' },
    { count: 2, sizeBytes: 8, file: '/o/q' },
    { count: 2, sizeBytes: 7, file: '/o/p' },
  ]);
  assert.equal(r.inefficientBytes, 139);
  assert.equal(r.sizeBytes, 251);
  assert.equal(r.userSizeBytes, 71);
  // Σ min over every path / Σ all references: (10 + 100 + 5 + 3 + 4) / 251
  assert.equal(r.efficiencyScore, 122 / 251);
  assert.equal(r.userWastedPercent, 139 / 71);
  assert.deepEqual(r.layers.map((l) => l.bytes), [180, 55, 16]);
  assert.deepEqual(r.layers.map((l) => l.wastedBytes), [75, 52, 0]);
  assert.deepEqual(r.layers.map((l) => [l.added, l.changed, l.removed]), [[7, 0, 0], [2, 1, 0], [1, 1, 5]]);
  assert.deepEqual(r.layers[1]!.noise.map((n) => [n.kind, n.count, n.bytes, n.paths]), [['pid', 1, 3, ['/var/run/app.pid']]]);
  assert.deepEqual(r.layers[0]!.noise, []);
});

test('waste: given layer sizes replace the walked ones; one layer has no waste', () => {
  const one = analyzeLayers([L[0]!]);
  assert.equal(one.inefficientBytes, 0);
  assert.equal(one.efficiencyScore, 1);
  assert.equal(one.userWastedPercent, 0);
  assert.deepEqual(one.references, []);
  assert.equal(analyzeLayers(L, [1000, 500, 100]).sizeBytes, 1600);
});

test('waste: a hard link counts once per layer; a file replacing a directory removes its files', () => {
  const a = path.join(fx, 'h0');
  const b = path.join(fx, 'h1');
  put(a, 'bin/tool', 50);
  fs.linkSync(path.join(a, 'bin/tool'), path.join(a, 'bin/alias'));
  put(a, 'lib/m/one', 6);
  put(b, 'lib/m', 2); // a file where a directory was
  const r = analyzeLayers([a, b]);
  assert.equal(r.layers[0]!.bytes, 56);
  assert.deepEqual(r.references, [{ count: 2, sizeBytes: 6, file: '/lib/m/one' }]);
});

test('tree: one layer\'s entries, marked; whiteouts and opaque-hidden entries show as removed', () => {
  const root = listLayerDir(L, 2, '/');
  assert.deepEqual(root.entries.map((e) => [e.name, e.type, e.mark]), [['d', 'dir', 'D'], ['etc', 'dir', ''], ['o', 'dir', 'C'], ['root', 'dir', '']]);
  assert.equal(root.entries.find((e) => e.name === 'o')!.opaque, true);
  const o = listLayerDir(L, 2, '/o');
  assert.deepEqual(o.entries.map((e) => [e.path, e.mark, e.size]), [['/o/new', 'A', 4], ['/o/p', 'D', 7], ['/o/q', 'D', 8]]);
  const r = listLayerDir(L, 2, '/root');
  assert.deepEqual(r.entries.map((e) => [e.name, e.mark, e.size]), [['saved.txt', 'D', 40]]);
  const v = listLayerDir(L, 1, '/var/run');
  assert.deepEqual(v.entries.map((e) => [e.name, e.mark, e.noise]), [['app.pid', 'A', 'pid']]);
  assert.deepEqual(listLayerDir(L, 1, '/etc').entries.map((e) => [e.name, e.mark]), [['a', 'C']]);
  // a path the layer does not have lists as empty; '..' never leaves the layer
  assert.equal(listLayerDir(L, 1, '/keep').total, 0);
  assert.throws(() => listLayerDir(L, 1, '/../..'), /"\.\." is not allowed/);
  assert.throws(() => listMergedDir(L, 1, '/etc/../../l0'), /"\.\." is not allowed/);
});

test('tree: the aggregate view up to a layer, paged; directory sizes per view', () => {
  const m = listMergedDir(L, 2, '/');
  assert.deepEqual(m.entries.map((e) => [e.name, e.mark]), [['d', 'D'], ['etc', ''], ['keep', ''], ['o', 'C'], ['root', ''], ['var', '']]);
  assert.deepEqual(listMergedDir(L, 1, '/root').entries.map((e) => [e.name, e.mark]), [['base.txt', ''], ['saved.txt', 'A']]);
  assert.deepEqual(listMergedDir(L, 2, '/root').entries.map((e) => [e.name, e.mark]), [['base.txt', ''], ['saved.txt', 'D']]);
  assert.deepEqual(listMergedDir(L, 2, '/o').entries.map((e) => [e.name, e.mark]), [['new', 'A'], ['p', 'D'], ['q', 'D']]);
  assert.deepEqual(listMergedDir(L, 0, '/d').entries.map((e) => [e.name, e.mark]), [['x', 'A'], ['y', 'A']]);
  const p = listMergedDir(L, 2, '/', { offset: 2, limit: 2 });
  assert.deepEqual([p.total, p.offset, p.entries.map((e) => e.name)], [6, 2, ['keep', 'o']]);
  assert.deepEqual(dirSizes(L, 2, '/', false), { d: 50, etc: 12, o: 4, root: 0 });
  assert.deepEqual(dirSizes(L, 2, '/', true), { d: 50, etc: 12, keep: 5, o: 4, root: 100, var: 3 });
});
