/**
 * A simulated reboot: every monitor and container process killed, the
 * overlays unmounted, the container netns gone and /run/strata-* removed
 * (what a reboot does to a host without a daemon). Afterwards `ps -a` tells
 * the truth, `start` works, and removal leaves nothing behind.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { test } from 'node:test';
import { Runc, runtimeDirFor } from '../../src/runtime/index.js';
import { CLI, containerRoot, mountsUnder, strataOk } from '../helpers.js';
import { health, networkLeftovers } from './helpers.js';

function pidsOfMonitors(runDir: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let cmd = '';
    try { cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd.includes('strata-monitor') && cmd.includes(runDir)) out.push(Number(p));
  }
  return out;
}

test('after a simulated reboot ps -a is truthful, start works, nothing leaks', async (t) => {
  const root = containerRoot(t);
  const ids = {
    web: strataOk(root, ['run', '-d', '--name', 'web', '-p', '127.0.0.1::80', 'busybox']).trim(),
    quiet: strataOk(root, ['run', '-d', '--name', 'quiet', '--network', 'none', 'busybox', 'sleep', '1000']).trim(),
    paused: strataOk(root, ['run', '-d', '--name', 'paused', 'busybox', 'sleep', '1000']).trim(),
    always: strataOk(root, ['run', '-d', '--name', 'always', '--restart', 'always', 'busybox', 'sleep', '1000']).trim(),
    unless: strataOk(root, ['run', '-d', '--name', 'unless', '--restart', 'unless-stopped', '--network', 'none', 'busybox', 'sleep', '1000']).trim(),
    stopped: strataOk(root, ['run', '-d', '--name', 'stopped', '--restart', 'unless-stopped', '--network', 'none', 'busybox', 'sleep', '1000']).trim(),
  };
  strataOk(root, ['stop', '-t', '1', 'stopped']);
  strataOk(root, ['pause', 'paused']);
  strataOk(root, ['create', '--name', 'never', 'busybox', 'true']);
  strataOk(root, ['exec', 'web', 'sh', '-c', 'echo kept > /www/kept.html']);
  const runDir = runtimeDirFor(root);
  const runc = new Runc({ root: path.join(runDir, 'runc') });

  // ---- the "reboot"
  const victims = new Set<number>(pidsOfMonitors(runDir));
  for (const id of Object.values(ids)) for (const p of await runc.ps(id).catch(() => [] as number[])) victims.add(p);
  assert.ok(victims.size >= 10, `monitors and container processes: ${[...victims].join(' ')}`);
  for (const id of Object.values(ids)) await runc.resume(id).catch(() => undefined); // frozen tasks die on thaw
  for (const p of victims) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  for (let i = 0; i < 100 && [...victims].some((p) => fs.existsSync(`/proc/${p}/stat`) && !/\) [ZX] /.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8'))); i++) await new Promise((r) => setTimeout(r, 50));
  for (const m of mountsUnder(root).reverse()) execFileSync('umount', ['-l', m]);
  for (const id of Object.values(ids)) {
    for (const n of (() => { try { return fs.readdirSync('/run/netns'); } catch { return []; } })()) {
      if (n.includes(id.slice(0, 12))) execFileSync('ip', ['netns', 'delete', n]);
    }
  }
  fs.rmSync(runDir, { recursive: true, force: true });
  assert.deepEqual(mountsUnder(root), []);

  // ---- after it: the truth
  const ps = strataOk(root, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']).trim().split('\n').sort();
  assert.equal(ps.length, 7);
  for (const name of ['paused', 'quiet', 'web', 'always', 'unless', 'stopped']) assert.match(ps.find((l) => l.startsWith(name + ' '))!, /^\w+ Exited \(\d+\) /, ps.join('\n'));
  assert.match(ps.find((l) => l.startsWith('never '))!, /^never Created$/);
  assert.equal(strataOk(root, ['ps', '-q']), '', 'nothing claims to run');
  for (const name of ['web', 'quiet', 'paused']) {
    assert.equal(strataOk(root, ['inspect', '--format', '{{.State.Running}} {{.State.Paused}}', name]).trim(), 'false false', name);
  }
  assert.deepEqual(health(root).problems, []);

  // `system boot` (what `strata serve` also does when it starts): the restart policies
  assert.deepEqual(strataOk(root, ['system', 'boot']).trim().split('\n').sort(), ['always', 'unless']);
  assert.deepEqual(strataOk(root, ['ps', '--format', '{{.Names}}']).trim().split('\n').sort(), ['always', 'unless']);
  assert.equal(strataOk(root, ['exec', 'always', 'echo', 'back']), 'back\n');
  assert.equal(strataOk(root, ['system', 'boot']), '', 'a second boot starts nothing');

  // start works; the container's files survived
  for (const name of ['web', 'quiet', 'paused']) strataOk(root, ['start', name]);
  assert.equal(strataOk(root, ['exec', 'web', 'cat', '/www/kept.html']), 'kept\n');
  assert.equal(strataOk(root, ['exec', 'quiet', 'echo', 'up']), 'up\n');
  const port = strataOk(root, ['port', 'web', '80']).trim().split(':').pop();
  const page = execFileSync('sh', ['-c', `wget -qO- http://127.0.0.1:${port}/kept.html || busybox wget -qO- http://127.0.0.1:${port}/kept.html`]).toString();
  assert.equal(page, 'kept\n');
  strataOk(root, ['stop', '-t', '1', 'quiet']);
  strataOk(root, ['start', 'quiet']);
  assert.match(strataOk(root, ['ps', '--format', '{{.Names}}']), /quiet/);

  // nothing leaks once they are removed
  strataOk(root, ['rm', '-f', 'web', 'quiet', 'paused', 'never', 'always', 'unless', 'stopped']);
  assert.deepEqual(mountsUnder(root), []);
  for (const id of Object.values(ids)) assert.deepEqual(networkLeftovers(id), [], id);
  assert.deepEqual(health(root).problems, []);
  console.log('reboot cases: 7 containers (running with a published port, no network, paused, created, --restart always, unless-stopped, unless-stopped stopped by the user): ps -a truthful, system boot starts always + unless-stopped, start, exec, port, stop/start, rm: no leftovers');
});

/** What a reboot does to the containers of a root: processes gone, overlays unmounted, netns and runtime dir removed. */
async function reboot(root: string, ids: string[]): Promise<void> {
  const runDir = runtimeDirFor(root);
  const runc = new Runc({ root: path.join(runDir, 'runc') });
  const victims = new Set<number>(pidsOfMonitors(runDir));
  for (const id of ids) for (const p of await runc.ps(id).catch(() => [] as number[])) victims.add(p);
  for (const p of victims) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  for (let i = 0; i < 100 && [...victims].some((p) => fs.existsSync(`/proc/${p}/stat`) && !/\) [ZX] /.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8'))); i++) await new Promise((r) => setTimeout(r, 50));
  for (const m of mountsUnder(root).reverse()) execFileSync('umount', ['-l', m]);
  let netns: string[] = [];
  try { netns = fs.readdirSync('/run/netns'); } catch { /* none */ }
  for (const n of netns) if (ids.some((id) => n.includes(id.slice(0, 12)))) execFileSync('ip', ['netns', 'delete', n]);
  fs.rmSync(runDir, { recursive: true, force: true });
}

test('strata serve starts the restart-policy containers when it starts, as dockerd does', async (t) => {
  const root = containerRoot(t);
  const always = strataOk(root, ['run', '-d', '--name', 'always', '--restart', 'always', 'busybox', 'sleep', '1000']).trim();
  const plain = strataOk(root, ['run', '-d', '--name', 'plain', '--network', 'none', 'busybox', 'sleep', '1000']).trim();
  await reboot(root, [always, plain]);
  const sock = path.join(root, 'api.sock');
  const serve = spawn(process.execPath, [CLI, 'serve', '-H', `unix://${sock}`], { env: { ...process.env, STRATA_ROOT: root }, stdio: 'ignore' });
  const exited = new Promise((r) => serve.on('exit', r));
  t.after(async () => { serve.kill('SIGTERM'); await exited; });
  for (let i = 0; i < 200 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(fs.existsSync(sock), 'serve listens');
  let running = '';
  for (let i = 0; i < 100 && running !== 'always'; i++) {
    running = strataOk(root, ['ps', '--format', '{{.Names}}']).trim();
    if (running !== 'always') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(running, 'always');
  assert.match(strataOk(root, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^plain Exited \(\d+\) /m);
  serve.kill('SIGTERM');
  await exited;
  strataOk(root, ['rm', '-f', 'always', 'plain']);
  assert.deepEqual(mountsUnder(root), []);
  for (const id of [always, plain]) assert.deepEqual(networkLeftovers(id), [], id);
});
