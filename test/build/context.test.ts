/**
 * The context checksum of COPY between builds: what a cached rebuild reuses (each directory's
 * saved walk while its listing is the same) and everything that must make COPY run again.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerRoot, strata, strataOk } from '../helpers.js';
import { ctx } from './helpers.js';

function buildOk(root: string, dir: string): { id: string; ran: string[]; cached: number } {
  const r = strata(root, ['build', '--progress', 'plain', '-t', 'c', dir]);
  if (r.code !== 0) throw new Error(`build failed (${r.code}): ${r.stderr}`);
  const m = /writing image (sha256:[0-9a-f]{64})/.exec(r.stderr);
  assert.ok(m, r.stderr);
  // the COPY and RUN steps that ran: a `[i/n] …` vertex with no `CACHED` line
  const ran = [...r.stderr.matchAll(/^#(\d+) \[\d+\/\d+\] ((?:COPY|RUN) .*)$/gm)]
    .filter(([, n]) => !new RegExp(`^#${n} CACHED$`, 'm').test(r.stderr)).map(([, , s]) => s!.split(' ')[0]!);
  return { id: m[1]!, ran, cached: (r.stderr.match(/^#\d+ CACHED$/gm) ?? []).length };
}

test('context checksum between builds: deep content changes (same size and mtime), files added and removed, .dockerignore changes rerun COPY; nothing else does', { timeout: 180000 }, (t) => {
  const root = containerRoot(t);
  const files: Record<string, string> = {
    Dockerfile: 'FROM busybox\nCOPY . /app/\nRUN cat /app/src/d1/deep/f.txt > /seen && find /app -type f | sort > /list\n',
    '.dockerignore': '.dockerignore\nlogs\n!logs/keep.log\nsrc/d2/f5.txt\n',
    'logs/keep.log': 'k\n', 'logs/drop.log': 'd\n',
  };
  for (let d = 0; d < 3; d++) for (let i = 0; i < 20; i++) files[`src/d${d}/f${i}.txt`] = `file ${d} ${i}\n`;
  files['src/d1/deep/f.txt'] = 'old\n';
  const dir = ctx(t, files);
  const deep = path.join(dir, 'src/d1/deep/f.txt');
  fs.utimesSync(deep, 1700000000, 1700000000);
  const seen = (): string => strataOk(root, ['run', '--rm', 'c', 'cat', '/seen']);
  const list = (): string => strataOk(root, ['run', '--rm', 'c', 'cat', '/list']);

  const first = buildOk(root, dir);
  assert.deepEqual(first.ran, ['COPY', 'RUN']);
  assert.match(list(), /\/app\/logs\/keep\.log\n/);
  assert.doesNotMatch(list(), /drop\.log|dockerignore|d2\/f5\.txt/);
  // unchanged: the same image, nothing runs (twice: the second reuses what the first saved)
  for (let i = 0; i < 2; i++) {
    const again = buildOk(root, dir);
    assert.equal(again.id, first.id);
    assert.deepEqual(again.ran, []);
    assert.equal(again.cached, 2);
  }

  // same size, mtime put back exactly: only the ctime tells, and COPY runs
  fs.writeFileSync(deep, 'new\n');
  fs.utimesSync(deep, 1700000000, 1700000000);
  assert.equal(fs.statSync(deep).mtimeMs, 1700000000000);
  const changed = buildOk(root, dir);
  assert.notEqual(changed.id, first.id);
  assert.deepEqual(changed.ran, ['COPY', 'RUN']);
  assert.equal(seen(), 'new\n');
  assert.deepEqual(buildOk(root, dir).ran, [], 'then cached again');

  // a file added deep down, then removed: back to the image before
  fs.writeFileSync(path.join(dir, 'src/d2/added.txt'), 'a\n');
  const added = buildOk(root, dir);
  assert.deepEqual(added.ran, ['COPY', 'RUN']);
  assert.match(list(), /\/app\/src\/d2\/added\.txt\n/);
  fs.rmSync(path.join(dir, 'src/d2/added.txt'));
  assert.equal(buildOk(root, dir).id, changed.id);
  // an original file removed: runs
  fs.rmSync(path.join(dir, 'src/d0/f3.txt'));
  const removed = buildOk(root, dir);
  assert.deepEqual(removed.ran, ['COPY', 'RUN']);
  assert.doesNotMatch(list(), /d0\/f3\.txt/);

  // .dockerignore (itself ignored) changed: src/d2/f5.txt (its directory's listing unchanged) comes in
  fs.writeFileSync(path.join(dir, '.dockerignore'), '.dockerignore\nlogs\n!logs/keep.log\n');
  assert.deepEqual(buildOk(root, dir).ran, ['COPY', 'RUN']);
  assert.match(list(), /\/app\/src\/d2\/f5\.txt\n/);
  // without the exception, logs/keep.log leaves
  fs.writeFileSync(path.join(dir, '.dockerignore'), '.dockerignore\nlogs\n');
  assert.deepEqual(buildOk(root, dir).ran, ['COPY', 'RUN']);
  assert.doesNotMatch(list(), /keep\.log/);
  // and back: the cached image from before
  fs.writeFileSync(path.join(dir, '.dockerignore'), '.dockerignore\nlogs\n!logs/keep.log\nsrc/d2/f5.txt\n');
  assert.equal(buildOk(root, dir).id, removed.id);

  // a mode change alone runs COPY; a new mtime alone does not
  fs.chmodSync(path.join(dir, 'src/d2/f1.txt'), 0o600);
  assert.deepEqual(buildOk(root, dir).ran, ['COPY', 'RUN']);
  const modeId = buildOk(root, dir).id;
  fs.utimesSync(path.join(dir, 'src/d2/f1.txt'), 1600000000, 1600000000);
  const touched = buildOk(root, dir);
  assert.equal(touched.id, modeId);
  assert.deepEqual(touched.ran, []);

  // the saved walk corrupt, cut short or gone: recomputed, the same image
  const stateDir = path.join(root, 'build-hashes');
  const states = fs.readdirSync(stateDir).filter((n) => !n.endsWith('.tmp'));
  assert.equal(states.length, 1);
  const state = path.join(stateDir, states[0]!);
  const whole = fs.readFileSync(state);
  for (const bad of [Buffer.from('{"v":2,"rules":"x","d":[1,2'), whole.subarray(0, whole.indexOf(10) + 20), Buffer.from('garbage\n[')]) {
    fs.writeFileSync(state, bad);
    const r = buildOk(root, dir);
    assert.equal(r.id, modeId);
    assert.deepEqual(r.ran, []);
  }
  fs.rmSync(state);
  assert.equal(buildOk(root, dir).id, modeId);
  assert.ok(fs.existsSync(state));
});
