/**
 * `POST /build` through the real docker CLI (v28, no buildx: it falls back to the legacy
 * protocol) against `strata serve`; `POST /build/prune`; Build Cache in `system df`.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers.js';
import { apiRoot, docker, dockerMissing, dockerOk, serve } from '../api/helpers.js';

const skip = dockerMissing();

test('docker build against strata serve', { skip, timeout: 240000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-build-');
  const s = await serve(root);
  defer(() => s.stop());
  const dir = tempDir(t, 'strata-ctx-');
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nARG WHO=nobody\nCOPY msg.txt /msg.txt\nRUN echo "built for $WHO" >> /msg.txt\nCMD ["cat", "/msg.txt"]\n');
  fs.writeFileSync(path.join(dir, 'msg.txt'), 'hello\n');
  fs.writeFileSync(path.join(dir, 'other.Dockerfile'), 'FROM busybox\nLABEL which=other\n');

  const r = docker(s, ['build', '-t', 'fromcli', '--build-arg', 'WHO=docker', '--label', 'via=api', dir], { timeout: 120000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /#\d+ \[4\/5\] RUN echo "built for \$WHO" >> \/msg.txt/);
  assert.match(r.stdout, /Successfully tagged fromcli:latest/);
  assert.equal(dockerOk(s, ['run', '--rm', 'fromcli']), 'hello\nbuilt for docker\n');
  assert.equal(dockerOk(s, ['image', 'inspect', '-f', '{{index .Config.Labels "via"}}', 'fromcli']).trim(), 'api');

  // -q prints the ID only; a rebuild is cached and gives the same image
  const id = dockerOk(s, ['build', '-q', '--build-arg', 'WHO=docker', '--label', 'via=api', dir]).trim();
  assert.equal(id, dockerOk(s, ['image', 'inspect', '-f', '{{.Id}}', 'fromcli']).trim());

  // -f and a failing build
  dockerOk(s, ['build', '-f', path.join(dir, 'other.Dockerfile'), '-t', 'other', dir]);
  assert.equal(dockerOk(s, ['image', 'inspect', '-f', '{{index .Config.Labels "which"}}', 'other']).trim(), 'other');
  const bad = docker(s, ['build', '-t', 'bad', '-'], { input: 'FROM busybox\nRUN exit 3\n' });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /executor failed running \[\/bin\/sh -c exit 3\]: exit code: 3/);
  assert.equal(docker(s, ['image', 'inspect', 'bad']).code, 1);

  // the cache in system df, and builder prune
  assert.match(dockerOk(s, ['system', 'df']), /Build Cache\s+[1-9]\d*\s/);
  assert.match(dockerOk(s, ['builder', 'prune', '-af']), /Total reclaimed space/);
  assert.match(dockerOk(s, ['system', 'df']), /Build Cache\s+0\s/);
});
