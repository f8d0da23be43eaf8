/**
 * commitContainer on a real store and a real overlay mount: config and
 * history (docker-semantics.md 2.3/2.4), the layer entries, empty layers,
 * reproducible IDs, --exclude / --exclude-noise, pause/unpause, provenance and
 * store growth.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { buildExclude, diffUpper, dockerfileFor, formatNoiseReport, PROVENANCE_LABEL } from '../../src/changes/index.js';
import { commitContainer, type CommitInput } from '../../src/engine/commit.js';
import { diffImageContainer, diffImages, imageStack } from '../../src/engine/diff.js';
import { REPACK_OPTIONS, isRepackable, layerTarFile, repackDigest } from '../../src/engine/layer-tar.js';
import { checkStore } from '../../src/engine/system.js';
import { imageLayers, loadConfig, resolveImage } from '../../src/engine/images.js';
import { StoreRoot } from '../../src/engine/store-root.js';
import { importImage, loadArchive, saveImages } from '../../src/engine/transfer.js';
import { ensureImageDirs } from '../../src/engine/layer-dirs.js';
import { getXattr, packDir, type TarHeader } from '../../src/layer/index.js';
import { setXattr } from '../../src/layer/xattr.js';
import { buildBase, buildInit, describe, mountOverlay, mountStack, rm, shIn, tarHeaders, tempDir, type Mounted } from './helpers.js';

const CID = 'c0ffee'.padEnd(64, '0');
let fx: string;
let store: StoreRoot;
let baseId: string;
let baseDiff: string;
let lowers: string[];

before(async () => {
  fx = tempDir('commit');
  buildBase(path.join(fx, 'base'));
  buildInit(path.join(fx, 'init'));
  const tar = path.join(fx, 'base.tar');
  await packDir(path.join(fx, 'base'), tar, { mode: 'plain' });
  store = new StoreRoot(path.join(fx, 'root'));
  baseId = await importImage(store, Readable.from([fs.readFileSync(tar)]), { reference: 'bbox:latest' });
  baseDiff = imageLayers(store, baseId)[0]!.diffId;
  await ensureImageDirs(store, baseId); // import keeps the tar; the dir is made when first needed
  lowers = [path.join(fx, 'init'), store.layerDir(baseDiff)];
});
after(() => {
  store.close();
  rm(fx);
});

function input(m: Mounted, extra: Partial<CommitInput> = {}): CommitInput {
  return {
    upperDir: m.upper,
    lowerDiffIds: [baseDiff],
    imageId: baseId,
    imageRef: 'bbox:latest',
    containerId: CID,
    containerConfig: { Hostname: CID.slice(0, 12), AttachStdout: true, AttachStderr: true, Cmd: ['sh', '-c', 'echo hello > /hello.txt'], Image: 'bbox:latest' },
    ...extra,
  };
}

function du(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);
}

async function layerTar(diffId: string): Promise<TarHeader[]> {
  const scratch = tempDir('scratch');
  try {
    return await tarHeaders(await layerTarFile(store, diffId, scratch));
  } finally {
    rm(scratch);
  }
}

async function layerOf(id: string): Promise<string[]> {
  return (await layerTar(imageLayers(store, id).at(-1)!.diffId)).map(describe);
}

test('commit: config, history, layers shared with the parent, the layer tar, store growth', async () => {
  const m = mountOverlay(lowers, 'c1');
  try {
    shIn(m.merged, 'echo hello > hello.txt && rm www/old.html && head -c 1048576 /dev/urandom > blob.bin');
    const before = du(store.root);
    const calls: string[] = [];
    const res = await commitContainer(store, input(m, {
      author: 'Jane Doe <jane@example.com>', message: 'my message', changes: ['ENV A=1', 'EXPOSE 8080'], reference: 'mine:v1',
      pause: () => { calls.push('pause'); }, unpause: () => { calls.push('unpause'); },
    }));
    const grew = du(store.root) - before;
    assert.deepEqual(calls, ['pause', 'unpause']);
    assert.match(res.id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(resolveImage(store, 'mine:v1').id, res.id);
    const layers = imageLayers(store, res.id);
    assert.deepEqual(layers.map((l) => l.diffId), [baseDiff, res.diffId]);
    assert.equal(res.size, 1048576 + 6);
    assert.equal(layers[1]!.size, res.size);
    // the parent's layer dir is shared, not copied
    assert.ok(fs.existsSync(store.layerDir(baseDiff)));
    assert.equal(fs.readdirSync(store.layersDir).length, 2);
    // store growth: the change is stored once, as the layer dir (no blob; see layer-tar.ts), plus metadata
    assert.ok(grew >= 1048576 && grew < 1048576 + 200_000, `store grew ${grew} bytes`);
    assert.ok(!store.content.has(res.diffId!));
    assert.ok(isRepackable(store, res.diffId!));

    const cfg = loadConfig(store, res.id);
    assert.equal(cfg.container, CID);
    assert.equal(cfg.author, 'Jane Doe <jane@example.com>');
    assert.deepEqual(cfg.config!.Env, ['A=1']);
    assert.deepEqual(cfg.config!.ExposedPorts, { '8080/tcp': {} });
    assert.deepEqual(cfg.config!.Cmd, ['sh', '-c', 'echo hello > /hello.txt']);
    assert.equal(cfg.config!.Image, 'bbox:latest');
    assert.equal(cfg.config!.Hostname, CID.slice(0, 12));
    assert.deepEqual(cfg.config!.Labels, {});
    assert.equal(cfg.container_config!.Env, null); // the container's config before --change
    const h = cfg.history!.at(-1)!;
    assert.equal(h.created_by, 'sh -c echo hello > /hello.txt');
    assert.equal(h.comment, 'my message');
    assert.equal(h.author, 'Jane Doe <jane@example.com>');
    assert.equal(h.created, cfg.created);
    assert.equal(cfg.history!.length, 2);
    const raw = store.content.readBytes(res.id).toString();
    assert.ok(raw.includes('echo hello \\u003e /hello.txt'), 'Go HTML-safe escapes in the config bytes');
    assert.deepEqual(await layerOf(res.id), ['blob.bin', 'hello.txt', 'www/', 'www/.wh.old.html 600']);
    // image vs image (base -> committed) is the container's diff; the committed image vs the container is empty
    const ctrDiff = diffUpper(m.upper, lowers);
    assert.deepEqual(diffImages(store, baseId, res.id), ctrDiff);
    assert.deepEqual(imageStack(store, res.id), [store.layerDir(res.diffId!), store.layerDir(baseDiff)]);
    const initDir = lowers[0]!;
    assert.deepEqual(diffImageContainer(store, res.id, { upperDir: m.upper, lowerDirs: lowers, initDir }), []);
    assert.deepEqual(diffImageContainer(store, baseId, { upperDir: m.upper, lowerDirs: lowers, initDir }), ctrDiff);
    // the new image's merged view is the container's view
    const view = mountStack([store.layerDir(res.diffId!), store.layerDir(baseDiff)], 'view');
    try {
      assert.equal(fs.readFileSync(path.join(view.merged, 'hello.txt'), 'utf8'), 'hello\n');
      assert.ok(!fs.existsSync(path.join(view.merged, 'www/old.html')));
    } finally {
      view.close();
    }
  } finally {
    m.close();
  }
});

test('commit: an empty upper dir adds no layer and an empty_layer history entry', async () => {
  const m = mountOverlay(lowers, 'c2');
  try {
    shIn(m.merged, 'mkdir newdir && rmdir newdir');
    const res = await commitContainer(store, input(m));
    assert.equal(res.diffId, undefined);
    assert.equal(res.tarSize, 1024);
    assert.deepEqual(imageLayers(store, res.id).map((l) => l.diffId), [baseDiff]);
    const h = loadConfig(store, res.id).history!.at(-1)!;
    assert.equal(h.empty_layer, true);
    assert.equal(resolveImage(store, res.id).parent, baseId);
  } finally {
    m.close();
  }
});

test('commit: reproducible with a timestamp (same diff_id and image ID twice), mtimes clamped', async () => {
  const m = mountOverlay(lowers, 'c3');
  try {
    shIn(m.merged, 'echo a > a.txt && mkdir -p d && echo b > d/b && rm www/index.html');
    const a = await commitContainer(store, input(m, { timestamp: 1700000500 }));
    const b = await commitContainer(store, input(m, { timestamp: 1700000500 }));
    assert.equal(a.diffId, b.diffId);
    assert.equal(a.id, b.id);
    const cfg = loadConfig(store, a.id);
    assert.equal(cfg.created, '2023-11-14T22:21:40Z');
    assert.equal(cfg.history!.at(-1)!.created, cfg.created);
    for (const h of await layerTar(a.diffId!)) assert.ok(h.mtime <= 1700000500, h.name);
    process.env.SOURCE_DATE_EPOCH = '1700000500';
    try {
      const c = await commitContainer(store, input(m));
      assert.equal(c.id, a.id);
    } finally {
      delete process.env.SOURCE_DATE_EPOCH;
    }
    const d = await commitContainer(store, input(m));
    assert.notEqual(d.id, a.id);
  } finally {
    m.close();
  }
});

test('commit: --exclude-noise and --exclude keep paths out of the layer; the report names them', async () => {
  const m = mountOverlay(lowers, 'c4');
  try {
    shIn(m.merged, [
      'echo ls > root/.ash_history', 'echo 1 > run/app.pid', 'echo junk > tmp/junk', 'mkdir -p tmp/sub && echo j > tmp/sub/j',
      'mkdir -p var/cache/apt/archives && head -c 5000 /dev/zero > var/cache/apt/archives/p.deb', 'echo keep > keep.txt',
      'echo changed > etc/passwd', 'rm etc/group', 'echo l >> var/log/dpkg.log', 'rm www/old.html',
    ].join(' && '));
    const changes = diffUpper(m.upper, lowers);
    const exclude = buildExclude({ noise: true, patterns: ['/etc/**'] })!;
    const res = await commitContainer(store, input(m, { exclude }));
    const names = await layerOf(res.id);
    assert.deepEqual(names, ['etc/', 'keep.txt', 'root/', 'run/', 'tmp/', 'var/', 'var/cache/', 'var/cache/apt/', 'var/log/', 'www/', 'www/.wh.old.html 600']);
    const kinds = Object.fromEntries(res.noise.map((l) => [l.kind, l]));
    assert.deepEqual(kinds.history!.paths, ['/root/.ash_history']);
    assert.equal(kinds.pid!.count, 1);
    assert.equal(kinds.temp!.count, 2);
    assert.equal(kinds.cache!.bytes, 5000);
    assert.equal(kinds.log!.count, 1);
    assert.ok(res.noise.every((l) => l.excluded));
    const text = formatNoiseReport(res.noise);
    assert.ok(text.some((t) => t.startsWith('temp files: 2 files') && t.includes('/tmp/junk')), text.join('\n'));
    // an excluded path shadowing a lower file: the lower file shows through, no whiteout either
    await ensureImageDirs(store, res.id);
    const view = mountStack(imageLayers(store, res.id).reverse().map((l) => store.layerDir(l.diffId)), 'view4');
    try {
      assert.equal(fs.readFileSync(path.join(view.merged, 'etc/passwd'), 'utf8'), 'root:x:0:0:root:/root:/bin/sh\n');
      assert.ok(fs.existsSync(path.join(view.merged, 'etc/group')));
      assert.equal(fs.readFileSync(path.join(view.merged, 'var/log/dpkg.log'), 'utf8'), 'log\n');
    } finally {
      view.close();
    }
    // nothing in the container changed
    assert.equal(fs.readFileSync(path.join(m.merged, 'root/.ash_history'), 'utf8'), 'ls\n');
    assert.deepEqual(diffUpper(m.upper, lowers), changes);
  } finally {
    m.close();
  }
});

test('commit: unpause runs even when packing fails; nothing is registered', async () => {
  const m = mountOverlay(lowers, 'c5');
  try {
    shIn(m.merged, 'echo x > .wh.sneaky');
    const calls: string[] = [];
    const n = (store.db.prepare('SELECT COUNT(*) AS n FROM images').get() as { n: number }).n;
    await assert.rejects(commitContainer(store, input(m, { pause: () => { calls.push('pause'); }, unpause: () => { calls.push('unpause'); } })), /whiteout/);
    assert.deepEqual(calls, ['pause', 'unpause']);
    assert.equal((store.db.prepare('SELECT COUNT(*) AS n FROM images').get() as { n: number }).n, n);
    assert.deepEqual(fs.readdirSync(store.tmpDir), []);
    // a bad --change is refused before the container is frozen
    calls.length = 0;
    await assert.rejects(commitContainer(store, input(m, { changes: ['STOPSIGNAL 9'], pause: () => { calls.push('pause'); } })), /stopsignal is not a valid change command/);
    assert.deepEqual(calls, []);
  } finally {
    m.close();
  }
});

test('commit: provenance label and comment from recorded execs; dockerfileFor', async () => {
  const m = mountOverlay(lowers, 'c6');
  try {
    shIn(m.merged, 'echo conf > etc/app.conf && rm www/old.html && ln -s /x lnk');
    const execs = [
      { created: '2026-01-01T00:00:00Z', user: '', workdir: '/', argv: ['sh', '-c', 'echo conf > /etc/app.conf'] },
      { created: '2026-01-01T00:00:01Z', user: 'nobody', workdir: '/www', argv: ['rm', 'old.html'] },
    ];
    const res = await commitContainer(store, input(m, { execs, timestamp: 1700000000 }));
    const cfg = loadConfig(store, res.id);
    const label = JSON.parse(cfg.config!.Labels![PROVENANCE_LABEL]!);
    assert.equal(label.base, baseId);
    assert.deepEqual(label.execs[1].argv, ['rm', 'old.html']);
    assert.equal(cfg.history!.at(-1)!.comment, 'exec: echo conf > /etc/app.conf; rm old.html');
    const changes = diffUpper(m.upper, lowers);
    assert.equal(dockerfileFor({ imageRef: 'bbox:latest', execs, changes, upperDir: m.upper }), [
      'FROM bbox:latest',
      'RUN echo conf > /etc/app.conf',
      'USER nobody',
      'WORKDIR /www',
      'RUN ["rm","old.html"]',
      '# files changed by the execs above (not replayed):',
      '#   /etc/app.conf',
      '# deleted by the execs above:',
      '#   /www/old.html',
      '# not reproduced (not regular files):',
      '#   A /lnk',
      '',
    ].join('\n'));
    assert.equal(dockerfileFor({ imageRef: 'bbox', changes, upperDir: m.upper }), [
      'FROM bbox', 'COPY ./etc/app.conf /etc/app.conf', 'RUN ["rm","-rf","/www/old.html"]', '# not reproduced (not regular files):', '#   A /lnk', '',
    ].join('\n'));
  } finally {
    m.close();
  }
});

test('commit: a layer kept only as its dir saves (docker and OCI) and loads back to the same image ID', async (t) => {
  const m = mountOverlay(lowers, 'c7');
  try {
    shIn(m.merged, 'echo saved > s.txt && rm -rf www && mkdir -p d/e && ln -s s.txt d/e/l && ln s.txt hard && mknod nd c 1 3 && rm -rf root && mkdir root');
    const res = await commitContainer(store, input(m, { reference: 'saved:v1' }));
    assert.ok(isRepackable(store, res.diffId!));
    // no file of it is made yet: the tar is the blob until the layer dir is first needed
    assert.ok(store.content.has(res.diffId!));
    assert.ok(!fs.existsSync(store.layerDir(res.diffId!)));
    assert.deepEqual((await checkStore(store)).problems, []);
    await ensureImageDirs(store, res.id);
    // then the change is stored once, as the dir
    assert.ok(!store.content.has(res.diffId!));
    assert.deepEqual(fs.readdirSync(store.layerHome(res.diffId!)).sort(), ['diff', 'repack']);
    assert.equal(fs.readFileSync(path.join(store.layerDir(res.diffId!), 's.txt'), 'utf8'), 'saved\n');
    for (const format of ['docker', 'oci'] as const) {
      const dir = tempDir('save');
      t.after(() => rm(dir));
      const file = path.join(dir, 'img.tar');
      const out = fs.createWriteStream(file);
      await saveImages(store, ['saved:v1'], out, format);
      await new Promise<void>((resolve, reject) => { if (out.writableFinished) resolve(); else { out.on('finish', resolve); out.on('error', reject); } });
      const fresh = new StoreRoot(path.join(dir, 'root'));
      try {
        const r = await loadArchive(fresh, fs.createReadStream(file));
        assert.ok(r.images.includes(res.id) || r.messages.join('\n').includes('saved:v1'), JSON.stringify(r));
        assert.deepEqual(imageLayers(fresh, res.id).map((l) => l.diffId), [baseDiff, res.diffId]);
      } finally {
        fresh.close();
      }
    }
    const check = await checkStore(store);
    assert.deepEqual(check.problems, []);
  } finally {
    m.close();
  }
});

test('commit: keepBlob keeps the tar as the layer blob (no repack marker)', async () => {
  const m = mountOverlay(lowers, 'c8');
  try {
    shIn(m.merged, 'echo kept > kept.txt');
    const res = await commitContainer(store, input(m, { keepBlob: true }));
    assert.ok(store.content.has(res.diffId!));
    assert.ok(!isRepackable(store, res.diffId!));
    assert.equal(store.content.size(res.diffId!), res.tarSize);
    assert.deepEqual(await layerOf(res.id), ['kept.txt']);
    await ensureImageDirs(store, res.id);
    assert.ok(store.content.has(res.diffId!) && fs.existsSync(store.layerDir(res.diffId!)));
    // without it the tar is dropped once the layer dir exists, and the dir re-packs to the diff_id
    shIn(m.merged, 'echo more > more.txt');
    const fast = await commitContainer(store, input(m));
    assert.ok(isRepackable(store, fast.diffId!) && store.content.has(fast.diffId!));
    await ensureImageDirs(store, fast.id);
    assert.ok(!store.content.has(fast.diffId!));
    assert.equal((await repackDigest(store.layerDir(fast.diffId!))).diffId, fast.diffId);
    assert.deepEqual(await layerOf(fast.id), ['kept.txt', 'more.txt']);
  } finally {
    m.close();
  }
});

test('commit: a whiteout not owned by root keeps the tar as the blob (a layer dir could not reproduce it)', async (t) => {
  // commit only reads the upper dir, so a hand-made one stands in for a userns container's
  const up = tempDir('odd-upper');
  t.after(() => rm(up));
  fs.mkdirSync(path.join(up, 'www'));
  execFileSync('mknod', [path.join(up, 'www/old.html'), 'c', '0', '0']);
  fs.lchownSync(path.join(up, 'www/old.html'), 1000, 1000);
  const res = await commitContainer(store, { ...input({ upper: up } as Mounted) });
  assert.ok(store.content.has(res.diffId!));
  assert.ok(!isRepackable(store, res.diffId!));
  const wh = (await layerTar(res.diffId!)).find((h) => h.name === 'www/.wh.old.html')!;
  assert.equal(wh.uid, 1000);
});

test('commit: big files are copied into the layer while packing; digest, layer dir and re-pack agree with a plain pack', async () => {
  const m = mountOverlay(lowers, 'c10');
  try {
    shIn(m.merged, [
      'mkdir -p big/deep && head -c 3145729 /dev/urandom > big/deep/a.bin && chown 12:34 big/deep/a.bin && chmod 4750 big/deep/a.bin',
      'ln big/deep/a.bin big/hard.bin && head -c 1048576 /dev/urandom > big/exact.bin && head -c 1048575 /dev/urandom > big/under.bin',
      'touch -d @1600000000 big/exact.bin && rm www/old.html && echo small > small.txt',
    ].join(' && '));
    setXattr(path.join(m.merged, 'big/exact.bin'), 'user.note', 'kept');
    // what the tar must be: the same walk, nothing staged
    const plain = await packDir(m.upper, new Writable({ write(_c, _e, cb) { cb(); } }), { ...REPACK_OPTIONS });
    const res = await commitContainer(store, input(m));
    assert.equal(res.diffId, plain.diffId);
    assert.equal(res.tarSize, plain.size);
    assert.equal(res.entries, plain.entries);
    assert.equal(res.size, plain.contentSize);
    assert.ok(isRepackable(store, res.diffId!));
    assert.equal((await repackDigest(store.layerDir(res.diffId!))).diffId, res.diffId);
    const dir = store.layerDir(res.diffId!);
    assert.deepEqual(fs.readdirSync(store.layerHome(res.diffId!)).sort(), ['diff', 'repack']);
    for (const f of ['big/deep/a.bin', 'big/exact.bin', 'big/under.bin', 'small.txt']) {
      assert.ok(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(m.upper, f))), f);
    }
    const a = fs.lstatSync(path.join(dir, 'big/deep/a.bin'));
    assert.equal(a.mode & 0o7777, 0o4750);
    assert.deepEqual([a.uid, a.gid, a.nlink], [12, 34, 2]);
    assert.equal(fs.lstatSync(path.join(dir, 'big/hard.bin')).ino, a.ino);
    assert.equal(fs.lstatSync(path.join(dir, 'big/exact.bin')).mtimeMs, 1600000000_000);
    assert.equal(getXattr(path.join(dir, 'big/exact.bin'), 'user.note')?.toString(), 'kept');
    assert.deepEqual((await layerOf(res.id)).filter((l) => l.startsWith('big/')).length, 6);
  } finally {
    m.close();
  }
});

test('commit: a big file beside a whiteout not owned by root: the kept blob is the full tar', async (t) => {
  const up = tempDir('odd-big-upper');
  t.after(() => rm(up));
  fs.mkdirSync(path.join(up, 'www'));
  execFileSync('mknod', [path.join(up, 'www/old.html'), 'c', '0', '0']);
  fs.lchownSync(path.join(up, 'www/old.html'), 1000, 1000);
  fs.writeFileSync(path.join(up, 'www/big.bin'), Buffer.alloc(2 << 20, 7));
  const plain = await packDir(up, new Writable({ write(_c, _e, cb) { cb(); } }), { ...REPACK_OPTIONS });
  const res = await commitContainer(store, { ...input({ upper: up } as Mounted) });
  assert.equal(res.diffId, plain.diffId);
  assert.ok(store.content.has(res.diffId!));
  assert.equal(store.content.size(res.diffId!), plain.size);
  assert.equal(`sha256:${createHash('sha256').update(store.content.readBytes(res.diffId!)).digest('hex')}`, res.diffId);
  const heads = await layerTar(res.diffId!);
  assert.equal(heads.find((h) => h.name === 'www/big.bin')!.size, 2 << 20);
  assert.equal(heads.find((h) => h.name === 'www/.wh.old.html')!.uid, 1000);
});
