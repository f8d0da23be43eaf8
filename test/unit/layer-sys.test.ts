/**
 * The tar codec's kernel touches (device nodes, xattrs) through FakeSys: what the unpacker
 * asks for, and what the packer reads back, without root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeSys } from '../../src/sys/fake.js';
import { packDir, readTar, unpackLayer } from '../../src/layer/index.js';
import { craftTar, streamOf } from '../layer/helpers.js';

const uid = process.getuid!();
const gid = process.getgid!();

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-unit-layer-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('unpack: device nodes and FIFOs through sys.mknod, kept xattrs through sys.lsetxattr', async (t) => {
  const dir = tmp(t);
  const sys = new FakeSys({ runDir: path.join(dir, 'run') });
  const dest = path.join(dir, 'out');
  fs.mkdirSync(dest);
  const tar = craftTar([
    { name: 'dev/', type: '5', mode: 0o755, uid, gid },
    { name: 'dev/null', type: '3', mode: 0o666, devmajor: 1, devminor: 3, uid, gid },
    { name: 'fifo', type: '6', mode: 0o600, uid, gid },
    { name: 'f', data: 'x', uid, gid, pax: [['SCHILY.xattr.user.note', 'hi'], ['SCHILY.xattr.trusted.x', 'no']] },
  ]);
  const res = await unpackLayer(streamOf(tar), dest, { mode: 'plain', sys });
  assert.deepEqual(sys.nodes.map((n) => [n.kind, n.major, n.minor]), [['char', 1, 3], ['fifo', 0, 0]]);
  assert.ok(sys.nodes.every((n) => path.basename(n.path).startsWith('.strata-')), 'made under a temp name, renamed into place');
  assert.ok(fs.existsSync(path.join(dest, 'dev/null')));
  assert.deepEqual(sys.callsOf('lsetxattr').map((a) => [a[0], a[1], Buffer.from(a[2] as Buffer).toString()]), [[path.join(dest, 'f'), 'user.note', 'hi']]);
  assert.ok(res.warnings.some((w) => w.includes('dropped xattr trusted.x')));
});

test('unpack: a filesystem refusing an xattr is a warning, not a failure', async (t) => {
  const dir = tmp(t);
  const sys = new FakeSys({ runDir: path.join(dir, 'run') });
  sys.failNext('lsetxattr', new Error('Operation not supported (os error 95)'));
  const dest = path.join(dir, 'out');
  fs.mkdirSync(dest);
  const res = await unpackLayer(streamOf(craftTar([{ name: 'f', data: 'x', uid, gid, pax: [['SCHILY.xattr.user.a', '1']] }])), dest, { mode: 'plain', sys });
  assert.deepEqual(res.warnings, ['xattr user.a of "f" not applied: not supported by the filesystem']);
});

test('pack: xattrs come from sys.llistxattr/lgetxattr, trusted.* left out', async (t) => {
  const dir = tmp(t);
  const sys = new FakeSys({ runDir: path.join(dir, 'run') });
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f'), 'data');
  sys.lsetxattr(path.join(src, 'f'), 'user.b', 'B');
  sys.lsetxattr(path.join(src, 'f'), 'security.capability', Buffer.from([1, 0, 0, 2]));
  sys.lsetxattr(path.join(src, 'f'), 'trusted.overlay.x', 'y');
  const out = path.join(dir, 'l.tar');
  await packDir(src, out, { sys });
  let keys: string[] = [];
  for await (const e of readTar(fs.createReadStream(out))) {
    if (e.header.nameBytes.toString('latin1') === 'f') keys = [...e.header.xattrs.keys()].sort();
  }
  assert.deepEqual(keys, ['security.capability', 'user.b']);
  assert.ok(sys.callsOf('llistxattr').some((a) => a[0] === path.join(src, 'f')));
});
