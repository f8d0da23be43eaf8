/**
 * Simulated reboot: monitors, container processes and `strata serve` killed, overlays
 * unmounted, /run/strata-<hash> gone. Afterwards `ps -a` tells the truth, `start` works,
 * no netns, veth, rule or mount is left, and containers whose restart policy says so come
 * back with `strata system boot` or when `strata serve` starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containerRoot, freePort, httpGet, strata, strataOk } from '../helpers.js';
import { serve } from '../api/helpers.js';
import { hostState, simulateReboot } from './reboot-sim.js';

function statuses(root: string): Map<string, string> {
  const out = strataOk(root, ['ps', '-a', '--format', '{{.Names}}\t{{.Status}}']);
  return new Map(out.split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]));
}

function idsOf(root: string): string[] {
  return strataOk(root, ['ps', '-a', '-q', '--no-trunc']).split('\n').filter(Boolean);
}

function assertClean(root: string, ids: string[], what: string): void {
  const s = hostState(root, ids);
  assert.deepEqual(s, { netns: [], bridgePorts: [], rules: [], mounts: [], runtime: [] }, `leftovers ${what}`);
}

async function waitFor(fn: () => boolean, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('after a reboot ps -a shows Exited, start works, nothing leaks', async (t) => {
  const root = containerRoot(t);
  const port = await freePort();
  strataOk(root, ['run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:80`, 'busybox']);
  strataOk(root, ['run', '-d', '--name', 'idle', 'busybox', 'sleep', '1000']);
  strataOk(root, ['run', '-d', '--name', 'frozen', 'busybox', 'sleep', '1000']);
  strataOk(root, ['pause', 'frozen']);
  assert.equal(strata(root, ['run', '--name', 'done', 'busybox', 'sh', '-c', 'exit 3']).code, 3);
  strataOk(root, ['create', '--name', 'fresh', 'busybox']);
  const ids = idsOf(root);
  assert.equal((await httpGet(`http://127.0.0.1:${port}/`)).body, 'hello from strata\n');

  await simulateReboot(root);

  const st = statuses(root);
  for (const n of ['web', 'idle', 'frozen']) assert.match(st.get(n) ?? '', /^Exited \((137|255)\) /, `${n}: ${st.get(n)}`);
  assert.match(st.get('done') ?? '', /^Exited \(3\) /);
  assert.equal(st.get('fresh'), 'Created');
  assert.equal(strataOk(root, ['ps', '-q']).trim(), '', 'nothing listed as running');
  assertClean(root, ids, 'after the first command following the reboot');
  assert.equal(strataOk(root, ['inspect', '--format', '{{.State.Running}} {{.State.Paused}} {{.State.Pid}}', 'frozen']).trim(), 'false false 0');

  // everything starts again, ports and exec included
  for (const n of ['web', 'idle', 'frozen', 'done', 'fresh']) strataOk(root, ['start', n]);
  assert.equal((await httpGet(`http://127.0.0.1:${port}/`)).body, 'hello from strata\n');
  assert.equal(strataOk(root, ['exec', 'idle', 'echo', 'ok']).trim(), 'ok');
  assert.equal(strataOk(root, ['exec', 'frozen', 'echo', 'ok']).trim(), 'ok');
  for (const n of ['web', 'idle', 'frozen', 'fresh']) strataOk(root, ['stop', '-t', '1', n]);
  strataOk(root, ['ps', '-a']); // 'done' exited by itself: the next command that reads it releases it
  assertClean(root, ids, 'after start and stop');
  // a second reboot with everything stopped changes nothing
  await simulateReboot(root);
  assert.match(statuses(root).get('web') ?? '', /^Exited \((137|143)\) /);
  assert.match(strataOk(root, ['system', 'check']), /no problems/);
});

test('after a reboot that also lost the netns, bridges and rules, containers start and publish again', async (t) => {
  const root = containerRoot(t);
  const port = await freePort();
  strataOk(root, ['network', 'create', 'appnet']);
  strataOk(root, ['run', '-d', '--name', 'web', '--restart', 'always', '-p', `127.0.0.1:${port}:80`, 'busybox']);
  strataOk(root, ['run', '-d', '--name', 'peer', '--network', 'appnet', 'busybox', 'sleep', '1000']);
  strataOk(root, ['run', '-d', '--name', 'api', '--network', 'appnet', '--restart', 'unless-stopped', 'busybox']);
  const ids = idsOf(root);
  await simulateReboot(root, [], { network: true });
  assert.deepEqual(hostState(root, ids), { netns: [], bridgePorts: [], rules: [], mounts: [], runtime: [] }, 'the simulation left nothing');
  assert.deepEqual(strataOk(root, ['system', 'boot']).split('\n').filter(Boolean).sort(), ['api', 'web']);
  assert.equal((await httpGet(`http://127.0.0.1:${port}/`)).body, 'hello from strata\n');
  strataOk(root, ['start', 'peer']);
  // peers on the user network reach each other by name again
  assert.equal(strataOk(root, ['exec', 'peer', 'wget', '-qO-', 'http://api/']).trim(), 'hello from strata');
  for (const n of ['web', 'peer', 'api']) strataOk(root, ['stop', '-t', '1', n]);
  assertClean(root, ids, 'after stop');
});

/** Restart policies as dockerd applies them at boot. */
async function policyFixture(root: string): Promise<void> {
  strataOk(root, ['run', '-d', '--name', 'always', '--restart', 'always', 'busybox', 'sleep', '1000']);
  strataOk(root, ['run', '-d', '--name', 'unless', '--restart', 'unless-stopped', 'busybox', 'sleep', '1000']);
  strataOk(root, ['run', '-d', '--name', 'unless-stopped-by-user', '--restart', 'unless-stopped', 'busybox', 'sleep', '1000']);
  strataOk(root, ['stop', '-t', '1', 'unless-stopped-by-user']);
  strataOk(root, ['run', '-d', '--name', 'always-stopped-by-user', '--restart', 'always', 'busybox', 'sleep', '1000']);
  strataOk(root, ['stop', '-t', '1', 'always-stopped-by-user']);
  strataOk(root, ['run', '-d', '--name', 'never', '--restart', 'no', 'busybox', 'sleep', '1000']);
  strataOk(root, ['run', '-d', '--name', 'failure-ok', '--restart', 'on-failure', 'busybox', 'true']);
  strataOk(root, ['run', '-d', '--name', 'failure-running', '--restart', 'on-failure', 'busybox', 'sleep', '1000']);
  strataOk(root, ['create', '--name', 'always-never-started', '--restart', 'always', 'busybox', 'sleep', '1000']);
  await waitFor(() => statuses(root).get('failure-ok')?.startsWith('Exited (0)') ?? false);
}

const EXPECT_UP = ['always', 'always-stopped-by-user', 'unless', 'failure-running'];
const EXPECT_DOWN = ['unless-stopped-by-user', 'never', 'failure-ok'];

function assertBooted(st: Map<string, string>): void {
  for (const n of EXPECT_UP) assert.match(st.get(n) ?? '', /^Up /, `${n} should run: ${st.get(n)}`);
  for (const n of EXPECT_DOWN) assert.match(st.get(n) ?? '', /^Exited /, `${n} should stay down: ${st.get(n)}`);
  assert.equal(st.get('always-never-started'), 'Created');
}

test('strata system boot starts what the restart policies say, once', async (t) => {
  const root = containerRoot(t);
  await policyFixture(root);
  await simulateReboot(root);
  const out = strataOk(root, ['system', 'boot']);
  const started = out.split('\n').filter(Boolean).sort();
  assert.deepEqual(started, [...EXPECT_UP].sort(), out);
  assertBooted(statuses(root));
  // the restarted ones work, and a second boot starts nothing
  assert.equal(strataOk(root, ['exec', 'unless', 'echo', 'ok']).trim(), 'ok');
  assert.equal(strataOk(root, ['system', 'boot']).trim(), '');
  // the user starting the stopped unless-stopped container makes it come back at the next boot
  strataOk(root, ['start', 'unless-stopped-by-user']);
  await simulateReboot(root);
  assert.deepEqual(strataOk(root, ['system', 'boot']).split('\n').filter(Boolean).sort(), [...EXPECT_UP, 'unless-stopped-by-user'].sort());
  for (const n of [...EXPECT_UP, 'unless-stopped-by-user']) strataOk(root, ['stop', '-t', '1', n]);
  assertClean(root, idsOf(root), 'after boot and stop');
});

test('strata serve starts what the restart policies say when it starts', async (t) => {
  const root = containerRoot(t);
  await policyFixture(root);
  const first = await serve(root, { importBusybox: false });
  t.after(() => { if (first.proc.exitCode === null && first.proc.signalCode === null) first.proc.kill('SIGKILL'); });
  // the server and everything else go down with the machine
  await simulateReboot(root, [first.proc.pid!]);
  await new Promise<void>((r) => (first.proc.exitCode !== null || first.proc.signalCode !== null ? r() : first.proc.once('exit', () => r())));
  fs.rmSync(path.join(root, 'strata.sock'), { force: true });
  const s = await serve(root, { importBusybox: false });
  t.after(() => s.stop());
  // started before the server says it listens
  const res = await new Promise<string>((resolve, reject) => {
    import('node:http').then((http) => {
      http.get({ socketPath: s.sock, path: '/containers/json?all=1' }, (r) => {
        let b = '';
        r.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve(b));
      }).on('error', reject);
    }, reject);
  });
  const list = JSON.parse(res) as { Names: string[]; State: string }[];
  const state = new Map(list.map((c) => [c.Names[0]!.slice(1), c.State]));
  for (const n of EXPECT_UP) assert.equal(state.get(n), 'running', `${n}: ${res}`);
  for (const n of EXPECT_DOWN) assert.equal(state.get(n), 'exited', n);
  assertBooted(statuses(root));
  await s.stop();
  // containers outlive the server, as with dockerd's live restore
  assertBooted(statuses(root));
  for (const n of EXPECT_UP) strataOk(root, ['stop', '-t', '1', n]);
  assertClean(root, idsOf(root), 'after serve and stop');
});
