/**
 * The docker CLI through `strata serve` for what it reaches over the newer endpoints:
 * `docker cp` both ways (archive), `docker stats --no-stream`, `docker network
 * connect --alias` / `disconnect`, label filters, and `docker login` (POST /auth) into the
 * same credential store as `strata login`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { apiRoot, docker, dockerMissing, dockerOk, removeAllContainers, serve } from './helpers.js';
import { htpasswdLine, registryAvailable, startRegistry } from '../registry/helpers.js';

test('docker CLI: cp, stats, network connect, filters, login', { skip: dockerMissing() ?? false, timeout: 180000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-dx-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));
  dockerOk(s, ['run', '-d', '--name', 'dx', '--label', 'a=1', '--label', 'b=2', 'busybox', 'sleep', '300']);

  await t.test('cp into and out of a container; symlinks stay inside it', () => {
    const dir = fs.mkdtempSync(path.join(root, 'cp-'));
    fs.writeFileSync(path.join(dir, 'in.txt'), 'copied in\n');
    dockerOk(s, ['cp', path.join(dir, 'in.txt'), 'dx:/tmp/']);
    assert.equal(dockerOk(s, ['exec', 'dx', 'cat', '/tmp/in.txt']), 'copied in\n');
    dockerOk(s, ['exec', 'dx', 'ln', '-s', '/etc/passwd', '/tmp/link']);
    fs.writeFileSync(path.join(dir, 'host-secret'), 'host\n');
    dockerOk(s, ['cp', 'dx:/tmp/link', path.join(dir, 'out-link')]);
    assert.equal(fs.readlinkSync(path.join(dir, 'out-link')), '/etc/passwd');
    dockerOk(s, ['cp', '-L', 'dx:/tmp/link', path.join(dir, 'passwd')]);
    assert.match(fs.readFileSync(path.join(dir, 'passwd'), 'utf8'), /^root:x:0:0:/);
    const r = docker(s, ['cp', 'dx:/nope', dir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Could not find the file \/nope in container dx/);
  });

  await t.test('stats --no-stream with Docker\'s columns and --format', () => {
    const table = dockerOk(s, ['stats', '--no-stream', 'dx']).split('\n');
    assert.match(table[0]!, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    assert.match(table[1]!, /^[0-9a-f]{12}\s+dx\s+\d+\.\d+%\s+\S+ \/ \S+\s+\d+\.\d+%\s+\S+ \/ \S+\s+\S+ \/ \S+\s+1$/);
    assert.match(dockerOk(s, ['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', 'dx']), /^dx 1\n$/);
  });

  await t.test('network connect --alias and disconnect', () => {
    dockerOk(s, ['network', 'create', 'dxnet']);
    dockerOk(s, ['network', 'connect', '--alias', 'dxa', 'dxnet', 'dx']);
    const aliases = JSON.parse(dockerOk(s, ['inspect', '--format', '{{json (index .NetworkSettings.Networks "dxnet").Aliases}}', 'dx'])) as string[];
    assert.ok(aliases.includes('dxa'));
    dockerOk(s, ['run', '--rm', '--network', 'dxnet', 'busybox', 'ping', '-c', '1', '-W', '2', 'dxa']);
    dockerOk(s, ['network', 'disconnect', 'dxnet', 'dx']);
    assert.equal(dockerOk(s, ['inspect', '--format', '{{len .NetworkSettings.Networks}}', 'dx']).trim(), '1');
    dockerOk(s, ['network', 'rm', 'dxnet']);
  });

  await t.test('filters: labels all required, unknown keys refused', () => {
    assert.equal(dockerOk(s, ['ps', '-q', '--filter', 'label=a=1', '--filter', 'label=b=2']).trim().length, 12);
    assert.equal(dockerOk(s, ['ps', '-q', '--filter', 'label=a=1', '--filter', 'label=b=3']).trim(), '');
    const r = docker(s, ['ps', '--filter', 'foo=bar']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Invalid filter 'foo'/);
    dockerOk(s, ['volume', 'create', '--label', 'k=v', 'dxv']);
    assert.equal(dockerOk(s, ['volume', 'ls', '-q', '--filter', 'label=k=v']), 'dxv\n');
    assert.equal(dockerOk(s, ['volume', 'ls', '-q', '--filter', 'label=k=w']), '');
    dockerOk(s, ['volume', 'rm', 'dxv']);
  });

  const bcrypt = registryAvailable() ? htpasswdLine('alice', 'wonderland') : undefined;
  await t.test('login through POST /auth stores what strata login stores', { skip: bcrypt ? false : 'no docker-registry or bcrypt' }, async () => {
    const pw = path.join(root, 'htpasswd');
    fs.writeFileSync(pw, bcrypt + '\n');
    const reg = await startRegistry({ auth: { htpasswd: pw } });
    defer(() => reg.stop());
    const bad = docker(s, ['login', '-u', 'alice', '--password-stdin', reg.addr], { input: 'nope\n' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /401 Unauthorized/);
    assert.match(dockerOk(s, ['login', '-u', 'alice', '--password-stdin', reg.addr], { input: 'wonderland\n' }), /Login Succeeded/);
    const cfg = JSON.parse(fs.readFileSync(path.join(root, 'strata-config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(cfg.auths[reg.addr]!.auth, 'base64').toString(), 'alice:wonderland');
  });
});
