/**
 * Hostile archives (shared/security.md (b)). Each case unpacks next to a
 * `victim/hello` directory (moby's testBreakout oracle) and checks the error
 * and that nothing outside the destination changed.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import * as zlib from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { getAttributeSync } from '@napi-rs/xattr';
import { type UnpackOptions, type UnpackResult, unpackLayer } from '../../src/layer/index.js';
import { StrataError } from '../../src/base/errors.js';
import { type RawEntry, craftTar, rawHeader, rm, streamOf, tempDir } from './helpers.js';

interface Env {
  parent: string;
  dest: string;
  victim: string;
}

function setup(t: TestContext): Env {
  const parent = tempDir('hostile');
  t.after(() => rm(parent));
  const victim = path.join(parent, 'victim');
  fs.mkdirSync(victim);
  fs.writeFileSync(path.join(victim, 'hello'), 'victim\n');
  const dest = path.join(parent, 'dest');
  fs.mkdirSync(dest);
  return { parent, dest, victim };
}

function assertConfined(env: Env): void {
  assert.deepEqual(fs.readdirSync(env.parent).sort(), ['dest', 'victim'], 'nothing new beside dest');
  assert.deepEqual(fs.readdirSync(env.victim), ['hello'], 'victim dir unchanged');
  const st = fs.lstatSync(path.join(env.victim, 'hello'));
  assert.ok(st.isFile());
  assert.equal(fs.readFileSync(path.join(env.victim, 'hello'), 'utf8'), 'victim\n');
  assert.equal(st.mode & 0o7777, 0o644);
  assert.equal(st.nlink, 1, 'victim was not hard-linked');
  // no temp names left behind
  assert.ok(!(fs.readdirSync(env.dest) as string[]).some((n) => n.startsWith('.strata-')));
}

async function expectFail(env: Env, tar: Buffer, code: string, msg: RegExp, opts: UnpackOptions = {}): Promise<void> {
  await assert.rejects(unpackLayer(streamOf(tar), env.dest, opts), (e: unknown) => {
    assert.ok(e instanceof StrataError, `StrataError expected, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, msg);
    return true;
  });
  assertConfined(env);
}

async function expectOk(env: Env, tar: Buffer, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const r = await unpackLayer(streamOf(tar), env.dest, opts);
  assertConfined(env);
  return r;
}

const file = (name: string | Buffer, data = 'pwned\n', extra: Partial<RawEntry> = {}): RawEntry => ({ name, data, ...extra });

test('../ traversal is refused', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([file('../victim/hello')]), 'invalid_argument', /path escapes the destination/);
  await expectFail(env, craftTar([file('a/../../victim/evil')]), 'invalid_argument', /path escapes/);
});

test('../ traversal through a PAX path or GNU long name is refused', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([file('innocent', 'x', { pax: [['path', '../../victim/evil']] })]), 'invalid_argument', /path escapes/);
  const long = Buffer.from('../victim/evil\0');
  const tar = Buffer.concat([rawHeader({ name: '././@LongLink', type: 'L', data: long }), long, Buffer.alloc(512 - long.length), craftTar([file('short')])]);
  await expectFail(env, tar, 'invalid_argument', /path escapes/);
});

test('absolute names are confined (leading / stripped)', async (t) => {
  const env = setup(t);
  const abs = path.join(env.victim, 'abs-evil');
  await expectOk(env, craftTar([file(abs), file('/etc/strata-test-evil')]));
  assert.equal(fs.readFileSync(path.join(env.dest, abs), 'utf8'), 'pwned\n');
  assert.ok(fs.existsSync(path.join(env.dest, 'etc/strata-test-evil')));
  assert.ok(!fs.existsSync('/etc/strata-test-evil'));
});

test('a file written through a symlink that points out is refused', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([
    { name: 'link', type: '2', linkname: env.victim },
    file('link/evil'),
  ]), 'invalid_argument', /path escapes the destination: "link\/evil" goes through the symlink "link"/);
  await expectFail(env, craftTar([
    { name: 'up', type: '2', linkname: '../victim' },
    file('up/hello'),
  ]), 'invalid_argument', /symlink/);
});

test('a symlink chain in the parent path is refused', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([
    { name: 'b', type: '2', linkname: env.victim },
    { name: 'a', type: '2', linkname: 'b' },
    file('a/evil'),
  ]), 'invalid_argument', /symlink/);
  await expectFail(env, craftTar([
    { name: 'd/', type: '5' },
    { name: 'd/e', type: '2', linkname: '../../victim' },
    { name: 'd/e/sub/', type: '5' },
  ]), 'invalid_argument', /symlink/);
});

test('a directory replaced by a symlink cannot be written through', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([
    { name: 'd/', type: '5' },
    file('d/ok'),
    { name: 'd', type: '2', linkname: env.victim },
    file('d/evil'),
  ]), 'invalid_argument', /symlink/);
});

test('a file entry replaces a symlink instead of writing through it', async (t) => {
  const env = setup(t);
  await expectOk(env, craftTar([
    { name: 's', type: '2', linkname: path.join(env.victim, 'hello') },
    file('s', 'replaced\n'),
  ]));
  const st = fs.lstatSync(path.join(env.dest, 's'));
  assert.ok(st.isFile());
  assert.equal(fs.readFileSync(path.join(env.dest, 's'), 'utf8'), 'replaced\n');
});

test('hard links to outside paths are refused', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([{ name: 'h', type: '1', linkname: '../victim/hello' }]), 'invalid_argument', /escapes/);
  await expectFail(env, craftTar([{ name: 'h', type: '1', linkname: path.join(env.victim, 'hello') }]), 'invalid_argument', /not in the archive/);
  await expectFail(env, craftTar([{ name: 'h', type: '1', linkname: '/etc/passwd' }]), 'invalid_argument', /not in the archive/);
  await expectFail(env, craftTar([
    { name: 'l', type: '2', linkname: '/' },
    { name: 'h', type: '1', linkname: 'l/etc/passwd' },
  ]), 'invalid_argument', /symlink/);
});

test('a hard link to a symlink pointing out links the symlink itself', async (t) => {
  const env = setup(t);
  await expectOk(env, craftTar([
    { name: 's', type: '2', linkname: path.join(env.victim, 'hello') },
    { name: 'h', type: '1', linkname: 's' },
  ]));
  const st = fs.lstatSync(path.join(env.dest, 'h'));
  assert.ok(st.isSymbolicLink());
  assert.equal(st.nlink, 2);
});

test('hard links to missing targets, directories and whiteouts are refused', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([{ name: 'h', type: '1', linkname: 'nope' }]), 'invalid_argument', /not in the archive/);
  await expectFail(env, craftTar([{ name: 'd/', type: '5' }, { name: 'h', type: '1', linkname: 'd' }]), 'invalid_argument', /is a directory/);
  await expectFail(env, craftTar([file('.wh.x', ''), { name: 'h', type: '1', linkname: '.wh.x' }]), 'invalid_argument', /whiteout/);
});

test('bad whiteouts are refused', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([file('.wh..', '')]), 'invalid_argument', /invalid whiteout/);
  await expectFail(env, craftTar([file('sub/.wh..', '')]), 'invalid_argument', /invalid whiteout/);
  await expectFail(env, craftTar([file('.wh...', '')]), 'invalid_argument', /invalid whiteout/);
  await expectFail(env, craftTar([
    { name: 'l', type: '2', linkname: env.victim },
    file('l/.wh.hello', ''),
  ]), 'invalid_argument', /symlink/);
});

test('a huge PAX header is refused', async (t) => {
  const env = setup(t);
  const tar = Buffer.concat([rawHeader({ name: 'PaxHeaders/x', type: 'x', size: 2 * 1024 * 1024 }), Buffer.alloc(4096)]);
  await expectFail(env, tar, 'corrupt', /PAX header too large/);
});

test('overflowing or negative sizes are refused', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([file('f', 'x', { pax: [['size', '99999999999999999999']] })]), 'corrupt', /size overflows/);
  await expectFail(env, craftTar([file('f', 'x', { pax: [['size', '-1']] })]), 'corrupt', /bad size/);
  const neg = Buffer.alloc(12, 0xff);
  await expectFail(env, craftTar([file('f', 'x', { rawSize: neg })]), 'corrupt', /negative size/);
  await expectFail(env, craftTar([file('f', 'x', { rawSize: Buffer.from('0000000009x\0') })]), 'corrupt', /bad size field/);
});

test('a gzip bomb stops at maxExpandedBytes', async (t) => {
  const env = setup(t);
  // 16 gzip members of 64 MiB of zeros each: ~1 MiB that expands to 1 GiB
  const member = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
  const head = zlib.gzipSync(craftTar([file('small', 'x')], false));
  const bomb = Buffer.concat([head, ...Array<Buffer>(16).fill(member)]);
  assert.ok(bomb.length < 2 * 1024 * 1024, `bomb is ${bomb.length} bytes`);
  const started = Date.now();
  await expectFail(env, bomb, 'invalid_argument', /archive expands beyond the limit of 16777216 bytes \(set STRATA_MAX_LAYER_BYTES\)/, { maxExpandedBytes: 16 * 1024 * 1024 });
  assert.ok(Date.now() - started < 5000);
  assert.deepEqual(fs.readdirSync(env.dest), ['small']);
});

test('a huge declared size fails before any data is written', async (t) => {
  const env = setup(t);
  const tar = Buffer.concat([craftTar([file('big', 'x'.repeat(4096), { pax: [['size', String(100 * 1024 ** 3)]] })], false)]);
  await expectFail(env, tar, 'invalid_argument', /archive expands beyond the limit/);
  await expectFail(env, tar, 'invalid_argument', /beyond the limit of 1048576 bytes/, { maxExpandedBytes: 1024 * 1024 });
  assert.deepEqual(fs.readdirSync(env.dest), []);
});

test('bad sparse entries are refused with a clear error', async (t) => {
  const env = setup(t);
  const map01 = (size: number, map: string, n: number): Array<[string, string]> => [['GNU.sparse.major', '0'], ['GNU.sparse.minor', '1'], ['GNU.sparse.size', String(size)], ['GNU.sparse.numblocks', String(n)], ['GNU.sparse.map', map]];
  // segments past the real size, out of order, or not adding up to the stored bytes
  await expectFail(env, craftTar([file('sp', 'x'.repeat(10), { pax: map01(100, '95,10', 1) })]), 'corrupt', /sparse map/);
  await expectFail(env, craftTar([file('sp', 'x'.repeat(10), { pax: map01(100, '50,5,40,5', 2) })]), 'corrupt', /sparse map/);
  await expectFail(env, craftTar([file('sp', 'x'.repeat(10), { pax: map01(100, '0,4', 1) })]), 'corrupt', /holds 4 bytes but 10 are stored/);
  await expectFail(env, craftTar([file('sp', 'x'.repeat(10), { pax: map01(100, '0,4,9', 2) })]), 'corrupt', /sparse map has 3 numbers/);
  // a huge real size is held to the expansion limit, holes or not
  await expectFail(env, craftTar([file('sp', '', { pax: map01(100 * 1024 ** 3, '', 0) })]), 'invalid_argument', /archive expands beyond the limit/);
  // format 1.0 whose body holds no map
  await expectFail(env, craftTar([file('sp', '', { pax: [['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', String(4 * 1024 ** 3)]] })]), 'corrupt', /bad sparse map/);
  await expectFail(env, craftTar([file('sp', 'zz\n'.padEnd(512, '\0'), { pax: [['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '10']] })]), 'corrupt', /bad sparse map/);
  await expectFail(env, craftTar([file('sp', '', { pax: [['GNU.sparse.major', '2'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '10']] })]), 'not_implemented', /unsupported GNU sparse format 2\.0/);
  // old GNU 'S' on a header without a map that adds up
  await expectFail(env, craftTar([file('sp', 'abc', { type: 'S' })]), 'corrupt', /sparse map holds 0 bytes but 3 are stored/);
  await expectFail(env, craftTar([file('z', '', { type: 'Z' })]), 'not_implemented', /unsupported tar entry type "Z"/);
});

test('truncated archives fail with unexpected EOF', async (t) => {
  const env = setup(t);
  const full = craftTar([file('f', 'y'.repeat(10000))]);
  await expectFail(env, full.subarray(0, 5000), 'corrupt', /unexpected EOF/);
  await expectFail(env, full.subarray(0, 700), 'corrupt', /unexpected EOF/);
  await expectFail(env, craftTar([file('f', 'y')], false), 'corrupt', /unexpected EOF: the archive ended without an end-of-archive marker/);
});

test('a bad header checksum is corrupt', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([file('f', 'y', { badChecksum: true })]), 'corrupt', /bad checksum/);
});

test('input that is not a tar at all is corrupt', async (t) => {
  const env = setup(t);
  await expectFail(env, Buffer.from('this is not a tar archive\n'.repeat(100)), 'corrupt', /invalid tar header/);
  await expectFail(env, Buffer.from('hello'), 'corrupt', /unexpected EOF/);
  await expectFail(env, Buffer.alloc(0), 'corrupt', /unexpected EOF/);
});

test('corrupt or truncated compressed streams are corrupt', async (t) => {
  const env = setup(t);
  const tar = craftTar([file('f', 'z'.repeat(100000))]);
  const gz = zlib.gzipSync(tar);
  const flipped = Buffer.from(gz);
  flipped[Math.floor(gz.length / 2)]! ^= 0xff;
  await expectFail(env, flipped, 'corrupt', /invalid gzip stream/);
  rm(env.dest); fs.mkdirSync(env.dest);
  await expectFail(env, gz.subarray(0, gz.length - 4), 'corrupt', /invalid gzip stream: unexpected end of file/);
  rm(env.dest); fs.mkdirSync(env.dest);
  const zst = zstdCompress(tar);
  await expectFail(env, zst.subarray(0, zst.length - 10), 'corrupt', /invalid zstd stream/);
  rm(env.dest); fs.mkdirSync(env.dest);
  await expectFail(env, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3]), 'invalid_argument', /xz-compressed archives are not supported/);
  // a failed unpack closes its input
  const blob = path.join(env.parent, 'blob.gz');
  fs.writeFileSync(blob, flipped);
  const input = fs.createReadStream(blob, { highWaterMark: 1024 });
  rm(env.dest); fs.mkdirSync(env.dest);
  await assert.rejects(unpackLayer(input, env.dest), /invalid gzip stream/);
  assert.ok(input.destroyed);
  fs.rmSync(blob);
  assertConfined(env);
});

test('duplicate entries: the last one wins', async (t) => {
  const env = setup(t);
  const r = await expectOk(env, craftTar([file('f', 'one\n'), file('f', 'two\n', { mode: 0o600 })]));
  assert.equal(fs.readFileSync(path.join(env.dest, 'f'), 'utf8'), 'two\n');
  assert.equal(fs.statSync(path.join(env.dest, 'f')).mode & 0o7777, 0o600);
  assert.equal(r.entries, 2);
});

test('a file replaces a directory tree, a directory replaces a file', async (t) => {
  const env = setup(t);
  await expectOk(env, craftTar([
    { name: 'd/', type: '5' },
    file('d/child'),
    { name: 'd/sub/', type: '5' },
    file('d', 'now a file\n'),
    file('x', 'a file\n'),
    { name: 'x/', type: '5', mode: 0o750 },
    file('x/y', 'inside\n'),
  ]));
  assert.equal(fs.readFileSync(path.join(env.dest, 'd'), 'utf8'), 'now a file\n');
  assert.ok(fs.statSync(path.join(env.dest, 'x')).isDirectory());
  assert.equal(fs.statSync(path.join(env.dest, 'x')).mode & 0o7777, 0o750);
  assert.equal(fs.readFileSync(path.join(env.dest, 'x/y'), 'utf8'), 'inside\n');
});

test('trusted.* and foreign security.* xattrs are dropped, user.* and security.capability kept', async (t) => {
  const env = setup(t);
  const cap = Buffer.from([0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const r = await expectOk(env, craftTar([
    { name: 'd/', type: '5', pax: [['SCHILY.xattr.trusted.overlay.opaque', 'y'], ['SCHILY.xattr.trusted.overlay.redirect', '/etc'], ['SCHILY.xattr.user.keep', 'k']] },
    file('d/bin', 'b', { pax: [['SCHILY.xattr.security.capability', cap], ['SCHILY.xattr.security.selinux', 'system_u:object_r:bin_t:s0']] }),
  ]), { mode: 'overlay' });
  const d = path.join(env.dest, 'd');
  assert.equal(getAttributeSync(d, 'trusted.overlay.opaque'), null);
  assert.equal(getAttributeSync(d, 'trusted.overlay.redirect'), null);
  assert.equal(getAttributeSync(d, 'user.keep')?.toString(), 'k');
  assert.deepEqual(getAttributeSync(path.join(d, 'bin'), 'security.capability'), cap);
  assert.equal(getAttributeSync(path.join(d, 'bin'), 'security.selinux'), null);
  assert.ok(r.warnings.some((w) => w.includes('trusted.overlay.redirect')));
});

test('device nodes and FIFOs unpack in plain mode', async (t) => {
  const env = setup(t);
  await expectOk(env, craftTar([
    { name: 'dev/', type: '5' },
    { name: 'dev/null', type: '3', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/loop0', type: '4', devmajor: 7, devminor: 0, mode: 0o660, uid: 6, gid: 6 },
    { name: 'dev/wh', type: '3', devmajor: 0, devminor: 0, mode: 0o600 },
    { name: 'fifo', type: '6', mode: 0o4755 },
  ]), { mode: 'plain' });
  const n = fs.lstatSync(path.join(env.dest, 'dev/null'));
  assert.ok(n.isCharacterDevice());
  assert.equal(n.rdev, (1 << 8) | 3);
  assert.equal(n.mode & 0o7777, 0o666);
  const l = fs.lstatSync(path.join(env.dest, 'dev/loop0'));
  assert.ok(l.isBlockDevice());
  assert.equal(l.rdev, 7 << 8);
  assert.equal(l.uid, 6);
  assert.ok(fs.lstatSync(path.join(env.dest, 'fifo')).isFIFO());
  assert.equal(fs.lstatSync(path.join(env.dest, 'fifo')).mode & 0o7777, 0o4755);
});

test('a NUL in a ustar name truncates it; a NUL in a PAX path is refused', async (t) => {
  const env = setup(t);
  await expectOk(env, craftTar([file(Buffer.from('abc\0/../../victim/evil'), 'nul\n')]));
  assert.deepEqual(fs.readdirSync(env.dest), ['abc']);
  await expectFail(env, craftTar([file('x', 'y', { pax: [['path', Buffer.from('a\0b')]] })]), 'corrupt', /NUL/);
});

test('too many entries', async (t) => {
  const env = setup(t);
  const entries = Array.from({ length: 11 }, (_, i) => file(`f${i}`, ''));
  await expectFail(env, craftTar(entries), 'invalid_argument', /more than 10 entries/, { maxEntries: 10 });
});

test('over-long names fail cleanly', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([file('x', 'y', { pax: [['path', 'n'.repeat(300)]] })]), 'invalid_argument', /name too long/);
  const deep = Array.from({ length: 40 }, () => 'd'.repeat(120)).join('/');
  await expectFail(env, craftTar([file('x', 'y', { pax: [['path', deep]] })]), 'invalid_argument', /name too long/);
});

test('uid/gid -1 is refused instead of silently leaving root ownership', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([file('f', 'x', { pax: [['uid', '4294967295']] })]), 'invalid_argument', /invalid owner 4294967295:0/);
});

test('symlinks may point anywhere: they are created, never followed', async (t) => {
  const env = setup(t);
  await expectOk(env, craftTar([
    { name: 'abs', type: '2', linkname: path.join(env.victim, 'hello') },
    { name: 'rel', type: '2', linkname: '../../../../victim/hello' },
  ]));
  assert.equal(fs.readlinkSync(path.join(env.dest, 'abs')), path.join(env.victim, 'hello'));
});

test("symlinkParents 'resolve-in-root' follows links with dest as the root", async (t) => {
  const env = setup(t);
  fs.mkdirSync(path.join(env.dest, 'usr/lib'), { recursive: true });
  fs.symlinkSync('usr/lib', path.join(env.dest, 'lib'));
  await expectOk(env, craftTar([
    file('lib/through-relative', 'a\n'),
    { name: 'root', type: '2', linkname: '/' },
    file('root/etc/evil', 'confined\n'),
    { name: 'up', type: '2', linkname: '../../../..' },
    file('up/evil2', 'confined\n'),
    { name: 'abs', type: '2', linkname: env.victim },
    file('abs/hello', 'confined\n'),
  ]), { symlinkParents: 'resolve-in-root', mode: 'plain' });
  assert.equal(fs.readFileSync(path.join(env.dest, 'usr/lib/through-relative'), 'utf8'), 'a\n');
  assert.equal(fs.readFileSync(path.join(env.dest, 'etc/evil'), 'utf8'), 'confined\n');
  assert.equal(fs.readFileSync(path.join(env.dest, 'evil2'), 'utf8'), 'confined\n');
  assert.equal(fs.readFileSync(path.join(env.dest, env.victim, 'hello'), 'utf8'), 'confined\n');
  const loop = craftTar([{ name: 'a', type: '2', linkname: 'b' }, { name: 'b', type: '2', linkname: 'a' }, file('a/x')]);
  rm(env.dest); fs.mkdirSync(env.dest);
  await expectFail(env, loop, 'invalid_argument', /too many levels of symbolic links/, { symlinkParents: 'resolve-in-root' });
});

test('a path through a regular file fails', async (t) => {
  const env = setup(t);
  await expectFail(env, craftTar([file('f', 'x'), file('f/g', 'y')]), 'invalid_argument', /"f" is not a directory/);
});
