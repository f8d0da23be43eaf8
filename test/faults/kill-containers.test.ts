/**
 * kill -9 at random moments of `commit`, `rm -f` and `run -d -p` (at least 20 kills each):
 * afterwards system check finds no problem; after a killed commit the
 * container still works (not frozen: exec, pause/unpause) and an image is
 * there whole or not at all; after a killed rm -f the container is gone or
 * still removable, and nothing of it stays behind (mounts, runc state, netns,
 * iptables rules); after a killed run the container is running, or starts, and a later rm -f
 * leaves nothing of it.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerRoot, mountsUnder, strata, strataOk } from '../helpers.js';
import { Tally, faultSeed, health, networkLeftovers, prng, runAndKill, timeOf } from './helpers.js';

const KILLS = Number(process.env.STRATA_FAULT_KILLS ?? 20);

function record(tally: Tally, r: string, what: string): void {
  const h = health(r);
  tally.garbage += h.garbage;
  tally.problems.push(...h.problems.map((p) => `${what}: ${p}`));
}

test('kill -9 during commit', async (t) => {
  const rand = prng(faultSeed());
  const r = containerRoot(t);
  const tally = new Tally('commit');
  strataOk(r, ['run', '-d', '--name', 'work', 'busybox']);
  strataOk(r, ['exec', 'work', 'sh', '-c', 'dd if=/dev/urandom of=/data bs=1M count=24 2>/dev/null; echo marker > /marker']);
  const ms = await timeOf(r, ['commit', 'work', 'snap:0']);
  for (let round = 1; tally.kills < KILLS && round < KILLS * 3; round++) {
    const ref = `snap:${round}`;
    const res = await runAndKill(r, ['commit', 'work', ref], rand() * ms * 0.8);
    if (res.killed) tally.kills++; else tally.finished++;
    const what = `commit killed after ${res.ms.toFixed(0)} ms`;
    record(tally, r, what);
    const status = strataOk(r, ['inspect', '--format', '{{.State.Status}}', 'work']).trim();
    if (status !== 'running') tally.problems.push(`${what}: container is ${status}`);
    const ex = strata(r, ['exec', 'work', 'cat', '/marker']);
    if (ex.code !== 0 || ex.stdout !== 'marker\n') tally.problems.push(`${what}: exec: ${ex.stderr.trim()}`);
    const listed = strataOk(r, ['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').includes(ref);
    if (listed && strata(r, ['image', 'inspect', ref]).code !== 0) tally.problems.push(`${what}: ${ref} listed but not inspectable`);
    if (listed) strataOk(r, ['rmi', ref]);
  }
  // as before: pause/unpause, a commit that finishes, its image runs
  strataOk(r, ['pause', 'work']);
  strataOk(r, ['unpause', 'work']);
  strataOk(r, ['commit', 'work', 'snap:last']);
  assert.equal(strataOk(r, ['run', '--rm', '--network', 'none', 'snap:last', 'cat', '/marker']), 'marker\n');
  record(tally, r, 'at the end');
  console.log(tally.line());
  assert.ok(tally.kills >= KILLS, tally.line());
  assert.deepEqual(tally.problems, []);
});

test('kill -9 during rm -f', async (t) => {
  const rand = prng(faultSeed());
  const r = containerRoot(t);
  const tally = new Tally('rm -f');
  const startOne = (name: string): string => strataOk(r, ['run', '-d', '--name', name, 'busybox']).trim();
  startOne('probe');
  const ms = await timeOf(r, ['rm', '-f', 'probe']);
  for (let round = 1; tally.kills < KILLS && round < KILLS * 3; round++) {
    const name = `victim${round}`;
    const id = startOne(name);
    const res = await runAndKill(r, ['rm', '-f', name], rand() * ms * 1.1);
    if (res.killed) tally.kills++; else tally.finished++;
    const what = `rm -f killed after ${res.ms.toFixed(0)} ms`;
    // still listed: a second rm -f finishes the job
    const listed = strataOk(r, ['ps', '-aq', '--no-trunc']).split('\n').includes(id);
    if (listed) {
      const again = strata(r, ['rm', '-f', name]);
      if (again.code !== 0) tally.problems.push(`${what}: second rm -f: ${again.stderr.trim()}`);
    }
    record(tally, r, what);
    if (strataOk(r, ['ps', '-aq', '--no-trunc']).split('\n').includes(id)) tally.problems.push(`${what}: still listed`);
    const mounts = mountsUnder(r);
    if (mounts.length) tally.problems.push(`${what}: mounts left: ${mounts.join(' ')}`);
    if (fs.existsSync(path.join(r, 'containers', id))) tally.problems.push(`${what}: container dir left`);
    const net = networkLeftovers(id);
    if (net.length) tally.problems.push(`${what}: ${net.join('; ')}`);
    const state = strata(r, ['inspect', id]);
    if (state.code === 0) tally.problems.push(`${what}: still inspectable`);
  }
  // the engine still runs containers, on the same network
  assert.equal(strataOk(r, ['run', '--rm', 'busybox', 'echo', 'fine']), 'fine\n');
  record(tally, r, 'at the end');
  console.log(tally.line());
  assert.ok(tally.kills >= KILLS, tally.line());
  assert.deepEqual(tally.problems, []);
});

/** Command lines of live processes that mention `id` (a container's monitor, runc, its gate hook). */
function processesNaming(id: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd = '';
    try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').trim(); } catch { continue; }
    if (cmd.includes(id)) out.push(cmd.slice(0, 120));
  }
  return out;
}

test('kill -9 during run -d -p: the container runs or starts, and rm -f leaves nothing', async (t) => {
  const rand = prng(faultSeed());
  const r = containerRoot(t);
  const tally = new Tally('run -d -p');
  // the root's first run also makes its default network (bridge, rules): the kill moments are
  // spread over a later one's time, which the runs below take
  await timeOf(r, ['run', '-d', '--name', 'probe0', '-p', '80', 'busybox']);
  strataOk(r, ['rm', '-f', 'probe0']);
  const ms = await timeOf(r, ['run', '-d', '--name', 'probe', '-p', '80', 'busybox']);
  strataOk(r, ['rm', '-f', 'probe']);
  for (let round = 1; tally.kills < KILLS && round < KILLS * 3; round++) {
    const name = `run${round}`;
    const res = await runAndKill(r, ['run', '-d', '--name', name, '-p', '80', 'busybox'], rand() * ms * 1.1);
    if (res.killed) tally.kills++; else tally.finished++;
    const what = `run killed after ${res.ms.toFixed(0)} ms`;
    const inspected = strata(r, ['inspect', '--format', '{{.Id}} {{.State.Status}}', name]);
    if (inspected.code === 0) {
      const [id = '', status] = inspected.stdout.trim().split(' ');
      if (status !== 'running') {
        // a start killed midway leaves its network attachment and a created runtime container:
        // the next start releases them first
        const again = strata(r, ['start', name]);
        if (again.code !== 0) tally.problems.push(`${what}: start of a ${status} container: ${again.stderr.trim()}`);
      }
      const ex = strata(r, ['exec', name, 'true']);
      if (ex.code !== 0) tally.problems.push(`${what}: exec: ${ex.stderr.trim()}`);
      strataOk(r, ['rm', '-f', name]);
      const mounts = mountsUnder(r);
      if (mounts.length) tally.problems.push(`${what}: mounts left: ${mounts.join(' ')}`);
      if (fs.existsSync(path.join(r, 'containers', id))) tally.problems.push(`${what}: container dir left`);
      const net = networkLeftovers(id);
      if (net.length) tally.problems.push(`${what}: ${net.join('; ')}`);
      // no monitor, runc or gate hook of the container outlives it (a start killed while its
      // runc run waited in the gate left one before rm -f told the monitor to give up)
      let procs = processesNaming(id);
      for (let i = 0; procs.length && i < 50; i++) { // a monitor ends a moment after its exit record
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        procs = processesNaming(id);
      }
      if (procs.length) tally.problems.push(`${what}: processes left: ${procs.join(' | ')}`);
    }
    record(tally, r, what);
  }
  record(tally, r, 'at the end');
  console.log(tally.line());
  assert.ok(tally.kills >= KILLS, tally.line());
  assert.deepEqual(tally.problems, []);
});
