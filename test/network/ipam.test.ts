import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanRoot, execInNetns, randomId, noteVeths } from './helpers.js';

/**
 * host-local's part of a bridge ADD is done in-process for a plain range (NetworkManager's
 * bridgeAdd): the same reservation files host-local reads and releases, the same address and
 * default route in the netns. A fixed address still goes through the real host-local, and
 * both hand out distinct addresses from the one store.
 */
test('in-process IPAM: host-local\'s store and the netns as the plugin leaves them; the plugin and Strata share the store', async (t) => {
  const { root } = cleanRoot(t);
  const { nm } = root;
  const a = randomId();
  const attA = await nm.attach(a, ['bridge'], []);
  noteVeths(root, a);
  const net = nm.inspect('bridge');
  const dir = path.join(nm.stateDir, 'ipam', net.cniName);
  const epA = attA.endpoints[0]!;
  assert.ok(epA.ipAddress, 'an address');
  assert.equal(epA.gateway, net.gateway);
  assert.equal(epA.prefixLen, Number(net.subnet.split('/')[1]));
  // host-local's record of it: "containerId\r\nifName" in a file named by the address
  assert.equal(fs.readFileSync(path.join(dir, epA.ipAddress), 'utf8'), `${a}\r\neth0`);
  assert.equal(fs.readFileSync(path.join(dir, 'last_reserved_ip.0'), 'utf8'), epA.ipAddress);
  // the netns as host-local's IPAM part leaves it: the address on eth0 (up), the default route
  const addr = await execInNetns(attA.netnsName, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  assert.equal(addr.code, 0, addr.out);
  assert.match(addr.out, new RegExp(`inet ${epA.ipAddress.replace(/\./g, '\\.')}/${epA.prefixLen} brd \\S+ scope global eth0`));
  const link = await execInNetns(attA.netnsName, ['ip', '-o', 'link', 'show', 'dev', 'eth0']);
  assert.match(link.out, /[<,]UP[,>]/);
  const route = await execInNetns(attA.netnsName, ['ip', '-4', 'route', 'show', 'default']);
  assert.match(route.out, new RegExp(`^default via ${net.gateway.replace(/\./g, '\\.')} dev eth0`));
  assert.equal(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');

  // a fixed address: the real host-local, in the same store
  const b = randomId();
  const base = net.gateway.split('.').slice(0, 3).join('.');
  const fixed = `${base}.250`;
  const attB = await nm.attach(b, ['bridge'], [], { ip: fixed });
  noteVeths(root, b);
  assert.equal(attB.endpoints[0]!.ipAddress, fixed);
  assert.equal(fs.readFileSync(path.join(dir, fixed), 'utf8'), `${b}\r\neth0`);
  // the next in-process reservation skips what the plugin took, and the ones before
  const c = randomId();
  const attC = await nm.attach(c, ['bridge'], []);
  noteVeths(root, c);
  const ips = [epA.ipAddress, fixed, attC.endpoints[0]!.ipAddress];
  assert.equal(new Set(ips).size, 3, `distinct addresses: ${ips.join(' ')}`);
  // the two netns reach each other over the bridge
  const ping = await execInNetns(attC.netnsName, ['busybox', 'ping', '-c', '1', '-W', '2', fixed]);
  assert.equal(ping.code, 0, ping.out);

  // a DEL releases each, whoever reserved it
  for (const id of [a, b, c]) await nm.detach(id);
  for (const ip of ips) assert.equal(fs.existsSync(path.join(dir, ip)), false, `${ip} released`);
});
