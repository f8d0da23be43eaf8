/**
 * Layers made when first needed (engine/layer-dirs.ts): import and commit keep the tar, the
 * first user of the image unpacks it. Two users at once, a user killed mid-unpack, and a tar
 * whose problem only unpacking can see.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { CLI, strata, strataOk, tempDir, tempRoot } from '../helpers.js';
import { craftTar } from '../layer/helpers.js';

function cli(root: string, args: string[], killAfterMs?: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, STRATA_ROOT: root };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
}

/** A tar of `files` files of 64 KiB each in 20 directories. */
async function bigTar(work: string, files: number): Promise<string> {
  const dir = path.join(work, 'tree');
  for (let i = 0; i < files; i++) {
    const d = path.join(dir, `d${i % 20}`);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `f${i}`), Buffer.alloc(64 * 1024, i % 251));
  }
  const tar = path.join(work, 'big.tar');
  await new Promise<void>((res, rej) => spawn('tar', ['-C', dir, '-cf', tar, '.']).on('exit', (c) => (c === 0 ? res() : rej(new Error('tar')))));
  return tar;
}

function layerHex(root: string, ref: string): string {
  return strataOk(root, ['inspect', '--format', '{{index .RootFS.Layers 0}}', ref]).trim().slice(7);
}

test('two processes needing the same new layer at once both succeed; one dir is kept', async (t) => {
  const root = tempRoot(t);
  const work = tempDir(t);
  const tar = await bigTar(work, 600);
  strataOk(root, ['import', tar, 'big']);
  const hex = layerHex(root, 'big');
  assert.ok(!fs.existsSync(path.join(root, 'layers', hex, 'diff')));
  const [a, b] = await Promise.all([cli(root, ['diff', 'big', 'big']), cli(root, ['diff', 'big', 'big'])]);
  assert.deepEqual([a.code, b.code], [0, 0], a.stderr + b.stderr);
  assert.equal(fs.readdirSync(path.join(root, 'layers', hex, 'diff', 'd7')).length, 30);
  assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
  assert.match(strataOk(root, ['system', 'check']), /no problems/);
});

test('a process killed while it unpacks leaves no layer dir; the next one makes it whole', async (t) => {
  const root = tempRoot(t);
  const work = tempDir(t);
  const tar = await bigTar(work, 1500);
  strataOk(root, ['import', tar, 'big']);
  const hex = layerHex(root, 'big');
  let killedMidway = 0;
  for (const after of [150, 300, 450]) {
    const r = await cli(root, ['diff', 'big', 'big'], after);
    if (r.code === null) killedMidway++;
    // a complete dir or none, never a partial one under its final name
    const dir = path.join(root, 'layers', hex, 'diff');
    if (fs.existsSync(dir)) assert.equal(fs.readdirSync(dir).length, 20);
    assert.match(strataOk(root, ['system', 'check']), /no problems/);
  }
  t.diagnostic(`${killedMidway} of 3 runs were killed before they finished`);
  assert.equal(strataOk(root, ['diff', 'big', 'big']), '');
  let files = 0;
  for (const d of fs.readdirSync(path.join(root, 'layers', hex, 'diff'))) files += fs.readdirSync(path.join(root, 'layers', hex, 'diff', d)).length;
  assert.equal(files, 1500);
  // what the killed ones left in tmp/ is swept by the next process
  assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
});

test('an archive only unpacking can refuse: import takes it, its first use fails with one line and leaves nothing', (t) => {
  const root = tempRoot(t);
  const work = tempDir(t);
  const tar = path.join(work, 'escape.tar');
  // a symlink among an entry's parents: the scan at import cannot see where it points
  fs.writeFileSync(tar, craftTar([
    { name: 'etc/', type: '5', mode: 0o755 },
    { name: 'link', type: '2', linkname: '/etc' },
    { name: 'link/passwd', data: 'x\n' },
  ]));
  strataOk(root, ['import', tar, 'escape']);
  const hex = layerHex(root, 'escape');
  for (const args of [['diff', 'escape', 'escape'], ['create', 'escape', 'sh']]) {
    const r = strata(root, args);
    assert.notEqual(r.code, 0, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /path escapes the destination|symbolic link|not a directory/i);
  }
  assert.ok(!fs.existsSync(path.join(root, 'layers', hex, 'diff')));
  assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
  assert.equal(strataOk(root, ['ps', '-aq']), '');
  // names that climb out are refused at import already
  const climb = path.join(work, 'climb.tar');
  fs.writeFileSync(climb, craftTar([{ name: '../x', data: 'x\n' }]));
  const r = strata(root, ['import', climb, 'climb']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /escapes/);
  assert.equal(strata(root, ['image', 'inspect', 'climb']).code, 1);
});

test('import of a big file, plain, gzip and zstd: the same diff_id, and each unpacks to it', async (t) => {
  const root = tempRoot(t);
  const work = tempDir(t);
  // incompressible, so each compressed file is read through more buffers than import reuses
  const dir = path.join(work, 'rand');
  for (let i = 0; i < 640; i++) {
    fs.mkdirSync(path.join(dir, `d${i % 16}`), { recursive: true });
    fs.writeFileSync(path.join(dir, `d${i % 16}`, `f${i}`), randomBytes(64 * 1024));
  }
  const tar = path.join(work, 'rand.tar');
  await new Promise<void>((res, rej) => spawn('sh', ['-c', `tar -C '${dir}' -cf '${tar}' . && gzip -1 -k '${tar}' && zstd -q -1 '${tar}'`]).on('exit', (c) => (c === 0 ? res() : rej(new Error('tar')))));
  assert.ok(fs.statSync(`${tar}.gz`).size > 40 << 20);
  const want = `sha256:${createHash('sha256').update(fs.readFileSync(tar)).digest('hex')}`;
  for (const [f, name] of [[tar, 'plain'], [`${tar}.gz`, 'gz'], [`${tar}.zst`, 'zst']] as const) {
    strataOk(root, ['import', f, name]);
    assert.equal(`sha256:${layerHex(root, name)}`, want, name);
  }
  // the blob kept for each is the file itself (its digest checked as it was stored)
  for (const f of [`${tar}.gz`, `${tar}.zst`]) {
    const d = createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    assert.ok(fs.readFileSync(path.join(root, 'blobs/sha256', d)).equals(fs.readFileSync(f)), f);
  }
  assert.equal(strataOk(root, ['diff', 'gz', 'zst']), '');
  assert.equal(fs.readdirSync(path.join(root, 'layers', want.slice(7), 'diff', 'd3')).length, 40);
  assert.match(strataOk(root, ['system', 'check']), /no problems/);
});
