import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  cleanRoot, makeRoot, randomId, snapshot, leftovers, startHttpd, stopProcess, pageDir, execInNetns, noteVeths, httpGet,
} from './helpers.js';

/**
 * `ip netns exec NS` bind-mounts /etc/netns/NS/* over /etc: the same thing the engine's
 * bind mount of the container's hosts file does, so busybox inside sees our hosts file.
 */
/** A random 10.x.0.0/16 for explicit-subnet cases (two runs at once do not meet). */
const octet = 128 + Math.floor(Math.random() * 120);

function hostsPathFor(netnsName: string): string {
  return `/etc/netns/${netnsName}/hosts`;
}

test('user-defined network: peers reach each other by address and by name', async (t) => {
  const before = snapshot();
  const root = makeRoot();
  const subnets: string[] = [];
  const procs: Array<Awaited<ReturnType<typeof startHttpd>>> = [];
  const etcDirs: string[] = [];
  t.after(async () => {
    for (const p of procs) await stopProcess(p);
    subnets.push(...root.nm.list().map((n) => n.subnet).filter((s) => s));
    await root.cleanup();
    for (const d of etcDirs) fs.rmSync(d, { recursive: true, force: true });
    try { fs.rmdirSync('/etc/netns'); } catch { /* not empty (someone else's) or gone */ }
    assert.deepEqual(leftovers(root, before, snapshot(), subnets), []);
  });
  const { nm } = root;
  const netA = await nm.create('appnet');
  subnets.push(netA.subnet);
  assert.equal(netA.driver, 'bridge');
  assert.match(netA.bridge, new RegExp(`^st${root.tag}-[0-9a-f]{6}$`));
  assert.ok(fs.existsSync(`/sys/class/net/${netA.bridge}`), 'bridge made at network create, as Docker does');
  assert.equal(netA.cniName, `strata-${root.tag}.appnet`);

  const web = randomId();
  const cli = randomId();
  const webNs = nm.netnsNameFor(web);
  const cliNs = nm.netnsNameFor(cli);
  etcDirs.push(path.dirname(hostsPathFor(webNs)), path.dirname(hostsPathFor(cliNs)));
  const attWeb = await nm.attach(web, ['appnet'], [], { name: 'web', aliases: ['www'], hostsPath: hostsPathFor(webNs) });
  noteVeths(root, web);
  const webIp = attWeb.endpoints[0]!.ipAddress;
  procs.push(await startHttpd(attWeb.netnsName, pageDir(root, 'web', 'hello from web\n'), webIp));

  const attCli = await nm.attach(cli, ['appnet'], [], { name: 'client', hostsPath: hostsPathFor(cliNs) });
  noteVeths(root, cli);
  const cliIp = attCli.endpoints[0]!.ipAddress;
  assert.notEqual(webIp, cliIp);

  // The hosts files: own line, and the peer with its name, alias and short id.
  const cliHosts = fs.readFileSync(hostsPathFor(cliNs), 'utf8');
  assert.match(cliHosts, new RegExp(`^${cliIp.replace(/\./g, '\\.')}\\t${cli.slice(0, 12)}$`, 'm'));
  assert.match(cliHosts, new RegExp(`^${webIp.replace(/\./g, '\\.')}\\tweb www ${web.slice(0, 12)}$`, 'm'));
  // web joined first: its file was rewritten in place when client joined.
  const webHosts = fs.readFileSync(hostsPathFor(webNs), 'utf8');
  assert.match(webHosts, new RegExp(`^${cliIp.replace(/\./g, '\\.')}\\tclient ${cli.slice(0, 12)}$`, 'm'));
  assert.equal(nm.hostsFile(web), webHosts);

  // By address, then by name and alias (busybox wget, from inside the client's netns).
  // (No -T: Debian's static busybox 1.35 wget crashes with it; `timeout` bounds the call.)
  for (const target of [webIp, 'web', 'www']) {
    const r = await execInNetns(attCli.netnsName, ['busybox', 'wget', '-q', '-O', '-', `http://${target}:80/`]);
    assert.equal(r.code, 0, `wget ${target}: ${r.out}`);
    assert.equal(r.out, 'hello from web\n');
  }
  // Outbound path exists: default route via the gateway.
  const routes = await execInNetns(attCli.netnsName, ['ip', 'route']);
  assert.match(routes.out, new RegExp(`^default via ${netA.gateway.replace(/\./g, '\\.')} dev eth0`, 'm'));
  const lo = await execInNetns(attCli.netnsName, ['cat', '/sys/class/net/lo/operstate']);
  assert.equal(lo.out.trim(), 'unknown', 'lo is up');

  // inspect shows both; rm refuses while attached.
  const ins = nm.inspect('appnet');
  assert.deepEqual(Object.keys(ins.containers).sort(), [web, cli].sort());
  assert.equal(ins.containers[web]!.name, 'web');
  assert.equal(ins.containers[web]!.ipv4Address, `${webIp}/${netA.subnet.split('/')[1]}`);
  await assert.rejects(nm.remove('appnet'), { message: `error while removing network: network appnet id ${netA.id} has active endpoints` });

  // A second network is isolated from the first (firewall same-bridge policy).
  const netB = await nm.create('othernet', { subnet: `10.${octet}.7.0/24`, gateway: `10.${octet}.7.254` });
  subnets.push(netB.subnet);
  assert.equal(netB.gateway, `10.${octet}.7.254`);
  const other = randomId();
  const attOther = await nm.attach(other, ['othernet'], []);
  noteVeths(root, other);
  assert.match(attOther.endpoints[0]!.ipAddress, new RegExp(`^10\\.${octet}\\.7\\.\\d+$`));
  const blocked = await execInNetns(attOther.netnsName, ['busybox', 'wget', '-q', '-O', '-', `http://${webIp}:80/`], 3000);
  assert.notEqual(blocked.code, 0, 'other network cannot reach appnet');

  // connect: other joins appnet as eth1 and can now reach web; peers' files learn about it.
  const ep = await nm.connect(other, 'appnet', { aliases: ['joiner'] });
  noteVeths(root, other);
  assert.equal(ep.ifName, 'eth1');
  const viaConnect = await execInNetns(attOther.netnsName, ['busybox', 'wget', '-q', '-O', '-', `http://${webIp}:80/`]);
  assert.equal(viaConnect.out, 'hello from web\n');
  assert.match(fs.readFileSync(hostsPathFor(webNs), 'utf8'), new RegExp(`\\tjoiner ${other.slice(0, 12)}$`, 'm'));
  await assert.rejects(nm.connect(other, 'appnet'), /endpoint with name .* already exists in network appnet/);
  await nm.disconnect(other, 'appnet');
  assert.doesNotMatch(fs.readFileSync(hostsPathFor(webNs), 'utf8'), /joiner/);
  await assert.rejects(nm.disconnect(other, 'appnet'), { message: `container ${other} is not connected to network appnet` });

  // Leaving: the peer disappears from the other's hosts file.
  await nm.detach(cli);
  assert.doesNotMatch(fs.readFileSync(hostsPathFor(webNs), 'utf8'), /client/);
  await stopProcess(procs.shift()!);
  await nm.detach(web);
  await nm.detach(other);
  await nm.remove('appnet');
  assert.ok(!fs.existsSync(`/sys/class/net/${netA.bridge}`), 'bridge removed with the network');
});

test('network create/ls/inspect/rm/prune and their errors', async (t) => {
  const { root, subnets } = cleanRoot(t);
  const { nm } = root;
  const def = await nm.ensureDefault();
  subnets.push(def.subnet);
  assert.equal(def.name, 'bridge');
  assert.equal(def.predefined, true);
  assert.equal(def.bridge, `st${root.tag}`);
  assert.equal(def.gateway, def.subnet.replace(/\.0\/\d+$/, '.1'));
  assert.deepEqual(await nm.ensureDefault(), def, 'ensureDefault is idempotent');

  const n1 = await nm.create('n1', { labels: { a: 'b' } });
  subnets.push(n1.subnet);
  assert.notEqual(n1.subnet, def.subnet);
  assert.deepEqual(n1.labels, { a: 'b' });
  const n2 = await nm.create('n2', { subnet: `10.${octet + 1}.0.0/16`, internal: true });
  subnets.push(n2.subnet);
  assert.equal(n2.internal, true);
  assert.equal(n2.gateway, `10.${octet + 1}.0.1`);
  assert.deepEqual(nm.list().map((n) => [n.name, n.driver]), [['bridge', 'bridge'], ['host', 'host'], ['n1', 'bridge'], ['n2', 'bridge'], ['none', 'null']]);
  assert.equal(nm.inspect(n1.id).name, 'n1');
  assert.equal(nm.inspect(n1.id.slice(0, 5)).name, 'n1');
  assert.equal(nm.inspect('none').driver, 'null');
  const conflist = JSON.parse(fs.readFileSync(path.join(nm.stateDir, 'cni', 'n1.conflist'), 'utf8')) as { name: string; plugins: Array<{ type: string }> };
  assert.equal(conflist.name, `strata-${root.tag}.n1`);
  assert.deepEqual(conflist.plugins.map((p) => p.type), ['bridge', 'portmap']);

  await assert.rejects(nm.create('n1'), { message: 'network with name n1 already exists' });
  await assert.rejects(nm.create('bridge'), { message: 'network with name bridge already exists' });
  await assert.rejects(nm.create('host'), { message: 'operation is not permitted on predefined host network' });
  await assert.rejects(nm.create('n3', { subnet: `10.${octet + 1}.5.0/24` }), { message: 'Pool overlaps with other one on this address space' });
  await assert.rejects(nm.create('n3', { subnet: '10.1.2' }), { message: 'invalid CIDR address: 10.1.2' });
  await assert.rejects(nm.create('n3', { subnet: '10.215.0.0/16', gateway: '10.9.9.9' }), { message: 'no matching subnet for gateway 10.9.9.9' });
  await assert.rejects(nm.create('n3', { gateway: '10.9.9.9' }), { message: 'every ip-range or gateway must have a corresponding subnet' });
  await assert.rejects(nm.create('bad name'), /invalid network name/);
  assert.throws(() => nm.inspect('nope'), { message: 'No such network: nope' });
  await assert.rejects(nm.remove('nope'), { message: 'No such network: nope' });
  await assert.rejects(nm.remove('bridge'), { message: 'bridge is a pre-defined network and cannot be removed' });
  await assert.rejects(nm.attach(randomId(), ['nope'], []), { message: 'network nope not found' });

  // An internal network: an address, no default route, no published ports.
  const id = randomId();
  const att = await nm.attach(id, ['n2'], []);
  noteVeths(root, id);
  assert.match(att.endpoints[0]!.ipAddress, new RegExp(`^10\\.${octet + 1}\\.0\\.\\d+$`));
  const routes = await execInNetns(att.netnsName, ['ip', 'route']);
  assert.doesNotMatch(routes.out, /default/);
  // The host reaches it (its bridge has the gateway address), as with Docker.
  const srv = await startHttpd(att.netnsName, pageDir(root, 'int', 'internal\n'), att.endpoints[0]!.ipAddress);
  assert.equal(await httpGet(`http://${att.endpoints[0]!.ipAddress}:80/`), 'internal\n');
  await stopProcess(srv);

  // network none: loopback only.
  const lonely = randomId();
  const attNone = await nm.attach(lonely, ['none'], []);
  const links = await execInNetns(attNone.netnsName, ['ls', '/sys/class/net']);
  assert.deepEqual(links.out.trim().split(/\s+/), ['lo']);
  await nm.detach(lonely);
  // host: no namespace at all.
  assert.equal((await nm.attach(randomId(), ['host'], [])).netnsPath, '');

  // prune: in-use names and attached networks stay.
  const n4 = await nm.create('n4');
  subnets.push(n4.subnet);
  assert.deepEqual(await nm.prune(new Set(['n4'])), ['n1']);
  await nm.detach(id);
  assert.deepEqual(await nm.prune(new Set()), ['n2', 'n4']);
  assert.deepEqual(nm.list().map((n) => n.name), ['bridge', 'host', 'none']);
});
