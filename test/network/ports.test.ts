import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  parsePublish, parsePublishAll, parseExpose, publishAllSpecs, exposedKeys, formatPorts, type PortSpec,
} from '../../src/network/index.js';

const spec = (hostIp: string, hostPort: number, containerPort: number, protocol: PortSpec['protocol'] = 'tcp', hostPortEnd?: number): PortSpec =>
  hostPortEnd === undefined ? { hostIp, hostPort, containerPort, protocol } : { hostIp, hostPort, hostPortEnd, containerPort, protocol };

test('parsePublish: the forms Docker accepts', () => {
  assert.deepEqual(parsePublish('8080:80'), [spec('', 8080, 80)]);
  assert.deepEqual(parsePublish('80'), [spec('', 0, 80)]);
  assert.deepEqual(parsePublish('80/udp'), [spec('', 0, 80, 'udp')]);
  assert.deepEqual(parsePublish('127.0.0.1:8080:80/tcp'), [spec('127.0.0.1', 8080, 80)]);
  assert.deepEqual(parsePublish('127.0.0.1::80'), [spec('127.0.0.1', 0, 80)]);
  assert.deepEqual(parsePublish('[::1]:8080:80'), [spec('::1', 8080, 80)]);
  assert.deepEqual(parsePublish('8080-8081:80-81'), [spec('', 8080, 80), spec('', 8081, 81)]);
  assert.deepEqual(parsePublish('80-82'), [spec('', 0, 80), spec('', 0, 81), spec('', 0, 82)]);
  assert.deepEqual(parsePublish('8080-8090:80'), [spec('', 8080, 80, 'tcp', 8090)]);
  assert.deepEqual(parsePublish('53:53/UDP'), [spec('', 53, 53, 'udp')]);
  assert.deepEqual(parsePublish('9000:9000/sctp'), [spec('', 9000, 9000, 'sctp')]);
  assert.deepEqual(parsePublish('080:0080'), [spec('', 80, 80)]);
  assert.deepEqual(parsePublish('0:80'), [spec('', 0, 80)]);
  // The CLI's long syntax.
  assert.deepEqual(parsePublish('published=8080,target=80'), [spec('', 8080, 80)]);
  assert.deepEqual(parsePublish('target=53,published=5353,protocol=udp,mode=host'), [spec('', 5353, 53, 'udp')]);
  assert.deepEqual(parsePublishAll(['1:2', '3:4/udp']), [spec('', 1, 2), spec('', 3, 4, 'udp')]);
});

test('parsePublish: go-connections error wording', () => {
  const cases: Array<[string, string]> = [
    ['99999:80', 'Invalid hostPort: 99999'],
    ['8080:abc', 'Invalid containerPort: abc'],
    ['8080:99999', 'Invalid containerPort: 99999'],
    ['abc', 'Invalid containerPort: abc'],
    ['-1:80', 'Invalid hostPort: -1'],
    ['8080:', 'No port specified: 8080:<empty>'],
    ['', 'No port specified: <empty>'],
    ['8080:80/xyz', 'Invalid proto: xyz'],
    ['1.2.3:8080:80', 'Invalid ip address: 1.2.3'],
    ['localhost:8080:80', 'Invalid ip address: localhost'],
    ['8080-8082:80-81', 'Invalid ranges specified for container and host Ports: 80-81 and 8080-8082'],
    ['8081-8080:80', 'Invalid hostPort: 8081-8080'],
    ['80-79', 'Invalid containerPort: 80-79'],
    ['8080-:80', 'Invalid hostPort: 8080-'],
    ['published=8080,target', "invalid publish opts format (should be name=value but got 'target')"],
  ];
  for (const [input, msg] of cases) {
    assert.throws(() => parsePublish(input), (e: unknown) => {
      assert.equal((e as Error).message, msg, `-p ${input}`);
      assert.equal((e as { code?: string }).code, 'invalid_argument');
      return true;
    });
  }
});

test('--expose and -P', () => {
  assert.deepEqual(parseExpose('80'), ['80/tcp']);
  assert.deepEqual(parseExpose('8000-8002/udp'), ['8000/udp', '8001/udp', '8002/udp']);
  assert.throws(() => parseExpose('80:80'), { message: 'invalid port format for --expose: 80:80' });
  assert.throws(() => parseExpose('abc'), { message: 'invalid range format for --expose: abc, error: strconv.ParseUint: parsing "abc": invalid syntax' });
  assert.throws(() => parseExpose('99999'), { message: 'invalid range format for --expose: 99999, error: strconv.ParseUint: parsing "99999": value out of range' });
  // -P: every exposed port on a free host port; explicit -p wins for its port.
  const explicit = parsePublish('8080:80');
  assert.deepEqual(publishAllSpecs(['80/tcp', '443/tcp', '53/udp', '443/tcp'], explicit), [spec('', 0, 443), spec('', 0, 53, 'udp')]);
  assert.deepEqual(exposedKeys([...explicit, ...parsePublish('81-82:81-82')]), ['80/tcp', '81/tcp', '82/tcp']);
});

test('formatPorts: Docker ps PORTS column', () => {
  const b = (hostIp: string, hostPort: number, containerPort: number, protocol: PortSpec['protocol'] = 'tcp') => ({ hostIp, hostPort, containerPort, protocol });
  assert.equal(formatPorts([]), '');
  assert.equal(formatPorts([b('0.0.0.0', 8080, 80)]), '0.0.0.0:8080->80/tcp');
  assert.equal(formatPorts([b('', 8080, 80)]), '0.0.0.0:8080->80/tcp');
  assert.equal(formatPorts([b('0.0.0.0', 18083, 80)], [], { ipv6Twin: true }), '0.0.0.0:18083->80/tcp, :::18083->80/tcp');
  assert.equal(formatPorts([b('127.0.0.1', 32768, 80)]), '127.0.0.1:32768->80/tcp');
  // Exposed only.
  assert.equal(formatPorts([], ['80/tcp']), '80/tcp');
  assert.equal(formatPorts([], ['8000/tcp', '8001/tcp', '8002/tcp']), '8000-8002/tcp');
  // The example of docker-semantics section 6.
  assert.equal(
    formatPorts([b('127.0.0.1', 32768, 80), b('127.0.0.1', 18090, 8090), b('127.0.0.1', 18091, 8091)], ['9000/tcp', '80/tcp']),
    '9000/tcp, 127.0.0.1:32768->80/tcp, 127.0.0.1:18090->8090/tcp, 127.0.0.1:18091->8091/tcp',
  );
  // Same host and container port: grouped into a range.
  assert.equal(formatPorts([b('0.0.0.0', 8000, 8000), b('0.0.0.0', 8001, 8001)]), '0.0.0.0:8000-8001->8000-8001/tcp');
  // A gap starts a new group; the earlier one is printed first.
  assert.equal(formatPorts([], ['1/tcp', '2/tcp', '4/tcp', '5/udp']), '1-2/tcp, 4/tcp, 5/udp');
  // Sorted by container port, then IP.
  assert.equal(formatPorts([b('0.0.0.0', 9443, 443), b('0.0.0.0', 9080, 80)], ['22/tcp']), '22/tcp, 0.0.0.0:9080->80/tcp, 0.0.0.0:9443->443/tcp');
  assert.equal(formatPorts([b('0.0.0.0', 5353, 53, 'udp'), b('0.0.0.0', 5353, 53, 'tcp')]), '0.0.0.0:5353->53/tcp, 0.0.0.0:5353->53/udp');
});
