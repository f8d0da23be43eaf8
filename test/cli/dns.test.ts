/**
 * Docker's embedded DNS behaviour on user-defined networks (served by aardvark-dns): names,
 * network aliases and short IDs resolve from peers; a shared alias gives every address; a
 * container that joins, leaves or connects is seen at once; networks are isolated; the
 * default bridge has no names. The resolver stops with the root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { CLI, containerRoot, sh, strata, strataOk } from '../helpers.js';
import { findAardvark } from '../../src/network/index.js';

/** The IPv4 answers of busybox nslookup inside a container ([] for NXDOMAIN). */
function lookup(root: string, from: string, name: string): string[] {
  const r = strata(root, ['exec', from, 'nslookup', '-type=a', name]);
  const answer = r.stdout.split('Non-authoritative answer:')[1] ?? '';
  return [...answer.matchAll(/Address: (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort();
}

function ipOn(root: string, ctr: string, net: string): string {
  return strataOk(root, ['inspect', '--format', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, ctr]).trim();
}

test('names resolve on user-defined networks as with Docker\'s embedded DNS', { skip: findAardvark() ? false : 'aardvark-dns is not installed', timeout: 180000 }, async (t) => {
  const root = containerRoot(t);
  strataOk(root, ['network', 'create', 'front']);
  strataOk(root, ['network', 'create', 'back']);
  for (const [name, args] of [['a1', ['--network', 'front', '--network-alias', 'svc']], ['a2', ['--network', 'front', '--network-alias', 'svc']], ['b1', ['--network', 'back']], ['c1', []], ['c2', []]] as const) {
    strataOk(root, ['run', '-d', '--name', name, ...args, 'busybox', 'sleep', '300']);
  }
  const a1 = ipOn(root, 'a1', 'front');
  const tag = createHash('sha256').update(path.join(root, 'network', 'aardvark-dns')).digest('hex').slice(0, 8); // names this root's rules
  const a2 = ipOn(root, 'a2', 'front');

  await t.test('name, alias (every address) and short ID', () => {
    assert.deepEqual(lookup(root, 'a2', 'a1'), [a1]);
    assert.deepEqual(lookup(root, 'a1', 'svc'), [a1, a2].sort());
    const id12 = strataOk(root, ['inspect', '--format', '{{.Id}}', 'a1']).trim().slice(0, 12);
    assert.deepEqual(lookup(root, 'a2', id12), [a1]);
    assert.match(strataOk(root, ['exec', 'a2', 'cat', '/etc/resolv.conf']), /^nameserver \d+\.\d+\.\d+\.1$/m);
    assert.equal(strataOk(root, ['exec', 'a2', 'ping', '-c', '1', '-W', '2', 'a1']).includes(a1), true);
  });

  await t.test('networks are isolated; the default bridge has no names', () => {
    assert.deepEqual(lookup(root, 'b1', 'a1'), []);
    assert.deepEqual(lookup(root, 'a1', 'b1'), []);
    const r = strata(root, ['exec', 'c1', 'ping', '-c', '1', '-W', '1', 'c2']);
    assert.notEqual(r.code, 0);
  });

  await t.test("another network's gateway answers nothing", () => {
    const gw = (net: string) => strataOk(root, ['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', net]).trim();
    const ask = (from: string, name: string, server: string) => strata(root, ['exec', from, 'nslookup', '-type=a', name, server]);
    // its own gateway answers
    assert.match(ask('b1', 'b1', gw('back')).stdout, /Address: \d+\.\d+\.\d+\.\d+$/m);
    // front's containers asking back's gateway directly: refused, no names of back
    const r = ask('a1', 'b1', gw('back'));
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, new RegExp(ipOn(root, 'b1', 'back').replace(/\./g, '\\.')));
    assert.notEqual(ask('c1', 'a1', gw('front')).code, 0, 'nor from the default bridge');
    const rules = sh('iptables-save -t filter').split('\n').filter((l) => l.includes(`strata-dns ${tag} `));
    assert.equal(rules.length, 4, 'one REJECT per network and protocol');
  });

  await t.test('joins, leaves and connections are seen at once', () => {
    strataOk(root, ['run', '-d', '--name', 'a3', '--network', 'front', 'busybox', 'sleep', '300']);
    assert.deepEqual(lookup(root, 'a1', 'a3'), [ipOn(root, 'a3', 'front')]);
    strataOk(root, ['stop', '-t', '0', 'a3']);
    assert.deepEqual(lookup(root, 'a1', 'a3'), []);
    strataOk(root, ['network', 'connect', '--alias', 'db', 'front', 'b1']);
    const b1 = ipOn(root, 'b1', 'front');
    assert.deepEqual(lookup(root, 'a1', 'db'), [b1]);
    assert.deepEqual(lookup(root, 'b1', 'a1'), [a1], 'b1 now resolves through its new network too');
    strataOk(root, ['network', 'disconnect', 'front', 'b1']);
    assert.deepEqual(lookup(root, 'a1', 'db'), []);
    strataOk(root, ['start', 'a3']);
    assert.deepEqual(lookup(root, 'a1', 'a3'), [ipOn(root, 'a3', 'front')]);
  });

  await t.test('a rename is seen at once', () => {
    const ip = ipOn(root, 'a3', 'front');
    strataOk(root, ['rename', 'a3', 'a3r']);
    assert.deepEqual(lookup(root, 'a1', 'a3r'), [ip]);
    assert.deepEqual(lookup(root, 'a1', 'a3'), []);
    strataOk(root, ['rename', 'a3r', 'a3']);
  });

  await t.test('containers started and removed at once: the records are the last state', async () => {
    const names = ['p1', 'p2', 'p3', 'p4'];
    const parallel = (args: (n: string) => string[]) => Promise.all(names.map((n) => new Promise<number>((resolve) => {
      const env: Record<string, string> = { ...process.env as Record<string, string>, STRATA_ROOT: root };
      delete env.NODE_EXTRA_CA_CERTS;
      spawn(process.execPath, [CLI, ...args(n)], { env, stdio: 'ignore' }).on('exit', (code) => resolve(code ?? -1));
    })));
    // a race: a few rounds (before the records were read under the lock, one in three left a stale one)
    for (let round = 0; round < 4; round++) {
      assert.deepEqual(await parallel((n) => ['run', '-d', '--name', n, '--network', 'back', 'busybox', 'sleep', '300']), [0, 0, 0, 0]);
      if (round === 0) for (const n of names) assert.deepEqual(lookup(root, 'b1', n), [ipOn(root, n, 'back')], n);
      assert.deepEqual(await parallel((n) => ['rm', '-f', n]), [0, 0, 0, 0]);
      const file = fs.readFileSync(path.join(root, 'network', 'aardvark-dns', 'back'), 'utf8');
      assert.deepEqual(names.filter((n) => new RegExp(`[ ,]${n}[ ,\n]`).test(file)), [], `round ${round}: no record of a removed container`);
    }
  });

  await t.test('the resolver goes with the root', () => {
    const pidFile = path.join(root, 'network', 'aardvark-dns', 'aardvark.pid');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    strataOk(root, ['rm', '-f', 'a1', 'a2', 'a3', 'b1', 'c1', 'c2']);
    strataOk(root, ['system', 'reset', '--force']);
    let alive = true;
    try { process.kill(pid, 0); alive = !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'); } catch { alive = false; }
    assert.equal(alive, false);
    assert.deepEqual(sh('iptables-save -t filter').split('\n').filter((l) => l.includes(`strata-dns ${tag}`)), [], 'the scope rules go with it');
  });
});
