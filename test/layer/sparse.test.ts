/**
 * GNU sparse entries, made by GNU tar itself: old GNU 'S' headers (with
 * extension blocks) and PAX formats 0.0, 0.1 and 1.0. Holes read as zeros,
 * unpack keeps them as holes, and the bytes match the source files exactly.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { buildBusyboxRootfs, strataOk, tempRoot } from '../helpers.js';
import { readTar, unpackLayer } from '../../src/layer/index.js';
import { rm, sh, tempDir } from './helpers.js';

const MiB = 1024 * 1024;

/** Files with holes in every position: leading, trailing, many, none stored at all, odd sizes. */
function makeSparseFiles(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const put = (name: string, size: number, pieces: Array<[number, Buffer]>): void => {
    const p = path.join(dir, name);
    const fd = fs.openSync(p, 'w');
    fs.ftruncateSync(fd, size);
    for (const [at, b] of pieces) fs.writeSync(fd, b, 0, b.length, at);
    fs.closeSync(fd);
    files.set(name, fs.readFileSync(p));
  };
  const fill = (n: number, seed: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff || 1;
    return b;
  };
  put('trailing-hole', 3 * MiB, [[MiB, fill(5000, 1)], [2.5 * MiB, fill(100, 2)]]);
  put('ends', 2 * MiB + 3, [[0, fill(8192, 3)], [2 * MiB - 100, fill(103, 4)]]);
  put('all-hole', MiB, []);
  // 40 data segments: more than an old GNU header holds (4), so extension blocks follow it
  const many: Array<[number, Buffer]> = [];
  for (let i = 0; i < 40; i++) many.push([i * 65536 + 8192, fill(4096, i)]);
  put('many', 40 * 65536 + 777, many);
  fs.writeFileSync(path.join(dir, 'dense'), fill(10000, 9));
  files.set('dense', fs.readFileSync(path.join(dir, 'dense')));
  return files;
}

const FORMATS: Array<{ name: string; args: string[]; marker: RegExp }> = [
  { name: 'old GNU S', args: ['--format=gnu'], marker: /^/ },
  { name: 'PAX 0.0', args: ['--format=posix', '--sparse-version=0.0'], marker: /GNU\.sparse\.offset=/ },
  { name: 'PAX 0.1', args: ['--format=posix', '--sparse-version=0.1'], marker: /GNU\.sparse\.map=/ },
  { name: 'PAX 1.0', args: ['--format=posix', '--sparse-version=1.0'], marker: /GNU\.sparse\.major=1/ },
];

for (const f of FORMATS) {
  test(`GNU tar --sparse ${f.name}: unpacked byte for byte, holes kept`, async (t) => {
    const dir = tempDir('sparse');
    t.after(() => rm(dir));
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    const files = makeSparseFiles(src);
    const tarPath = path.join(dir, 'sparse.tar');
    sh('tar', ['--sparse', ...f.args, '--numeric-owner', '-C', src, '-cf', tarPath, '.']);
    const raw = fs.readFileSync(tarPath);
    assert.match(raw.toString('latin1'), f.marker);
    if (f.name === 'old GNU S') assert.equal(raw[156 + raw.indexOf('./trailing-hole\0') ], 0x53, 'an S entry');
    assert.ok(raw.length < 2 * MiB, 'the archive stores only the data');

    // readTar: bodies are the logical files, zeros in the holes
    const seen = new Map<string, Buffer>();
    for await (const e of readTar(fs.createReadStream(tarPath))) {
      if (e.header.type !== 'file') continue;
      const name = e.header.name.replace(/^\.\//, '');
      assert.equal(e.header.size, files.get(name)?.length, name);
      seen.set(name, await e.read());
    }
    assert.deepEqual([...seen.keys()].sort(), [...files.keys()].sort());
    for (const [name, want] of files) assert.ok(seen.get(name)!.equals(want), `readTar ${name}`);

    // unpack: same bytes, and the holes stay holes
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    const res = await unpackLayer(fs.createReadStream(tarPath), out);
    assert.equal(res.diffId, 'sha256:' + sh('sha256sum', [tarPath]).toString().split(' ')[0]);
    for (const [name, want] of files) {
      const p = path.join(out, name);
      assert.ok(fs.readFileSync(p).equals(want), `unpacked ${name}`);
      const st = fs.statSync(p);
      assert.equal(st.size, want.length);
      if (name !== 'dense') assert.ok(st.blocks * 512 < want.length / 2, `${name} keeps its holes (${st.blocks} blocks for ${want.length} bytes)`);
    }
    // GNU tar agrees on what it wrote
    const gnuOut = path.join(dir, 'gnu');
    fs.mkdirSync(gnuOut);
    sh('tar', ['-C', gnuOut, '-xf', tarPath]);
    for (const name of files.keys()) assert.ok(fs.readFileSync(path.join(gnuOut, name)).equals(fs.readFileSync(path.join(out, name))), name);
  });
}

test('strata import of GNU sparse archives: the container sees the same bytes', (t) => {
  const root = tempRoot(t);
  const dir = tempDir('sparse-cli');
  t.after(() => rm(dir));
  const rootfs = path.join(dir, 'rootfs');
  fs.mkdirSync(rootfs);
  buildBusyboxRootfs(rootfs);
  fs.mkdirSync(path.join(rootfs, 'sp'));
  const files = makeSparseFiles(path.join(rootfs, 'sp'));
  const want = [...files].map(([n, b]) => `${createHash('sha256').update(b).digest('hex')}  /sp/${n}`).sort().join('\n');
  for (const [tag, args] of [['gnu', ['--format=gnu']], ['pax10', ['--format=posix', '--sparse-version=1.0']]] as const) {
    const tarPath = path.join(dir, `${tag}.tar`);
    sh('tar', ['--sparse', ...args, '--numeric-owner', '-C', rootfs, '-cf', tarPath, '.']);
    strataOk(root, ['import', tarPath, `sparse:${tag}`]);
    const out = strataOk(root, ['run', '--rm', '--network', 'none', `sparse:${tag}`, 'sh', '-c', 'sha256sum /sp/*']);
    assert.equal(out.trim().split('\n').sort().join('\n'), want, tag);
  }
});
