import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { deriveRootTag } from '../../src/network/index.js';
import { containerRoot, strata, strataOk, httpGet, mountsUnder, freePort } from '../helpers.js';


function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer().once('error', () => resolve(false)).listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

/** Links, namespaces and iptables lines carrying this root's tag. */
function hostLeftovers(root: string): string[] {
  const tag = deriveRootTag(path.join(root, 'network'));
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString().split('\n').filter((l) => l.includes(`st${tag}`));
  const ns = execFileSync('ip', ['netns', 'list']).toString().split('\n').filter((l) => l.startsWith(`st${tag}`));
  const rules = execFileSync('iptables-save').toString().split('\n').filter((l) => l.includes(`strata-${tag}.`) || l.includes(`st${tag}`));
  return [...links, ...ns, ...rules];
}

test('two web servers on two host ports, port freed on stop, peers by name on a user network, nothing left', async (t) => {
  const root = containerRoot(t);
  const [h1, h2] = [await freePort(), await freePort()];
  strataOk(root, ['run', '-d', '--name', 'web1', '-p', `${h1}:80`, 'busybox']);
  strataOk(root, ['run', '-d', '--name', 'web2', '-p', `${h2}:80`, 'busybox']);
  strataOk(root, ['exec', 'web1', 'sh', '-c', 'echo page one > /www/index.html']);
  strataOk(root, ['exec', 'web2', 'sh', '-c', 'echo page two > /www/index.html']);
  assert.deepEqual(await httpGet(`http://127.0.0.1:${h1}/`), { status: 200, body: 'page one\n' });
  assert.deepEqual(await httpGet(`http://127.0.0.1:${h2}/`), { status: 200, body: 'page two\n' });
  assert.equal(strataOk(root, ['port', 'web1']).trim(), `80/tcp -> 0.0.0.0:${h1}`);
  assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.Ports}}']), new RegExp(`web1 0\\.0\\.0\\.0:${h1}->80/tcp`));
  const ip = strataOk(root, ['inspect', '--format', '{{.NetworkSettings.IPAddress}}', 'web1']).trim();
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
  assert.equal((await httpGet(`http://${ip}/`)).body, 'page one\n');

  // the same host port again: Docker's error, nothing half-made
  const r = strata(root, ['run', '-d', '--name', 'web3', '-p', `${h1}:80`, 'busybox']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${h1} failed: port is already allocated`));
  assert.doesNotMatch(strataOk(root, ['ps', '-a', '--format', '{{.Names}}']), /web3/);

  strataOk(root, ['stop', '-t', '0', 'web1']);
  assert.ok(await canBind(h1), 'host port is free after stop');
  assert.equal((await httpGet(`http://127.0.0.1:${h2}/`)).body, 'page two\n');
  strataOk(root, ['start', 'web1']);
  assert.equal((await httpGet(`http://127.0.0.1:${h1}/`)).body, 'page one\n', 'published again after start, change kept');

  // user-defined network: containers reach each other by name
  strataOk(root, ['network', 'create', 'appnet']);
  assert.match(strataOk(root, ['network', 'ls', '--format', '{{.Name}} {{.Driver}}']), /^appnet bridge$/m);
  strataOk(root, ['run', '-d', '--name', 'api', '--network', 'appnet', 'busybox']);
  strataOk(root, ['exec', 'api', 'sh', '-c', 'echo from api > /www/index.html']);
  const got = strataOk(root, ['run', '--rm', '--network', 'appnet', 'busybox', 'sh', '-c', 'timeout 5 wget -qO- http://api/']);
  assert.equal(got, 'from api\n');
  const inUse = strata(root, ['network', 'rm', 'appnet']);
  assert.notEqual(inUse.code, 0);
  assert.match(inUse.stderr, /has active endpoints/);
  strataOk(root, ['rm', '-f', 'api', 'web1', 'web2']);
  strataOk(root, ['network', 'rm', 'appnet']);
  assert.ok(await canBind(h2));
  assert.deepEqual(mountsUnder(root), []);
  strataOk(root, ['system', 'reset', '--force']);
  assert.deepEqual(hostLeftovers(root), [], 'no links, netns or iptables rules of this root left');
});

test('network none and host', (t) => {
  const root = containerRoot(t);
  const none = strataOk(root, ['run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link']);
  assert.match(none, /lo:/);
  assert.doesNotMatch(none, /eth0/);
  // the host's interfaces (those present before and after: other processes may add or remove some meanwhile)
  const names = (out: string) => new Set(out.split('\n').filter(Boolean).map((l) => /^\d+:\s*([^:@]+)/.exec(l)?.[1]));
  const before = names(execFileSync('ip', ['-o', 'link']).toString());
  const host = names(strataOk(root, ['run', '--rm', '--network', 'host', 'busybox', 'ip', '-o', 'link']));
  const after = names(execFileSync('ip', ['-o', 'link']).toString());
  const stable = [...before].filter((n) => after.has(n));
  assert.ok(stable.length > 1, 'the host has interfaces besides lo');
  assert.deepEqual(stable.filter((n) => !host.has(n)), [], 'a host-network container sees every host interface');
});
