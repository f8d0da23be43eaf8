/**
 * Start: the container is created beside its network attach and started only once both are
 * done. Its first command sees its final network (address, route, /etc/hosts, resolv.conf);
 * an attach that fails while the container is being created undoes both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { containerRoot, strata, strataOk, mountsUnder } from '../helpers.js';
import { openEngine } from '../../src/engine/index.js';
import { deriveRootTag } from '../../src/network/index.js';
import { linuxSys, type Sys } from '../../src/sys/index.js';

/** What the container's network looks like from inside: addresses, routes, the two files. */
const PROBE = 'ip -4 -o addr show | grep -v " lo " | sed "s/  */ /g; s/ valid_lft.*//"; ip route; cat /etc/hosts /etc/resolv.conf';

/** Run `sh -c PROBE > /tmp/first` as the container's first command, then keep it running. */
const FIRST = ['sh', '-c', `(${PROBE}) > /tmp/f; mv /tmp/f /tmp/first; exec sleep 1000`];

async function firstView(root: string, name: string): Promise<string> {
  for (;;) {
    const r = strata(root, ['exec', name, 'cat', '/tmp/first']);
    if (r.code === 0) return r.stdout;
    await new Promise((res) => setTimeout(res, 20));
  }
}

const nowView = (root: string, name: string): string => strataOk(root, ['exec', name, 'sh', '-c', PROBE]);

test('the first command of a container sees its final address, route, /etc/hosts and resolv.conf', { timeout: 180000 }, async (t) => {
  const root = containerRoot(t);
  strataOk(root, ['network', 'create', 'first']);
  strataOk(root, ['network', 'create', 'second']);
  const cases: Array<{ name: string; args: string[]; connect?: string }> = [
    { name: 'dflt', args: ['-p', '80', '--hostname', 'web', '--add-host', 'db.example:10.1.2.3'] },
    { name: 'user', args: ['--network', 'first'] },
    { name: 'user2', args: ['--network', 'first', '--network-alias', 'svc'] },
    { name: 'multi', args: ['--network', 'first'], connect: 'second' },
    { name: 'linked', args: ['--link', 'dflt:backend'] },
  ];
  for (const c of cases) {
    if (c.connect) {
      strataOk(root, ['create', '--name', c.name, ...c.args, 'busybox', ...FIRST]);
      strataOk(root, ['network', 'connect', c.connect, c.name]);
      strataOk(root, ['start', c.name]);
    } else {
      strataOk(root, ['run', '-d', '--name', c.name, ...c.args, 'busybox', ...FIRST]);
    }
    const first = await firstView(root, c.name);
    assert.equal(first, nowView(root, c.name), `${c.name}: what the first command saw is what is there now`);
    const ips = strataOk(root, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', c.name]).trim().split(' ');
    for (const ip of ips) {
      assert.match(first, new RegExp(`inet ${ip.replace(/\./g, '\\.')}/`), `${c.name}: address ${ip} configured`);
      assert.match(first, new RegExp(`^${ip.replace(/\./g, '\\.')}\\t`, 'm'), `${c.name}: ${ip} in /etc/hosts`);
    }
    assert.match(first, /^default via /m, `${c.name}: default route`);
    if (c.connect) assert.match(first, / eth1 inet /, 'the second network too');
  }
  assert.match(await firstView(root, 'dflt'), /^10\.1\.2\.3\tdb\.example$/m);
  assert.match(await firstView(root, 'dflt'), /\tweb$/m);
  assert.match(await firstView(root, 'linked'), /\tbackend( \S+)* dflt$/m);

  // attached (`run` without -d: created, attached, then started)
  const att = strataOk(root, ['run', '--rm', '--network', 'first', '--hostname', 'att', 'busybox', 'sh', '-c', PROBE]);
  const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(att)?.[1];
  assert.ok(ip, att);
  assert.match(att, new RegExp(`^${ip.replace(/\./g, '\\.')}\\tatt$`, 'm'));
  assert.match(att, /^default via /m);
  assert.equal(att.slice(att.indexOf('nameserver')), nowView(root, 'user2').slice(nowView(root, 'user2').indexOf('nameserver')), 'the network\'s resolv.conf');
});

test('an attach that fails while the container is being created undoes both; the next start works', { timeout: 120000 }, async (t) => {
  const root = containerRoot(t);
  // the bridge plugin fails its ADD once the netns exists and the container was created in it
  let failing = true;
  const sys: Sys = Object.assign(Object.create(linuxSys) as Sys, {
    async cniExec(req: Parameters<Sys['cniExec']>[0]) {
      if (failing && req.env.CNI_COMMAND === 'ADD' && path.basename(req.plugin) === 'bridge') {
        const state = path.join(root, 'containers', req.env.CNI_CONTAINERID!, 'state.json');
        while (!/"created"/.test(fs.existsSync(state) ? fs.readFileSync(state, 'utf8') : '')) await new Promise((r) => setTimeout(r, 10));
        return { code: 1, stdout: JSON.stringify({ cniVersion: '1.0.0', code: 11, msg: 'injected bridge failure' }), stderr: '' };
      }
      return linuxSys.cniExec(req);
    },
  });
  const id = strataOk(root, ['create', '--name', 'cc', '-p', '80', 'busybox']).trim();
  const e = openEngine({ root, sys });
  t.after(() => e.close());
  await assert.rejects(e.containers.start('cc'), /injected bridge failure/);
  const c = e.containers.get('cc');
  assert.equal(c.row.state, 'created');
  assert.ok(!fs.existsSync(c.paths.exitFile) && !fs.existsSync(c.paths.stateFile), 'no run recorded');
  assert.equal(c.row.monitor_pid, 0);
  const monitors = execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes(id));
  assert.deepEqual(monitors, [], 'no monitor, no runc process');
  assert.deepEqual(mountsUnder(path.join(root, 'containers', id)), []);
  const tag = deriveRootTag(path.join(root, 'network'));
  assert.deepEqual(execFileSync('ip', ['netns', 'list']).toString().split('\n').filter((l) => l.startsWith(`st${tag}`)), []);
  assert.deepEqual(execFileSync('iptables-save').toString().split('\n').filter((l) => l.includes(id.slice(0, 12)) || (l.includes(`strata-${tag}.`) && /DNAT|CNI-DN/.test(l))), []);
  failing = false;
  await e.containers.start('cc');
  assert.equal(e.containers.get('cc').row.state, 'running');
  await e.containers.remove('cc', { force: true });
});
