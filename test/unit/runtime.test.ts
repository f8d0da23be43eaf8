/**
 * The runc driver, `exec` and the monitor launch on FakeSys: the argument vectors handed to
 * the runtime, and the bookkeeping around them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeSys } from '../../src/sys/fake.js';
import { execInContainer, monitorPaths, readState, Runc, startMonitor, waitExit } from '../../src/runtime/index.js';

function setup(t: { after(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-unit-rt-'));
  const sys = new FakeSys({ runDir: path.join(dir, 'run') });
  t.after(() => { sys.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const runc = new Runc({ sys, strataRoot: path.join(dir, 'root') });
  return { dir, sys, runc };
}

/** A bundle with a config.json and a rootfs holding an executable /bin/sh. */
function bundle(dir: string): string {
  const b = path.join(dir, 'bundle');
  fs.mkdirSync(path.join(b, 'rootfs', 'bin'), { recursive: true });
  fs.writeFileSync(path.join(b, 'rootfs', 'bin', 'sh'), '', { mode: 0o755 });
  fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify({
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['sh'], env: ['PATH=/bin'], cwd: '/', capabilities: { bounding: ['CAP_KILL'] }, noNewPrivileges: true },
    root: { path: 'rootfs' },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
  }));
  return b;
}

test('Runc: the state dir is per root under the run dir, and every call carries --root', async (t) => {
  const { dir, sys, runc } = setup(t);
  assert.match(runc.root, new RegExp(`^${path.join(dir, 'run')}/strata-[0-9a-f]{12}/runc$`));
  const b = bundle(dir);
  await runc.create('c1', b, { pidFile: path.join(dir, 'init.pid') });
  await runc.start('c1');
  await runc.kill('c1', 'SIGKILL', { all: true });
  await runc.delete('c1', { force: true });
  assert.deepEqual(sys.callsOf('runtimeRun').map((a) => a[1]), [
    ['--root', runc.root, 'create', '--bundle', b, '--pid-file', path.join(dir, 'init.pid'), 'c1'],
    ['--root', runc.root, 'start', 'c1'],
    ['--root', runc.root, 'kill', '--all', 'c1', 'KILL'],
    ['--root', runc.root, 'delete', '--force', 'c1'],
  ]);
  assert.ok(sys.callsOf('runtimeRun').every((a) => a[0] === 'runc'));
});

test('Runc: a missing container is not_found in Docker words; state of a gone one is null', async (t) => {
  const { dir, runc } = setup(t);
  fs.mkdirSync(runc.root, { recursive: true });
  assert.equal(await runc.state('nope'), null);
  await assert.rejects(runc.kill('nope'), { code: 'not_found', message: 'No such container: nope' });
  await runc.delete('nope'); // gone already is fine
  await runc.create('c2', bundle(dir));
  assert.equal((await runc.state('c2'))?.status, 'created');
});

test('Runc.top: ps output restricted to the container processes', async (t) => {
  const { dir, sys, runc } = setup(t);
  await runc.create('c3', bundle(dir));
  await runc.start('c3');
  const pid = (await runc.state('c3'))!.pid;
  const top = await runc.top('c3', ['-ef']);
  assert.deepEqual(sys.callsOf('ps'), [[['-ef']]]);
  assert.equal(top.titles.at(-1), 'CMD');
  assert.equal(top.processes.length, 1);
  assert.equal(top.processes[0]![1], String(pid));
  assert.equal(top.processes[0]!.at(-1), 'init process');
});

test('exec: the process file and runc exec argv; a missing binary fails before runc runs', async (t) => {
  const { dir, sys, runc } = setup(t);
  const b = bundle(dir);
  await runc.create('c4', b);
  await runc.start('c4');
  const h = await execInContainer(runc, 'c4', { args: ['/bin/sh', '-c', 'true'], env: ['A=1'] });
  assert.equal(await h.wait(), 0);
  const [[bin, argv]] = sys.callsOf('runtimeSpawn') as [[string, string[]]];
  assert.equal(bin, 'runc');
  const processFile = argv[argv.indexOf('--process') + 1]!;
  assert.deepEqual(argv.slice(0, 2), ['--root', runc.root]);
  assert.deepEqual(argv.slice(2, 4).map((x) => x.startsWith(b) ? 'LOG' : x), ['--log', 'LOG']);
  assert.deepEqual(argv.slice(4, 7), ['--log-format', 'json', 'exec']);
  assert.equal(argv.at(-1), 'c4');
  assert.ok(processFile.startsWith(path.join(b, 'exec-')));
  assert.equal(fs.existsSync(processFile), false, 'the process file is removed after the exec');
  await assert.rejects(execInContainer(runc, 'c4', { args: ['nosuch'] }), (e: Error & { exitCode?: number }) =>
    e.exitCode === 127 && /executable file not found in \$PATH/.test(e.message));
  assert.equal(sys.callsOf('runtimeSpawn').length, 1);
  await runc.pause('c4');
  await assert.rejects(execInContainer(runc, 'c4', { args: ['sh'] }), /is paused, unpause the container before exec/);
});

test('startMonitor: monitor argv, state file, and an exit record after a kill', async (t) => {
  const { dir, sys, runc } = setup(t);
  const b = bundle(dir);
  const paths = monitorPaths(b, path.join(dir, 'run', 'strata-x'), 'c5');
  const started = await startMonitor({ id: 'c5', ...paths, runtime: runc, monitorBinary: '/opt/strata-monitor', restart: 'no' });
  const [[bin, argv]] = sys.callsOf('launchMonitor') as [[string, string[]]];
  assert.equal(bin, '/opt/strata-monitor');
  assert.deepEqual(argv.slice(0, 6), ['--runtime', 'runc', '--root', runc.root, '--id', 'c5']);
  assert.ok(argv.includes('--restart') && !argv.includes('--tty'));
  assert.equal(readState(paths.stateFile)?.status, 'running');
  assert.equal(sys.processAlive(started.monitorPid), true);
  await runc.kill('c5', 'TERM');
  const exit = await waitExit(paths.exitFile, { monitorPid: started.monitorPid, sys });
  assert.equal(exit.exitCode, 143);
  await assert.rejects(startMonitor({ id: 'c6', ...paths, runtime: runc, restart: 'sometimes' }), /invalid restart policy format: sometimes/);
});

test('waitExit: a monitor that died without a record is reported, not waited on forever', async (t) => {
  const { dir, sys } = setup(t);
  const pid = sys.spawnPid();
  sys.killPid(pid);
  await assert.rejects(waitExit(path.join(dir, 'exit.json'), { monitorPid: pid, sys, intervalMs: 5 }), /monitor exited without recording an exit code/);
});

test('the runtime directory name: the JavaScript SHA-256 agrees with node:crypto', async (t) => {
  const { createHash } = await import('node:crypto');
  const { sha256Hex } = await import('../../src/base/sha256.js');
  // every padding case (55/56/63/64 bytes...), multi-block inputs, multi-byte UTF-8
  for (let n = 0; n < 200; n++) {
    const s = 'x/é'.repeat(n).slice(0, n);
    assert.equal(sha256Hex(s), createHash('sha256').update(s, 'utf8').digest('hex'), `length ${n}`);
  }
  // a run directory of the test's own: a fresh machine may have no /run/netns, which uid 65534 cannot make
  const { sys } = setup(t);
  const dir = new Runc({ sys, strataRoot: '/var/lib/strata' }).root;
  assert.equal(dir, `${sys.runDir}/strata-${createHash('sha256').update('/var/lib/strata').digest('hex').slice(0, 12)}/runc`);
});
