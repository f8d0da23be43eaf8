/**
 * Debian's docker-compose 1.29 (on the Docker SDK for Python) against `strata serve`: a web
 * service with a published port and a named volume, a client that reaches it by service
 * name (and by a `links:` alias only it resolves) on a custom network; up -d, ps, logs, exec,
 * stop, start, scale, down -v, and nothing of the project left behind (containers, networks,
 * volumes, bridges, netns).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import { spawnSync } from 'node:child_process';
import { apiRoot, freePort, httpGet, removeAllContainers, serve, type Served } from './helpers.js';
import { strataOk } from '../helpers.js';

const COMPOSE = '/usr/bin/docker-compose';

function compose(s: Served, dir: string, args: string[], timeout = 120000): { code: number; stdout: string; stderr: string } {
  const env: Record<string, string> = { ...process.env as Record<string, string>, DOCKER_HOST: s.host, COMPOSE_PROJECT_NAME: 'stc', DOCKER_CONFIG: path.join(s.root, '.docker') };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(COMPOSE, ['--no-ansi', ...args], { cwd: dir, env, timeout, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function composeOk(s: Served, dir: string, args: string[]): string {
  const r = compose(s, dir, args);
  if (r.code !== 0) throw new Error(`docker-compose ${args.join(' ')} exited ${r.code}: ${r.stderr}\n${r.stdout}`);
  return r.stdout + r.stderr;
}

async function until<T>(what: string, fn: () => T | undefined, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('docker-compose brings a two-service project up and down', { skip: fs.existsSync(COMPOSE) ? false : `no ${COMPOSE}`, timeout: 300000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-compose-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));
  const dir = path.join(root, 'project');
  fs.mkdirSync(dir);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'docker-compose.yml'), `version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "hostname > /data/index.html; exec httpd -f -p 80 -h /data"]
    ports: ["${port}:80"]
    volumes: ["webdata:/data"]
    networks: [appnet]
  client:
    image: busybox
    command: ["sh", "-c", "while true; do wget -q -O - http://web/ && echo got-web; sleep 1; done"]
    networks: [appnet]
    depends_on: [web]
    links: ["web:www"]
volumes:
  webdata: {}
networks:
  appnet: {}
`);
  defer(() => { compose(s, dir, ['down', '-v', '-t', '1']); });

  await t.test('up -d', () => {
    const outText = composeOk(s, dir, ['up', '-d']);
    assert.match(outText, /Creating stc_web_1 \.\.\. done/);
    assert.match(outText, /Creating stc_client_1 \.\.\. done/);
  });

  await t.test('ps lists each container once, running, with its port', () => {
    const lines = composeOk(s, dir, ['ps']).split('\n').filter((l) => l.startsWith('stc_'));
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines.find((l) => l.startsWith('stc_web_1'))!, new RegExp(`Up\\s+0\\.0\\.0\\.0:${port}->80/tcp`));
    assert.match(lines.find((l) => l.startsWith('stc_client_1'))!, /\sUp\s/);
  });

  await t.test('the published port answers from the named volume', async () => {
    const body = await httpGet(port);
    assert.match(body, /^[0-9a-f]{12}\n$/);
  });

  await t.test('the client reaches web by its service name (logs)', async () => {
    await until('client output', () => (/got-web/.test(composeOk(s, dir, ['logs', 'client'])) ? true : undefined));
  });

  await t.test('exec in a service container', () => {
    const r = compose(s, dir, ['exec', '-T', 'web', 'cat', '/data/index.html']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[0-9a-f]{12}\n$/);
    // compose's links: the alias resolves for the linking service only
    const viaLink = compose(s, dir, ['exec', '-T', 'client', 'wget', '-q', '-O', '-', 'http://www/']);
    assert.equal(viaLink.code, 0, viaLink.stderr);
    assert.equal(viaLink.stdout, r.stdout);
    assert.notEqual(compose(s, dir, ['exec', '-T', 'web', 'ping', '-c', '1', '-W', '1', 'www']).code, 0);
  });

  await t.test('stop and start keep the project working', async () => {
    composeOk(s, dir, ['stop', '-t', '1']);
    assert.match(composeOk(s, dir, ['ps']), /stc_web_1.*Exit/);
    composeOk(s, dir, ['start']);
    assert.match(await httpGet(port), /^[0-9a-f]{12}\n$/);
  });

  await t.test('scale the client to two; both resolve web', async () => {
    composeOk(s, dir, ['up', '-d', '--scale', 'client=2']);
    const lines = composeOk(s, dir, ['ps']).split('\n').filter((l) => l.startsWith('stc_client_'));
    assert.equal(lines.length, 2, lines.join('\n'));
    await until('second client output', () => (/client_2.*got-web/.test(composeOk(s, dir, ['logs', 'client'])) ? true : undefined));
  });

  await t.test('down -v leaves nothing behind', () => {
    const ids = strataOk(root, ['ps', '-aq', '--no-trunc']).split('\n').filter(Boolean);
    const netId = (JSON.parse(strataOk(root, ['network', 'inspect', 'stc_appnet'])) as { Id: string }[])[0]!.Id;
    composeOk(s, dir, ['down', '-v', '-t', '1']);
    assert.equal(strataOk(root, ['ps', '-aq']).trim(), '');
    assert.doesNotMatch(strataOk(root, ['network', 'ls']), /appnet/);
    assert.doesNotMatch(strataOk(root, ['volume', 'ls', '-q']), /webdata/);
    const netns = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : [];
    assert.deepEqual(netns.filter((n) => ids.some((id) => n.endsWith(id.slice(0, 12)))), []);
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(links, new RegExp(`-${netId.slice(0, 6)}[:@]`));
    // the name resolver stops with the last record
    const dnsDir = path.join(root, 'network', 'aardvark-dns');
    assert.deepEqual(fs.existsSync(dnsDir) ? fs.readdirSync(dnsDir) : [], []);
  });
});

/** The server's answer to POST /build: 404 while image builds are not served. */
function buildServed(s: Served): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: s.sock, method: 'POST', path: '/v1.41/build', headers: { 'Content-Type': 'application/x-tar', 'Content-Length': 0 } }, (res) => {
      res.resume();
      resolve(res.statusCode !== 404);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

test('docker-compose builds a service (`build:`) once POST /build is served', { skip: fs.existsSync(COMPOSE) ? false : `no ${COMPOSE}`, timeout: 300000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-compose-build-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));
  if (!(await buildServed(s))) { t.skip('POST /build is not served'); return; }
  const dir = path.join(root, 'project');
  fs.mkdirSync(path.join(dir, 'app'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'app', 'Dockerfile'), 'FROM busybox\nRUN echo built > /built.txt\nCMD ["cat", "/built.txt"]\n');
  fs.writeFileSync(path.join(dir, 'docker-compose.yml'), 'version: "3.8"\nservices:\n  app:\n    build: ./app\n');
  defer(() => { compose(s, dir, ['down', '-v', '--rmi', 'local', '-t', '1']); });
  composeOk(s, dir, ['build']);
  composeOk(s, dir, ['up', '-d']);
  await until('the built image ran', () => (/built/.test(composeOk(s, dir, ['logs', 'app'])) ? true : undefined));
});

test('docker-compose up in the foreground attaches, follows the events and ends with the services', { skip: fs.existsSync(COMPOSE) ? false : `no ${COMPOSE}`, timeout: 120000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-compose-fg-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));
  const dir = path.join(root, 'fg');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'docker-compose.yml'), 'version: "3.8"\nservices:\n  one:\n    image: busybox\n    command: ["sh", "-c", "echo hello-one; sleep 1; echo bye-one"]\n  two:\n    image: busybox\n    command: ["sh", "-c", "echo hello-two; exit 3"]\n');
  defer(() => { compose(s, dir, ['down', '-t', '1']); });
  const r = compose(s, dir, ['up']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /one_1\s+\| hello-one\n(.*\n)*one_1\s+\| bye-one/);
  assert.match(r.stdout, /two_1\s+\| hello-two/);
  assert.match(r.stdout + r.stderr, /stc_two_1 exited with code 3/);
  assert.match(r.stdout + r.stderr, /stc_one_1 exited with code 0/);
  composeOk(s, dir, ['down', '-t', '1']);
  assert.equal(strataOk(root, ['ps', '-aq']).trim(), '');
});
