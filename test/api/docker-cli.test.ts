/**
 * The real docker CLI (v28) against `strata serve`: the whole workflow, compared with the
 * strata CLI's own output for the same data where that is meaningful.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempRoot, strata, strataOk } from '../helpers.js';
import { registryAvailable, startRegistry } from '../registry/helpers.js';
import { DOCKER, apiRoot, docker, dockerMissing, dockerOk, freePort, httpGet, removeAllContainers, serve, type Served } from './helpers.js';

const skip = dockerMissing();
if (skip) console.log(`# skipping docker CLI tests: ${skip}`);

/** `script` gives docker a real terminal; keystrokes are fed with pauses. */
function inTerminal(s: Served, cmd: string, keys: string[]): { code: number; out: string } {
  const feed = keys.map((k) => `sleep 1; printf '${k}'`).join('; ') + '; sleep 1';
  const env = { ...process.env, DOCKER_HOST: s.host, DOCKER_CONFIG: path.join(s.root, '.docker') } as Record<string, string>;
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync('sh', ['-c', `(${feed}) | script -qec "${DOCKER} ${cmd}" /dev/null`], { env, timeout: 60000 });
  return { code: r.status ?? -1, out: r.stdout.toString().replace(/\r/g, '') };
}

test('docker CLI workflow through strata serve', { skip, timeout: 300000 }, async (t) => {
  const { root, defer } = apiRoot(t, 'strata-api-docker-');
  const s = await serve(root);
  defer(() => s.stop());
  defer(() => removeAllContainers(root));

  await t.test('socket is 0660 and owned by root', () => {
    const st = fs.statSync(s.sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 0);
  });

  await t.test('version negotiates API 1.41', () => {
    const out = dockerOk(s, ['version', '--format', '{{.Server.APIVersion}} {{.Client.APIVersion}}']);
    assert.equal(out.trim(), '1.41 1.41');
  });

  const port = await freePort();
  await t.test('run -d with a published port, exec changes what it serves', async () => {
    const id = dockerOk(s, ['run', '-d', '--name', 'web', '-p', `${port}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(await httpGet(port), 'hello from strata\n');
    dockerOk(s, ['exec', 'web', 'sh', '-c', 'echo hi > /www/index.html']);
    assert.equal(await httpGet(port), 'hi\n');
  });

  await t.test('exec: stdout, stderr, exit code, stdin', () => {
    const r = docker(s, ['exec', 'web', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(dockerOk(s, ['exec', '-i', 'web', 'cat'], { input: 'piped\n' }), 'piped\n');
  });

  await t.test('exec -it through a terminal', () => {
    const r = inTerminal(s, 'exec -it web sh', ['echo tty-$((6*7))\\r', 'exit 4\\r']);
    assert.match(r.out, /tty-42/);
    assert.equal(r.code, 4);
  });

  await t.test('ps matches strata ps', () => {
    const fmt = '{{.ID}} {{.Image}} {{.Command}} {{.Ports}} {{.Names}}';
    const d = dockerOk(s, ['ps', '--format', fmt]);
    assert.equal(d, strataOk(root, ['ps', '--format', fmt]));
    assert.match(d, new RegExp(`0\\.0\\.0\\.0:${port}->80/tcp web`));
    assert.match(dockerOk(s, ['ps']), /Up .* web\n$/);
  });

  await t.test('foreground run: output, exit code, stdin, --rm', () => {
    const r = docker(s, ['run', '--name', 'fg', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 7']);
    assert.equal(r.code, 7);
    assert.equal(r.stdout, 'to-out\n');
    assert.equal(r.stderr, 'to-err\n');
    assert.equal(dockerOk(s, ['run', '-i', '--rm', 'busybox', 'cat'], { input: 'piped-in\n' }), 'piped-in\n');
    assert.equal(docker(s, ['run', '--rm', 'busybox', 'sh', '-c', 'exit 5']).code, 5);
    assert.equal(dockerOk(s, ['ps', '-a', '--format', '{{.Names}}']).split('\n').filter(Boolean).sort().join(' '), 'fg web');
  });

  await t.test('containers the daemonless CLI starts are reaped by the server (--rm, die event)', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const id = strataOk(root, ['run', '-d', '--rm', '--name', 'clirm', 'busybox', 'sh', '-c', 'sleep 0.5']).trim();
    // nothing lists containers meanwhile (a listing would notice the exit too): only the server's watch can remove it
    const dir = path.join(root, 'containers', id);
    for (let i = 0; i < 100 && fs.existsSync(dir); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!fs.existsSync(dir), 'removed after its exit');
    const ev = dockerOk(s, ['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'container=clirm', '--format', '{{.Action}}']);
    assert.deepEqual(ev.trim().split('\n'), ['create', 'start', 'die', 'destroy']);
  });

  await t.test('run -it through a terminal', () => {
    const r = inTerminal(s, 'run -it --rm busybox sh', ['echo run-$((6*7))\\r', 'exit 5\\r']);
    assert.match(r.out, /run-42/);
    assert.equal(r.code, 5);
  });

  await t.test('logs: frames split into stdout and stderr, tail, timestamps', () => {
    const r = docker(s, ['logs', 'fg']);
    assert.equal(r.stdout, 'to-out\n');
    assert.equal(r.stderr, 'to-err\n');
    const tail = docker(s, ['logs', '-t', '--tail', '1', 'fg']);
    assert.equal(tail.stdout + tail.stderr, strataOk(root, ['logs', '-t', '--tail', '1', 'fg']) + strata(root, ['logs', '-t', '--tail', '1', 'fg']).stderr);
    assert.match(tail.stdout + tail.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z to-err\n$/);
  });

  await t.test('stop, start, restart; 304s are successes', async () => {
    assert.equal(dockerOk(s, ['stop', '-t', '1', 'web']), 'web\n');
    assert.equal(dockerOk(s, ['stop', 'web']), 'web\n');
    assert.match(dockerOk(s, ['ps', '-a', '--filter', 'name=web', '--format', '{{.Status}}']), /^Exited/);
    assert.equal(dockerOk(s, ['start', 'web']), 'web\n');
    assert.equal(dockerOk(s, ['start', 'web']), 'web\n');
    assert.equal(dockerOk(s, ['restart', '-t', '1', 'web']), 'web\n');
    assert.equal(dockerOk(s, ['inspect', '-f', '{{.State.Status}}', 'web']), 'running\n');
    assert.equal(await httpGet(port), 'hi\n');
  });

  await t.test('inspect matches strata inspect', () => {
    const fmt = '{{.Id}} {{.Name}} {{.State.Status}} {{.Config.Image}} {{json .Config.Cmd}} {{json .HostConfig.PortBindings}} {{.Image}}';
    assert.equal(dockerOk(s, ['inspect', '-f', fmt, 'web']), strataOk(root, ['inspect', '-f', fmt, 'web']));
    const img = dockerOk(s, ['inspect', '-f', '{{.Id}} {{json .RepoTags}}', 'busybox']);
    assert.equal(img, strataOk(root, ['image', 'inspect', '-f', '{{.Id}} {{json .RepoTags}}', 'busybox']));
    const bad = docker(s, ['inspect', 'nope']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /No such object: nope/);
  });

  await t.test('images, tag, history, rmi match the strata CLI', () => {
    dockerOk(s, ['tag', 'busybox', 'myrepo:v1']);
    const fmt = '{{.ID}} {{.Repository}}:{{.Tag}} {{.Size}}';
    // the docker CLI lists the tags of one image in Go map order (random): compare as sets
    const sorted = (x: string) => x.split('\n').sort().join('\n');
    const d = dockerOk(s, ['images', '--format', fmt]);
    assert.equal(sorted(d), sorted(strataOk(root, ['images', '--format', fmt])));
    assert.match(d, /myrepo:v1/);
    assert.equal(dockerOk(s, ['images', 'myrepo', '--format', fmt]), strataOk(root, ['images', 'myrepo', '--format', fmt]));
    const hf = '{{.ID}} {{.CreatedBy}} {{.Size}} {{.Comment}}';
    assert.equal(dockerOk(s, ['history', '--format', hf, 'myrepo:v1']), strataOk(root, ['history', '--format', hf, 'myrepo:v1']));
    assert.equal(dockerOk(s, ['rmi', 'myrepo:v1']), 'Untagged: myrepo:v1\n');
    const r = docker(s, ['rmi', 'nope']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'Error response from daemon: No such image: nope:latest');
    const used = docker(s, ['rmi', 'busybox']);
    assert.equal(used.code, 1);
    assert.match(used.stderr, /conflict: unable to remove repository reference "busybox" \(must force\) - container [0-9a-f]{12} is using its referenced image/);
  });

  await t.test('save | load, into another root and back through the API', () => {
    dockerOk(s, ['tag', 'busybox', 'saved:v1']);
    const tar = path.join(root, 'saved.tar');
    dockerOk(s, ['save', '-o', tar, 'saved:v1']);
    const other = tempRoot(t, 'strata-api-load-');
    assert.equal(strataOk(other, ['load', '-i', tar]), 'Loaded image: saved:v1\n');
    const id = dockerOk(s, ['images', '--format', '{{.ID}}', 'saved']);
    assert.equal(strataOk(other, ['images', '--format', '{{.ID}}', 'saved']), id);
    dockerOk(s, ['rmi', 'saved:v1']);
    assert.equal(dockerOk(s, ['load', '-i', tar]), 'Loaded image: saved:v1\n');
    const piped = spawnSync('sh', ['-c', `${DOCKER} save saved:v1 | ${DOCKER} load`], {
      env: { ...process.env, DOCKER_HOST: s.host, DOCKER_CONFIG: path.join(root, '.docker') },
    });
    assert.equal(piped.stdout.toString(), 'Loaded image: saved:v1\n', piped.stderr.toString());
    assert.equal(dockerOk(s, ['images', '--format', '{{.ID}}', 'saved']), id);
  });

  await t.test('system df counts images and containers', () => {
    const out = dockerOk(s, ['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Active}}']);
    assert.match(out, /^Images 1 1\nContainers 2 1\n/);
  });

  await t.test('errors read as the daemon words them', () => {
    let r = docker(s, ['rm', 'nope']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'Error response from daemon: No such container: nope');
    r = docker(s, ['exec', 'fg', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error response from daemon: Container [0-9a-f]{64} is not running/);
    r = docker(s, ['run', '--name', 'web', 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /Conflict\. The container name "\/web" is already in use/);
    r = docker(s, ['rm', 'web']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /You cannot remove a running container/);
    r = docker(s, ['run', '--name', 'bad', 'busybox', '/nonexistent']);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /no such file or directory/);
    dockerOk(s, ['rm', 'bad']);
  });

  await t.test('exec -d, export, volumes', async () => {
    assert.equal(dockerOk(s, ['exec', '-d', 'web', 'sh', '-c', 'echo detached > /tmp/d']), '');
    let got = '';
    for (let i = 0; i < 40 && got !== 'detached\n'; i++) {
      got = docker(s, ['exec', 'web', 'cat', '/tmp/d']).stdout;
      if (got !== 'detached\n') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(got, 'detached\n');
    const env = { ...process.env, DOCKER_HOST: s.host, DOCKER_CONFIG: path.join(root, '.docker') };
    const list = spawnSync('sh', ['-c', `${DOCKER} export web | tar -t`], { env }).stdout.toString().split('\n');
    assert.ok(list.includes('www/index.html') || list.includes('./www/index.html'), list.slice(0, 5).join(' '));
    assert.equal(dockerOk(s, ['volume', 'create', 'vol1']), 'vol1\n');
    const fmt = '{{.Driver}} {{.Name}}';
    assert.equal(dockerOk(s, ['volume', 'ls', '--format', fmt]), strataOk(root, ['volume', 'ls', '--format', fmt]));
    assert.equal(dockerOk(s, ['volume', 'inspect', '-f', '{{.Mountpoint}}', 'vol1']), strataOk(root, ['volume', 'inspect', '-f', '{{.Mountpoint}}', 'vol1']));
    assert.equal(dockerOk(s, ['volume', 'rm', 'vol1']), 'vol1\n');
  });

  await t.test('networks', () => {
    const nid = dockerOk(s, ['network', 'create', 'apinet']).trim();
    assert.match(nid, /^[0-9a-f]{64}$/);
    const fmt = '{{.ID}} {{.Name}} {{.Driver}} {{.Scope}}';
    const d = dockerOk(s, ['network', 'ls', '--format', fmt]);
    assert.equal(d, strataOk(root, ['network', 'ls', '--format', fmt]));
    assert.match(d, / apinet bridge local\n/);
    assert.equal(dockerOk(s, ['network', 'inspect', '-f', '{{.Name}} {{.Driver}}', 'apinet']), 'apinet bridge\n');
    assert.equal(dockerOk(s, ['network', 'rm', 'apinet']), 'apinet\n');
  });

  await t.test('diff and commit match the strata CLI', () => {
    const d = dockerOk(s, ['diff', 'web']);
    assert.equal(d, strataOk(root, ['diff', 'web']));
    assert.match(d, /^C \/www\nC \/www\/index\.html\n/m);
    const base = dockerOk(s, ['inspect', '-f', '{{.Id}}', 'busybox']).trim();
    const id = dockerOk(s, ['commit', '--author', 'Alice <a@example.com>', '--message', 'my msg', 'web', 'committed:v1']).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(dockerOk(s, ['inspect', '-f', '{{.Id}}|{{.Author}}|{{.Comment}}|{{.Parent}}', 'committed:v1']), `${id}|Alice <a@example.com>|my msg|${base}\n`);
    const hf = '{{.ID}} {{.CreatedBy}} {{.Size}} {{.Comment}}';
    assert.equal(dockerOk(s, ['history', '--format', hf, 'committed:v1']), strataOk(root, ['history', '--format', hf, 'committed:v1']));
    assert.equal(dockerOk(s, ['run', '--rm', 'committed:v1', 'cat', '/www/index.html']), 'hi\n');
    dockerOk(s, ['rmi', 'committed:v1']);
  });

  await t.test('push, pull, and run of an image only in a registry', { skip: registryAvailable() ? false : 'docker-registry is not installed' }, async () => {
    const reg = await startRegistry();
    try {
      const ref = `${reg.addr}/api/bb:v1`;
      dockerOk(s, ['tag', 'busybox', ref]);
      const push = dockerOk(s, ['push', ref]);
      assert.match(push, /v1: digest: sha256:[0-9a-f]{64} size: \d+/);
      dockerOk(s, ['rmi', ref]);
      const pull = dockerOk(s, ['pull', ref]);
      assert.match(pull, /Digest: sha256:[0-9a-f]{64}\nStatus: .* for /);
      assert.ok(pull.endsWith(`${ref}\n`), pull);
      assert.equal(dockerOk(s, ['images', '--format', '{{.ID}}', ref]), dockerOk(s, ['images', '--format', '{{.ID}}', 'busybox']));
      dockerOk(s, ['rmi', ref]);
      const run = docker(s, ['run', '--rm', ref, 'echo', 'from-registry']);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, 'from-registry\n');
      assert.match(run.stderr, new RegExp(`Unable to find image '${ref.replace(/[.]/g, '\\.')}' locally`));
      dockerOk(s, ['rmi', ref]);
      const missing = docker(s, ['pull', `${reg.addr}/api/nope:v1`]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /Error response from daemon: manifest for .*nope:v1 not found/);
    } finally {
      await reg.stop();
    }
  });

  await t.test('rm -f removes running and stopped containers', () => {
    assert.equal(dockerOk(s, ['rm', '-f', 'web', 'fg']), 'web\nfg\n');
    assert.equal(dockerOk(s, ['ps', '-aq']), '');
  });
});
