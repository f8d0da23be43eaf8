import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { buildHostsFile, buildResolvConf } from '../../src/network/index.js';

test('hosts file: Docker layout, own address, add-host, peers', () => {
  const text = buildHostsFile({
    hostname: '3f2a1b4c5d6e',
    ips: ['172.18.0.2'],
    extraHosts: [{ ip: '10.1.2.3', names: ['db.example'] }],
    peers: [{ ip: '172.18.0.3', names: ['web', 'www', '9a8b7c6d5e4f'] }],
  });
  assert.equal(text, [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    '10.1.2.3\tdb.example',
    '172.18.0.2\t3f2a1b4c5d6e',
    '172.18.0.3\tweb www 9a8b7c6d5e4f',
    '',
  ].join('\n'));
  // A domain name gives the FQDN and the short name.
  assert.match(buildHostsFile({ hostname: 'box', domainname: 'example.com', ips: ['172.17.0.2'] }), /\n172\.17\.0\.2\tbox\.example\.com box\n$/);
  // No address (network none): only the default block.
  assert.equal(buildHostsFile({ hostname: 'x', ips: [] }).split('\n').length, 7);
});

test('resolv.conf: loopback nameservers dropped, Google fallback, --dns options', () => {
  assert.equal(buildResolvConf('nameserver 10.255.255.53\n'), 'nameserver 10.255.255.53\n');
  assert.equal(
    buildResolvConf('search corp.example\nnameserver 127.0.0.53\noptions edns0 trust-ad\n'),
    'search corp.example\noptions edns0 trust-ad\n\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n',
  );
  assert.equal(buildResolvConf('nameserver 127.0.0.1\nnameserver 192.0.2.53\nnameserver ::1\nnameserver 2001:db8::53\n'), 'nameserver 192.0.2.53\n');
  assert.equal(buildResolvConf('nameserver 2001:db8::53\n', { ipv6: true }), 'nameserver 2001:db8::53\n');
  assert.equal(buildResolvConf(''), '\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  assert.equal(
    buildResolvConf('search a.example\nnameserver 192.0.2.53\noptions ndots:2\n', { dns: ['9.9.9.9'] }),
    'search a.example\nnameserver 9.9.9.9\noptions ndots:2\n',
  );
  assert.equal(buildResolvConf('nameserver 192.0.2.53\n', { dnsSearch: ['x.example'], dnsOptions: ['ndots:1'] }), 'search x.example\nnameserver 192.0.2.53\noptions ndots:1\n');
});
