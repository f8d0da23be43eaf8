/**
 * The one liveness rule (Sys.processAlive), on the real /proc: no root needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { linuxSys } from '../../src/sys/index.js';
import { FakeSys } from '../../src/sys/fake.js';
import { parseProcStat } from '../../src/base/proc.js';

test('/proc/PID/stat is parsed from the last parenthesis (a comm may hold spaces and parentheses)', () => {
  const line = '4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615';
  assert.deepEqual(parseProcStat(line), { state: 'S', startTime: '987654' });
  assert.equal(parseProcStat('garbage'), undefined);
});

test('linuxSys.processAlive: this process yes, pid 0 and negatives no, start time must match', () => {
  assert.equal(linuxSys.processAlive(process.pid), true);
  assert.equal(linuxSys.processAlive(0), false);
  assert.equal(linuxSys.processAlive(-1), false);
  const start = linuxSys.processStartTime(process.pid);
  assert.match(start ?? '', /^\d+$/);
  assert.equal(linuxSys.processAlive(process.pid, start), true);
  assert.equal(linuxSys.processAlive(process.pid, String(Number(start) + 1)), false, 'a recycled pid is another process');
});

test('linuxSys.processAlive: pid 1 is alive even when kill(1, 0) gives EPERM (another user)', () => {
  assert.equal(linuxSys.processAlive(1), true);
});

test('linuxSys.processAlive: a zombie is dead, a reaped pid is dead', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pid = child.pid!;
  assert.equal(linuxSys.processAlive(pid), true);
  // stop reaping for a moment: SIGKILL makes it a zombie until Node reaps it
  const exited = new Promise((r) => child.on('exit', r));
  process.kill(pid, 'SIGKILL');
  await exited;
  assert.equal(linuxSys.processAlive(pid), false);
  assert.equal(linuxSys.processStartTime(2 ** 22 + 1), undefined);
  assert.equal(linuxSys.processAlive(2 ** 22 + 1), false, 'above pid_max: no such process');
});

test('FakeSys models live pids with start times', (t) => {
  const fake = new FakeSys();
  t.after(() => fs.rmSync(fake.runDir, { recursive: true, force: true }));
  const pid = fake.spawnPid();
  const start = fake.processStartTime(pid);
  assert.equal(fake.processAlive(pid), true);
  assert.equal(fake.processAlive(pid, start), true);
  assert.equal(fake.processAlive(pid, 'other'), false);
  fake.killPid(pid);
  assert.equal(fake.processAlive(pid), false);
  assert.deepEqual(fake.callsOf('processAlive').length, 4);
});
