/**
 * `POST /build` through the real docker CLI (v28, no buildx: it falls back to the legacy
 * protocol) against `strata serve`; `POST /build/prune`; Build Cache in `system df`.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
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

  // docker-compose's build: (the classic protocol through docker-py)
  if (fs.existsSync('/usr/bin/docker-compose')) {
    const proj = tempDir(t, 'strata-compose-');
    fs.copyFileSync(path.join(dir, 'Dockerfile'), path.join(proj, 'Dockerfile'));
    fs.copyFileSync(path.join(dir, 'msg.txt'), path.join(proj, 'msg.txt'));
    fs.writeFileSync(path.join(proj, 'docker-compose.yml'), 'version: "3"\nservices:\n  app:\n    build:\n      context: .\n      args:\n        WHO: compose\n    image: composed:latest\n');
    const env = { ...process.env, DOCKER_HOST: s.host, DOCKER_CONFIG: path.join(root, '.docker') } as Record<string, string>;
    delete env.NODE_EXTRA_CA_CERTS;
    const c = spawnSync('docker-compose', ['build'], { cwd: proj, env, timeout: 120000 });
    assert.equal(c.status, 0, c.stderr?.toString());
    assert.equal(dockerOk(s, ['run', '--rm', 'composed']), 'hello\nbuilt for compose\n');
  }

  // the cache in system df, and builder prune
  assert.match(dockerOk(s, ['system', 'df']), /Build Cache\s+[1-9]\d*\s/);
  assert.match(dockerOk(s, ['builder', 'prune', '-af']), /Total reclaimed space/);
  assert.match(dockerOk(s, ['system', 'df']), /Build Cache\s+0\s/);
});
