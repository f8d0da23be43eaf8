import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { containerRoot, strataOk, CLI, PROJECT } from '../helpers.js';

type Pty = { onData(cb: (d: string) => void): void; onExit(cb: (e: { exitCode: number }) => void): void; write(d: string): void; resize(c: number, r: number): void; kill(): void };

async function spawnPty(root: string, args: string[]): Promise<{ pty: Pty; output: () => string; exited: Promise<number> }> {
  const nodePty = await import('@lydell/node-pty');
  const env = { ...process.env, STRATA_ROOT: root } as Record<string, string>;
  delete env.NODE_EXTRA_CA_CERTS;
  const pty = nodePty.spawn(process.execPath, [CLI, ...args], { name: 'xterm', cols: 80, rows: 24, cwd: PROJECT, env }) as unknown as Pty;
  let buf = '';
  pty.onData((d) => { buf += d; });
  const exited = new Promise<number>((resolve) => pty.onExit((e) => resolve(e.exitCode)));
  return { pty, output: () => buf, exited };
}

async function waitFor(get: () => string, re: RegExp, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(get())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${re}; got: ${JSON.stringify(get())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('run -it and exec -it are real terminals: tty, window size, resize, Ctrl-C', async (t) => {
  const root = containerRoot(t);
  const run = await spawnPty(root, ['run', '-it', '--name', 'term', 'busybox', 'sh']);
  await waitFor(run.output, /\/ # /);
  run.pty.write('tty; stty size\r');
  await waitFor(run.output, /\/dev\/pts\/0[\s\S]*24 80/);
  run.pty.resize(120, 40);
  await new Promise((r) => setTimeout(r, 300));
  run.pty.write('stty size\r');
  await waitFor(run.output, /40 120/);
  run.pty.write('sleep 30\r');
  await new Promise((r) => setTimeout(r, 300));
  run.pty.write('\x03');
  await waitFor(run.output, /\^C[\s\S]*\/ # /);
  // exec -it into the same container while it runs
  const ex = await spawnPty(root, ['exec', '-it', 'term', 'sh']);
  await waitFor(ex.output, /\/ # /);
  ex.pty.write('echo changed > /tmp/x; tty\r');
  await waitFor(ex.output, /\/dev\/pts\/\d+/);
  ex.pty.write('exit 4\r');
  assert.equal(await ex.exited, 4);
  run.pty.write('cat /tmp/x; exit 7\r');
  assert.equal(await run.exited, 7);
  assert.match(run.output(), /changed/);
  assert.match(strataOk(root, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^term Exited \(7\)/m);
});

test('after a monitor dies, ps tells the truth and start works again; nothing is leaked', (t) => {
  const root = containerRoot(t);
  strataOk(root, ['run', '-d', '--name', 'victim', 'busybox']);
  const st = JSON.parse(fs.readFileSync(path.join(root, 'containers', strataOk(root, ['inspect', '--format', '{{.Id}}', 'victim']).trim(), 'state.json'), 'utf8'));
  process.kill(st.monitorPid, 'SIGKILL');
  process.kill(st.pid, 'SIGKILL');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) { try { process.kill(st.pid, 0); execFileSync('sleep', ['0.05']); } catch { break; } }
  assert.match(strataOk(root, ['ps', '-a', '--format', '{{.Names}} {{.State}}']), /^victim exited$/m);
  strataOk(root, ['start', 'victim']);
  assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.State}}']), /^victim running$/m);
  assert.equal(strataOk(root, ['exec', 'victim', 'echo', 'back']), 'back\n');
  strataOk(root, ['rm', '-f', 'victim']);
});
