/**
 * Docker's prune filters on real objects: `label=k`, `label=k=v`, `label!=…` and
 * `until=<timestamp|duration>` for container, image, network and system prune, labels for
 * volume prune, `until` for builder prune; unknown keys refused with `Invalid filter 'k'`
 * before anything is removed. Through the CLI and through the API (the docker CLI against
 * `strata serve`, and a raw request).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { busyboxTar, containerRoot, strata, strataOk } from '../helpers.js';
import { apiRoot, docker, dockerMissing, dockerOk, removeAllContainers, serve } from '../api/helpers.js';

const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);
const names = (root: string, args: string[]) => lines(strataOk(root, args)).sort();
const inOneMinute = () => String(Math.floor(Date.now() / 1000) + 60);

test('prune filters from the CLI', { timeout: 180000 }, async (t) => {
  const root = containerRoot(t);
  const ps = () => names(root, ['ps', '-a', '--format', '{{.Names}}']);

  await t.test('container prune', () => {
    strataOk(root, ['create', '--name', 'keep', '-l', 'keep=yes', 'busybox', 'true']);
    strataOk(root, ['create', '--name', 'dev', '-l', 'env=dev', 'busybox', 'true']);
    strataOk(root, ['create', '--name', 'prod', '-l', 'env=prod', 'busybox', 'true']);
    strataOk(root, ['create', '--name', 'bare', 'busybox', 'true']);
    let r = strata(root, ['container', 'prune', '-f', '--filter', 'foo=bar']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Invalid filter 'foo'/);
    assert.equal(ps().length, 4, 'nothing removed by a refused filter');
    r = strata(root, ['container', 'prune', '-f', '--filter', 'until=yesterday']);
    assert.match(r.stderr, /failed to parse value as time or duration: "yesterday"/);
    strataOk(root, ['container', 'prune', '-f', '--filter', 'label=env=dev']);
    assert.deepEqual(ps(), ['bare', 'keep', 'prod']);
    strataOk(root, ['container', 'prune', '-f', '--filter', 'label=env']);
    assert.deepEqual(ps(), ['bare', 'keep']);
    strataOk(root, ['container', 'prune', '-f', '--filter', 'until=1h']);
    assert.deepEqual(ps(), ['bare', 'keep'], 'created within the hour: kept');
    strataOk(root, ['container', 'prune', '-f', '--filter', 'label!=keep']);
    assert.deepEqual(ps(), ['keep']);
    strataOk(root, ['container', 'prune', '-f', '--filter', `until=${inOneMinute()}`]);
    assert.deepEqual(ps(), []);
  });

  await t.test('image prune', () => {
    const a = strataOk(root, ['import', '-c', 'LABEL tier=a', busyboxTar()]).trim();
    const b = strataOk(root, ['import', '-c', 'LABEL tier=b', busyboxTar()]).trim();
    const ids = () => lines(strataOk(root, ['images', '-q', '--no-trunc', '--filter', 'dangling=true'])).sort();
    assert.deepEqual(ids(), [a, b].sort());
    assert.match(strata(root, ['image', 'prune', '-f', '--filter', 'foo=1']).stderr, /Invalid filter 'foo'/);
    strataOk(root, ['image', 'prune', '-f', '--filter', 'label=tier=a']);
    assert.deepEqual(ids(), [b]);
    strataOk(root, ['image', 'prune', '-f', '--filter', 'until=2h30m']);
    assert.deepEqual(ids(), [b], 'created now: kept');
    strataOk(root, ['image', 'prune', '-f', '--filter', 'label!=tier=b']);
    assert.deepEqual(ids(), [b]);
    strataOk(root, ['image', 'prune', '-f', '--filter', `until=${new Date(Date.now() + 60000).toISOString()}`]);
    assert.deepEqual(ids(), []);
    assert.ok(names(root, ['images', '--format', '{{.Repository}}']).includes('busybox'), 'tagged images stay');
  });

  await t.test('volume prune', () => {
    strataOk(root, ['volume', 'create', '--label', 'a=1', 'v1']);
    strataOk(root, ['volume', 'create', '--label', 'a=2', 'v2']);
    strataOk(root, ['volume', 'create', 'v3']);
    const vols = () => names(root, ['volume', 'ls', '-q']);
    assert.match(strata(root, ['volume', 'prune', '-f', '--filter', 'until=1h']).stderr, /Invalid filter 'until'/);
    strataOk(root, ['volume', 'prune', '-f', '-a', '--filter', 'label=a=1']);
    assert.deepEqual(vols(), ['v2', 'v3']);
    strataOk(root, ['volume', 'prune', '-f', '-a', '--filter', 'label!=a']);
    assert.deepEqual(vols(), ['v2']);
    strataOk(root, ['volume', 'rm', 'v2']);
  });

  await t.test('network prune', () => {
    strataOk(root, ['network', 'create', '--label', 'team=x', 'nx']);
    strataOk(root, ['network', 'create', 'ny']);
    const nets = () => names(root, ['network', 'ls', '--format', '{{.Name}}']).filter((n) => !['bridge', 'host', 'none'].includes(n));
    assert.match(strata(root, ['network', 'prune', '-f', '--filter', 'driver=bridge']).stderr, /Invalid filter 'driver'/);
    assert.equal(strataOk(root, ['network', 'prune', '-f', '--filter', 'label=team=x']), 'Deleted Networks:\nnx\n');
    strataOk(root, ['network', 'prune', '-f', '--filter', 'until=10m']);
    assert.deepEqual(nets(), ['ny']);
    strataOk(root, ['network', 'prune', '-f', '--filter', `until=${inOneMinute()}`]);
    assert.deepEqual(nets(), []);
  });

  await t.test('builder prune', () => {
    assert.match(strata(root, ['builder', 'prune', '-f', '--filter', 'label=x']).stderr, /Invalid filter 'label'/);
    assert.match(strataOk(root, ['builder', 'prune', '-f', '--filter', 'until=24h']), /Total reclaimed space/);
  });

  await t.test('system prune', () => {
    strataOk(root, ['create', '--name', 's1', '-l', 'sys=1', 'busybox', 'true']);
    strataOk(root, ['create', '--name', 's2', 'busybox', 'true']);
    strataOk(root, ['network', 'create', '--label', 'sys=1', 'ns1']);
    strataOk(root, ['network', 'create', 'ns2']);
    let r = strata(root, ['system', 'prune', '-f', '--volumes', '--filter', 'until=1h']);
    assert.match(r.stderr, /Invalid filter 'until'/);
    r = strata(root, ['system', 'prune', '-f', '--filter', 'dangling=true']);
    assert.match(r.stderr, /Invalid filter 'dangling'/);
    assert.deepEqual(ps(), ['s1', 's2'], 'nothing removed by a refused filter');
    const out = strataOk(root, ['system', 'prune', '-f', '--filter', 'label=sys=1']);
    assert.match(out, /Deleted Containers:\n[0-9a-f]{64}\n\nDeleted Networks:\nns1\n/);
    assert.deepEqual(ps(), ['s2']);
    assert.ok(names(root, ['network', 'ls', '--format', '{{.Name}}']).includes('ns2'));
    strataOk(root, ['system', 'prune', '-f', '--filter', `until=${inOneMinute()}`]);
    assert.deepEqual(ps(), []);
    assert.ok(!names(root, ['network', 'ls', '--format', '{{.Name}}']).includes('ns2'));
  });
});

function post(sock: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, path, method: 'POST' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('prune filters through the API', { skip: dockerMissing() ?? false, timeout: 120000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-prune-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));
  const q = (f: Record<string, string[]>) => encodeURIComponent(JSON.stringify(f));
  for (const p of ['/v1.41/containers/prune', '/v1.41/images/prune', '/v1.41/networks/prune', '/v1.41/volumes/prune', '/v1.41/build/prune']) {
    const r = await post(s.sock, `${p}?filters=${q({ foo: ['1'] })}`);
    assert.equal(r.status, 400, p);
    assert.equal(JSON.parse(r.body).message, "Invalid filter 'foo'");
  }
  assert.equal(JSON.parse((await post(s.sock, `/v1.41/volumes/prune?filters=${q({ until: ['1h'] })}`)).body).message, "Invalid filter 'until'");

  dockerOk(s, ['create', '--name', 'c1', '-l', 'env=dev', 'busybox', 'true']);
  dockerOk(s, ['create', '--name', 'c2', 'busybox', 'true']);
  dockerOk(s, ['network', 'create', '--label', 'team=x', 'nx']);
  dockerOk(s, ['volume', 'create', '--label', 'a=1', 'v1']);
  dockerOk(s, ['volume', 'create', 'v2']);
  const r = docker(s, ['container', 'prune', '-f', '--filter', 'foo=1']);
  assert.match(r.stderr, /Error response from daemon: Invalid filter 'foo'/);
  dockerOk(s, ['container', 'prune', '-f', '--filter', 'label=env=dev']);
  assert.deepEqual(lines(dockerOk(s, ['ps', '-a', '--format', '{{.Names}}'])), ['c2']);
  dockerOk(s, ['container', 'prune', '-f', '--filter', 'until=1h']);
  assert.deepEqual(lines(dockerOk(s, ['ps', '-a', '--format', '{{.Names}}'])), ['c2']);
  assert.match(dockerOk(s, ['network', 'prune', '-f', '--filter', 'label=team=x']), /nx/);
  // API 1.41: every unused volume (named too), narrowed by the labels
  dockerOk(s, ['volume', 'prune', '-f', '--filter', 'label=a=1']);
  assert.deepEqual(lines(dockerOk(s, ['volume', 'ls', '-q'])), ['v2']);
  dockerOk(s, ['system', 'prune', '-f', '--filter', `until=${inOneMinute()}`]);
  assert.deepEqual(lines(dockerOk(s, ['ps', '-a', '-q'])), []);
  dockerOk(s, ['volume', 'rm', 'v2']);
});
