/**
 * diff_id = sha256 of the uncompressed tar; gzip / zstd / plain inputs unpack
 * to the same tree with the same diff_id.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import {
  type Compression, compressStream, decompressStream, detectCompression, packDir, unpackLayer,
} from '../../src/layer/index.js';
import { buildFixture, diffSnapshots, rm, sh, snapshot, streamOf, tempDir } from './helpers.js';

test('diffId is the sha256 of the uncompressed tar, whatever the compression', async (t) => {
  const dir = tempDir('digest');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  buildFixture(src);
  const tarPath = path.join(dir, 'layer.tar');
  sh('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', tarPath, '-C', src, '.']);
  const expected = 'sha256:' + sh('sha256sum', [tarPath]).toString().split(' ')[0];
  const size = fs.statSync(tarPath).size;
  assert.equal(size % 10240, 0, 'GNU tar pads to 10 KiB records: bytes after the end blocks are hashed too');
  fs.writeFileSync(tarPath + '.gz', sh('gzip', ['-c', '-n', tarPath]));
  fs.writeFileSync(tarPath + '.zst', sh('zstd', ['-q', '-c', tarPath]));

  const snaps = new Map<string, ReturnType<typeof snapshot>>();
  for (const [file, kind] of [[tarPath, 'none'], [tarPath + '.gz', 'gzip'], [tarPath + '.zst', 'zstd']] as const) {
    const out = path.join(dir, `out-${kind}`);
    fs.mkdirSync(out);
    let seen = 0;
    const r = await unpackLayer(fs.createReadStream(file, { highWaterMark: 1 << 20 }), out, { mode: 'plain', onChunk: (c) => { seen += c.length; } });
    assert.equal(r.diffId, expected, kind);
    assert.equal(r.compression, kind);
    assert.equal(r.tarSize, size);
    assert.equal(seen, size);
    snaps.set(kind, snapshot(out));
  }
  assert.deepEqual(diffSnapshots(snaps.get('none')!, snaps.get('gzip')!), []);
  assert.deepEqual(diffSnapshots(snaps.get('none')!, snaps.get('zstd')!), []);
  assert.deepEqual(diffSnapshots(snapshot(src), snaps.get('zstd')!, { mtimeToleranceNs: 1000n }), []);
});

test('trailing garbage after the end blocks is accepted and hashed', async (t) => {
  const dir = tempDir('garbage');
  t.after(() => rm(dir));
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  const tarPath = path.join(dir, 'a.tar');
  sh('tar', ['-cf', tarPath, '-C', dir, 'f']);
  const bytes = Buffer.concat([fs.readFileSync(tarPath), Buffer.from('trailing garbage')]);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const r = await unpackLayer(streamOf(bytes), out);
  assert.equal(r.diffId, 'sha256:' + sh('sha256sum', [], { input: bytes }).toString().split(' ')[0]);
  assert.equal(r.tarSize, bytes.length);
  assert.equal(fs.readFileSync(path.join(out, 'f'), 'utf8'), 'x');
});

test('packDir through compressStream and back through unpackLayer', async (t) => {
  const dir = tempDir('compress');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  buildFixture(src);
  for (const kind of ['gzip', 'zstd', 'none'] as Compression[]) {
    const blob = path.join(dir, `layer.${kind}`);
    const c = compressStream(kind, kind === 'gzip' ? 1 : undefined);
    const written = pipeline(c, fs.createWriteStream(blob));
    const p = await packDir(src, c);
    await written;
    const head = Buffer.alloc(4);
    const fd = fs.openSync(blob, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    assert.equal(detectCompression(head), kind);
    const out = path.join(dir, `out-${kind}`);
    fs.mkdirSync(out);
    const u = await unpackLayer(fs.createReadStream(blob), out, { mode: 'plain' });
    assert.equal(u.diffId, p.diffId);
    assert.equal(u.tarSize, p.size);
    assert.equal(u.compression, kind);
    // the CLI tools agree
    if (kind !== 'none') {
      const plain = sh(kind === 'gzip' ? 'gzip' : 'zstd', ['-d', '-c', blob]);
      assert.equal('sha256:' + sh('sha256sum', [], { input: plain }).toString().split(' ')[0], p.diffId);
    }
    // decompressStream is the inverse
    const chunks: Buffer[] = [];
    const d = decompressStream(kind);
    await Promise.all([pipeline(fs.createReadStream(blob), d), (async () => { for await (const x of d) chunks.push(x as Buffer); })()]);
    assert.equal(Buffer.concat(chunks).length, p.size);
  }
});

test('detectCompression', () => {
  assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
  assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  assert.equal(detectCompression(Buffer.from('ustar')), 'none');
  assert.equal(detectCompression(Buffer.alloc(0)), 'none');
});

test('large streams hash on a worker thread with the same result', async (t) => {
  const dir = tempDir('bighash');
  t.after(() => rm(dir));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const big = Buffer.alloc(24 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  fs.writeFileSync(path.join(src, 'big'), big);
  fs.writeFileSync(path.join(src, 'small'), 'x');
  const tarPath = path.join(dir, 'big.tar');
  const p = await packDir(src, tarPath);
  const expected = 'sha256:' + sh('sha256sum', [tarPath]).toString().split(' ')[0];
  assert.equal(p.diffId, expected);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const u = await unpackLayer(fs.createReadStream(tarPath), out);
  assert.equal(u.diffId, expected);
  assert.ok(fs.readFileSync(path.join(out, 'big')).equals(big));
  // and through a slow consumer stream (backpressure on both the stream and the hasher)
  const gz = path.join(dir, 'big.tar.gz');
  const c = compressStream('gzip', 1);
  const w = pipeline(c, fs.createWriteStream(gz));
  const p2 = await packDir(src, c);
  await w;
  assert.equal(p2.diffId, expected);
});
