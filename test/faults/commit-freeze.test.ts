/**
 * A commit killed (SIGKILL) while it holds the container frozen: the next
 * command that looks at the container releases the freeze, and ps, exec,
 * pause/unpause and commit behave as before.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { Runc, runtimeDirFor } from '../../src/runtime/index.js';
import { CLI, containerRoot, strata, strataOk } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('kill -9 of a commit while the container is frozen: the freeze is released, the container works as before', async (t) => {
  const root = containerRoot(t);
  const id = strataOk(root, ['run', '-d', '--name', 'web', 'busybox']).trim();
  // a change big enough that packing it keeps the container frozen for seconds (sparse: no disk used)
  strataOk(root, ['exec', 'web', 'sh', '-c', 'truncate -s 3G /big && echo small > /small']);
  const runc = new Runc({ root: path.join(runtimeDirFor(root), 'runc') });
  const marker = path.join(root, 'containers', id, 'freeze.json');

  const child = spawn(process.execPath, [CLI, 'commit', 'web', 'snap:1'], { env: { ...process.env, STRATA_ROOT: root }, stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  // wait until it holds the freeze: its marker is written and runc reports the container paused
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (fs.existsSync(marker) && (await runc.state(id))?.status === 'paused') break;
    if (Date.now() > deadline) { child.kill('SIGKILL'); assert.fail('the commit never froze the container'); }
    await sleep(10);
  }
  child.kill('SIGKILL');
  await exited;
  assert.equal((await runc.state(id))?.status, 'paused', 'left frozen by the killed commit');

  // the next command puts it right
  assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.Status}}']), /^web Up [^(]*$/m);
  assert.equal((await runc.state(id))?.status, 'running');
  assert.equal(fs.existsSync(marker), false);
  assert.equal(strataOk(root, ['inspect', '--format', '{{.State.Status}} {{.State.Paused}}', 'web']).trim(), 'running false');
  assert.equal(strataOk(root, ['exec', 'web', 'cat', '/small']), 'small\n');
  strataOk(root, ['pause', 'web']);
  assert.equal((await runc.state(id))?.status, 'paused');
  assert.match(strataOk(root, ['ps', '--format', '{{.Status}}']), /\(Paused\)/);
  const execPaused = strata(root, ['exec', 'web', 'true']);
  assert.match(execPaused.stderr, /is paused, unpause the container before exec/);
  strataOk(root, ['unpause', 'web']);
  assert.equal((await runc.state(id))?.status, 'running');
  const again = strata(root, ['unpause', 'web']);
  assert.match(again.stderr, /is not paused/);
  // commit works again (without the big file), and nothing of the killed one is left
  strataOk(root, ['exec', 'web', 'rm', '/big']);
  strataOk(root, ['commit', 'web', 'snap:2']);
  assert.equal(strataOk(root, ['run', '--rm', 'snap:2', 'cat', '/small']), 'small\n');
  assert.equal(strata(root, ['image', 'inspect', 'snap:1']).code, 1, 'the killed commit made no image');
  const check = strataOk(root, ['system', 'check']);
  assert.match(check, /no problems/);
  assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
});

test('a pause killed between runc and the database: the row follows runc', async (t) => {
  const root = containerRoot(t);
  const id = strataOk(root, ['run', '-d', '--name', 'pz', 'busybox']).trim();
  const runc = new Runc({ root: path.join(runtimeDirFor(root), 'runc') });
  // what a pause process killed right after `runc pause` leaves: frozen, the row says running,
  // its marker names a process that is gone
  await runc.pause(id);
  const dead = spawn('true');
  await new Promise((r) => dead.on('exit', r));
  fs.writeFileSync(path.join(root, 'containers', id, 'freeze.json'), JSON.stringify({ pid: dead.pid, start: '1', op: 'pause' }));
  assert.match(strataOk(root, ['ps', '--format', '{{.Status}}']), /^Up [^(]*$/m);
  assert.equal((await runc.state(id))?.status, 'running');
  assert.equal(strataOk(root, ['exec', 'pz', 'echo', 'ok']), 'ok\n');
  // an unpause cut short after runc resumed: the row said paused, runc says running
  strataOk(root, ['pause', 'pz']);
  await runc.resume(id);
  fs.writeFileSync(path.join(root, 'containers', id, 'freeze.json'), JSON.stringify({ pid: dead.pid, start: '1', op: 'unpause' }));
  assert.equal(strataOk(root, ['inspect', '--format', '{{.State.Status}}', 'pz']).trim(), 'running');
  assert.equal(strataOk(root, ['exec', 'pz', 'echo', 'ok']), 'ok\n');
});
