import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorText, mergeScopes, normalizeServer, authKey, parseChallenges, resolveEndpoint } from '../../src/registry/index.js';
import { parsePlatform, selectManifest, platformString } from '../../src/image/platform.js';
import { parallelGzipClass } from '../../src/layer/pgzip.js';

test('WWW-Authenticate challenges', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges(['Basic realm="Registry Realm"', 'Bearer realm="x", error="insufficient_scope"']), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
    { scheme: 'bearer', params: { realm: 'x', error: 'insufficient_scope' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a \\"quoted\\" realm", Bearer realm=tok'), [
    { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
    { scheme: 'bearer', params: { realm: 'tok' } },
  ]);
  assert.deepEqual(parseChallenges(undefined), []);
  assert.deepEqual(mergeScopes(['repository:a:push', 'repository:a:pull', 'repository:b:pull']), ['repository:a:pull,push', 'repository:b:pull']);
});

test('registry error bodies in Docker\'s words', () => {
  assert.equal(errorText('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}', 404), 'manifest unknown: manifest unknown');
  assert.equal(errorText('{"details":"incorrect username or password"}', 401), 'incorrect username or password');
  assert.equal(errorText('<html>bad gateway</html>', 502), '502 Bad Gateway');
});

test('servers, auth keys and endpoints', () => {
  assert.equal(normalizeServer('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(normalizeServer('http://LOCALHOST:5000/v2/'), 'localhost:5000');
  assert.equal(authKey('docker.io'), 'https://index.docker.io/v1/');
  assert.equal(authKey('127.0.0.1:5000'), '127.0.0.1:5000');
  assert.equal(resolveEndpoint('docker.io', []).base.href, 'https://registry-1.docker.io/');
  assert.equal(resolveEndpoint('localhost:5000', []).base.href, 'http://localhost:5000/');
  assert.equal(resolveEndpoint('127.0.0.42:80', []).base.protocol, 'http:');
  assert.equal(resolveEndpoint('[::1]:5000', []).base.href, 'http://[::1]:5000/');
  const reg = resolveEndpoint('registry.lan:5000', []);
  assert.deepEqual([reg.base.protocol, reg.insecureTls, reg.httpFallback], ['https:', false, false]);
  const ins = resolveEndpoint('registry.lan:5000', ['registry.lan']);
  assert.deepEqual([ins.base.protocol, ins.insecureTls, ins.httpFallback], ['https:', true, true]);
});

test('platforms: parsing, normalisation, choice from an index', () => {
  assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.equal(platformString(parsePlatform('linux/arm/v6')), 'linux/arm/v6');
  assert.throws(() => parsePlatform('linux/amd64/v2/x'), /unknown operating system or architecture/);
  const d = (architecture: string, variant?: string) => ({ mediaType: 'm', digest: `${architecture}${variant ?? ''}`, size: 1, platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) } });
  const list = [d('amd64'), d('arm', 'v6'), d('arm', 'v7'), d('arm64', 'v8')];
  assert.equal(selectManifest(list, parsePlatform('linux/amd64'))?.digest, 'amd64');
  assert.equal(selectManifest(list, parsePlatform('linux/arm/v7'))?.digest, 'armv7');
  assert.equal(selectManifest(list, parsePlatform('linux/arm64'))?.digest, 'arm64v8');
  assert.equal(selectManifest(list, parsePlatform('linux/s390x')), undefined);
});

async function pgzip(data: Buffer, parallel: number, blockSize?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  const ParallelGzip = parallelGzipClass();
  const opts: ConstructorParameters<typeof ParallelGzip>[0] = { parallel };
  if (blockSize) opts.blockSize = blockSize;
  await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), new ParallelGzip(opts), async function* (src) { for await (const c of src) out.push(c as Buffer); });
  return Buffer.concat(out);
}

test('parallel gzip: one valid gzip member, the same bytes whatever the parallelism', async () => {
  const text = Buffer.from(Array.from({ length: 40000 }, (_, i) => `line ${i % 977} of a compressible layer\n`).join(''));
  const data = Buffer.concat([text, randomBytes(300_000), text]);
  const a = await pgzip(data, 1, 256 << 10);
  const b = await pgzip(data, 4, 256 << 10);
  assert.equal(createHash('sha256').update(a).digest('hex'), createHash('sha256').update(b).digest('hex'));
  assert.ok(zlib.gunzipSync(a).equals(data));
  assert.ok(a.length < data.length * 0.6, `ratio ${a.length / data.length}`);
  execFileSync('gzip', ['-t'], { input: a });
  const empty = await pgzip(Buffer.alloc(0), 2);
  assert.equal(zlib.gunzipSync(empty).length, 0);
  execFileSync('gzip', ['-t'], { input: empty });
});
