import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { busyboxTar } from '../helpers.js';
import {
  clientEnv, importBusybox, registryAvailable, startProxy, startRegistry, strataAsync, strataAsyncOk, tmp, type Proxy, type Registry,
} from './helpers.js';

const skip = registryAvailable() ? false : 'docker-registry is not installed';

const isLayerGet = (method: string, url: string, len: unknown) => method === 'GET' && /\/blobs\/sha256:/.test(url) && Number(len) > 200_000;

describe('a faulty network between Strata and the registry', { skip }, () => {
  let reg: Registry;
  let proxy: Proxy;
  let work: string;
  let env: Record<string, string>;
  let root: string;
  let id: string;
  let ref: string;

  before(async () => {
    reg = await startRegistry();
    proxy = await startProxy(reg.addr);
    work = tmp('strata-faults-');
    env = clientEnv(work);
    root = tmp('strata-faults-root-');
    ref = `${proxy.addr}/team/bb:v1`;
    id = await importBusybox(root, ref, busyboxTar(), env);
  });
  after(async () => {
    await proxy?.close();
    await reg?.stop();
    for (const d of [work, root]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });
  afterEach(() => { proxy.hooks = {}; proxy.log.length = 0; });

  async function freshPull(args: string[] = []) {
    const fresh = tmp('strata-faults-pull-');
    try {
      const r = await strataAsync(fresh, ['pull', ...args, ref], { env });
      const images = (await strataAsyncOk(fresh, ['images', '-a', '-q', '--no-trunc'], { env })).trim();
      const check = await strataAsyncOk(fresh, ['system', 'check'], { env });
      return { ...r, images, check };
    } finally { fs.rmSync(fresh, { recursive: true, force: true }); }
  }

  test('uploads answered 503 once are retried', async () => {
    let failed = 0;
    proxy.hooks.intercept = (req, res) => {
      if (failed === 0 && (req.method === 'PUT' || req.method === 'PATCH') && /\/blobs\/uploads\//.test(req.url!)) {
        failed++;
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end('{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}');
        return true;
      }
      return false;
    };
    const out = await strataAsyncOk(root, ['push', ref], { env });
    assert.equal(failed, 1);
    assert.match(out, /v1: digest: sha256:[a-f0-9]{64} size: \d+\n$/);
    assert.equal(proxy.log.filter((r) => r.method === 'POST' && /\/blobs\/uploads\/$/.test(r.url)).length >= 2, true, 'the upload was started again');
  });

  test('a connection dropped mid-blob is resumed with Range and the pull succeeds', async () => {
    let dropped = false;
    proxy.hooks.response = (req, up, res) => {
      if (dropped || !isLayerGet(req.method, req.url, up.headers['content-length'])) return undefined;
      dropped = true;
      let sent = 0;
      return (chunk) => {
        if (res.destroyed) return;
        if (sent + chunk.length >= 300_000) { res.write(chunk.subarray(0, 300_000 - sent)); res.destroy(); up.destroy(); return; }
        sent += chunk.length;
        res.write(chunk);
      };
    };
    const r = await freshPull();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.images, id);
    assert.match(r.check, /no problems/);
    const ranged = proxy.log.filter((x) => x.method === 'GET' && /\/blobs\//.test(x.url) && x.headers.range);
    assert.equal(ranged.length, 1);
    assert.match(String(ranged[0]!.headers.range), /^bytes=\d+-$/);
  });

  test('a server that ignores Range: the resumed download skips what it had', async () => {
    let dropped = false;
    proxy.hooks.requestHeaders = (_req, h) => { delete h.range; };
    proxy.hooks.response = (req, up, res) => {
      if (dropped || !isLayerGet(req.method, req.url, up.headers['content-length'])) return undefined;
      dropped = true;
      let sent = 0;
      return (chunk) => {
        if (res.destroyed) return;
        if (sent + chunk.length >= 200_000) { res.write(chunk.subarray(0, 200_000 - sent)); res.destroy(); up.destroy(); return; }
        sent += chunk.length;
        res.write(chunk);
      };
    };
    const r = await freshPull();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.images, id);
  });

  test('a corrupted blob byte: digest mismatch, nothing stored', async () => {
    proxy.hooks.response = (req, up, res) => {
      if (!isLayerGet(req.method, req.url, up.headers['content-length'])) return undefined;
      let seen = 0;
      return (chunk) => {
        const at = 400_000 - seen;
        if (at >= 0 && at < chunk.length) { chunk = Buffer.from(chunk); chunk[at] = chunk[at]! ^ 0xff; }
        seen += chunk.length;
        res.write(chunk);
      };
    };
    const r = await freshPull();
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /^Error: filesystem layer verification failed for digest sha256:[a-f0-9]{64}: digest mismatch/);
    assert.equal(r.images, '');
    assert.match(r.check, /^checked 0 images, 0 layers, 0 blobs: no problems$/m);
    assert.doesNotMatch(r.check, /garbage/);
  });

  test('blob GETs follow redirects (storage backends answer 307)', async () => {
    proxy.hooks.intercept = (req, res) => {
      if (req.method === 'GET' && /^\/v2\/.*\/blobs\/sha256:/.test(req.url!)) {
        res.writeHead(307, { Location: `http://${proxy.addr}/storage${req.url}` });
        res.end();
        return true;
      }
      if (req.url!.startsWith('/storage/')) {
        assert.equal(req.headers.authorization, undefined);
        http.get({ host: '127.0.0.1', port: reg.port, path: req.url!.slice('/storage'.length), headers: { range: req.headers.range ?? '' } }, (up) => {
          res.writeHead(up.statusCode!, up.headers);
          up.pipe(res);
        });
        return true;
      }
      return false;
    };
    const r = await freshPull(['-q']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.images, id);
    assert.ok(proxy.log.filter((x) => x.url.startsWith('/storage/')).length >= 2, 'config and layer came from the redirect target');
  });

  test('a 500 on the manifest is retried', async () => {
    let failed = 0;
    proxy.hooks.intercept = (req, res) => {
      if (failed === 0 && req.method === 'GET' && /\/manifests\//.test(req.url!)) {
        failed++;
        res.writeHead(500);
        res.end();
        return true;
      }
      return false;
    };
    const r = await freshPull(['-q']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(failed, 1);
    assert.equal(r.images, id);
  });

  test('malformed or mislabelled manifests are refused', async () => {
    const answers: [string, Record<string, string>, RegExp][] = [
      ['not json at all', { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, /^Error: malformed manifest: /],
      [JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: 'sha256:../../etc/passwd', size: 1 }, layers: [] }),
        { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, /^Error: malformed manifest: config has an invalid digest/],
      ['{"schemaVersion":2,"layers":[]}', { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': `sha256:${'0'.repeat(64)}` },
        /^Error: manifest verification failed for digest sha256:0{64}/],
    ];
    for (const [body, headers, re] of answers) {
      proxy.hooks.intercept = (req, res) => {
        if (req.method !== 'GET' || !/\/manifests\//.test(req.url!)) return false;
        res.writeHead(200, headers);
        res.end(body);
        return true;
      };
      const r = await freshPull();
      assert.equal(r.code, 1, body);
      assert.match(r.stderr.trim(), re);
      assert.equal(r.images, '');
    }
  });
});
