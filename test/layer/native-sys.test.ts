/**
 * The kernel door's mknod and nanosecond times (native/sys.c through linuxSys, as root): device
 * nodes and FIFOs with their numbers and modes, times with nanoseconds on a path, an fd and a
 * symlink itself, a directory listed with its entries' lstat fields, an unpacked layer
 * keeping a PAX mtime's nanoseconds, and programs run through its posix_spawn (input, output,
 * status, environment, timeout, a daemon's fd 3).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { unpackLayer } from '../../src/layer/index.js';
import { SCAN_FIELDS, linuxSys } from '../../src/sys/index.js';
import { setAttributeSync } from '@napi-rs/xattr';
import { createHash } from 'node:crypto';
import { craftTar, rm, streamOf, tempDir } from './helpers.js';

const built = fs.existsSync(path.join(import.meta.dirname, '..', '..', '..', 'native', 'build', 'strata-sys.node'));

test('mknod: char, block and FIFO nodes with their numbers and exact modes; an existing path is refused', (t) => {
  const dir = tempDir('mknod');
  t.after(() => rm(dir));
  const old = process.umask(0o022);
  t.after(() => process.umask(old));
  linuxSys.mknod(path.join(dir, 'null'), 'char', 0o666, 1, 3);
  linuxSys.mknod(path.join(dir, 'loop'), 'block', 0o660, 7, 200);
  linuxSys.mknod(path.join(dir, 'pipe'), 'fifo', 0o622, 0, 0);
  const c = fs.lstatSync(path.join(dir, 'null'));
  assert.ok(c.isCharacterDevice());
  assert.equal(c.rdev, (1 << 8) | 3);
  assert.equal(c.mode & 0o7777, 0o666, 'the umask does not apply');
  const b = fs.lstatSync(path.join(dir, 'loop'));
  assert.ok(b.isBlockDevice());
  assert.equal(b.rdev, (7 << 8) | 200);
  const p = fs.lstatSync(path.join(dir, 'pipe'));
  assert.ok(p.isFIFO());
  assert.equal(p.mode & 0o7777, 0o622);
  assert.throws(() => linuxSys.mknod(path.join(dir, 'pipe'), 'fifo', 0o600, 0, 0), /mknod fifo 0,0 failed: .*(EEXIST|exists)/);
});

test('setTimes: nanoseconds on a path, an open file and a symlink itself', { skip: !built && 'native/build/strata-sys.node is not built' }, (t) => {
  const dir = tempDir('times');
  t.after(() => rm(dir));
  const f = path.join(dir, 'f');
  fs.writeFileSync(f, 'x');
  fs.symlinkSync('f', path.join(dir, 'l'));
  linuxSys.setTimes(f, { sec: 1700000000, nsec: 123456789 }, { sec: 1600000000, nsec: 987654321 });
  let st = fs.statSync(f, { bigint: true });
  assert.equal(st.atimeNs, 1700000000123456789n);
  assert.equal(st.mtimeNs, 1600000000987654321n);
  const fd = fs.openSync(f, 'r+');
  try {
    linuxSys.setTimes(fd, { sec: 5, nsec: 1 }, { sec: 6, nsec: 999999999 });
  } finally {
    fs.closeSync(fd);
  }
  st = fs.statSync(f, { bigint: true });
  assert.equal(st.mtimeNs, 6999999999n);
  linuxSys.setTimes(Buffer.from(path.join(dir, 'l')), { sec: 7, nsec: 7 }, { sec: 8, nsec: 8 });
  assert.equal(fs.lstatSync(path.join(dir, 'l'), { bigint: true }).mtimeNs, 8000000008n, 'the link itself');
  assert.equal(fs.statSync(f, { bigint: true }).mtimeNs, 6999999999n, 'its target untouched');
  assert.throws(() => linuxSys.setTimes(path.join(dir, 'absent'), { sec: 1, nsec: 0 }, { sec: 1, nsec: 0 }), { code: 'ENOENT' });
});

test('lstatDir: every entry with the fields lstat gives (a symlink itself); a missing directory throws ENOENT; lstatDirAsync the same from the thread pool', { skip: !built && 'native/build/strata-sys.node is not built' }, async (t) => {
  const dir = tempDir('lstatdir');
  t.after(() => rm(dir));
  fs.writeFileSync(path.join(dir, 'f'), 'twelve bytes');
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.symlinkSync('f', path.join(dir, 'link'));
  linuxSys.setTimes(path.join(dir, 'f'), { sec: 1700000000, nsec: 123456789 }, { sec: 1700000001, nsec: 987654321 });
  const got = linuxSys.lstatDir(dir);
  assert.ok(got);
  assert.equal(got.names[got.names.length - 1], 0, 'each name NUL-terminated');
  const names = got.names.toString().slice(0, -1).split('\0');
  assert.deepEqual([...names].sort(), ['f', 'link', 'sub']);
  assert.equal(got.fields.length, 3 * 7);
  names.forEach((n, i) => {
    const st = fs.lstatSync(path.join(dir, n));
    const f = [...got.fields.subarray(i * 7, i * 7 + 7)];
    assert.deepEqual([f[0], f[1], f[2]! * 1e3 + f[3]! / 1e6, f[4]! * 1e3 + f[5]! / 1e6, f[6]], [st.mode, st.size, st.mtimeMs, st.ctimeMs, st.ino], n);
  });
  const fi = names.indexOf('f');
  assert.deepEqual([got.fields[fi * 7 + 2], got.fields[fi * 7 + 3]], [1700000001, 987654321]);
  assert.throws(() => linuxSys.lstatDir(path.join(dir, 'gone')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  const later = await linuxSys.lstatDirAsync(dir);
  assert.ok(later);
  assert.deepEqual(later.names, got.names);
  assert.deepEqual([...later.fields], [...got.fields]);
  await assert.rejects(linuxSys.lstatDirAsync(path.join(dir, 'gone'))!, (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.syscall === 'scandir');
});

test('unpack keeps the nanoseconds of a PAX mtime (files, directories, symlinks, nodes)', { skip: !built && 'native/build/strata-sys.node is not built' }, async (t) => {
  const dir = tempDir('unpack-ns');
  t.after(() => rm(dir));
  const tar = craftTar([
    { name: 'd/', type: '5', mode: 0o755, pax: [['mtime', '1700000000.111111111']] },
    { name: 'd/f', data: 'hello', pax: [['mtime', '1700000001.222222222']] },
    { name: 'd/l', type: '2', linkname: 'f', pax: [['mtime', '1700000002.333333333']] },
    { name: 'd/p', type: '6', mode: 0o600, pax: [['mtime', '1700000003.444444444']] },
  ]);
  await unpackLayer(streamOf(tar), dir);
  const ns = (p: string) => fs.lstatSync(path.join(dir, p), { bigint: true }).mtimeNs;
  assert.equal(ns('d'), 1700000000111111111n);
  assert.equal(ns('d/f'), 1700000001222222222n);
  assert.equal(ns('d/l'), 1700000002333333333n);
  assert.equal(ns('d/p'), 1700000003444444444n);
  assert.ok(fs.lstatSync(path.join(dir, 'd/p')).isFIFO());
});

test('mount and unmount: tmpfs and overlay with cwd-relative lowerdirs; umount(8)\'s words for errors', async (t) => {
  const dir = tempDir('mount');
  const target = path.join(dir, 'mnt');
  fs.mkdirSync(target);
  t.after(async () => {
    await linuxSys.unmount(target, { detach: true }).catch(() => undefined);
    rm(dir);
  });
  const mounted = () => linuxSys.readMountInfo().filter((m) => m.mountPoint === target);
  await linuxSys.mount({ type: 'tmpfs', source: 'tmpfs', target, data: 'size=1m,mode=0750' });
  assert.equal(mounted()[0]?.fsType, 'tmpfs');
  assert.equal(fs.statSync(target).mode & 0o7777, 0o750);
  await linuxSys.unmount(target);
  assert.equal(mounted().length, 0);
  await assert.rejects(linuxSys.unmount(target), /not mounted/);
  await assert.rejects(linuxSys.unmount(path.join(dir, 'absent')), /no mount point|not mounted|No such file/);
  // an overlay whose lowerdirs are relative to cwd (the short links under the store root)
  for (const d of ['l1', 'l2', 'up', 'work']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(path.join(dir, 'l1', 'a'), 'from l1');
  fs.writeFileSync(path.join(dir, 'l2', 'b'), 'from l2');
  await linuxSys.mount({ type: 'overlay', source: 'overlay', target, cwd: dir, data: `lowerdir=l1:l2,upperdir=${dir}/up,workdir=${dir}/work` });
  assert.equal(fs.readFileSync(path.join(target, 'a'), 'utf8'), 'from l1');
  assert.equal(fs.readFileSync(path.join(target, 'b'), 'utf8'), 'from l2');
  fs.writeFileSync(path.join(target, 'c'), 'new');
  assert.equal(fs.readFileSync(path.join(dir, 'up', 'c'), 'utf8'), 'new');
  const fd = fs.openSync(path.join(target, 'a'), 'r');
  try {
    // busy: an open file inside; the lazy detach still takes it away
    await linuxSys.unmount(target, { detach: true });
  } finally {
    fs.closeSync(fd);
  }
  assert.equal(mounted().length, 0);
  await assert.rejects(linuxSys.mount({ type: 'overlay', source: 'overlay', target, cwd: dir, data: 'lowerdir=nosuch' }), /mount/);
});

test('programs through the addon: stdin in and stdout out by the megabyte, stderr apart, the status, only the given environment, a timeout, a missing program', { skip: !built && 'native/build/strata-sys.node is not built' }, async (t) => {
  const dir = tempDir('run');
  t.after(() => rm(dir));
  const big = 'x'.repeat(5 << 20);
  const r = await linuxSys.runtimeRun('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: big });
  assert.equal(r.code, 3);
  assert.equal(r.stdout.length, big.length);
  assert.equal(r.stderr, 'err\n');
  // a plugin's run: its environment only (PATH included), its config on stdin
  const plugin = path.join(dir, 'plugin');
  fs.writeFileSync(plugin, '#!/bin/sh\necho "$CNI_COMMAND $HOME"; cat\n', { mode: 0o755 });
  const cni = await linuxSys.cniExec({ plugin, env: { CNI_COMMAND: 'ADD', PATH: '/usr/bin:/bin' }, stdin: '{"cniVersion":"1.0.0"}' });
  assert.deepEqual(cni, { code: 0, stdout: 'ADD \n{"cniVersion":"1.0.0"}', stderr: '' });
  const slow = path.join(dir, 'slow');
  fs.writeFileSync(slow, '#!/bin/sh\nexec sleep 5\n', { mode: 0o755 });
  const t0 = Date.now();
  const killed = await linuxSys.cniExec({ plugin: slow, env: {}, stdin: '', timeoutMs: 200 });
  assert.equal(killed.code, 128, 'killed at its timeout');
  assert.ok(Date.now() - t0 < 3000);
  await assert.rejects(linuxSys.runtimeRun(path.join(dir, 'nosuch'), []), /cannot run .*nosuch/);
});

test('a daemon through the addon: in a session of its own, what it writes on fd 3 until every copy of fd 3 is closed', { skip: !built && 'native/build/strata-sys.node is not built' }, async () => {
  const line = await linuxSys.launchMonitor('/bin/sh', ['-c', 'set -- $(cat /proc/$$/stat); echo "pid $1 session $6" >&3; (sleep 0.3; echo later >&3) &']);
  const m = /^pid (\d+) session (\d+)\nlater\n$/.exec(line);
  assert.ok(m, line);
  assert.equal(m[1], m[2], 'its own session');
});

test('readInto: a file read into a buffer, checked to be the inode listed; scanDir: stats and xattrs', { skip: !built && 'native/build/strata-sys.node is not built' }, (t) => {
  const dir = tempDir('readinto');
  t.after(() => rm(dir));
  const f = path.join(dir, 'f');
  fs.writeFileSync(f, 'hello world');
  const st = fs.lstatSync(f);
  const buf = Buffer.alloc(32, 0x2e);
  assert.equal(linuxSys.readInto(f, st.ino, st.dev, buf, 4, 5), 5);
  assert.equal(buf.toString('latin1', 0, 12), '....hello...');
  // shorter now: the count read; another inode under the name: -1; a symlink is not followed
  assert.equal(linuxSys.readInto(f, st.ino, st.dev, buf, 0, 20), 11);
  fs.renameSync(f, path.join(dir, 'old'));
  fs.writeFileSync(f, 'other');
  assert.equal(linuxSys.readInto(f, st.ino, st.dev, buf, 0, 5), -1);
  fs.symlinkSync('old', path.join(dir, 'link'));
  assert.throws(() => linuxSys.readInto(path.join(dir, 'link'), st.ino, st.dev, buf, 0, 5), /ELOOP/);
  assert.throws(() => linuxSys.readInto(f, st.ino, st.dev, buf, 30, 5), RangeError);

  setAttributeSync(f, 'user.k', Buffer.from([0, 0xff, 0x10]));
  const scan = linuxSys.scanDir(dir)!;
  const names = scan.names.toString('latin1').split('\0').slice(0, -1);
  assert.deepEqual([...names].sort(), ['f', 'link', 'old']);
  const i = names.indexOf('f');
  const fst = fs.lstatSync(f);
  const row = Array.from(scan.fields.subarray(i * SCAN_FIELDS, (i + 1) * SCAN_FIELDS));
  assert.deepEqual(row, [fst.mode, fst.uid, fst.gid, 5, Math.floor(fst.mtimeMs / 1000), row[5], fst.ino, fst.dev, 1, 0, 0]);
  assert.deepEqual(scan.xattrs[i], [['user.k', Buffer.from([0, 0xff, 0x10])]]);
  assert.equal(scan.xattrs[names.indexOf('old')], undefined);
  assert.throws(() => linuxSys.scanDir(path.join(dir, 'nope')), /ENOENT/);
});

test('poolHasher: sha256 on the thread pool, updated in order, readable between updates', { skip: !built && 'native/build/strata-sys.node is not built' }, async () => {
  const h = linuxSys.poolHasher()!;
  const want = createHash('sha256');
  assert.equal(h.digest(), `sha256:${createHash('sha256').digest('hex')}`);
  for (let i = 0; i < 20; i++) {
    const chunk = Buffer.alloc(100_000 + i * 37, i);
    want.update(chunk);
    await h.update(chunk);
    assert.equal(h.digest(), `sha256:${want.copy().digest('hex')}`);
  }
  await h.update(Buffer.alloc(0));
  assert.equal(h.digest(), `sha256:${want.digest('hex')}`);
});

test('ip netns add through the addon: a network namespace of its own bound at /run/netns/NAME, as ip(8) makes it; a name taken is refused and left as it was', { skip: !built && 'native/build/strata-sys.node is not built' }, async (t) => {
  const { execFileSync } = await import('node:child_process');
  const name = `sx-test-${process.pid}`;
  const file = `/run/netns/${name}`;
  t.after(() => { try { execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' }); } catch { /* gone */ } });
  const r = await linuxSys.ip(['netns', 'add', name]);
  assert.deepEqual([r.code, r.stderr], [0, '']);
  // a namespace file, not this process's namespace, with only `lo`, usable by ip(8)
  const ours = fs.readlinkSync('/proc/self/ns/net');
  const theirs = execFileSync('ip', ['netns', 'exec', name, 'readlink', '/proc/self/ns/net']).toString().trim();
  assert.match(theirs, /^net:\[\d+\]$/);
  assert.notEqual(theirs, ours);
  assert.match(execFileSync('ip', ['netns', 'exec', name, 'ip', '-o', 'link']).toString(), /^1: lo:[^\n]*\n$/);
  assert.ok(execFileSync('ip', ['netns', 'list']).toString().split('\n').some((l) => l.split(' ')[0] === name));
  const again = await linuxSys.ip(['netns', 'add', name]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /File exists/);
  assert.equal(execFileSync('ip', ['netns', 'exec', name, 'readlink', '/proc/self/ns/net']).toString().trim(), theirs, 'the first is untouched');
  // `ip -n NAME link set lo up` through the addon: lo up there, with the kernel's addresses; ours unchanged
  const loHere = execFileSync('ip', ['-o', 'link', 'show', 'lo']).toString();
  assert.doesNotMatch(execFileSync('ip', ['-n', name, '-o', 'link', 'show', 'lo']).toString(), /[<,]UP[,>]/);
  assert.deepEqual(await linuxSys.ip(['-n', name, 'link', 'set', 'lo', 'up']), { code: 0, stdout: '', stderr: '' });
  assert.match(execFileSync('ip', ['-n', name, '-o', 'link', 'show', 'lo']).toString(), /<LOOPBACK,UP,LOWER_UP>/);
  const addrs = execFileSync('ip', ['-n', name, '-o', 'addr', 'show', 'lo']).toString();
  assert.match(addrs, /inet 127\.0\.0\.1\/8/);
  assert.match(addrs, /inet6 ::1\/128/);
  assert.equal(execFileSync('ip', ['-o', 'link', 'show', 'lo']).toString(), loHere);
  const none = await linuxSys.ip(['-n', `${name}-none`, 'link', 'set', 'lo', 'up']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /ENOENT/);
  execFileSync('ip', ['netns', 'delete', name]);
  assert.equal(fs.existsSync(file), false);
});
