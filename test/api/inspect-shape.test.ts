/**
 * Container inspect against Docker's own answer, key by key: the docker CLI's recorded
 * create body (traces/run-d.txt) is replayed, and the inspect answer is compared with the
 * recorded Docker 20.10 inspect (traces/inspect.txt) — every key at every level of State,
 * HostConfig, Config, NetworkSettings and its endpoint, and the HostConfig values the
 * daemon fills in (LogConfig, ShmSize, IpcMode, MaskedPaths, ...).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { apiRoot, removeAllContainers, serve, type Served } from './helpers.js';

const TRACES = '/work/shared/engine-api-traces';

/** The first JSON body in a trace that starts with `prefix`. */
function traceJson(file: string, prefix: string): Record<string, unknown> {
  const line = fs.readFileSync(`${TRACES}/${file}`, 'utf8').split('\n').find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`no ${prefix} in ${file}`);
  return JSON.parse(line.replace(/\\n$/, '')) as Record<string, unknown>;
}

function call(s: Served, method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ socketPath: s.sock, method, path: p, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, json: text.trim() ? JSON.parse(text) as unknown : null }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

type Obj = Record<string, unknown>;
const keys = (o: unknown) => Object.keys(o as Obj).sort();

test('container inspect has Docker\'s keys and defaults', { skip: fs.existsSync(TRACES) ? false : `no ${TRACES}`, timeout: 120000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-shape-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));
  const docker = traceJson('inspect.txt', '{"Id":"');
  const createBody = traceJson('run-d.txt', '{"Hostname":""');
  // the recorded request, on busybox and without the published port (nginx is not needed for shapes)
  const body = { ...createBody, Image: 'busybox', Cmd: ['sleep', '300'], ExposedPorts: { '80/tcp': {} } } as Obj;
  (body.HostConfig as Obj).PortBindings = {};
  const created = await call(s, 'POST', '/v1.41/containers/create?name=shape', body);
  assert.equal(created.status, 201, JSON.stringify(created.json));

  await t.test('a created container already shows the endpoint it will join', async () => {
    const c = (await call(s, 'GET', '/v1.41/containers/shape/json')).json as Obj;
    const nets = (c.NetworkSettings as Obj).Networks as Obj;
    assert.deepEqual(Object.keys(nets), ['bridge']);
    assert.deepEqual(keys(nets.bridge), keys(((docker.NetworkSettings as Obj).Networks as Obj).bridge));
  });

  assert.equal((await call(s, 'POST', '/v1.41/containers/shape/start')).status, 204);
  const mine = (await call(s, 'GET', '/v1.41/containers/shape/json')).json as Obj;

  await t.test('top-level, State, Config, GraphDriver keys', () => {
    assert.deepEqual(keys(mine), keys(docker));
    assert.deepEqual(keys(mine.State), keys(docker.State));
    assert.deepEqual(keys(mine.Config), keys(docker.Config));
    assert.deepEqual(keys((mine.GraphDriver as Obj).Data), keys((docker.GraphDriver as Obj).Data));
  });

  await t.test('HostConfig: every key, and the values the daemon fills in', () => {
    const hc = mine.HostConfig as Obj;
    const dhc = docker.HostConfig as Obj;
    assert.deepEqual(keys(hc), keys(dhc));
    for (const k of Object.keys(dhc)) {
      if (k === 'PortBindings') continue; // the request differs here on purpose
      assert.deepEqual(hc[k], dhc[k], `HostConfig.${k}`);
    }
  });

  await t.test('NetworkSettings and its endpoint, filled', async () => {
    const ns = mine.NetworkSettings as Obj;
    const dns = docker.NetworkSettings as Obj;
    assert.deepEqual(keys(ns), keys(dns));
    const ep = (ns.Networks as Obj).bridge as Obj;
    assert.deepEqual(keys(ep), keys((dns.Networks as Obj).bridge));
    for (const k of ['NetworkID', 'EndpointID', 'Gateway', 'IPAddress', 'MacAddress']) assert.notEqual(ep[k], '', `Networks.bridge.${k}`);
    assert.ok((ep.IPPrefixLen as number) > 0);
    assert.equal(ns.EndpointID, ep.EndpointID);
    assert.match(ep.MacAddress as string, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const net = await call(s, 'GET', '/v1.41/networks/bridge');
    assert.equal((net.json as Obj).Id, ep.NetworkID);
  });

  await t.test('-v /path (anonymous volume) is listed in Config.Volumes', async () => {
    const r = await call(s, 'POST', '/v1.41/containers/create?name=anon', { Image: 'busybox', Cmd: ['true'], HostConfig: { Binds: ['/vol'] } });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const c = (await call(s, 'GET', '/v1.41/containers/anon/json')).json as Obj;
    assert.deepEqual((c.Config as Obj).Volumes, { '/vol': {} });
    assert.equal((c.HostConfig as Obj).Binds, null);
  });
});
