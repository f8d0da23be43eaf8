/**
 * exec into running containers, and interactive terminals through real ptys.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Fixture, ensureMonitorBuilt, collector, execOutput, until, repoRoot } from './fixture.js';
import { execInContainer, RuntimeError, type BuildSpecOptions } from '../../src/runtime/index.js';

let fx: Fixture;
before(() => {
  ensureMonitorBuilt();
  fx = new Fixture();
});
after(async () => {
  await fx.cleanup();
  assert.deepEqual(await fx.runc.list().catch(() => []), []);
});

const running = (spec: Omit<BuildSpecOptions, 'rootfs'> = { args: ['sleep', '1000'] }) => fx.running(spec);

const output = execOutput;

test('exec: env, cwd, user, exit code; the container\'s env is kept', async (t) => {
  const r = await running({ args: ['sleep', '1000'], env: ['BASE=1'] });
  t.after(r.stop);
  const h = await execInContainer(fx.runc, r.c.id, {
    args: ['sh', '-c', 'echo $FOO $BASE; id -u; id -G; pwd; grep CapEff /proc/self/status; echo oops >&2; exit 4'],
    env: ['FOO=bar'],
    cwd: '/tmp',
    user: 'app',
  });
  const o = await output(h);
  assert.equal(o.code, 4);
  assert.equal(o.out, 'bar 1\n1000\n1000 50\n/tmp\nCapEff:\t0000000000000000\n');
  assert.equal(o.err, 'oops\n');
  // as root by default, with the container's capabilities
  const root = await output(await execInContainer(fx.runc, r.c.id, { args: ['sh', '-c', 'id -u; grep CapEff /proc/self/status'] }));
  assert.equal(root.out, '0\nCapEff:\t00000000a80425fb\n');
});

test('exec: stdin pipe, detached exec, errors with Docker\'s exit codes', async (t) => {
  const r = await running();
  t.after(r.stop);
  const h = await execInContainer(fx.runc, r.c.id, { args: ['sh', '-c', 'tr a-z A-Z'], stdin: true });
  h.stdin!.end('hello\n');
  assert.deepEqual(await output(h), { code: 0, out: 'HELLO\n', err: '' });

  const d = await execInContainer(fx.runc, r.c.id, { args: ['sh', '-c', 'sleep 0.2; echo done > /tmp/detached'], detach: true, tty: true });
  assert.ok(d.pid > 0);
  assert.equal(await d.wait(), 0);
  await until(() => fs.existsSync(path.join(r.c.dir, 'upper', 'tmp', 'detached')), 5000, 'detached exec result');

  await assert.rejects(execInContainer(fx.runc, r.c.id, { args: ['nosuch'] }), (e: unknown) =>
    e instanceof RuntimeError && e.exitCode === 127 && /exec: "nosuch": executable file not found in \$PATH/.test(e.message));
  await assert.rejects(execInContainer(fx.runc, r.c.id, { args: ['/etc/notexec'] }), (e: unknown) => e instanceof RuntimeError && e.exitCode === 126);
  await assert.rejects(execInContainer(fx.runc, r.c.id, { args: ['/no/such/file'] }), (e: unknown) => e instanceof RuntimeError && e.exitCode === 127);
  await assert.rejects(execInContainer(fx.runc, r.c.id, { args: ['true'], user: 'ghost' }), /unable to find user ghost/);
  await assert.rejects(execInContainer(fx.runc, 'nosuchcontainer', { args: ['true'] }), /No such container: nosuchcontainer/);
  await fx.runc.pause(r.c.id);
  await assert.rejects(execInContainer(fx.runc, r.c.id, { args: ['true'] }), /is paused/);
  await fx.runc.resume(r.c.id);
  // no exec-*.json left in the bundle
  assert.deepEqual(fs.readdirSync(r.c.dir).filter((f) => f.startsWith('exec-')), []);
});

test('exec -it: a real pty inside the container, resize reaches it', async (t) => {
  const r = await running();
  t.after(r.stop);
  const h = await execInContainer(fx.runc, r.c.id, { args: ['sh'], tty: true, stdin: true, rows: 24, cols: 80 });
  const out = collector();
  h.stdout!.pipe(out.stream);
  h.stdin!.write('tty; stty size\r');
  await until(() => /24 80/.test(out.text()), 5000, 'initial size');
  // before runc puts its own side of the console in raw mode, the host pty may add a second \r
  assert.match(out.text(), /\/dev\/pts\/\d+\r+\n/);
  h.resize(40, 120);
  await new Promise((res) => setTimeout(res, 100));
  h.stdin!.write('stty size; echo $TERM\r');
  await until(() => /40 120\r\nxterm\r\n/.test(out.text()), 5000, 'resized');
  h.stdin!.write('exit 6\r');
  assert.equal(await h.wait(), 6);
});

test('run -it: the CLI\'s terminal in raw mode; Ctrl-C reaches the container as a byte; SIGWINCH resizes', async (t) => {
  const pty = await import('@lydell/node-pty');
  const c = await fx.container();
  c.writeSpec({ args: ['sh'], tty: true });
  const client = path.join(repoRoot, 'dist', 'test', 'runtime', 'tty-client.js');
  const term = pty.spawn(process.execPath, [client, JSON.stringify({ ...c.paths, id: c.id, runcRoot: fx.runc.root })], {
    name: 'xterm', cols: 80, rows: 24, cwd: repoRoot, env: process.env as Record<string, string>,
  });
  let screen = '';
  term.onData((d) => (screen += d));
  const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
  t.after(() => {
    try {
      term.kill('SIGKILL');
    } catch {
      // gone
    }
  });
  await until(() => fs.existsSync(c.paths.stateFile) && fs.readFileSync(c.paths.stateFile, 'utf8').includes('running'), 10000, 'container running');
  term.write('tty\r');
  await until(() => /\/dev\/pts\/0/.test(screen), 5000, 'tty output');
  await until(() => {
    term.write('stty size\r');
    return /24 80/.test(screen);
  }, 5000, 'stty size 24 80');
  term.resize(100, 30); // SIGWINCH for the client, which pushes the size to the container
  await until(async () => {
    term.write('stty size\r');
    await new Promise((res) => setTimeout(res, 50));
    return /30 100/.test(screen);
  }, 5000, 'resize');
  term.write('sleep 100; echo after-sleep\r');
  await new Promise((res) => setTimeout(res, 300));
  term.write('\x03'); // Ctrl-C: the container's pty sends SIGINT to its foreground job
  term.write('echo alive\r');
  await until(() => /\nalive\r*\n/.test(screen), 5000, 'alive after ^C');
  assert.ok(!/\nafter-sleep\r*\n/.test(screen), 'sleep was interrupted with the rest of its line');
  assert.match(screen, /\^C/);
  assert.ok(!screen.includes('\r\r\n'), 'output processing is off on the outer terminal');
  term.write('exit 5\r');
  assert.equal(await exited, 5);
});
