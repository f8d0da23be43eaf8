/**
 * dockerode 4 (docker-modem 5) against `strata serve`: no version prefix, true/false
 * booleans, array-shaped filters, options repeated in the query, hijack on a reused
 * keep-alive connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, type Duplex } from 'node:stream';
import Docker from 'dockerode';
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
