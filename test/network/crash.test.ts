import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NetworkManager, parsePublish, canBind, GLOBAL_LOCK } from '../../src/network/index.js';
import { cleanRoot, randomId, pickFreePort, noteVeths, type TestRoot } from './helpers.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'crash-attach.js');

function crashAttach(root: TestRoot, id: string, step: string, ports: string): void {
  const r = spawnSync(process.execPath, [child, root.nm.stateDir, root.tag, id, step, JSON.stringify(parsePublish(ports))], { encoding: 'utf8' });
  assert.equal(r.signal, 'SIGKILL', `child did not die at ${step}: status ${r.status} ${r.stderr}`);
}

function natRulesOf(id: string): string[] {
  return execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(id));
}

function reservationsOf(root: TestRoot, id: string): string[] {
  const dir = path.join(root.nm.stateDir, 'ipam', `${root.nm.cniPrefix}bridge`);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f) && fs.readFileSync(path.join(dir, f), 'utf8').startsWith(id));
}

async function withRoot(t: { after: (fn: () => Promise<void>) => void }): Promise<{ root: TestRoot; subnets: string[] }> {
  const { root, subnets } = cleanRoot(t);
  // The default network exists before the crash, as it would on a used root.
  subnets.push((await root.nm.ensureDefault()).subnet);
  return { root, subnets };
}

test('killed after CNI ADD: cleanupStale removes netns, rules, address, port booking', async (t) => {
  const { root } = await withRoot(t);
  const port = await pickFreePort();
  const id = randomId();
  crashAttach(root, id, 'ports:bridge', `${port}:80`);

  // What the crash left: a netns with eth0, the DNAT rules, a reserved address,
  // a record still "attaching", and the host-wide lock file of a dead process.
  const ns = root.nm.netnsNameFor(id);
  assert.ok(fs.existsSync(`/run/netns/${ns}`));
  noteVeths(root, id);
  assert.ok(natRulesOf(id).length >= 1, 'nat rules left by the crash');
  assert.equal(reservationsOf(root, id).length, 1);
  assert.equal(root.nm.get(id)?.ports[0]?.hostPort, port);
  assert.ok(fs.existsSync(GLOBAL_LOCK), 'the dead process still "holds" the host-wide lock');

  // A fresh manager on the same root (the next CLI call) recovers.
  const nm2 = new NetworkManager(root.nm.stateDir, { rootTag: root.tag });
  const report = await nm2.cleanupStale(new Set());
  assert.deepEqual(report.containers, [id]);
  assert.ok(!fs.existsSync(`/run/netns/${ns}`));
  assert.deepEqual(natRulesOf(id), []);
  assert.deepEqual(reservationsOf(root, id), []);
  assert.equal(nm2.get(id), undefined);
  assert.ok(await canBind('0.0.0.0', port, 'tcp'));
  // The port is publishable again (also proves the dead holder's lock was broken).
  const id2 = randomId();
  const att = await nm2.attach(id2, ['bridge'], parsePublish(`${port}:80`));
  noteVeths(root, id2);
  assert.equal(att.ports[0]!.hostPort, port);
  await nm2.detach(id2);
});

test('killed right after the netns was made: cleanupStale removes it', async (t) => {
  const { root } = await withRoot(t);
  const id = randomId();
  crashAttach(root, id, 'netns', '80');
  const ns = root.nm.netnsNameFor(id);
  assert.ok(fs.existsSync(`/run/netns/${ns}`));
  const report = await root.nm.cleanupStale(new Set());
  assert.deepEqual(report.containers, [id]);
  assert.ok(!fs.existsSync(`/run/netns/${ns}`));
  assert.equal(root.nm.get(id), undefined);
});

test('crash before the ADD result was saved, and the netns lost (reboot): sweeps still clean up', async (t) => {
  const { root } = await withRoot(t);
  const port = await pickFreePort();
  const id = randomId();
  crashAttach(root, id, 'ports:bridge', `${port}:80`);
  noteVeths(root, id);
  // Make it look as if the process died inside ADD, before writing the result...
  const file = path.join(root.nm.stateDir, 'containers', `${id}.json`);
  const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as { endpoints: Array<{ state: string; result?: unknown }> };
  for (const ep of rec.endpoints) { ep.state = 'pending'; delete ep.result; }
  fs.writeFileSync(file, JSON.stringify(rec));
  // ...and as if the host rebooted: /run/netns is empty (the veth goes with the netns).
  execFileSync('ip', ['netns', 'delete', root.nm.netnsNameFor(id)]);
  assert.ok(natRulesOf(id).length >= 1);

  // Unrelated live container of the same root: must survive the sweep.
  const live = randomId();
  const liveAtt = await root.nm.attach(live, ['bridge'], []);
  noteVeths(root, live);
  const report = await root.nm.cleanupStale(new Set([live]));
  assert.deepEqual(report.containers, [id]);
  assert.deepEqual(natRulesOf(id), []);
  assert.deepEqual(reservationsOf(root, id), []);
  const fwd = execFileSync('iptables-save', ['-t', 'filter'], { encoding: 'utf8' });
  assert.ok(liveAtt.endpoints[0]!.ipAddress, 'the live container has its address');
  assert.match(fwd, new RegExp(`-A CNI-FORWARD -i ${root.nm.defaultBridge} -j ACCEPT`), 'the network kept its rules');
  assert.ok(root.nm.get(live));
  assert.ok(await canBind('0.0.0.0', port, 'tcp'));
  await root.nm.detach(live);
});

test('leftovers without any record: stray netns and bridge of this root are removed', async (t) => {
  const { root } = await withRoot(t);
  const stray = root.nm.netnsNameFor(randomId());
  execFileSync('ip', ['netns', 'add', stray]);
  const strayBridge = `st${root.tag}-abcdef`;
  execFileSync('ip', ['link', 'add', strayBridge, 'type', 'bridge']);
  const report = await root.nm.cleanupStale(new Set());
  assert.deepEqual(report.netns, [stray]);
  assert.deepEqual(report.bridges, [strayBridge]);
  assert.ok(!fs.existsSync(`/run/netns/${stray}`));
  assert.ok(!fs.existsSync(`/sys/class/net/${strayBridge}`));
  // The default network's bridge is not a leftover.
  assert.ok(fs.existsSync(`/sys/class/net/st${root.tag}`));
});
