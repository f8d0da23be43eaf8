/**
 * dockerode 4 (docker-modem 5) against `strata serve`: no version prefix, true/false
 * booleans, array-shaped filters, options repeated in the query, hijack on a reused
 * keep-alive connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, type Duplex } from 'node:stream';
import Docker from 'dockerode';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { apiRoot, removeAllContainers, serve } from './helpers.js';

/** Split a multiplexed stream into its stdout and stderr text. */
function demux(docker: Docker, stream: NodeJS.ReadableStream): Promise<{ out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  docker.modem.demuxStream(stream, out, err);
  return new Promise((resolve) => stream.on('end', () => resolve({ out: o, err: e })));
}

test('dockerode workflow through strata serve', { timeout: 120000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-dode-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));
  const docker = new Docker({ socketPath: s.sock });

  await t.test('ping and version', async () => {
    assert.equal(String(await docker.ping()), 'OK');
    const v = await docker.version();
    assert.equal(v.ApiVersion, '1.41');
  });

  const c = await docker.createContainer({ Image: 'busybox', name: 'dode', Cmd: ['sleep', '300'], Labels: { app: 'dode' } });
  await t.test('create and start', async () => {
    assert.match(c.id, /^[0-9a-f]{64}$/);
    await c.start();
    const info = await c.inspect();
    assert.equal(info.State.Status, 'running');
    assert.equal(info.Name, '/dode');
    await assert.rejects(c.start(), (e: { statusCode?: number }) => e.statusCode === 304);
  });

  await t.test('exec, hijacked, with stdout, stderr and exit code', async () => {
    const ex = await c.exec({ Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({ hijack: true, stdin: false });
    const got = await demux(docker, stream);
    assert.deepEqual(got, { out: 'out\n', err: 'err\n' });
    const info = await ex.inspect();
    assert.equal(info.Running, false);
    assert.equal(info.ExitCode, 3);
  });

  await t.test('exec with stdin, half-closed by the client', async () => {
    const ex = await c.exec({ Cmd: ['cat'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({ hijack: true, stdin: true }) as Duplex;
    const done = demux(docker, stream);
    stream.write('through stdin\n');
    stream.end();
    assert.deepEqual(await done, { out: 'through stdin\n', err: '' });
    assert.equal((await ex.inspect()).ExitCode, 0);
  });

  await t.test('exec without hijack (plain HTTP stream)', async () => {
    const ex = await c.exec({ Cmd: ['echo', 'plain'], AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({});
    assert.deepEqual(await demux(docker, stream), { out: 'plain\n', err: '' });
  });

  await t.test('logs as raw frames', async () => {
    const l = await docker.createContainer({ Image: 'busybox', name: 'dode-logs', Cmd: ['sh', '-c', 'echo one; echo two >&2'] });
    await l.start();
    assert.equal((await l.wait()).StatusCode, 0);
    const buf = await l.logs({ stdout: true, stderr: true, follow: false }) as unknown as Buffer;
    assert.deepEqual([...buf.subarray(0, 8)], [1, 0, 0, 0, 0, 0, 0, 4]);
    assert.equal(buf.subarray(8, 12).toString(), 'one\n');
    assert.equal(buf[12], 2);
    assert.equal(buf.subarray(20).toString(), 'two\n');
    await l.remove();
  });

  await t.test('list containers and images with array filters', async () => {
    const list = await docker.listContainers({ all: true, filters: { name: ['dode'] } });
    assert.deepEqual(list.map((x) => x.Names[0]), ['/dode']);
    assert.equal(list[0]!.State, 'running');
    assert.equal(list[0]!.Labels.app, 'dode');
    const byLabel = await docker.listContainers({ filters: { label: ['app=dode'] } });
    assert.equal(byLabel.length, 1);
    await docker.getImage('busybox').tag({ repo: 'dode-img', tag: 'v1' });
    const imgs = await docker.listImages({ filters: { reference: ['dode-img'] } });
    assert.deepEqual(imgs.map((i) => i.RepoTags), [['dode-img:v1']]);
  });

  await t.test('stop, wait, remove; errors carry status codes', async () => {
    await c.stop({ t: 1 });
    const w = await c.wait();
    assert.equal(typeof w.StatusCode, 'number');
    await c.remove({ force: true });
    await assert.rejects(c.inspect(), (e: { statusCode?: number; json?: { message?: string } }) =>
      e.statusCode === 404 && e.json?.message === `No such container: ${c.id}`);
    await docker.getImage('dode-img:v1').remove();
    await assert.rejects(docker.getImage('dode-img:v1').inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });
});

/** What Testcontainers (on dockerode) asks first and later: the bridge network, aliases, archives, stats. */
test('dockerode: the calls Testcontainers makes', { timeout: 120000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-tc-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));
  const docker = new Docker({ socketPath: s.sock });

  await t.test('GET /networks/bridge on a fresh root, and host and none', async () => {
    const b = await docker.getNetwork('bridge').inspect() as { Name: string; Driver: string; IPAM: { Config: { Gateway: string; Subnet: string }[] }; Options: Record<string, string> };
    assert.equal(b.Name, 'bridge');
    assert.equal(b.Driver, 'bridge');
    assert.match(b.IPAM.Config[0]!.Gateway, /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(b.Options['com.docker.network.bridge.default_bridge'], 'true');
    assert.equal((await docker.getNetwork('host').inspect() as { Driver: string }).Driver, 'host');
    assert.equal((await docker.getNetwork('none').inspect() as { Driver: string }).Driver, 'null');
    const names = (await docker.listNetworks({ filters: { type: ['builtin'] } })).map((n) => n.Name).sort();
    assert.deepEqual(names, ['bridge', 'host', 'none']);
    await assert.rejects(docker.listNetworks({ filters: { foo: ['x'] } }), (e: { statusCode?: number; json?: { message?: string } }) =>
      e.statusCode === 400 && e.json?.message === "Invalid filter 'foo'");
  });

  const net = await docker.createNetwork({ Name: 'tc-net', Labels: { 'org.testcontainers': 'true' } });
  defer(async () => { await net.remove().catch(() => undefined); });
  const c = await docker.createContainer({
    Image: 'busybox', name: 'tc-main', Cmd: ['sleep', '300'], HostConfig: { NetworkMode: 'tc-net' },
    NetworkingConfig: { EndpointsConfig: { 'tc-net': { Aliases: ['tc-alias'] } } },
  });

  await t.test('EndpointsConfig aliases are kept at create and resolve once running', async () => {
    const created = await c.inspect();
    assert.deepEqual(created.NetworkSettings.Networks['tc-net']!.Aliases, ['tc-alias']);
    await c.start();
    const peer = await docker.createContainer({ Image: 'busybox', name: 'tc-peer', Cmd: ['sleep', '300'], HostConfig: { NetworkMode: 'tc-net' } });
    await peer.start();
    const ex = await peer.exec({ Cmd: ['ping', '-c', '1', '-W', '2', 'tc-alias'], AttachStdout: true, AttachStderr: true });
    const st = await ex.start({ hijack: true, stdin: false });
    await demux(docker, st);
    assert.equal((await ex.inspect()).ExitCode, 0);
    const running = await c.inspect();
    const ep = running.NetworkSettings.Networks['tc-net']!;
    assert.ok(ep.Aliases.includes('tc-alias') && ep.Aliases.includes(c.id.slice(0, 12)));
    assert.notEqual(ep.EndpointID, '');
  });

  await t.test('connect and disconnect a running container', async () => {
    await docker.getNetwork('bridge').connect({ Container: c.id });
    let info = await c.inspect();
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks).sort(), ['bridge', 'tc-net']);
    assert.match(info.NetworkSettings.Networks.bridge!.IPAddress, /^\d+\.\d+\.\d+\.\d+$/);
    await docker.getNetwork('bridge').disconnect({ Container: c.id });
    info = await c.inspect();
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks), ['tc-net']);
    await assert.rejects(docker.getNetwork('bridge').disconnect({ Container: c.id }), (e: { statusCode?: number }) => e.statusCode === 409);
    await docker.getNetwork('bridge').disconnect({ Container: c.id, Force: true });
  });

  await t.test('connect with a fixed IPv4 address (EndpointConfig.IPAMConfig)', async () => {
    const third = 1 + Math.floor(Math.random() * 250);
    const subnet = `10.213.${third}.0/24`;
    const fixed = await docker.createNetwork({ Name: 'tc-fixed', IPAM: { Config: [{ Subnet: subnet }] } });
    defer(async () => { await fixed.remove().catch(() => undefined); });
    await fixed.connect({ Container: c.id, EndpointConfig: { IPAMConfig: { IPv4Address: `10.213.${third}.77` }, Aliases: ['fx'] } });
    const ep = (await c.inspect()).NetworkSettings.Networks['tc-fixed']!;
    assert.equal(ep.IPAddress, `10.213.${third}.77`);
    assert.deepEqual(ep.IPAMConfig, { IPv4Address: `10.213.${third}.77` });
    const other = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '300'], HostConfig: { NetworkMode: 'tc-fixed' }, NetworkingConfig: { EndpointsConfig: { 'tc-fixed': { IPAMConfig: { IPv4Address: `10.213.${third}.77` } } } } });
    await assert.rejects(other.start(), (e: { statusCode?: number; json?: { message?: string } }) => e.statusCode === 409 && e.json?.message === 'Address already in use');
    await other.remove({ force: true });
    await fixed.disconnect({ Container: c.id });
  });

  await t.test('archive: put, stat, get', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tc-'));
    defer(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'conf.txt'), 'copied in\n');
    const tarFile = path.join(dir, 'in.tar');
    execFileSync('tar', ['-cf', tarFile, '-C', dir, 'conf.txt']);
    await c.putArchive(tarFile, { path: '/etc' });
    const info = await c.infoArchive({ path: '/etc/conf.txt' }) as unknown as { headers: Record<string, string> };
    const stat = JSON.parse(Buffer.from(info.headers['x-docker-container-path-stat']!, 'base64').toString()) as { name: string; size: number };
    assert.deepEqual([stat.name, stat.size], ['conf.txt', 10]);
    const stream = await c.getArchive({ path: '/etc/conf.txt' });
    const chunks: Buffer[] = [];
    for await (const d of stream as AsyncIterable<Buffer>) chunks.push(d);
    const tar = Buffer.concat(chunks);
    assert.equal(tar.subarray(0, 8).toString().replace(/\0+$/, ''), 'conf.txt');
    assert.equal(tar.subarray(512, 522).toString(), 'copied in\n');
    await assert.rejects(c.getArchive({ path: '/nope' }), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  await t.test('stats without a stream', async () => {
    const st = await c.stats({ stream: false }) as unknown as { memory_stats: { usage: number; limit: number }; pids_stats: { current: number }; name: string };
    assert.ok(st.memory_stats.usage > 0 && st.memory_stats.limit > 0);
    assert.equal(st.pids_stats.current, 1);
    assert.equal(st.name, '/tc-main');
  });
});
