import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mountOverlay, unmount, isMounted, overlayMountData, MOUNT_DATA_LIMIT, readMountInfo } from '../../src/snapshot/index.js';

test('overlay with 150 lower dirs mounts, layers stack top-most first, writes go to upper', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-snap-'));
  const target = path.join(root, 'containers', 'c1', 'merged');
  t.after(async () => {
    await unmount(target).catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });
  const lowers: string[] = [];
  // long layer paths on purpose: 150 of them would not fit in a page as absolute paths
  for (let i = 0; i < 150; i++) {
    const d = path.join(root, 'layers', `${i.toString().padStart(3, '0')}-${'x'.repeat(50)}`, 'diff');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `only-${i}`), `${i}\n`);
    fs.writeFileSync(path.join(d, 'shared'), `layer ${i}\n`);
    lowers.push(d);
  }
  lowers.reverse(); // top-most (149) first
  const opts = {
    lowerDirs: lowers,
    upperDir: path.join(root, 'containers', 'c1', 'upper'),
    workDir: path.join(root, 'containers', 'c1', 'work'),
    target,
    linkDir: path.join(root, 'l'),
  };
  const absolute = lowers.join(':').length;
  assert.ok(absolute > MOUNT_DATA_LIMIT, `absolute paths take ${absolute} bytes`);
  const data = overlayMountData(opts);
  assert.ok(data.length < MOUNT_DATA_LIMIT, `options take ${data.length} bytes`);
  if (fs.existsSync('/sys/module/overlay/parameters/index')) assert.match(data, /index=off/);

  await mountOverlay(opts);
  assert.equal(isMounted(target), true);
  const info = readMountInfo().find((m) => m.mountPoint === fs.realpathSync(target));
  assert.equal(info?.fsType, 'overlay');
  assert.equal(fs.readFileSync(path.join(target, 'shared'), 'utf8'), 'layer 149\n');
  assert.equal(fs.readFileSync(path.join(target, 'only-0'), 'utf8'), '0\n');
  assert.equal(fs.readFileSync(path.join(target, 'only-77'), 'utf8'), '77\n');
  fs.writeFileSync(path.join(target, 'new'), 'hello');
  fs.rmSync(path.join(target, 'only-5'));
  assert.equal(fs.readFileSync(path.join(opts.upperDir, 'new'), 'utf8'), 'hello');
  assert.ok(fs.lstatSync(path.join(opts.upperDir, 'only-5')).isCharacterDevice(), 'whiteout in upper');
  assert.ok(fs.existsSync(path.join(lowers[144]!, 'only-5')), 'lower untouched');

  // mounting a second container on the same layers reuses the links
  const target2 = path.join(root, 'containers', 'c2', 'merged');
  t.after(async () => unmount(target2).catch(() => undefined));
  await mountOverlay({ ...opts, upperDir: path.join(root, 'c2u'), workDir: path.join(root, 'c2w'), target: target2 });
  assert.equal(fs.readdirSync(path.join(root, 'l')).length, 150);
  assert.ok(fs.existsSync(path.join(target2, 'only-5')));
  await unmount(target2);

  await unmount(target);
  assert.equal(isMounted(target), false);
  await unmount(target); // unmounting again is fine
});

test('unmount detaches a busy mount lazily', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-snap-'));
  const target = path.join(root, 'merged');
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'lower'));
  fs.writeFileSync(path.join(root, 'lower', 'f'), 'x');
  await mountOverlay({ lowerDirs: [path.join(root, 'lower')], upperDir: path.join(root, 'u'), workDir: path.join(root, 'w'), target, linkDir: path.join(root, 'l') });
  const fd = fs.openSync(path.join(target, 'f'), 'r'); // keeps the mount busy
  try {
    await unmount(target);
    assert.equal(isMounted(target), false);
  } finally {
    fs.closeSync(fd);
  }
});

test('scratch: no lower dirs', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-snap-'));
  const target = path.join(root, 'merged');
  t.after(async () => {
    await unmount(target).catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });
  await mountOverlay({ lowerDirs: [], upperDir: path.join(root, 'u'), workDir: path.join(root, 'w'), target, linkDir: path.join(root, 'l') });
  assert.deepEqual(fs.readdirSync(target), []);
  await unmount(target);
});
