/**
 * The container engine's logic on FakeSys, as any user: the state machine with Docker's
 * refusals, reconciliation after crashes, host-port bookkeeping, and diff/commit
 * orchestration (freeze and thaw around the pack).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fakeEngine, hostState } from './engine-helpers.js';

const rejectsWith = (p: Promise<unknown> | (() => unknown), message: string) =>
  assert.rejects(typeof p === 'function' ? (async () => p())() : p, (e: Error) => { assert.equal(e.message, message); return true; });

test('create -> start -> stop -> start -> rm, with Docker refusals on the way', async (t) => {
  const { sys, engine } = await fakeEngine(t);
  const cs = engine.containers;
  const c = await cs.create({ Image: 'tiny' }, 'web');
  assert.equal(cs.get('web').row.state, 'created');
  await rejectsWith(cs.pause('web'), `Container ${c.id} is not running`);
  await rejectsWith(cs.kill('web'), `Cannot kill container: web: Container ${c.id} is not running`);

  await cs.start('web');
  let now = cs.get('web');
  assert.equal(now.row.state, 'running');
  assert.ok(now.row.pid > 0 && sys.processAlive(now.row.monitor_pid));
  assert.deepEqual(hostState(sys).mounts, [path.join(now.dir, 'merged')]);
  assert.equal(hostState(sys).netns.length, 1);
  assert.deepEqual(hostState(sys).runtime, [c.id]);
  const [[, monitorArgs]] = sys.callsOf('launchMonitor') as [[string, string[]]];
  assert.equal(monitorArgs[monitorArgs.indexOf('--id') + 1], c.id);
  assert.ok(fs.existsSync(path.join(now.dir, 'config.json')), 'the bundle was written');
  await rejectsWith(cs.unpause('web'), `Container ${c.id} is not paused`);
  await rejectsWith(cs.remove('web'), `You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`);

  await cs.pause('web');
  await rejectsWith(cs.pause('web'), `Container ${c.id} is already paused`);
  await rejectsWith(cs.start('web'), 'cannot start a paused container, try unpause instead');
  await cs.unpause('web');

  now = await cs.stop('web', 1);
  assert.equal(now.row.state, 'exited');
  assert.equal(now.row.exit_code, 143, 'SIGTERM');
  await engine.settle();
  assert.deepEqual(hostState(sys), { mounts: [], netns: [], runtime: [] }, 'stop released mount, netns and runtime state');

  await cs.start('web');
  assert.equal(cs.get('web').row.state, 'running');
  assert.equal(sys.callsOf('launchMonitor').length, 2);
  await cs.stop('web', 1);
  await cs.remove('web');
  await engine.settle();
  assert.equal(cs.find('web'), undefined);
  assert.equal(fs.existsSync(c.dir), false);
  const links = fs.readdirSync(path.join(engine.root, 'l')).filter((n) => n !== '_empty');
  assert.ok(links.every((n) => fs.existsSync(path.join(engine.root, 'l', n))), `no dangling link under l/: ${links.join(' ')}`);
  assert.equal(links.length, 1, 'the image layer keeps its link');
  assert.deepEqual(hostState(sys), { mounts: [], netns: [], runtime: [] });
  const runtimeOps = sys.callsOf('runtimeRun').map((a) => (a[1] as string[])[2]);
  assert.deepEqual(runtimeOps, ['pause', 'resume', 'kill', 'kill']);
});

test('rm -f of a running container kills it with SIGKILL and releases everything', async (t) => {
  const { sys, engine } = await fakeEngine(t);
  const cs = engine.containers;
  await cs.create({ Image: 'tiny' }, 'doomed');
  await cs.start('doomed');
  await cs.remove('doomed', { force: true });
  await engine.settle();
  assert.equal(cs.find('doomed'), undefined);
  const kill = sys.callsOf('runtimeRun').map((a) => (a[1] as string[]).slice(2)).find((a) => a[0] === 'kill');
  assert.deepEqual(kill?.slice(0, 2), ['kill', '--all']);
  assert.equal(kill?.at(-1), 'KILL');
  assert.deepEqual(hostState(sys), { mounts: [], netns: [], runtime: [] });
});

test('reconciliation: monitor gone and pid dead without an exit record -> Exited (255), resources released', async (t) => {
  const { sys, engine } = await fakeEngine(t);
  const cs = engine.containers;
  await cs.create({ Image: 'tiny' }, 'crashy');
  await cs.start('crashy');
  const before = cs.get('crashy');
  // the monitor and the container die with the machine: no exit.json
  sys.killPid(before.row.monitor_pid);
  sys.killPid(before.row.pid);
  const after = cs.get('crashy');
  assert.equal(after.row.state, 'exited');
  assert.equal(after.row.exit_code, 255);
  assert.equal(after.row.error, 'the container monitor exited unexpectedly');
  await engine.settle();
  const del = sys.callsOf('runtimeRun').map((a) => (a[1] as string[]).slice(2)).find((a) => a[0] === 'delete');
  assert.deepEqual(del, ['delete', '--force', before.id], 'the runtime state a dead monitor left is deleted');
  assert.deepEqual(hostState(sys), { mounts: [], netns: [], runtime: [] });
  await cs.start('crashy'); // and it can run again
  assert.equal(cs.get('crashy').row.state, 'running');
});

test('reconciliation: an exit record written while nobody watched is picked up with its code', async (t) => {
  const { sys, engine } = await fakeEngine(t);
  const cs = engine.containers;
  await cs.create({ Image: 'tiny' }, 'quiet');
  await cs.start('quiet');
  const c = cs.get('quiet');
  sys.stopContainer(c.id, 3); // the process exited 3; its monitor wrote exit.json and left
  const after = cs.get('quiet');
  assert.equal(after.row.state, 'exited');
  assert.equal(after.row.exit_code, 3);
  assert.equal(after.row.error, '');
  await engine.settle();
  assert.ok(!sys.callsOf('runtimeRun').some((a) => (a[1] as string[])[2] === 'delete'), 'the monitor already deleted the runtime state');
  assert.deepEqual(hostState(sys), { mounts: [], netns: [], runtime: [] });
});

test('ports: a host port in use is refused at start, released on rm, then usable again', async (t) => {
  const { sys, engine } = await fakeEngine(t);
  const cs = engine.containers;
  const publish = { PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] } };
  await cs.create({ Image: 'tiny', HostConfig: publish } as never, 'one');
  const two = await cs.create({ Image: 'tiny', HostConfig: publish } as never, 'two');
  await cs.start('one');
  assert.deepEqual(cs.get('one').network.ports, [{ HostIp: '0.0.0.0', HostPort: '8080', ContainerPort: '80/tcp' }]);
  await rejectsWith(cs.start('two'), 'Bind for 0.0.0.0:8080 failed: port is already allocated');
  await engine.settle();
  assert.equal(cs.get('two').row.state, 'created');
  assert.ok(!hostState(sys).mounts.includes(path.join(two.dir, 'merged')), 'the failed start released its mount');
  assert.equal(hostState(sys).netns.length, 1, 'only the first container has a netns');
  await cs.remove('one', { force: true });
  await engine.settle();
  await cs.start('two');
  assert.equal(cs.get('two').network.ports?.[0]?.HostPort, '8080');
});

test('commit of a running container: frozen around the pack, thawed after; diff reads the upper dir', async (t) => {
  const { sys, engine, imageId } = await fakeEngine(t);
  const cs = engine.containers;
  const c = await cs.create({ Image: 'tiny' }, 'box');
  await cs.start('box');
  // what the container wrote: its overlay upper dir (FakeSys mounts nothing, so write it there)
  const upper = path.join(c.dir, 'upper');
  fs.mkdirSync(path.join(upper, 'www'), { recursive: true });
  fs.writeFileSync(path.join(upper, 'www', 'index.html'), 'changed\n');
  fs.writeFileSync(path.join(upper, 'new.txt'), 'new\n');
  const changes = cs.diff('box').changes.map((ch) => `${ch.kind} ${ch.path}`);
  assert.deepEqual(changes, ['A /new.txt', 'C /www', 'C /www/index.html']);

  const mark = sys.calls.length;
  const r = await cs.commit('box', { reference: 'tiny:v2', message: 'two files' });
  const ops = sys.calls.slice(mark).filter((x) => x.op === 'runtimeRun').map((x) => (x.args[1] as string[])[2]);
  assert.deepEqual(ops, ['pause', 'resume'], 'freeze then thaw, nothing else of the runtime');
  assert.equal(cs.get('box').row.state, 'running');
  assert.notEqual(r.id, imageId);
  const img = engine.images.inspect('tiny:v2') as { RootFS: { Layers: string[] }; Comment: string };
  assert.equal(img.RootFS.Layers.length, 2, 'one new layer on the base');
  assert.equal(img.Comment, 'two files');

  // a paused container stays paused: no thaw by commit
  await cs.pause('box');
  const mark2 = sys.calls.length;
  await cs.commit('box', { reference: 'tiny:v3' });
  assert.deepEqual(sys.calls.slice(mark2).filter((x) => x.op === 'runtimeRun').map((x) => (x.args[1] as string[])[2]), []);
  assert.equal(cs.get('box').row.state, 'paused');
  // --pause=false on a running one: no freeze
  await cs.unpause('box');
  const mark3 = sys.calls.length;
  await cs.commit('box', { reference: 'tiny:v4', pause: false });
  assert.ok(!sys.calls.slice(mark3).some((x) => x.op === 'runtimeRun'));
  await cs.remove('box', { force: true });
});

test('a failed mount leaves the container created and nothing attached', async (t) => {
  const { sys, engine } = await fakeEngine(t);
  const cs = engine.containers;
  await cs.create({ Image: 'tiny' }, 'nomount');
  sys.failNext('mount', new Error('mount: overlay: permission denied'));
  await assert.rejects(cs.start('nomount'), /mount overlay on .*: mount: overlay: permission denied/);
  await engine.settle();
  const c = cs.get('nomount');
  assert.equal(c.row.state, 'created');
  assert.match(c.row.error, /permission denied/);
  assert.deepEqual(hostState(sys), { mounts: [], netns: [], runtime: [] });
  // the monitor, spawned before the bundle to wait for the word to create, was told to give up
  const launched = sys.callsOf('launchMonitor');
  assert.equal(launched.length, 1);
  assert.ok((launched[0]![1] as string[]).includes('--go'));
  assert.equal(fs.existsSync(path.join(c.dir, 'go')), false);
});
