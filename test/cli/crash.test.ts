import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { busyboxTar, CLI, strataOk, tempRoot, tempDir } from '../helpers.js';

function runAndKill(root: string, args: string[], afterMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, STRATA_ROOT: root };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    child.on('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
}

test('kill -9 during import and load leaves the store consistent (20 times)', async (t) => {
  const root = tempRoot(t);
  const work = tempDir(t);
  const tar = busyboxTar();
  // a bigger layer so the kill lands mid-unpack too: busybox plus 30 MB of files
  const big = path.join(work, 'big.tar');
  const bigDir = path.join(work, 'big');
  fs.mkdirSync(bigDir);
  for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(bigDir, `f${i}`), Buffer.alloc(1 << 20, i));
  await new Promise<void>((res, rej) => spawn('tar', ['-C', bigDir, '-cf', big, '.']).on('exit', (c) => (c === 0 ? res() : rej(new Error('tar')))));
  const seed = fs.mkdtempSync(path.join(work, 'seed-'));
  strataOk(seed, ['import', tar, 'seed']);
  const archive = path.join(work, 'seed.tar');
  strataOk(seed, ['save', '-o', archive, 'seed']);

  let completed = 0;
  for (let i = 0; i < 20; i++) {
    const delay = 50 + Math.floor(Math.random() * 1500);
    const args = i % 2 === 0 ? ['import', i % 4 === 0 ? big : tar, `img${i}`] : ['load', '-i', archive];
    const code = await runAndKill(root, args, delay);
    if (code === 0) completed++;
    const check = strataOk(root, ['system', 'check']);
    assert.match(check, /no problems/, `after kill #${i} (${args[0]} at ${delay} ms): ${check}`);
    // every listed image is complete: its config, and each layer's dir or (imported, not used yet) its tar
    for (const id of strataOk(root, ['images', '-a', '-q', '--no-trunc']).split('\n').filter(Boolean)) {
      const layers = JSON.parse(strataOk(root, ['inspect', '--format', '{{json .RootFS.Layers}}', id])) as string[];
      for (const l of layers) {
        const dir = path.join(root, 'layers', l.slice(7), 'diff');
        assert.ok(fs.existsSync(dir) ? fs.statSync(dir).isDirectory() : fs.statSync(path.join(root, 'blobs/sha256', l.slice(7))).isFile());
      }
    }
  }
  t.diagnostic(`${completed} of 20 runs finished before the kill`);
  // the store still works, and prune clears what the kills left behind
  strataOk(root, ['import', tar, 'after']);
  strataOk(root, ['system', 'check', '--repair'], { env: { STRATA_GC_GRACE_MS: '0' } });
  const check = strataOk(root, ['system', 'check']);
  assert.doesNotMatch(check, /garbage/);
  assert.equal(fs.readdirSync(path.join(root, 'tmp')).length, 0);
});
