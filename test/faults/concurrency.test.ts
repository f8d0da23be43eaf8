/**
 * Concurrency: rounds of 20 CLI processes at once on one root (run, rm -f, commit, rmi, tag,
 * network create/rm, volume create/rm, pull from a local docker-registry), while `strata
 * serve` on the same root answers listings and create/start/rm cycles. No lock error reaches
 * a user, names stay unique, no tag is lost, no network state is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { busyboxTar, containerRoot, strataOk, type RunResult } from '../helpers.js';
import { serve } from '../api/helpers.js';
import { clientEnv, registryAvailable, startRegistry, strataAsync, strataAsyncOk, tmp } from '../registry/helpers.js';
import { hostState } from './reboot-sim.js';

const skip = registryAvailable() ? false : 'docker-registry is not installed';

/** What a user must never see: the store's locking showing through. */
const LOCK_ERROR = /SQLITE_|database is locked|database table is locked|EBUSY|EAGAIN|lock/i;

interface Job { args: string[]; ok?: boolean; allowed?: RegExp }

interface Outcome { job: Job; r: RunResult }

async function round(root: string, env: Record<string, string>, jobs: Job[]): Promise<Outcome[]> {
  return Promise.all(jobs.map(async (job) => ({ job, r: await strataAsync(root, job.args, { env }) })));
}

function check(outcomes: Outcome[], label: string): void {
  for (const { job, r } of outcomes) {
    const what = `${label}: strata ${job.args.join(' ')} → ${r.code}: ${r.stderr.trim()}`;
    assert.doesNotMatch(r.stderr, LOCK_ERROR, what);
    if (r.code !== 0) {
      assert.ok(job.allowed && job.allowed.test(r.stderr), what);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${what}`);
    }
  }
}

function api(sock: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({ socketPath: sock, method, path: p, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {} }, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** API traffic until `stop` is set: listings, inspects and create/start/rm cycles. */
async function apiTraffic(sock: string, worker: number, stop: { done: boolean }, errors: string[], counts: { requests: number }): Promise<void> {
  let n = 0;
  const expect = async (method: string, p: string, ok: number[], body?: unknown) => {
    const r = await api(sock, method, p, body);
    counts.requests++;
    if (!ok.includes(r.status) || LOCK_ERROR.test(r.body)) errors.push(`${method} ${p} → ${r.status} ${r.body.trim()}`);
    return r;
  };
  while (!stop.done) {
    const list = await expect('GET', '/containers/json?all=1', [200]);
    await expect('GET', '/images/json', [200]);
    const names = (JSON.parse(list.body || '[]') as { Names: string[] }[]).map((c) => c.Names[0]!.slice(1));
    // a container another process removes meanwhile answers 404
    if (names.length) await expect('GET', `/containers/${names[n % names.length]}/json`, [200, 404]);
    const name = `api-${worker}-${n++}`;
    const c = await expect('POST', `/containers/create?name=${name}`, [201], { Image: 'busybox', Cmd: ['sleep', '100'] });
    if (c.status !== 201) continue;
    await expect('POST', `/containers/${name}/start`, [204]);
    await expect('DELETE', `/containers/${name}?force=1`, [204]);
  }
}

test('20 CLI processes at once, with strata serve answering: no lock error, no lost name or tag, no leaked network state', { skip, timeout: 170_000 }, async (t) => {
  const root = containerRoot(t);
  const work = tmp('strata-conc-');
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const env = clientEnv(work);
  const reg = await startRegistry();
  t.after(() => reg.stop());
  // two images in the registry, made in a separate root: pulls here fetch real layers
  const seed = tmp('strata-conc-seed-');
  t.after(() => fs.rmSync(seed, { recursive: true, force: true }));
  const app = `${reg.addr}/team/app`;
  strataOk(seed, ['import', '-c', 'CMD ["sh"]', busyboxTar(), `${app}:v1`], { env });
  await strataAsyncOk(seed, ['push', `${app}:v1`], { env });
  const src = fs.mkdtempSync(`${work}/v2-`);
  fs.writeFileSync(`${src}/v2`, 'two\n'.repeat(100000));
  const { execFileSync } = await import('node:child_process');
  execFileSync('tar', ['-C', src, '-cf', `${work}/v2.tar`, '.']);
  strataOk(seed, ['import', `${work}/v2.tar`, `${app}:v2`], { env });
  await strataAsyncOk(seed, ['push', `${app}:v2`], { env });

  const s = await serve(root, { importBusybox: false });
  const stopServer = async () => {
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
    const gone = new Promise((r) => s.proc.once('exit', r));
    s.proc.kill('SIGTERM');
    const timer = setTimeout(() => s.proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  const stop = { done: false };
  const apiErrors: string[] = [];
  const counts = { requests: 0 };
  const traffic = Promise.all([0, 1, 2].map((w) => apiTraffic(s.sock, w, stop, apiErrors, counts)));
  try {
    await rounds();
  } finally {
    // a failed assertion must not leave the clients looping nor the server running
    stop.done = true;
    await Promise.race([traffic.catch(() => undefined), new Promise((r) => setTimeout(r, 15_000))]);
    await stopServer();
  }

  async function rounds(): Promise<void> {
    const inUse = /is already in use|Conflict/;
    const r1 = await round(root, env, [
      ...[0, 1, 2, 3, 4, 5].map((i) => ({ args: ['run', '-d', '--name', `a-${i}`, 'busybox', 'sleep', '1000'] })),
      { args: ['run', '-d', '--name', 'dup', 'busybox', 'sleep', '1000'], allowed: inUse },
      { args: ['run', '-d', '--name', 'dup', 'busybox', 'sleep', '1000'], allowed: inUse },
      ...[0, 1, 2, 3].map((i) => ({ args: ['tag', 'busybox', `tagged:${i}`] })),
      { args: ['network', 'create', 'net-0'] }, { args: ['network', 'create', 'net-1'] },
      { args: ['volume', 'create', 'vol-0'] }, { args: ['volume', 'create', 'vol-1'] },
      ...[0, 1, 2, 3].map(() => ({ args: ['pull', '-q', `${app}:v1`] })),
    ]);
    check(r1, 'round 1');
    assert.equal(r1.filter((o) => o.job.args.includes('dup') && o.r.code === 0).length, 1, 'exactly one dup');

    const r2 = await round(root, env, [
      ...[0, 1, 2].map((i) => ({ args: ['commit', `a-${i}`, `img-${i}`] })),
      ...[3, 4, 5].map((i) => ({ args: ['rm', '-f', `a-${i}`] })),
      { args: ['rm', '-f', 'dup'] },
      ...[0, 1].map((i) => ({ args: ['run', '-d', '--name', `b-${i}`, '--network', 'net-0', 'busybox', 'sleep', '1000'] })),
      { args: ['network', 'rm', 'net-1'] },
      ...[0, 1, 2, 3].map((i) => ({ args: ['tag', 'busybox', `tagged2:${i}`] })),
      { args: ['rmi', 'tagged:0'] }, { args: ['rmi', 'tagged:1'] },
      { args: ['volume', 'rm', 'vol-0'] }, { args: ['volume', 'create', 'vol-2'] },
      { args: ['pull', '-q', `${app}:v2`] }, { args: ['pull', '-q', `${app}:v2`] }, { args: ['pull', '-q', `${app}:v1`] },
      { args: ['run', '--rm', 'busybox', 'echo', 'hi'] },
    ]);
    check(r2, 'round 2');
    for (const o of r2) if (o.job.args[0] === 'run' && o.job.args[1] === '--rm') assert.equal(o.r.stdout, 'hi\n');

    const r3 = await round(root, env, [
      ...[0, 1, 2].map((i) => ({ args: ['rmi', `img-${i}`] })),
      ...['a-0', 'a-1', 'a-2', 'b-0', 'b-1'].map((n) => ({ args: ['rm', '-f', n] })),
      { args: ['volume', 'rm', 'vol-1', 'vol-2'] },
      ...[0, 1, 2, 3].map((i) => ({ args: ['tag', `${app}:v1`, `final:${i}`] })),
      ...[0, 1].map((i) => ({ args: ['run', '-d', '--name', `c-${i}`, '-p', '80', 'busybox'] })),
      { args: ['commit', 'dup-gone', 'x'], allowed: /No such container: dup-gone/ },
      // races the rmi below: either the tag lands first (and keeps the image) or finds no image
      { args: ['tag', `${app}:v2`, 'final:v2'], allowed: /No such image/ },
      { args: ['rmi', `${app}:v2`] },
      { args: ['network', 'create', 'net-2'] },
      { args: ['volume', 'create', 'vol-3'] },
    ]);
    check(r3, 'round 3');
    // the two containers published at once got different host ports and addresses
    const ports = ['c-0', 'c-1'].map((n) => strataOk(root, ['port', n, '80']).trim());
    assert.notEqual(ports[0], ports[1]);
    const ips = ['c-0', 'c-1'].map((n) => strataOk(root, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', n]).trim());
    assert.notEqual(ips[0], ips[1]);

    // the same names at once: one winner; a commit racing the removal of its container
    const r4 = await round(root, env, [
      ...[0, 1, 2, 3, 4].map(() => ({ args: ['run', '-d', '--name', 'same', 'busybox', 'sleep', '1000'], allowed: inUse })),
      ...[0, 1, 2].map(() => ({ args: ['network', 'create', 'same-net'], allowed: /network with name same-net already exists/ })),
      ...[0, 1, 2].map(() => ({ args: ['volume', 'create', 'same-vol'] })),
      ...[0, 1, 2].map((i) => ({ args: ['run', '-d', '--name', `ip-${i}`, 'busybox', 'sleep', '1000'] })),
      ...[0, 1].map(() => ({ args: ['rm', '-f', 'c-0'], allowed: /No such container: c-0|removal of container [0-9a-f]{64} is already in progress/ })),
      ...[0, 1].map(() => ({ args: ['rmi', 'final:0'], allowed: /No such image: final:0/ })),
      // removed before the commit looked, or killed by the rm before the commit froze it
    { args: ['commit', 'c-1', 'snap'], allowed: /No such container: (c-1|[0-9a-f]{64})|Container [0-9a-f]{64} is not running/ },
      { args: ['rm', '-f', 'c-1'] },
    ]);
    check(r4, 'round 4');
    const wins = (pred: (a: string[]) => boolean) => r4.filter((o) => pred(o.job.args) && o.r.code === 0).length;
    assert.equal(wins((a) => a.includes('same')), 1, 'one container named same');
    assert.equal(wins((a) => a.includes('same-net')), 1, 'one network named same-net');
    assert.ok(wins((a) => a[0] === 'rm' && a[2] === 'c-0') >= 1);
    assert.equal(wins((a) => a[0] === 'rmi'), 1, 'one untag of final:0');
    const committed = wins((a) => a[0] === 'commit') === 1;
    t.diagnostic(`commit of c-1 ${committed ? 'finished before' : 'lost to'} its removal`);
    if (committed) assert.equal(strataOk(root, ['run', '--rm', 'snap', 'echo', 'ok'], { env }).trim(), 'ok');
    strataOk(root, ['rm', '-f', 'same', 'ip-0', 'ip-1', 'ip-2']);
    strataOk(root, ['network', 'rm', 'same-net']);
    strataOk(root, ['volume', 'rm', 'same-vol']);
    stop.done = true;
    await traffic;
    assert.deepEqual(apiErrors, [], `API: ${apiErrors.slice(0, 5).join('\n')}`);
    t.diagnostic(`API requests during the rounds: ${counts.requests}`);

    // names unique, and exactly the ones expected (the API's cycles removed theirs)
    const names = strataOk(root, ['ps', '-a', '--format', '{{.Names}}']).split('\n').filter(Boolean).sort();
    assert.deepEqual(names, []);
    // every tag made is there, every tag removed is gone
    const tags = new Set(strataOk(root, ['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').filter(Boolean));
    const v2Tagged = r3.find((o) => o.job.args[2] === 'final:v2')!.r.code === 0;
    t.diagnostic(`tag final:v2 ${v2Tagged ? 'came before' : 'came after'} rmi of the image's other tag`);
    for (const want of ['busybox:latest', 'tagged:2', 'tagged:3', 'tagged2:0', 'tagged2:1', 'tagged2:2', 'tagged2:3', 'final:1', 'final:2', 'final:3', ...(v2Tagged ? ['final:v2'] : []), `${app}:v1`]) {
      assert.ok(tags.has(want), `${want} missing: ${[...tags].join(' ')}`);
    }
    for (const gone of ['final:0', 'tagged:0', 'tagged:1', 'img-0:latest', 'img-1:latest', 'img-2:latest', `${app}:v2`]) assert.ok(!tags.has(gone), `${gone} still there`);
    const nets = strataOk(root, ['network', 'ls', '--format', '{{.Name}}']).split('\n').filter(Boolean).sort();
    assert.deepEqual(nets, ['bridge', 'host', 'net-0', 'net-2', 'none']);
    assert.deepEqual(strataOk(root, ['volume', 'ls', '-q']).split('\n').filter(Boolean), ['vol-3']);

    await stopServer();
    strataOk(root, ['network', 'rm', 'net-0', 'net-2']);
    assert.deepEqual(hostState(root, []), { netns: [], bridgePorts: [], rules: [], mounts: [], runtime: [] });
    assert.match(strataOk(root, ['system', 'check']), /no problems/);
  }
});
