import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { execFileSync, spawnSync } from 'node:child_process';
import { parsePublish, formatPorts, canBind } from '../../src/network/index.js';
import { isStrataError } from '../../src/base/errors.js';
import {
  cleanRoot, makeRoot, randomId, snapshot, leftovers, startHttpd, stopProcess, httpGet, pageDir, pickFreePort, hostAddress, noteVeths,
} from './helpers.js';

test('two containers publish port 80 on different host ports; detach frees the port', async (t) => {
  const before = snapshot();
  const root = makeRoot();
  const subnets: string[] = [];
  const procs: Array<Awaited<ReturnType<typeof startHttpd>>> = [];
  t.after(async () => {
    for (const p of procs) await stopProcess(p);
    subnets.push(...root.nm.list().map((n) => n.subnet).filter((s) => s));
    await root.cleanup();
    const left = leftovers(root, before, snapshot(), subnets);
    assert.deepEqual(left, [], 'the test left host state behind');
  });
  const { nm } = root;
  const h1 = await pickFreePort();
  let h2 = await pickFreePort();
  while (h2 === h1) h2 = await pickFreePort();
  const a = randomId();
  const b = randomId();
  const attA = await nm.attach(a, ['bridge'], parsePublish(`${h1}:80`), { name: 'web-a' });
  noteVeths(root, a);
  const attB = await nm.attach(b, [], parsePublish(`${h2}:80`), { name: 'web-b' });
  noteVeths(root, b);

  const def = nm.inspect('bridge');
  subnets.push(def.subnet);
  assert.equal(def.bridge, `st${root.tag}`);
  assert.equal(Object.keys(def.containers).length, 2);
  assert.equal(attA.endpoints.length, 1);
  const epA = attA.endpoints[0]!;
  assert.equal(epA.ifName, 'eth0');
  assert.equal(epA.gateway, def.gateway);
  assert.match(epA.macAddress, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  assert.equal(attA.netnsPath, `/run/netns/st${root.tag}-${a.slice(0, 12)}`);
  assert.ok(fs.existsSync(attA.netnsPath));
  assert.deepEqual(attA.ports, [{ hostIp: '0.0.0.0', hostPort: h1, containerPort: 80, protocol: 'tcp' }]);
  assert.equal(formatPorts(attA.ports), `0.0.0.0:${h1}->80/tcp`);

  procs.push(await startHttpd(attA.netnsName, pageDir(root, 'a', 'page A\n'), epA.ipAddress));
  procs.push(await startHttpd(attB.netnsName, pageDir(root, 'b', 'page B\n'), attB.endpoints[0]!.ipAddress));

  // Both at once, through loopback (portmap's localhost SNAT + route_localnet)...
  const [ra, rb] = await Promise.all([httpGet(`http://127.0.0.1:${h1}/`), httpGet(`http://127.0.0.1:${h2}/`)]);
  assert.equal(ra, 'page A\n');
  assert.equal(rb, 'page B\n');
  // ...and through the host's other address.
  const hostIp = hostAddress();
  if (hostIp) {
    assert.equal(await httpGet(`http://${hostIp}:${h1}/`), 'page A\n');
    assert.equal(await httpGet(`http://${hostIp}:${h2}/`), 'page B\n');
  }
  // CNI CHECK agrees that everything is in place.
  await nm.check(a);

  // The same host port again: Docker's error, and nothing half-made.
  const c = randomId();
  await assert.rejects(nm.attach(c, ['bridge'], parsePublish(`${h1}:80`)), (e: unknown) => {
    assert.ok(isStrataError(e, 'conflict'));
    assert.equal((e as Error).message, `Bind for 0.0.0.0:${h1} failed: port is already allocated`);
    return true;
  });
  assert.equal(nm.get(c), undefined);
  assert.ok(!fs.existsSync(`/run/netns/st${root.tag}-${c.slice(0, 12)}`));
  // A specific address on an already published port clashes with the all-addresses binding.
  await assert.rejects(nm.attach(c, ['bridge'], parsePublish(`127.0.0.1:${h1}:80`)), /Bind for 127\.0\.0\.1:\d+ failed: port is already allocated/);

  // Detach A: its port is free again (a bind succeeds, traffic no longer goes to A), B still serves.
  await stopProcess(procs.shift()!);
  await nm.detach(a);
  assert.equal(nm.get(a), undefined);
  assert.ok(!fs.existsSync(attA.netnsPath));
  assert.ok(await canBind('0.0.0.0', h1, 'tcp'), 'host port free after detach');
  assert.equal(await httpGet(`http://127.0.0.1:${h2}/`), 'page B\n');
  // detach is idempotent.
  await nm.detach(a);

  // And the port can be published again, by another container.
  const attC = await nm.attach(c, ['bridge'], parsePublish(`${h1}:80`));
  noteVeths(root, c);
  procs.push(await startHttpd(attC.netnsName, pageDir(root, 'c', 'page C\n'), attC.endpoints[0]!.ipAddress));
  assert.equal(await httpGet(`http://127.0.0.1:${h1}/`), 'page C\n');
  await nm.detach(c);
  await nm.detach(b);
});

test('-p CONTAINERPORT picks a free host port; 127.0.0.1 binding; host listener is a clash', async (t) => {
  const before = snapshot();
  const root = makeRoot();
  const subnets: string[] = [];
  const procs: Array<Awaited<ReturnType<typeof startHttpd>>> = [];
  const servers: net.Server[] = [];
  t.after(async () => {
    for (const p of procs) await stopProcess(p);
    for (const s of servers) await new Promise((r) => s.close(r));
    subnets.push(...root.nm.list().map((n) => n.subnet).filter((s) => s));
    await root.cleanup();
    assert.deepEqual(leftovers(root, before, snapshot(), subnets), []);
  });
  const { nm } = root;
  const id = randomId();
  const hLocal = await pickFreePort();
  const att = await nm.attach(id, ['bridge'], [...parsePublish('80'), ...parsePublish(`127.0.0.1:${hLocal}:80`)]);
  noteVeths(root, id);
  const [eph, local] = att.ports;
  assert.ok(eph!.hostPort >= 32768 && eph!.hostPort <= 60999, `ephemeral port ${eph!.hostPort}`);
  assert.equal(eph!.hostIp, '0.0.0.0');
  assert.deepEqual(local, { hostIp: '127.0.0.1', hostPort: hLocal, containerPort: 80, protocol: 'tcp' });
  assert.equal(formatPorts(att.ports, ['80/tcp']), `0.0.0.0:${eph!.hostPort}->80/tcp, 127.0.0.1:${hLocal}->80/tcp`);
  procs.push(await startHttpd(att.netnsName, pageDir(root, 'e', 'ephemeral\n'), att.endpoints[0]!.ipAddress));
  assert.equal(await httpGet(`http://127.0.0.1:${eph!.hostPort}/`), 'ephemeral\n');
  assert.equal(await httpGet(`http://127.0.0.1:${hLocal}/`), 'ephemeral\n');
  const hostIp = hostAddress();
  if (hostIp) {
    // Bound to 127.0.0.1 only: not published on the host's other address.
    await assert.rejects(httpGet(`http://${hostIp}:${hLocal}/`, 1000));
  }

  // A port a host process listens on cannot be published.
  const busy = await pickFreePort();
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(busy, '0.0.0.0', () => r()));
  servers.push(srv);
  await assert.rejects(nm.attach(randomId(), ['bridge'], parsePublish(`${busy}:80`)), new RegExp(`Bind for 0\\.0\\.0\\.0:${busy} failed: port is already allocated`));

  // Two specs of one request on the same host port clash too.
  const dup = await pickFreePort();
  await assert.rejects(nm.attach(randomId(), ['bridge'], parsePublish(`${dup}-${dup}:80-80`).concat(parsePublish(`${dup}:81`))), /port is already allocated/);

  // A host range for one container port: the first free one in it.
  const r0 = await pickFreePort();
  const id2 = randomId();
  const att2 = await nm.attach(id2, ['bridge'], parsePublish(`${r0}-${r0 + 5}:80`));
  noteVeths(root, id2);
  assert.ok(att2.ports[0]!.hostPort >= r0 && att2.ports[0]!.hostPort <= r0 + 5);
  // UDP publishing sets up too.
  const id3 = randomId();
  const att3 = await nm.attach(id3, ['bridge'], parsePublish('53/udp'));
  noteVeths(root, id3);
  assert.equal(att3.ports[0]!.protocol, 'udp');
  assert.match(formatPorts(att3.ports), /^0\.0\.0\.0:\d+->53\/udp$/);
  await nm.detach(id3);
  await nm.detach(id2);
  await nm.detach(id);
});

test('concurrent attaches and detaches in one root get distinct addresses and ports', async (t) => {
  const { root } = cleanRoot(t);
  const { nm } = root;
  const ids = Array.from({ length: 6 }, () => randomId());
  const atts = await Promise.all(ids.map((id) => nm.attach(id, ['bridge'], parsePublish('80'))));
  for (const id of ids) noteVeths(root, id);
  const ips = new Set(atts.map((a) => a.endpoints[0]!.ipAddress));
  const ports = new Set(atts.map((a) => a.ports[0]!.hostPort));
  assert.equal(ips.size, 6);
  assert.equal(ports.size, 6);
  assert.equal(Object.keys(nm.inspect('bridge').containers).length, 6);
  await Promise.all(ids.map((id) => nm.detach(id)));
  assert.equal(Object.keys(nm.inspect('bridge').containers).length, 0);
  for (const p of ports) assert.ok(await canBind('0.0.0.0', p, 'tcp'));
});

test('published TCP ports: the rules made in-process are the portmap plugin\'s own, and its CHECK and DEL accept them', async (t) => {
  const { root } = cleanRoot(t);
  const { nm } = root;
  const [p1, p2] = [await pickFreePort(), await pickFreePort()];
  const a = randomId();
  const att = await nm.attach(a, ['bridge'], [...parsePublish(`${p1}:80`), ...parsePublish(`127.0.0.1:${p2}:443`)], { name: 'ours' });
  noteVeths(root, a);
  const ep = att.endpoints[0]!;
  const list = JSON.parse(fs.readFileSync(`${nm.stateDir}/containers/${a}.json`, 'utf8')).endpoints[0].conflist as { name: string; cniVersion: string; plugins: Array<Record<string, unknown>> };
  const portmap = list.plugins.find((p) => p.type === 'portmap')!;
  const prevResult = JSON.parse(fs.readFileSync(`${nm.stateDir}/containers/${a}.json`, 'utf8')).endpoints[0].result;
  const mappings = [{ hostPort: p1, containerPort: 80, protocol: 'tcp' }, { hostPort: p2, containerPort: 443, protocol: 'tcp', hostIP: '127.0.0.1' }];
  // the real plugin, for another container id with the same address and ports
  const b = randomId();
  const plugin = (command: string, id: string): { code: number; out: string } => {
    const conf = { ...portmap, cniVersion: list.cniVersion, name: list.name, prevResult, runtimeConfig: { portMappings: mappings } };
    const r = spawnSync('/usr/lib/cni/portmap', [], {
      input: JSON.stringify(conf),
      env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: att.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', PATH: process.env.PATH },
    });
    return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
  };
  const natOf = (id: string): string[] => {
    const save = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).split('\n');
    const chain = save.find((l) => l.includes(`id: \\"${id}\\"`) && l.startsWith('-A CNI-HOSTPORT-DNAT'))?.split(' -j ')[1];
    assert.ok(chain, `a DNAT jump names ${id}`);
    return save.filter((l) => l.startsWith('-A ') && l.includes(chain)).map((l) => l.split(chain).join('CHAIN').split(id).join('ID'));
  };
  const ours = natOf(a);
  assert.equal(ours.length, 7, ours.join('\n'));
  const add = plugin('ADD', b);
  t.after(() => { plugin('DEL', b); });
  assert.equal(add.code, 0, add.out);
  assert.deepEqual(ours.sort(), natOf(b).sort());
  // portmap's CHECK of our container finds every IPv4 rule it expects (1.1.1 then checks an IPv6
  // chain even for an IPv4-only container, which its own ADD never makes either)
  const check = plugin('CHECK', a);
  assert.ok(check.code === 0 || /could not check ipv6 dnat/.test(check.out), check.out);
  assert.equal(execFileSync('sysctl', ['-n', `net.ipv4.conf.${nm.inspect('bridge').bridge}.route_localnet`], { encoding: 'utf8' }).trim(), '1');
  // and the plugin's DEL removes them all (a DEL of an endpoint whose record lost its result)
  const del = plugin('DEL', a);
  assert.equal(del.code, 0, del.out);
  assert.ok(!execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).includes(a));
  assert.ok(ep.ipAddress);
});
