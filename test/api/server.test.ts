/**
 * The HTTP layer of the API in-process: negotiation, errors, body limits, filters, the
 * `/wait` header flush, events from other processes, socket safety, TCP refusal, and a
 * client leaving a followed log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempRoot, strataOk, busyboxTar, CLI } from '../helpers.js';
import { apiRoot } from './helpers.js';
import { openEngine } from '../../src/engine/index.js';
import { ApiServer } from '../../src/api/server.js';

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function request(sock: string, method: string, p: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: p, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers } }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('API server in-process', { timeout: 120000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-srv-');
  strataOk(root, ['import', busyboxTar(), 'busybox']);
  const opened = openEngine({ root });
  const engine = opened.containers;
  const api = new ApiServer({ engine: opened, deferTimeoutMs: 1500 });
  const sock = path.join(root, 'api.sock');
  await api.listenUnix(sock);
  defer(() => opened.close());
  defer(() => api.close());
  defer(async () => { for (const c of engine.all()) await engine.remove(c.id, { force: true }); });

  await t.test('ping: GET and HEAD, Api-Version, any version prefix', async () => {
    const g = await request(sock, 'GET', '/_ping');
    assert.equal(g.status, 200);
    assert.equal(g.body, 'OK');
    assert.equal(g.headers['api-version'], '1.41');
    const h = await request(sock, 'HEAD', '/v1.41/_ping');
    assert.equal(h.status, 200);
    assert.equal(h.headers['api-version'], '1.41');
    const v = await request(sock, 'GET', '/v1.24/version');
    assert.equal(JSON.parse(v.body).ApiVersion, '1.41');
    assert.equal(JSON.parse(v.body).MinAPIVersion, '1.24');
  });

  await t.test('errors: JSON with exactly application/json and Docker codes', async () => {
    const nf = await request(sock, 'GET', '/v1.41/nothing/here');
    assert.equal(nf.status, 404);
    assert.equal(nf.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(nf.body), { message: 'page not found' });
    const c = await request(sock, 'GET', '/containers/nope/json');
    assert.equal(c.status, 404);
    assert.equal(JSON.parse(c.body).message, 'No such container: nope');
    const img = await request(sock, 'POST', '/containers/create', JSON.stringify({ Image: 'nope' }));
    assert.equal(img.status, 404);
    assert.equal(JSON.parse(img.body).message, 'No such image: nope:latest');
    const bad = await request(sock, 'POST', '/containers/create', '{"Image": ');
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).message, /invalid JSON body/);
    const big = await request(sock, 'POST', '/containers/create', Buffer.alloc(2 << 20, 0x20));
    assert.equal(big.status, 400);
    assert.match(JSON.parse(big.body).message, /too large/);
    const badFilter = await request(sock, 'GET', '/images/json?filters=%7Bnot-json');
    assert.equal(badFilter.status, 400);
  });

  await t.test('pull errors found before streaming are HTTP errors; changes and commit', async () => {
    const pull = await request(sock, 'POST', '/images/create?fromImage=127.0.0.1%3A9%2Fx&tag=v1', undefined, { 'X-Registry-Auth': 'e30=' });
    assert.ok(pull.status >= 400, `status ${pull.status}`);
    assert.equal(pull.headers['content-type'], 'application/json');
    assert.ok(JSON.parse(pull.body).message);
    const cr = await request(sock, 'POST', '/containers/create?name=c1', JSON.stringify({ Image: 'busybox', Cmd: ['true'] }));
    const id = JSON.parse(cr.body).Id as string;
    const ch = await request(sock, 'GET', `/containers/${id}/changes`);
    assert.equal(ch.status, 200);
    assert.equal(ch.body.trim(), 'null');
    const cm = await request(sock, 'POST', `/commit?container=${id}&repo=docker.io%2Flibrary%2Fcm&tag=t1&author=A&comment=hello`);
    assert.equal(cm.status, 201, cm.body);
    const img = JSON.parse((await request(sock, 'GET', '/images/cm:t1/json')).body);
    assert.equal(img.Id, JSON.parse(cm.body).Id);
    assert.equal(img.Author, 'A');
    assert.equal(img.Comment, 'hello');
    assert.equal((await request(sock, 'POST', '/commit?container=nope')).status, 404);
    assert.equal((await request(sock, 'DELETE', `/containers/${id}`)).status, 204);
    assert.equal((await request(sock, 'DELETE', '/images/cm:t1')).status, 200);
  });

  await t.test('image filters in both JSON shapes; names with slashes and colons in paths', async () => {
    strataOk(root, ['tag', 'busybox', 'localhost:5000/team/app:v1']);
    const want = [['localhost:5000/team/app:v1']];
    for (const f of ['{"reference":{"localhost:5000/team/app":true}}', '{"reference":["localhost:5000/team/app"]}']) {
      const r = await request(sock, 'GET', `/images/json?filters=${encodeURIComponent(f)}`);
      assert.deepEqual(JSON.parse(r.body).map((i: { RepoTags: string[] }) => i.RepoTags), want);
    }
    const i = await request(sock, 'GET', '/v1.41/images/localhost:5000/team/app:v1/json');
    assert.equal(i.status, 200);
    assert.deepEqual(JSON.parse(i.body).RepoTags.sort(), ['busybox:latest', 'localhost:5000/team/app:v1']);
    const hub = await request(sock, 'GET', '/images/docker.io/library/busybox/json');
    assert.equal(hub.status, 200);
    const del = await request(sock, 'DELETE', '/images/localhost:5000/team/app:v1');
    assert.deepEqual(JSON.parse(del.body), [{ Untagged: 'localhost:5000/team/app:v1' }]);
  });

  await t.test('wait sends its headers at once, before the container starts', async () => {
    const cr = await request(sock, 'POST', '/containers/create?name=w1', JSON.stringify({ Image: 'busybox', Cmd: ['sh', '-c', 'exit 6'], HostConfig: { NetworkMode: 'none' } }));
    const id = JSON.parse(cr.body).Id as string;
    const t0 = Date.now();
    const result = new Promise<Reply & { headersAfter: number }>((resolve, reject) => {
      const req = http.request({ socketPath: sock, method: 'POST', path: `/v1.41/containers/${id}/wait?condition=next-exit` }, (res) => {
        const headersAfter = Date.now() - t0;
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: b, headersAfter }));
      });
      req.on('error', reject);
      req.end();
    });
    await new Promise((r) => setTimeout(r, 300));
    const st = await request(sock, 'POST', `/containers/${id}/start`);
    assert.equal(st.status, 204);
    const w = await result;
    assert.ok(w.headersAfter < 300, `headers came after ${w.headersAfter} ms`);
    assert.deepEqual(JSON.parse(w.body), { StatusCode: 6, Error: null });
    assert.equal((await request(sock, 'POST', `/containers/${id}/stop`)).status, 304);
    assert.equal((await request(sock, 'DELETE', `/containers/${id}`)).status, 204);
  });

  await t.test('a client that attaches and leaves before start leaves a created container and nothing mounted', async () => {
    const cr = await request(sock, 'POST', '/containers/create?name=gone', JSON.stringify({ Image: 'busybox', Cmd: ['echo', 'hi'], AttachStdout: true, HostConfig: { NetworkMode: 'none' } }));
    const id = JSON.parse(cr.body).Id as string;
    const s = net.connect(sock);
    let head = '';
    await new Promise<void>((resolve) => {
      s.on('data', (d: Buffer) => { head += d.toString(); if (head.includes('\r\n\r\n')) resolve(); });
      s.write(`POST /v1.41/containers/${id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`);
    });
    assert.match(head, /^HTTP\/1\.1 101 UPGRADED\r\n/);
    assert.match(head, /Content-Type: application\/vnd\.docker\.multiplexed-stream/);
    assert.equal(engine.get(id).row.state, 'running'); // created under its monitor, waiting for start
    s.destroy();
    let state = '';
    for (let i = 0; i < 100 && state !== 'created'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      state = engine.get(id).row.state;
    }
    assert.equal(state, 'created');
    for (let i = 0; i < 50 && fs.readFileSync('/proc/mounts', 'utf8').includes(id); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!fs.readFileSync('/proc/mounts', 'utf8').includes(id), 'rootfs unmounted');
    // and it still runs normally afterwards
    const st = await request(sock, 'POST', `/containers/${id}/start`);
    assert.equal(st.status, 204, st.body);
    const w = await request(sock, 'POST', `/containers/${id}/wait`);
    assert.deepEqual(JSON.parse(w.body), { StatusCode: 0, Error: null });
    const logs = await request(sock, 'GET', `/containers/${id}/logs?stdout=1`);
    assert.equal(logs.body, '\x01\0\0\0\0\0\0\x03hi\n');
    assert.equal((await request(sock, 'DELETE', `/containers/${id}`)).status, 204);
  });

  await t.test('events: journal of other processes, replayed with since, followed live', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const lines: string[] = [];
    const req = http.request({ socketPath: sock, method: 'GET', path: `/events?since=${since}&filters=${encodeURIComponent('{"type":["image"]}')}` });
    const got = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          lines.push(...d.split('\n').filter(Boolean));
          if (lines.some((l) => JSON.parse(l).Actor.Attributes.name === 'evt:2')) resolve();
        });
      });
    });
    req.end();
    strataOk(root, ['tag', 'busybox', 'evt:1']);
    await new Promise((r) => setTimeout(r, 300));
    strataOk(root, ['tag', 'busybox', 'evt:2']); // another process: reaches us through the journal
    await got;
    req.destroy();
    const tags = lines.map((l) => JSON.parse(l) as { Type: string; Action: string; Actor: { Attributes: { name: string } } });
    assert.ok(tags.every((e) => e.Type === 'image'));
    assert.deepEqual(tags.filter((e) => e.Action === 'tag' && e.Actor.Attributes.name.startsWith('evt:')).map((e) => e.Actor.Attributes.name), ['evt:1', 'evt:2']);
    const replay = await request(sock, 'GET', `/events?since=${since}&until=${Math.ceil(Date.now() / 1000) + 1}&filters=${encodeURIComponent('{"event":{"tag":true}}')}`);
    assert.ok(replay.body.split('\n').filter(Boolean).length >= 2);
  });

  await t.test('a client that leaves a followed log releases the log file', async () => {
    const c = await engine.create({ Image: 'busybox', Cmd: ['sh', '-c', 'while true; do echo tick; sleep 0.1; done'], HostConfig: { NetworkMode: 'none' } });
    await engine.start(c.id);
    const logFd = () => fs.readdirSync('/proc/self/fd').filter((fd) => { try { return fs.readlinkSync(`/proc/self/fd/${fd}`) === c.paths.logPath; } catch { return false; } }).length;
    const req = http.request({ socketPath: sock, method: 'GET', path: `/containers/${c.id}/logs?stdout=1&follow=1` });
    await new Promise<void>((resolve) => {
      req.on('response', (res) => res.once('data', (d: Buffer) => { assert.equal(d[0], 1); resolve(); }));
      req.end();
    });
    assert.equal(logFd(), 1);
    // the docker CLI forwards terminal resizes as SIGWINCH: not a reason to stop
    assert.equal((await request(sock, 'POST', `/containers/${c.id}/kill?signal=WINCH`)).status, 204);
    assert.equal((await request(sock, 'POST', `/containers/${c.id}/resize?h=30&w=100`)).status, 200);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(engine.get(c.id).row.state, 'running');
    req.destroy();
    for (let i = 0; i < 50 && logFd() > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(logFd(), 0);
    await engine.remove(c.id, { force: true });
  });

  await t.test('unix socket safety: not a socket, a live server, a stale socket', async () => {
    const file = path.join(root, 'plain-file');
    fs.writeFileSync(file, '');
    const other = new ApiServer({ engine: opened });
    await assert.rejects(other.listenUnix(file), /not a socket/);
    await assert.rejects(other.listenUnix(sock), /another server is listening/);
    // a socket nobody listens on any more (its server was killed)
    const stale = path.join(root, 'stale.sock');
    const p = spawnSync('sh', ['-c', `${process.execPath} -e "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))" ${stale}`]);
    assert.notEqual(p.signal ?? p.status, 0);
    assert.ok(fs.lstatSync(stale).isSocket());
    await other.listenUnix(stale);
    assert.equal(fs.statSync(stale).mode & 0o777, 0o660);
    await other.close();
  });
});

test('strata serve refuses non-loopback TCP and warns on loopback', { timeout: 30000 }, async (t) => {
  const root = tempRoot(t, 'strata-api-tcp-');
  const env = { ...process.env, STRATA_ROOT: root } as Record<string, string>;
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(process.execPath, [CLI, 'serve', '-H', 'tcp://0.0.0.0:0'], { env, timeout: 20000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr.toString(), /refusing to listen on tcp:\/\/0\.0\.0\.0:0: not a loopback address.*--allow-remote/s);
  const opened = openEngine({ root });
  const api = new ApiServer({ engine: opened });
  const port = await api.listenTcp('127.0.0.1', 0);
  const res = await fetch(`http://127.0.0.1:${port}/_ping`);
  assert.equal(await res.text(), 'OK');
  await api.close();
  opened.close();
  const child = await import('node:child_process');
  const p = child.spawn(process.execPath, [CLI, 'serve', '-H', 'tcp://127.0.0.1:0', '-H', `unix://${path.join(root, 's.sock')}`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 200 && !/listening on/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  assert.match(err, /WARNING: the API is listening on tcp:\/\/127\.0\.0\.1:\d+ without TLS/);
  assert.ok(!fs.existsSync(path.join(root, 's.sock')), 'the socket is removed on shutdown');
});
