/**
 * NetworkManager on FakeSys: netns and bridge lifecycle, host-port bookkeeping (conflicts
 * refused, ports released on detach), recovery sweeps and the host-wide lock, without root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeSys } from '../../src/sys/fake.js';
import { Aardvark, NetworkManager, parsePublish } from '../../src/network/index.js';
import { portmapChain } from '../../src/network/iptables.js';
import { createHash } from 'node:crypto';

function setup(t: { after(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-unit-net-'));
  const sys = new FakeSys({ runDir: path.join(dir, 'run') });
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const nm = new NetworkManager(path.join(dir, 'network'), { sys, defaultSubnet: '10.99.0.0/16' });
  return { dir, sys, nm };
}

const ID = (n: number) => String(n).repeat(64).slice(0, 64);

test('attach: netns, lo up, bridge ADD, portmap\'s rules in-process, the network\'s rules once; detach undoes it all', async (t) => {
  const { sys, nm } = setup(t);
  const a = await nm.attach(ID(1), ['bridge'], parsePublish('8080:80'));
  assert.equal(a.netnsName, `${nm.netnsPrefix}${ID(1).slice(0, 12)}`);
  assert.ok(sys.listNetns().includes(a.netnsName));
  assert.equal(a.netnsPath, path.join(sys.runDir, 'netns', a.netnsName));
  assert.deepEqual(a.ports, [{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  assert.equal(a.endpoints[0]!.ipAddress, '10.99.0.2');
  const plugins = sys.callsOf('cniExec').map(([req]) => `${path.basename((req as { plugin: string }).plugin)} ${(req as { env: Record<string, string> }).env.CNI_COMMAND}`);
  assert.deepEqual(plugins, ['bridge ADD']);
  // `lo` comes up as the loopback plugin brings it up, in the container's netns, with no plugin
  assert.deepEqual(sys.callsOf('ip').map(([args]) => (args as string[]).join(' ')).filter((c) => c.includes('lo up')), [`-n ${a.netnsName} link set lo up`]);
  // the rules portmap 1.1 would add (snat on): marks for hairpin and localhost, the DNAT, the jump
  const chain = portmapChain(`${nm.cniPrefix}bridge`, ID(1));
  assert.match(chain, /^CNI-DN-[0-9a-f]{21}$/);
  assert.deepEqual(sys.rules('nat').filter((r) => r.includes(chain)), [
    `${chain} -s 10.99.0.0/16 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
    `${chain} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
    `${chain} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.99.0.2:80`,
    `CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"${nm.cniPrefix}bridge\\" id: \\"${ID(1)}\\"" -m multiport --dports 8080 -j ${chain}`,
  ]);
  assert.equal(sys.sysctls.get(`net/ipv4/conf/${nm.defaultBridge}/route_localnet`), '1');
  assert.ok(sys.links.has(nm.defaultBridge), 'the default bridge exists');
  // forwarding, isolation and masquerade: per network, in the firewall plugin's chains
  const br = nm.defaultBridge;
  assert.deepEqual(sys.rules('filter').filter((r) => r.includes(br)), [
    `CNI-FORWARD -o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `CNI-FORWARD -i ${br} -j ACCEPT`,
    `CNI-ISOLATION-STAGE-1 -i ${br} ! -o ${br} -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-2`,
    `CNI-ISOLATION-STAGE-2 -o ${br} -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j DROP`,
  ]);
  assert.ok(sys.rules('nat').includes(`POSTROUTING -s 10.99.0.0/16 ! -d 224.0.0.0/4 ! -o ${br} -m comment --comment "strata masquerade ${br}" -j MASQUERADE`));
  const restores = sys.callsOf('iptablesRestore').length;
  await nm.attach(ID(3), ['bridge'], []);
  assert.equal(sys.callsOf('iptablesRestore').length, restores, 'a second container adds no rule');
  await nm.detach(ID(3));
  assert.equal(sys.sysctls.get(`net/ipv6/conf/${nm.defaultBridge}/accept_ra`), '0');
  assert.ok(sys.rules('nat').some((r) => r.includes('--dport 8080 -j DNAT')));

  await nm.detach(ID(1));
  assert.ok(!sys.listNetns().includes(a.netnsName));
  assert.equal(nm.get(ID(1)), undefined);
  assert.ok(!sys.rules('nat').some((r) => r.includes('--dport 8080')));
  assert.ok(!sys.rules('nat').some((r) => r.includes(ID(1))), 'no rule names the container');
  // a completed ADD is undone in-process: one iptables-restore for both tables, no plugin run
  const dels = sys.callsOf('cniExec').map(([req]) => (req as { env: Record<string, string> }).env.CNI_COMMAND).filter((c) => c === 'DEL');
  assert.equal(dels.length, 0, 'no plugin DEL');
  assert.equal(sys.callsOf('iptablesRestore').length, restores + 1);
  const ipam = path.join(nm.stateDir, 'ipam');
  assert.deepEqual(fs.readdirSync(ipam, { recursive: true }).filter((f) => /\d+\.\d+\.\d+\.\d+$/.test(String(f))), [], 'the address is released');
  await nm.detach(ID(1)); // idempotent
});

test('detach: a published UDP port, or a netns already gone, is undone by the plugins\' DEL', async (t) => {
  const { sys, nm } = setup(t);
  await nm.attach(ID(1), ['bridge'], parsePublish('5353:53/udp'));
  await nm.attach(ID(2), ['bridge'], []);
  await nm.detach(ID(1));
  const dels = () => sys.callsOf('cniExec').map(([req]) => `${path.basename((req as { plugin: string }).plugin)} ${(req as { env: Record<string, string> }).env.CNI_COMMAND}`).filter((c) => c.endsWith(' DEL'));
  assert.deepEqual(dels(), ['portmap DEL', 'bridge DEL']);
  assert.ok(!sys.rules('nat').some((r) => r.includes('--dport 5353')));
  const ns2 = nm.get(ID(2))!.netnsName;
  await sys.ip(['netns', 'delete', ns2]);
  await nm.detach(ID(2));
  assert.equal(dels().length, 4, 'the plugins ran (their DEL tolerates the missing netns)');
});

test('host ports: a booked port is refused with Docker message, and free again after detach', async (t) => {
  const { sys, nm } = setup(t);
  await nm.attach(ID(1), [], parsePublish('8080:80'));
  await assert.rejects(nm.attach(ID(2), [], parsePublish('8080:80')), { code: 'conflict', message: 'Bind for 0.0.0.0:8080 failed: port is already allocated' });
  await assert.rejects(nm.attach(ID(2), [], parsePublish('127.0.0.1:8080:80')), /Bind for 127.0.0.1:8080 failed: port is already allocated/);
  assert.equal(nm.get(ID(2)), undefined, 'nothing half-made');
  assert.equal(sys.listNetns().length, 1);
  const udp = await nm.attach(ID(3), [], parsePublish('8080:80/udp'));
  assert.equal(udp.ports[0]!.protocol, 'udp', 'another protocol does not clash');
  await nm.detach(ID(1));
  const again = await nm.attach(ID(2), [], parsePublish('8080:80'));
  assert.equal(again.ports[0]!.hostPort, 8080);
});

test('host ports: a host listener and another root portmap rule count as taken', async (t) => {
  const { sys, nm } = setup(t);
  sys.listening.add('tcp 0.0.0.0:9090');
  await assert.rejects(nm.attach(ID(1), [], parsePublish('9090:80')), /Bind for 0\.0\.0\.0:9090 failed: port is already allocated/);
  sys.addRule('nat', 'CNI-DN-0123456789abcdef01234567', '-p tcp -m tcp --dport 7070 -j DNAT --to-destination 10.1.0.5:80');
  await assert.rejects(nm.attach(ID(1), [], parsePublish('7070:80')), /Bind for 0\.0\.0\.0:7070 failed: port is already allocated/);
  const ok = await nm.attach(ID(1), [], parsePublish('127.0.0.2:9191:80'));
  assert.deepEqual(ok.ports[0], { hostIp: '127.0.0.2', hostPort: 9191, containerPort: 80, protocol: 'tcp' });
});

test('host ports: port 0 goes round robin through ip_local_port_range', async (t) => {
  const { sys, nm } = setup(t);
  sys.sysctls.set('net/ipv4/ip_local_port_range', '40000\t40002');
  const a = await nm.attach(ID(1), [], parsePublish('80'));
  const b = await nm.attach(ID(2), [], parsePublish('80'));
  assert.deepEqual([a.ports[0]!.hostPort, b.ports[0]!.hostPort], [40000, 40001]);
  await nm.detach(ID(1));
  const c = await nm.attach(ID(3), [], parsePublish('80'));
  assert.equal(c.ports[0]!.hostPort, 40002, 'the next one, not the one just released');
  const d = await nm.attach(ID(4), [], parsePublish('80'));
  assert.equal(d.ports[0]!.hostPort, 40000, 'wraps around');
  await assert.rejects(nm.attach(ID(5), [], parsePublish('80')), { message: 'all ports are allocated' });
});

test('networks: create makes the bridge with a fixed MAC; rm deletes it and its isolation rules', async (t) => {
  const { sys, nm } = setup(t);
  const n = await nm.create('front', { subnet: '10.50.0.0/24' });
  const add = sys.callsOf('ip').map((a) => (a[0] as string[]).join(' ')).find((c) => c.startsWith(`link add ${n.bridge}`));
  assert.match(add ?? '', new RegExp(`^link add ${n.bridge} address 02(:[0-9a-f]{2}){5} mtu 1500 type bridge$`));
  assert.deepEqual(sys.links.get(n.bridge)?.addrs, ['10.50.0.1/24']);
  await assert.rejects(nm.create('back', { subnet: '10.50.0.128/25' }), { message: 'Pool overlaps with other one on this address space' });
  sys.addRule('filter', 'CNI-ISOLATION-STAGE-1', `-i ${n.bridge} ! -o ${n.bridge} -j CNI-ISOLATION-STAGE-2`);
  await nm.attach(ID(1), ['front'], []);
  await assert.rejects(nm.remove('front'), /has active endpoints/);
  await nm.detach(ID(1));
  await nm.remove('front');
  assert.ok(!sys.links.has(n.bridge));
  assert.ok(!sys.rules('filter').some((r) => r.includes(n.bridge)));
});

test('cleanupStale: attachments of dead containers and unknown netns of this root are removed', async (t) => {
  const { sys, nm } = setup(t);
  await nm.attach(ID(1), [], parsePublish('8081:80'));
  await nm.attach(ID(2), [], []);
  await sys.ip(['netns', 'add', `${nm.netnsPrefix}${'f'.repeat(12)}`]); // a leftover nobody records
  await sys.ip(['netns', 'add', 'someone-else']);
  const report = await nm.cleanupStale(new Set([ID(2)]));
  assert.deepEqual(report.containers, [ID(1)]);
  assert.deepEqual(report.netns, [`${nm.netnsPrefix}${'f'.repeat(12)}`]);
  assert.ok(sys.listNetns().includes('someone-else'));
  assert.ok(nm.get(ID(2)));
  assert.ok(!sys.rules('nat').some((r) => r.includes('--dport 8081')));
});

test('the host-wide lock lives under the run dir, and a lock of a dead holder is broken', async (t) => {
  const { sys, nm } = setup(t);
  const lock = path.join(sys.runDir, 'strata', 'network.lock');
  const dead = sys.spawnPid();
  sys.killPid(dead);
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  fs.writeFileSync(lock, `${dead} 12345`);
  await nm.attach(ID(1), [], parsePublish('8082:80')); // takes the global lock for the port choice
  assert.equal(fs.existsSync(lock), false, 'released');
  assert.ok(sys.callsOf('processAlive').some(([pid, start]) => pid === dead && start === '12345'));
});

test('a plugin error result becomes a CniError, and the attach leaves nothing behind', async (t) => {
  const { sys, nm } = setup(t);
  sys.cniHandler = (type, command) => type === 'bridge' && command === 'ADD'
    ? { code: 1, stdout: JSON.stringify({ code: 7, msg: 'failed to set up chain', details: 'iptables: no chain' }), stderr: '' }
    : undefined;
  await assert.rejects(nm.attach(ID(1), [], parsePublish('8083:80')), {
    name: 'CniError', message: 'plugin type="bridge" failed (add): failed to set up chain: iptables: no chain',
  });
  assert.equal(nm.get(ID(1)), undefined);
  assert.deepEqual(sys.listNetns(), []);
  assert.ok(!sys.rules('nat').some((r) => r.includes('--dport 8083')), 'no DNAT rule left');
});

test('sweeps: leaked nat rules of this root and dead containers go, with their chains; others stay', async (t) => {
  const { sys, nm } = setup(t);
  const ours = `${nm.cniPrefix}bridge`;
  const chain = 'CNI-DN-aaaaaaaaaaaaaaaaaaaaaaaa';
  sys.addRule('nat', 'CNI-HOSTPORT-DNAT', `-m comment --comment "dnat name: \\"${ours}\\" id: \\"${ID(7)}\\"" -j ${chain}`);
  sys.addRule('nat', chain, '-p tcp -m tcp --dport 8090 -j DNAT --to-destination 10.99.0.9:80');
  sys.addRule('nat', 'CNI-HOSTPORT-DNAT', `-m comment --comment "dnat name: \\"other.bridge\\" id: \\"${ID(8)}\\"" -j CNI-DN-bbbbbbbbbbbbbbbbbbbbbbbb`);
  sys.addRule('filter', 'CNI-FORWARD', '-s 10.99.0.9/32 -j ACCEPT');
  await nm.ensureDefault();
  const report = await nm.cleanupStale(new Set());
  assert.equal(report.rules, 3, 'the jump rule, the chain, and the forward rule');
  assert.deepEqual(sys.rules('nat').filter((r) => !r.includes('strata masquerade')), [`CNI-HOSTPORT-DNAT -m comment --comment "dnat name: \\"other.bridge\\" id: \\"${ID(8)}\\"" -j CNI-DN-bbbbbbbbbbbbbbbbbbbbbbbb`]);
  assert.deepEqual(sys.rules('filter').filter((r) => r.startsWith('CNI-FORWARD -s')), []);
  assert.ok(!sys.tables.get('nat')!.chains.includes(chain));
});

test('disconnect: an endpoint marked leaving is hidden from inspect and the attachment, and finishLeaving tears it down', async (t) => {
  const { nm } = setup(t);
  await nm.create('side');
  await nm.attach(ID(1), ['bridge'], []);
  await nm.connect(ID(1), 'side');
  assert.deepEqual(Object.keys(nm.inspect('side').containers), [ID(1)]);
  await nm.markLeaving(ID(1), 'side');
  await nm.markLeaving(ID(1), 'side'); // a second disconnect after a kill: the same intent
  assert.deepEqual(nm.leaving(ID(1)), ['side']);
  assert.deepEqual(nm.leavingFrom('side'), [ID(1)]);
  assert.deepEqual(Object.keys(nm.inspect('side').containers), [], 'network inspect hides it');
  assert.deepEqual(nm.get(ID(1))!.endpoints.map((e) => e.network), ['bridge'], 'the attachment hides it');
  await assert.rejects(nm.remove('side'), /has active endpoints/, 'still there until torn down');
  const addresses = () => fs.readdirSync(path.join(nm.stateDir, 'ipam', `${nm.cniPrefix}side`)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  assert.equal(addresses().length, 1, 'its address is still booked');
  await nm.finishLeaving(ID(1));
  await nm.finishLeaving(ID(1)); // idempotent
  assert.deepEqual(addresses(), [], 'the address is released');
  assert.deepEqual(nm.leaving(ID(1)), []);
  await nm.remove('side');
  await assert.rejects(nm.markLeaving(ID(1), 'bridge').then(() => nm.markLeaving(ID(1), 'nope')), /not found/);
  await nm.detach(ID(1));
});

test('DNS scope rules: read once while none are wanted, then not again until some were added', async (t) => {
  const { dir, sys } = setup(t);
  const conf = path.join(dir, 'aardvark-dns');
  const dns = new Aardvark(conf, '/nonexistent/aardvark-dns', 53, sys);
  const tag = createHash('sha256').update(path.resolve(conf)).digest('hex').slice(0, 8);
  // a rule this root left (a version without the marker, or a sync killed half-way)
  await sys.iptablesRestore(`*filter\n-A INPUT -d 10.9.0.1/32 ! -i br9 -p udp -m udp --dport 53 -m addrtype ! --src-type LOCAL -m comment --comment "strata-dns ${tag} 10.9.0.1 br9" -j REJECT\nCOMMIT\n`);
  const saves = () => sys.callsOf('iptablesSave').length;
  await dns.sync([]);
  assert.equal(saves(), 1);
  assert.deepEqual(sys.rules('filter'), [], 'the leftover rule is gone');
  await dns.sync([]);
  await dns.sync(() => []);
  assert.equal(saves(), 1, 'nothing to read while none can exist');
  // a network with records: its rules go in (the marker first), and the next empty sync reads them
  const net = { name: 'n1', gateway: '10.9.0.1', bridge: 'br9', records: [{ id: 'a'.repeat(64), ipv4: ['10.9.0.2'], names: ['web'] }] };
  await assert.rejects(dns.sync([net]), /aardvark-dns/); // no daemon here: the rules come first
  assert.equal(sys.rules('filter').filter((r) => r.includes(`strata-dns ${tag}`)).length, 2);
  await dns.sync([]);
  assert.deepEqual(sys.rules('filter'), []);
  const n = saves();
  await dns.sync([]);
  assert.equal(saves(), n);
});

test('detach after prefetchRules: the early iptables-save is used while the endpoints are those it was taken for', async (t) => {
  const { sys, nm } = setup(t);
  await nm.attach(ID(1), ['bridge'], parsePublish('8080:80'));
  const saves = () => sys.callsOf('iptablesSave').length;
  const before = saves();
  nm.prefetchRules(ID(1));
  assert.equal(saves(), before + 1);
  await nm.detach(ID(1));
  assert.equal(saves(), before + 1, 'no second reading');
  assert.ok(!sys.rules('nat').some((r) => r.includes(ID(1))), 'no rule names the container');
  assert.ok(!sys.rules('filter').some((r) => r.includes('10.99.0.2/32')));

  // endpoints changed after the reading (a network connected meanwhile): it is read again
  await nm.create('other');
  await nm.attach(ID(2), ['bridge'], parsePublish('8081:80'));
  nm.prefetchRules(ID(2));
  await nm.connect(ID(2), 'other');
  const n = saves();
  await nm.detach(ID(2));
  assert.equal(saves(), n + 1, 'read again at the detach');
  assert.ok(!sys.rules('nat').some((r) => r.includes(ID(2))), 'the rules of both endpoints are gone');
  assert.equal(nm.get(ID(2)), undefined);
});

test('networks: a removal cut short after its first step is hidden everywhere and finished by the next create or rm', async (t) => {
  const { dir, sys, nm } = setup(t);
  const n = await nm.create('front', { subnet: '10.50.0.0/24' });
  sys.addRule('filter', 'CNI-ISOLATION-STAGE-1', `-i ${n.bridge} ! -o ${n.bridge} -j CNI-ISOLATION-STAGE-2`);
  // what a `network rm` killed right after its first step leaves: the record renamed, the rest as it was
  const rec = path.join(dir, 'network', 'networks', 'front.json');
  fs.renameSync(rec, rec.replace(/\.json$/, '.removing'));
  assert.ok(!nm.list().some((x) => x.name === 'front'));
  await assert.rejects(nm.attach(ID(1), ['front'], []), /network front not found/);
  await assert.rejects(nm.remove('front'), /No such network: front/);
  assert.ok(!sys.links.has(n.bridge), 'the rm that found nothing finished the old removal');
  assert.ok(!sys.rules('filter').some((r) => r.includes(n.bridge)));
  assert.ok(!fs.existsSync(rec.replace(/\.json$/, '.removing')));
  // and a create of the same name and subnet after another cut-short removal
  const again = await nm.create('front', { subnet: '10.50.0.0/24' });
  fs.renameSync(rec, rec.replace(/\.json$/, '.removing'));
  const third = await nm.create('front', { subnet: '10.50.0.0/24' });
  if (third.bridge !== again.bridge) assert.ok(!sys.links.has(again.bridge), 'the old bridge went first');
  assert.ok(sys.links.has(third.bridge));
  assert.equal(nm.list().filter((x) => x.name === 'front').length, 1);
});
