/**
 * The composition root and the defects its refactoring fixed: `system prune --volumes`,
 * OOMKilled in inspect, inspect's lookup order, the config blob outliving a rolled-back
 * delete, one loopback rule, one timestamp format, one digest pattern.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containerRoot, strata, strataOk, tempRoot, busyboxTar } from '../helpers.js';
import { openEngine } from '../../src/engine/index.js';
import { StoreRoot } from '../../src/engine/store-root.js';
import { deleteImageRows } from '../../src/engine/images.js';
import { tx } from '../../src/meta/db.js';
import { isLoopback as serverLoopback } from '../../src/api/server.js';
import { resolveEndpoint } from '../../src/registry/index.js';
import { isLoopback } from '../../src/base/net.js';
import { rfc3339Nano as formatTime } from '../../src/format/index.js';
import { rfc3339Nano as configTime } from '../../src/image/config.js';
import { DIGEST_RE, isDigest, isDigestHex, parseDigest } from '../../src/image/digest.js';

test('system prune --volumes removes every unused volume, as Docker 20.10; without it volumes stay', { timeout: 120000 }, async (t) => {
  const root = containerRoot(t);
  strataOk(root, ['volume', 'create', 'named']);
  strataOk(root, ['volume', 'create', 'kept']);
  const anon = strataOk(root, ['run', '--network', 'none', '-v', '/anon', 'busybox', 'true']).trim();
  void anon;
  strataOk(root, ['run', '-d', '--network', 'none', '-v', 'kept:/data', 'busybox', 'sleep', '60']);
  const before = strataOk(root, ['volume', 'ls', '-q']).trim().split('\n').sort();
  assert.equal(before.length, 3, before.join(','));

  const plain = strataOk(root, ['system', 'prune', '-f']);
  assert.doesNotMatch(plain, /Deleted Volumes/);
  assert.equal(strataOk(root, ['volume', 'ls', '-q']).trim().split('\n').length, 3);

  const out = strataOk(root, ['system', 'prune', '-f', '--volumes']);
  const m = /Deleted Volumes:\n([\s\S]*?)\n\n/.exec(out);
  assert.ok(m, out);
  const deleted = m[1]!.split('\n').sort();
  assert.equal(deleted.length, 2, out);
  assert.ok(deleted.includes('named'));
  assert.ok(!deleted.includes('kept'));
  assert.match(out, /Total reclaimed space: /);
  assert.deepEqual(strataOk(root, ['volume', 'ls', '-q']).trim().split('\n'), ['kept']);
});

test('inspect: OOMKilled is what the monitor recorded', { timeout: 120000 }, async (t) => {
  const root = containerRoot(t);
  const r = strata(root, ['run', '--name', 'oom', '--network', 'none', '--memory', '16m', 'busybox', 'sh', '-c', 'a=aaaaaaaaaaaaaaaa; while true; do a=$a$a; done']);
  assert.equal(r.code, 137, r.stderr);
  assert.equal(strataOk(root, ['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', 'oom']).trim(), 'true 137');
  strataOk(root, ['run', '--name', 'fine', '--network', 'none', 'busybox', 'true']);
  assert.equal(strataOk(root, ['inspect', '-f', '{{.State.OOMKilled}}', 'fine']).trim(), 'false');
});

test('inspect looks up a container, an image, a network, a volume, in that order', { timeout: 120000 }, async (t) => {
  const root = containerRoot(t);
  strataOk(root, ['volume', 'create', 'same']);
  assert.equal(strataOk(root, ['inspect', '-f', '{{.Mountpoint}}', 'same']).trim(), path.join(root, 'volumes', 'same', '_data'));
  strataOk(root, ['network', 'create', 'same']);
  assert.equal(strataOk(root, ['inspect', '-f', '{{.Driver}}', 'same']).trim(), 'bridge');
  strataOk(root, ['tag', 'busybox', 'same']);
  assert.match(strataOk(root, ['inspect', '-f', '{{.Id}}', 'same']).trim(), DIGEST_RE);
  strataOk(root, ['create', '--name', 'same', '--network', 'none', 'busybox', 'true']);
  assert.equal(strataOk(root, ['inspect', '-f', '{{.Name}}', 'same']).trim(), '/same');
  assert.match(strataOk(root, ['inspect', '--type', 'image', '-f', '{{.Id}}', 'same']).trim(), DIGEST_RE);
  const miss = strata(root, ['inspect', 'nothing']);
  assert.equal(miss.code, 1);
  assert.equal(miss.stderr, 'Error: No such object: nothing\n');
});

test('the engine opens its store on first use; login needs none', async (t) => {
  const root = path.join(tempRoot(t), 'never');
  const e = openEngine({ root });
  assert.equal(e.root, root);
  assert.equal(e.registry.loginDomain('localhost:5000'), 'localhost:5000');
  assert.ok(!fs.existsSync(root), 'no store was made');
  assert.deepEqual(e.images.list(), []);
  assert.ok(fs.existsSync(path.join(root, 'strata.db')));
  e.close();
  e.close(); // idempotent
});

test('a rolled-back image delete keeps the config blob', async (t) => {
  const root = tempRoot(t);
  strataOk(root, ['import', busyboxTar(), 'busybox']);
  const store = new StoreRoot(root);
  t.after(() => store.close());
  const id = strataOk(root, ['inspect', '-f', '{{.Id}}', 'busybox']).trim();
  assert.throws(() => tx(store.db, () => { deleteImageRows(store, id); throw new Error('later step failed'); }), /later step failed/);
  assert.ok(store.content.has(id), 'the config blob is still there for the rows that are still there');
  assert.match(strataOk(root, ['system', 'check']), /no problems/);
  strataOk(root, ['rmi', 'busybox']);
  assert.ok(!store.content.has(id), 'rmi removes it after its transaction');
  assert.match(strataOk(root, ['system', 'check']), /no problems/);
});

test('one loopback rule for registries and the API server', () => {
  assert.equal(serverLoopback, isLoopback);
  for (const h of ['localhost', 'LOCALHOST', 'registry.localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) assert.ok(serverLoopback(h), h);
  for (const h of ['0.0.0.0', '128.0.0.1', '10.0.0.1', 'example.com', '::', '127.0.0']) assert.ok(!serverLoopback(h), h);
  assert.equal(resolveEndpoint('[::1]:5000', []).base.protocol, 'http:');
});

test('one RFC 3339 nano format: a given time exactly, now with sub-millisecond digits', () => {
  assert.equal(formatTime, configTime);
  const d = new Date(Date.UTC(2023, 10, 14, 22, 13, 20, 120));
  assert.equal(formatTime(d), '2023-11-14T22:13:20.12Z');
  assert.equal(formatTime(d), formatTime(d));
  assert.equal(formatTime(new Date(Date.UTC(2023, 10, 14, 22, 13, 20))), '2023-11-14T22:13:20Z');
  assert.equal(formatTime(new Date(Date.UTC(2023, 10, 14, 22, 13, 20)), 5n), '2023-11-14T22:13:20.000000005Z');
  assert.match(formatTime(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
});

test('one digest pattern', () => {
  const hex = 'a'.repeat(64);
  assert.ok(isDigest(`sha256:${hex}`));
  assert.ok(!isDigest(`sha256:${'A'.repeat(64)}`));
  assert.ok(!isDigest(hex));
  assert.ok(isDigestHex(hex));
  assert.ok(!isDigestHex(`${hex}0`));
  assert.equal(parseDigest(`sha256:${hex}`), `sha256:${hex}`);
  assert.throws(() => parseDigest('sha256:xyz'), /invalid digest/);
});
