/**
 * The per-container monitor: detached life, json-file logs, exit files,
 * signals, restart policies, attach, pause/resume, its own memory cost.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { Fixture, ensureMonitorBuilt, collector, until, repoRoot, type TestContainer } from './fixture.js';
import {
  startMonitor,
  readExit,
  readState,
  waitExit,
  readLogs,
  attach,
  disableRestart,
  signalInit,
  waitStopped,
  monitorStatus,
  formatLogEntry,
  gateHook,
  startContainer,
  type BuildSpecOptions,
  type LogEntry,
} from '../../src/runtime/index.js';
import { linuxSys } from '../../src/sys/index.js';

let fx: Fixture;
before(() => {
  ensureMonitorBuilt();
  fx = new Fixture();
});
after(async () => {
  await fx.cleanup();
  assert.deepEqual(await fx.runc.list().catch(() => []), []);
});

const sh = (script: string) => ['sh', '-c', script];

async function detached(spec: Omit<BuildSpecOptions, 'rootfs'>, extra: { restart?: string; openStdin?: boolean } = {}) {
  const c = await fx.container();
  c.writeSpec(spec);
  const started = await startMonitor({ ...c.paths, id: c.id, runtime: fx.runc, ...extra });
  return { c, ...started };
}

async function logs(c: TestContainer, opts = {}): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of readLogs(c.paths.logPath, opts)) out.push(e);
  return out;
}

test('a detached container outlives the process that started it; its exit is recorded', async () => {
  const c = await fx.container();
  c.writeSpec({ args: sh('echo started; sleep 100') });
  const client = path.join(repoRoot, 'dist', 'test', 'runtime', 'detach-client.js');
  const r = spawnSync(process.execPath, [client, JSON.stringify({ ...c.paths, id: c.id, runcRoot: fx.runc.root })], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { pid, monitorPid } = JSON.parse(r.stdout) as { pid: number; monitorPid: number };
  assert.ok(linuxSys.processAlive(pid) && linuxSys.processAlive(monitorPid));
  assert.equal((await fx.runc.state(c.id))?.status, 'running');
  const st = readState(c.paths.stateFile)!;
  assert.equal(st.status, 'running');
  assert.equal(st.pid, pid);
  assert.match(st.startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  // the monitor is a session leader of its own, not a child of the starter
  const stat = fs.readFileSync(`/proc/${monitorPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  assert.equal(Number(stat[3]), monitorPid, 'own session');
  await until(async () => (await logs(c)).length > 0, 5000, 'log line');
  assert.equal(readExit(c.paths.exitFile), null);
  await fx.runc.kill(c.id, 'KILL');
  const exit = await waitExit(c.paths.exitFile, { monitorPid });
  assert.equal(exit.exitCode, 137);
  assert.equal(exit.oomKilled, false);
  assert.match(exit.finishedAt, /Z$/);
  await until(() => !linuxSys.processAlive(monitorPid), 5000, 'monitor exit');
  assert.equal(fs.existsSync(c.paths.socketPath), false);
  assert.equal(await fx.runc.state(c.id), null, 'runc state deleted by the monitor');
});

test('the monitor removes the runtime state itself once the init ended; when a process outlived it (host pid namespace), runc delete -f kills it', async () => {
  const cgroupsOf = (id: string) => fs.readdirSync('/sys/fs/cgroup').filter((h) => fs.existsSync(path.join('/sys/fs/cgroup', h, 'strata', id)));
  const alone = await detached({ args: sh('sleep 0.2') });
  assert.ok(cgroupsOf(alone.c.id).length > 0);
  await waitExit(alone.c.paths.exitFile, { monitorPid: alone.monitorPid });
  assert.deepEqual(cgroupsOf(alone.c.id), []);
  assert.equal(fs.existsSync(path.join(fx.runc.root, alone.c.id)), false);
  // the init exits while its child, in the host's pid namespace, runs on in the cgroup
  const shared = await detached({ args: sh('sleep 1234 & sleep 0.3'), pidMode: 'host' });
  await waitExit(shared.c.paths.exitFile, { monitorPid: shared.monitorPid });
  assert.deepEqual(cgroupsOf(shared.c.id), []);
  assert.equal(fs.existsSync(path.join(fx.runc.root, shared.c.id)), false);
  const outlived = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() === 'sleep 1234');
  assert.deepEqual(outlived, [], 'the process that outlived its init was killed');
});

test('an exited container starts again at once under a new monitor (docker start), logs append', async () => {
  const c = await fx.container();
  c.writeSpec({ args: sh('echo run') });
  for (let i = 0; i < 3; i++) {
    const { monitorPid } = await startMonitor({ ...c.paths, id: c.id, runtime: fx.runc });
    assert.equal((await waitExit(c.paths.exitFile, { monitorPid })).exitCode, 0);
  }
  // the last monitor may still be flushing: the socket of a new one must survive it
  const { monitorPid } = await startMonitor({ ...c.paths, id: c.id, runtime: fx.runc, deferStart: true });
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(fs.existsSync(c.paths.socketPath));
  const { startContainer } = await import('../../src/runtime/index.js');
  await startContainer(c.paths.socketPath);
  await waitExit(c.paths.exitFile, { monitorPid });
  assert.deepEqual((await logs(c)).map((e) => e.log), ['run\n', 'run\n', 'run\n', 'run\n']);
});

test('json-file log: Docker\'s format, escaping, partial lines, tail/since/timestamps', async () => {
  const { c, monitorPid } = await detached({
    args: sh('echo out; echo err >&2; printf "tab\\there \\"q\\" <b>&\\n"; printf "\\303\\251 \\377\\n"; printf "no newline"'),
  });
  await waitExit(c.paths.exitFile, { monitorPid });
  // stdout and stderr are separate pipes: their relative order is not guaranteed (nor in Docker)
  const raw = fs.readFileSync(c.paths.logPath, 'utf8').trim().split('\n');
  assert.equal(raw.length, 5);
  const out = raw.filter((l) => l.includes('"stream":"stdout"'));
  assert.match(out[0]!, /^\{"log":"out\\n","stream":"stdout","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"\}$/);
  assert.match(raw.find((l) => l.includes('"stream":"stderr"'))!, /^\{"log":"err\\n","stream":"stderr",/);
  assert.ok(out[1]!.startsWith('{"log":"tab\\u0009here \\"q\\" \\u003cb\\u003e\\u0026\\n"'), out[1]);
  assert.ok(out[2]!.startsWith('{"log":"é \\ufffd\\n"'), out[2]);
  const all = await logs(c);
  assert.deepEqual(all.filter((e) => e.stream === 'stdout').map((e) => e.log), ['out\n', 'tab\there "q" <b>&\n', 'é \ufffd\n', 'no newline']);
  assert.deepEqual(all.filter((e) => e.stream === 'stderr').map((e) => e.log), ['err\n']);
  assert.deepEqual((await logs(c, { tail: 2 })).map((e) => e.log), all.slice(3).map((e) => e.log));
  assert.deepEqual((await logs(c, { tail: 0 })), []);
  assert.deepEqual((await logs(c, { stderr: false, tail: 'all' })).length, 4);
  assert.deepEqual((await logs(c, { since: all[4]!.time })).map((e) => e.log), [all[4]!.log]);
  assert.equal(formatLogEntry(all[0]!, { timestamps: true }), `${all[0]!.time} out\n`);
});

test('logs --follow streams new lines and ends when the container is done', async () => {
  const { c } = await detached({ args: sh('for i in 1 2 3; do echo line$i; sleep 0.2; done') });
  const seen: string[] = [];
  for await (const e of readLogs(c.paths.logPath, { follow: true, pollMs: 20, stopWhen: () => readExit(c.paths.exitFile) !== null })) {
    seen.push(e.log);
  }
  assert.deepEqual(seen, ['line1\n', 'line2\n', 'line3\n']);
});

test('signals: PID 1 without a handler ignores TERM (then KILL: 137); TERM to all -> 143', async () => {
  let d = await detached({ args: ['sleep', '100'] });
  await fx.runc.kill(d.c.id, 'TERM');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await fx.runc.state(d.c.id))?.status, 'running', 'TERM ignored by PID 1');
  await fx.runc.kill(d.c.id, 'SIGKILL');
  assert.equal((await waitExit(d.c.paths.exitFile, { monitorPid: d.monitorPid })).exitCode, 137);

  d = await detached({ args: sh('sleep 100; exit $?') });
  await until(async () => (await fx.runc.ps(d.c.id)).length === 2, 5000, 'sleep started');
  await fx.runc.kill(d.c.id, 'TERM', { all: true });
  assert.equal((await waitExit(d.c.paths.exitFile, { monitorPid: d.monitorPid })).exitCode, 143);

  d = await detached({ args: sh('trap "echo bye; exit 0" TERM; while :; do sleep 0.05; done') });
  await new Promise((r) => setTimeout(r, 200));
  await fx.runc.kill(d.c.id, 'WINCH'); // not fatal (the CLI forwards SIGWINCH as a kill)
  await fx.runc.kill(d.c.id, 'TERM');
  assert.equal((await waitExit(d.c.paths.exitFile, { monitorPid: d.monitorPid })).exitCode, 0);
  assert.deepEqual((await logs(d.c)).map((e) => e.log), ['bye\n']);
});

test('kill through the monitor: norestart + the signal in one command; stopped is said before exit.json', async () => {
  const { c, monitorPid } = await detached({ args: sh('trap "echo bye; exit 3" TERM; while :; do sleep 0.05; done') }, { restart: 'always' });
  await until(async () => (await fx.runc.ps(c.id)).length === 2, 5000, 'loop started');
  assert.equal(await signalInit(c.paths.socketPath, 0), 'unsupported', 'a bad signal number is refused');
  assert.equal(await signalInit(c.paths.socketPath, 28), 'ok'); // SIGWINCH: not fatal
  assert.equal(readState(c.paths.stateFile)?.status, 'running');
  assert.equal(await signalInit(c.paths.socketPath, 15, { norestart: true }), 'ok');
  // state.json says exited (with the code) at the latest when exit.json appears: never after it
  await waitStopped(c.paths.exitFile, c.paths.stateFile, { monitorPid });
  const st = readState(c.paths.stateFile)!;
  assert.equal(st.status, 'exited');
  assert.equal(st.exitCode, 3);
  const exit = await waitExit(c.paths.exitFile, { monitorPid });
  assert.equal(exit.exitCode, 3);
  assert.equal(exit.restartCount, 0, 'norestart came with the signal');
  assert.deepEqual((await logs(c)).map((e) => e.log), ['bye\n']);
  assert.equal(await fx.runc.state(c.id), null, 'runc state deleted by the monitor');
  // no monitor any more: the caller falls back to runc
  await until(() => !linuxSys.processAlive(monitorPid), 5000, 'monitor exit');
  assert.equal(await signalInit(c.paths.socketPath, 9), 'unsupported');
  // a container in its restart back-off: norestart ends it, nothing to signal
  const d = await detached({ args: sh('exit 1') }, { restart: 'always' });
  await until(() => readState(d.c.paths.stateFile)?.status === 'restarting', 10000, 'back-off');
  // 'ok' when it had just been restarted (then killed, and not restarted again)
  assert.ok(['not-running', 'ok'].includes(await signalInit(d.c.paths.socketPath, 9, { norestart: true })));
  const last = await waitExit(d.c.paths.exitFile, { monitorPid: d.monitorPid });
  assert.ok([1, 137].includes(last.exitCode), `exit ${last.exitCode}`);
  await until(() => !linuxSys.processAlive(d.monitorPid), 5000, 'monitor exit');
});

test('gate: runc run waits in the bundle\'s hook until start; a cancel fails it and leaves nothing; a restart passes the hook', async () => {
  const gated = async (args: string[], extra: { restart?: string } = {}) => {
    const c = await fx.container();
    c.writeSpec({ args, gate: gateHook(c.paths.gateFile) });
    const m = await startMonitor({ ...c.paths, id: c.id, runtime: fx.runc, gate: c.paths.gateFile, ...extra });
    return { c, ...m };
  };
  // held: the fifo is there, the command has not run, the state says created
  const a = await gated(sh('echo up; exec sleep 100'));
  assert.equal(a.gated, true);
  assert.equal(a.pid, 0);
  assert.ok(fs.statSync(a.c.paths.gateFile).isFIFO());
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(await logs(a.c), []);
  assert.equal(readState(a.c.paths.stateFile)?.status, 'created');
  const { pid } = await startContainer(a.c.paths.socketPath, { gated: true });
  assert.ok(pid > 0 && linuxSys.processAlive(pid), `pid ${pid}`);
  assert.equal(fs.existsSync(a.c.paths.gateFile), false, 'the fifo goes once runc run is done');
  assert.equal(readState(a.c.paths.stateFile)?.status, 'running');
  await until(async () => (await logs(a.c)).length === 1, 5000, 'output');
  assert.equal(await signalInit(a.c.paths.socketPath, 9, { norestart: true }), 'ok');
  assert.equal((await waitExit(a.c.paths.exitFile, { monitorPid: a.monitorPid })).exitCode, 137);

  // cancelled before its start (norestart, as a start whose network failed sends it)
  const b = await gated(sh('echo never'));
  await disableRestart(b.c.paths.socketPath);
  await waitExit(b.c.paths.exitFile, { monitorPid: b.monitorPid });
  await until(() => !linuxSys.processAlive(b.monitorPid), 5000, 'monitor exit');
  assert.deepEqual(await logs(b.c), []);
  assert.equal(await fx.runc.state(b.c.id), null, 'no runc container left');
  assert.equal(fs.existsSync(b.c.paths.gateFile), false);

  // a restart by the monitor finds no fifo: the hook lets it through
  const c = await gated(sh('echo run; exit 1'), { restart: 'on-failure:1' });
  await startContainer(c.c.paths.socketPath, { gated: true });
  const exit = await waitExit(c.c.paths.exitFile, { monitorPid: c.monitorPid });
  assert.equal(exit.restartCount, 1);
  assert.deepEqual((await logs(c.c)).map((e) => e.log), ['run\n', 'run\n']);

  // a command that does not exist: the start's reply is runc create's error, in Docker's words
  const d = await gated(['nosuch']);
  await assert.rejects(startContainer(d.c.paths.socketPath, { gated: true }), (e: Error & { exitCode?: number }) => {
    assert.match(e.message, /OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuch": executable file not found in \$PATH: unknown$/);
    assert.equal(e.exitCode, 127);
    return true;
  });
  assert.equal((await waitExit(d.c.paths.exitFile, { monitorPid: d.monitorPid })).exitCode, 127);
  assert.equal(await fx.runc.state(d.c.id), null);
});

test('restart policy on-failure:2 restarts twice with back-off, then records the last exit', async () => {
  const t0 = Date.now();
  const { c, monitorPid } = await detached({ args: sh('echo run; exit 1') }, { restart: 'on-failure:2' });
  const exit = await waitExit(c.paths.exitFile, { monitorPid });
  const elapsed = Date.now() - t0;
  assert.equal(exit.exitCode, 1);
  assert.equal(exit.restartCount, 2);
  assert.ok(elapsed >= 300, `back-off 100 ms + 200 ms, took ${elapsed} ms`);
  assert.deepEqual((await logs(c)).map((e) => e.log), ['run\n', 'run\n', 'run\n']);
  assert.equal(readState(c.paths.stateFile)?.status, 'exited');
});

test('restart policy always: restarts after success too, until told not to', async () => {
  const { c, monitorPid } = await detached({ args: sh('echo run; sleep 0.1') }, { restart: 'always' });
  await until(() => (readState(c.paths.stateFile)?.restartCount ?? 0) >= 2, 10000, 'two restarts');
  await disableRestart(c.paths.socketPath);
  const exit = await waitExit(c.paths.exitFile, { monitorPid });
  assert.equal(exit.exitCode, 0);
  assert.ok(exit.restartCount >= 2);
  // on-failure does not restart a clean exit
  const d = await detached({ args: ['true'] }, { restart: 'on-failure' });
  assert.equal((await waitExit(d.c.paths.exitFile, { monitorPid: d.monitorPid })).restartCount, 0);
});

test('attach: live output framed per stream, stdin to the container, close on exit', async () => {
  const { c, monitorPid } = await detached(
    { args: sh('echo ready; while read l; do echo got:$l; echo warn:$l >&2; done; echo bye') },
    { openStdin: true },
  );
  // "ready" is written before anyone attaches: an attach sees only what comes after it
  await until(async () => (await logs(c)).some((e) => e.log === 'ready\n'), 5000, 'ready in the log');
  const out = collector();
  const err = collector();
  const input = new Readable({ read() {} });
  const session = await attach(c.paths.socketPath, { tty: false, stdin: input, stdout: out.stream, stderr: err.stream, closeStdin: true });
  // a second client sees the same output
  const watcher = collector();
  const second = await attach(c.paths.socketPath, { tty: false, stdout: watcher.stream });
  input.push('a\n');
  await until(() => out.text().includes('got:a'), 5000, 'echo of a');
  input.push('b\n');
  input.push(null);
  await session.done;
  await second.done;
  assert.equal(out.text(), 'got:a\ngot:b\nbye\n'); // "ready" came before we attached
  assert.equal(err.text(), 'warn:a\nwarn:b\n');
  assert.equal(watcher.text(), 'got:a\ngot:b\nbye\n');
  assert.equal((await waitExit(c.paths.exitFile, { monitorPid })).exitCode, 0);
  const entries = await logs(c);
  assert.deepEqual(entries.filter((e) => e.stream === 'stdout').map((e) => e.log), ['ready\n', 'got:a\n', 'got:b\n', 'bye\n']);
  assert.deepEqual(entries.filter((e) => e.stream === 'stderr').map((e) => e.log), ['warn:a\n', 'warn:b\n']);
  await assert.rejects(attach(c.paths.socketPath, { tty: false, stdout: out.stream }), /stopped container/);
});

test('tty container: pty from runc over the console socket, raw output, resize', async () => {
  const { c, monitorPid } = await detached({ args: ['sh'], tty: true }, { openStdin: true });
  const out = collector();
  const input = new Readable({ read() {} });
  const session = await attach(c.paths.socketPath, { tty: true, stdin: input, stdout: out.stream });
  const { resize } = await import('../../src/runtime/index.js');
  await resize(c.paths.socketPath, 33, 101);
  input.push('tty; stty size; echo $TERM\r');
  await until(() => /33 101\r\nxterm\r\n/.test(out.text()), 5000, 'stty size and TERM');
  assert.match(out.text(), /\/dev\/pts\/0\r\n/);
  input.push('exit 5\r');
  await session.done;
  assert.equal((await waitExit(c.paths.exitFile, { monitorPid })).exitCode, 5);
  const entries = await logs(c);
  assert.ok(entries.every((e) => e.stream === 'stdout'));
  assert.match(entries.map((e) => e.log).join(''), /\/dev\/pts\/0\r\n/);
});

test('detach keys end the attach session, the container goes on, a new attach gets the pty again', async () => {
  const { c, monitorPid } = await detached({ args: ['sh'], tty: true }, { openStdin: true });
  const out = collector();
  const input = new Readable({ read() {} });
  const session = await attach(c.paths.socketPath, { tty: true, stdin: input, stdout: out.stream, detachKeys: 'ctrl-p,ctrl-q' });
  input.push('echo one\r\x10');
  input.push('\x11');
  await session.done;
  assert.equal(session.detached, true);
  assert.equal((await fx.runc.state(c.id))?.status, 'running');
  const out2 = collector();
  const input2 = new Readable({ read() {} });
  const again = await attach(c.paths.socketPath, { tty: true, stdin: input2, stdout: out2.stream });
  input2.push('echo two; exit 3\r');
  await again.done;
  assert.equal(again.detached, false);
  assert.match(out2.text(), /\ntwo\r\n/);
  assert.equal((await waitExit(c.paths.exitFile, { monitorPid })).exitCode, 3);
});

test('pause and resume use the freezer; top lists the processes', async () => {
  const { c, monitorPid } = await detached({ args: sh('while :; do sleep 0.05; done') });
  await fx.runc.pause(c.id);
  assert.equal((await fx.runc.state(c.id))?.status, 'paused');
  const freezer = path.join('/sys/fs/cgroup/freezer/strata', c.id, 'freezer.state');
  if (fs.existsSync(freezer)) assert.equal(fs.readFileSync(freezer, 'utf8').trim(), 'FROZEN');
  await fx.runc.resume(c.id);
  assert.equal((await fx.runc.state(c.id))?.status, 'running');
  const top = await fx.runc.top(c.id);
  assert.ok(top.titles.includes('PID') && top.titles.includes('CMD'));
  assert.ok(top.processes.some((p) => p[p.length - 1]!.startsWith('sh -c')), JSON.stringify(top.processes));
  const st = await monitorStatus(c.paths.socketPath);
  assert.equal(st.status, 'running');
  assert.equal(st.monitorPid, monitorPid);
  await fx.runc.kill(c.id, 'KILL');
  await waitExit(c.paths.exitFile, { monitorPid });
});

test('monitor memory: well under 1 MiB PSS per running container', async (t) => {
  const figures: { rss: number; pss: number }[] = [];
  const ds = [];
  for (let i = 0; i < 3; i++) ds.push(await detached({ args: sh('while :; do echo tick; sleep 0.05; done') }));
  await new Promise((r) => setTimeout(r, 300)); // some output flowed through
  for (const d of ds) {
    const rollup = fs.readFileSync(`/proc/${d.monitorPid}/smaps_rollup`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(rollup)![1]);
    figures.push({ rss: kb('Rss'), pss: kb('Pss') });
  }
  t.diagnostic(`monitor RSS/PSS (kB): ${figures.map((f) => `${f.rss}/${f.pss}`).join(', ')}`);
  for (const f of figures) assert.ok(f.pss < 2048, `PSS ${f.pss} kB`);
  for (const d of ds) {
    await fx.runc.kill(d.c.id, 'KILL');
    await waitExit(d.c.paths.exitFile, { monitorPid: d.monitorPid });
  }
});

test('latency: start to running, exec round trip', async (t) => {
  const c = await fx.container();
  c.writeSpec({ args: ['sleep', '100'] });
  const t0 = process.hrtime.bigint();
  const { monitorPid } = await startMonitor({ ...c.paths, id: c.id, runtime: fx.runc });
  const startMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const { execInContainer } = await import('../../src/runtime/index.js');
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t1 = process.hrtime.bigint();
    const h = await execInContainer(fx.runc, c.id, { args: ['true'] });
    assert.equal(await h.wait(), 0);
    times.push(Number(process.hrtime.bigint() - t1) / 1e6);
  }
  times.sort((a, b) => a - b);
  t.diagnostic(`monitor start -> running: ${startMs.toFixed(1)} ms; exec true: median ${times[2]!.toFixed(1)} ms`);
  const r = spawnSync('sh', ['-c', `cd ${c.dir} && runc --root ${fx.runc.root} state ${c.id} >/dev/null`]);
  assert.equal(r.status, 0);
  await fx.runc.kill(c.id, 'KILL');
  await waitExit(c.paths.exitFile, { monitorPid });
  void execFileSync;
});
