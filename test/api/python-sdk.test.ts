/**
 * The Docker SDK for Python (Debian's python3-docker 5.0.3) against `strata serve`: the
 * script in fixtures/sdk-workflow.py covers containers (foreground and detached run, exec,
 * archive, stats, diff, commit, logs, wait, kill, restart), images, volumes, networks
 * (connect and disconnect with aliases) and events; each step prints `ok <step>`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PROJECT } from '../helpers.js';
import { apiRoot, removeAllContainers, serve } from './helpers.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(PROJECT, 'test', 'api', 'fixtures', 'sdk-workflow.py');

function sdkMissing(): string | false {
  if (!fs.existsSync(PYTHON)) return `no ${PYTHON}`;
  const r = spawnSync(PYTHON, ['-c', 'import docker'], { encoding: 'utf8' });
  return r.status === 0 ? false : 'python3-docker is not installed';
}

test('the Docker SDK for Python drives strata serve', { skip: sdkMissing(), timeout: 180000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-py-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));
  const env: Record<string, string> = { ...process.env as Record<string, string>, DOCKER_HOST: s.host, DOCKER_CONFIG: path.join(root, '.docker') };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(PYTHON, [SCRIPT], { env, encoding: 'utf8', timeout: 170000 });
  const lines = r.stdout.split('\n').filter(Boolean);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.deepEqual(lines.filter((l) => !l.startsWith('ok ')), []);
  assert.ok(lines.includes('ok networks: connect and disconnect with aliases'));
  assert.ok(lines.includes('ok clean up'));
});
