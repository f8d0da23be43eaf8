/**
 * `--link` as Docker applies it: on the default bridge, the target's address under its
 * alias, hostname and name in /etc/hosts and the legacy environment; on a user-defined
 * network, an alias only the linking container resolves, following the target's address.
 * Docker's errors for a missing or stopped target. Through the CLI and through the API
 * (the Docker SDK for Python's `links=`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { containerRoot, strata, strataOk } from '../helpers.js';
import { findAardvark } from '../../src/network/index.js';
import { apiRoot, removeAllContainers, serve } from '../api/helpers.js';

function ipOn(root: string, ctr: string, net: string): string {
  return strataOk(root, ['inspect', '--format', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, ctr]).trim();
}

test('legacy links on the default bridge', { timeout: 120000 }, async (t) => {
  const root = containerRoot(t);
  strataOk(root, ['run', '-d', '--name', 'db', '--hostname', 'dbhost', '-e', 'SECRET=s3', '-e', 'HOME=/x', '--expose', '5432', '--expose', '7000-7002/udp', 'busybox', 'sleep', '300']);
  const ip = ipOn(root, 'db', 'bridge');
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);

  await t.test('hosts and environment', () => {
    const out = strataOk(root, ['run', '--rm', '--name', 'web', '--link', 'db:my-db', 'busybox', 'sh', '-c', 'cat /etc/hosts; echo ---; env']);
    const [hosts, envText] = out.split('---\n') as [string, string];
    assert.match(hosts, new RegExp(`^${ip.replace(/\./g, '\\.')}\tmy-db dbhost db$`, 'm'));
    const env = new Set(envText.split('\n'));
    for (const v of [
      `MY_DB_PORT=tcp://${ip}:80`,
      `MY_DB_PORT_80_TCP=tcp://${ip}:80`, `MY_DB_PORT_80_TCP_ADDR=${ip}`, 'MY_DB_PORT_80_TCP_PORT=80', 'MY_DB_PORT_80_TCP_PROTO=tcp',
      `MY_DB_PORT_5432_TCP=tcp://${ip}:5432`, 'MY_DB_PORT_5432_TCP_PORT=5432',
      `MY_DB_PORT_7000_UDP_START=udp://${ip}:7000`, `MY_DB_PORT_7000_UDP_END=udp://${ip}:7002`, 'MY_DB_PORT_7000_UDP_PORT_START=7000', 'MY_DB_PORT_7000_UDP_PORT_END=7002',
      `MY_DB_PORT_7001_UDP=udp://${ip}:7001`,
      'MY_DB_NAME=/web/my-db', 'MY_DB_ENV_SECRET=s3',
    ]) assert.ok(env.has(v), `${v} in\n${envText}`);
    assert.ok(![...env].some((v) => v.startsWith('MY_DB_ENV_HOME=') || v.startsWith('MY_DB_ENV_PATH=')));
    // the alias alone (name = alias): no repeated name
    const one = strataOk(root, ['run', '--rm', '--link', 'db', 'busybox', 'sh', '-c', 'grep dbhost /etc/hosts; ping -c 1 -W 2 db >/dev/null && echo reached']);
    assert.equal(one, `${ip}\tdb dbhost\nreached\n`);
  });

  await t.test('inspect shows the link with current names', () => {
    strataOk(root, ['create', '--name', 'app', '--link', 'db:alias1', 'busybox', 'true']);
    assert.equal(strataOk(root, ['inspect', '-f', '{{json .HostConfig.Links}}', 'app']).trim(), '["/db:/app/alias1"]');
  });

  await t.test("Docker's errors", () => {
    let r = strata(root, ['run', '--rm', '--link', 'nope:n', 'busybox', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /could not get container for nope: No such container: nope/);
    strataOk(root, ['create', '--name', 'idle', 'busybox', 'true']);
    r = strata(root, ['run', '--name', 'linker', '--link', 'idle:i', 'busybox', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Cannot link to a non running container: \/idle AS \/linker\/i/);
    r = strata(root, ['run', '--rm', '--network', 'host', '--link', 'db', 'busybox', 'true']);
    assert.match(r.stderr, /conflicting options: host type networking can't be used with links/);
    r = strata(root, ['run', '--rm', '--link', 'a:b:c', 'busybox', 'true']);
    assert.match(r.stderr, /bad format for links: a:b:c/);
  });

  await t.test('the hosts entry follows the target across a restart', { skip: findAardvark() ? false : 'aardvark-dns is not installed' }, () => {
    strataOk(root, ['run', '-d', '--name', 'web2', '--link', 'db:d', 'busybox', 'sleep', '300']);
    strataOk(root, ['run', '-d', '--name', 'filler', 'busybox', 'sleep', '300']); // takes db's address while db is down
    strataOk(root, ['stop', '-t', '0', 'db']);
    assert.doesNotMatch(strataOk(root, ['exec', 'web2', 'cat', '/etc/hosts']), /\td dbhost/);
    strataOk(root, ['run', '-d', '--name', 'filler2', 'busybox', 'sleep', '300']);
    strataOk(root, ['start', 'db']);
    const ip2 = ipOn(root, 'db', 'bridge');
    assert.match(strataOk(root, ['exec', 'web2', 'cat', '/etc/hosts']), new RegExp(`^${ip2.replace(/\./g, '\\.')}\td dbhost db$`, 'm'));
  });
});

test('links on a user-defined network are the linking container\'s own names', { skip: findAardvark() ? false : 'aardvark-dns is not installed', timeout: 120000 }, async (t) => {
  const root = containerRoot(t);
  strataOk(root, ['network', 'create', 'app']);
  strataOk(root, ['run', '-d', '--name', 't1', '--network', 'app', 'busybox', 'sleep', '300']);
  strataOk(root, ['run', '-d', '--name', 'l1', '--network', 'app', '--link', 't1:tee', 'busybox', 'sleep', '300']);
  strataOk(root, ['run', '-d', '--name', 'o1', '--network', 'app', 'busybox', 'sleep', '300']);
  assert.equal(strataOk(root, ['inspect', '-f', '{{json .NetworkSettings.Networks.app.Links}}', 'l1']).trim(), '["t1:tee"]');
  const ping = (from: string, name: string) => strata(root, ['exec', from, 'ping', '-c', '1', '-W', '2', name]);
  assert.match(ping('l1', 'tee').stdout, new RegExp(`PING tee \\(${ipOn(root, 't1', 'app').replace(/\./g, '\\.')}\\)`));
  assert.notEqual(ping('o1', 'tee').code, 0, 'another container on the network does not resolve the alias');
  assert.equal(ping('l1', 't1').code, 0);
  // the target moves: the alias follows
  strataOk(root, ['stop', '-t', '0', 't1']);
  strataOk(root, ['run', '-d', '--name', 'filler', '--network', 'app', 'busybox', 'sleep', '300']);
  strataOk(root, ['start', 't1']);
  assert.match(ping('l1', 'tee').stdout, new RegExp(`PING tee \\(${ipOn(root, 't1', 'app').replace(/\./g, '\\.')}\\)`));
  // network connect --link; links on the default bridge are refused there
  strataOk(root, ['network', 'create', 'side']);
  strataOk(root, ['network', 'connect', 'side', 't1']);
  strataOk(root, ['network', 'connect', '--link', 't1:sidekick', 'side', 'o1']);
  assert.equal(ping('o1', 'sidekick').code, 0);
  const r = strata(root, ['network', 'connect', '--link', 't1:x', 'bridge', 'l1']);
  assert.match(r.stderr, /links are only supported for user-defined networks/);
});

const PYTHON = '/usr/bin/python3';
function sdkMissing(): string | false {
  if (!fs.existsSync(PYTHON)) return `no ${PYTHON}`;
  return spawnSync(PYTHON, ['-c', 'import docker'], { encoding: 'utf8' }).status === 0 ? false : 'python3-docker is not installed';
}

test('links through the API: the Docker SDK for Python', { skip: sdkMissing(), timeout: 120000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-links-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));
  const script = `
import docker, sys
c = docker.from_env()
db = c.containers.run('busybox', ['sleep', '300'], name='db', environment={'PGPASS': 'pw'}, detach=True)
db.reload()
ip = db.attrs['NetworkSettings']['Networks']['bridge']['IPAddress']
out = c.containers.run('busybox', ['sh', '-c', 'grep -w database /etc/hosts; echo $DATABASE_NAME $DATABASE_ENV_PGPASS'], name='web', links={'db': 'database'}, remove=True).decode()
assert out.split('\\n')[0].split('\\t') == [ip, 'database ' + db.id[:12] + ' db'], out
assert out.split('\\n')[1] == '/web/database pw', out
try:
    c.containers.run('busybox', 'true', links={'ghost': 'g'})
    sys.exit('no error for a missing target')
except docker.errors.APIError as e:
    assert e.status_code == 400 and 'could not get container for ghost' in str(e), str(e)
print('ok')
`;
  const env: Record<string, string> = { ...process.env as Record<string, string>, DOCKER_HOST: s.host, DOCKER_CONFIG: path.join(root, '.docker') };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(PYTHON, ['-c', script], { env, encoding: 'utf8', timeout: 100000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.equal(r.stdout.trim(), 'ok');
});
