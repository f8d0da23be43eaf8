/**
 * docker diff from an overlay upper dir, and the layer packed from that upper
 * dir, on real overlay mounts: the experiments of docker-semantics.md 1.5.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { setAttributeSync } from '@napi-rs/xattr';
import { diffUpper, formatChanges } from '../../src/changes/index.js';
import type { TarHeader } from '../../src/layer/index.js';
import {
  T0, buildBase, repackRoundTrip, buildInit, buildMiddle, describe, lines, mountOverlay, packEntries, rm, shIn, shapeProblems, sortedLines, tempDir, type Mounted,
} from './helpers.js';

const CAP_V2 = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

let fx: string;
let lowers: string[];

before(() => {
  fx = tempDir('fixture');
  buildBase(path.join(fx, 'base'));
  buildMiddle(path.join(fx, 'middle'));
  buildInit(path.join(fx, 'init'));
  lowers = ['init', 'middle', 'base'].map((n) => path.join(fx, n));
});
after(() => rm(fx));

interface Scenario {
  name: string;
  script?: string;
  /** instead of / besides the script, with the merged dir */
  act?: (merged: string, m: Mounted) => void;
  diff: string[];
  /** expected layer entries (describe()), in tar order; undefined = not checked */
  layer?: string[];
  hide?: string[];
  check?: (entries: TarHeader[]) => void;
}

const S: Scenario[] = [
  { name: 'modify a file', script: 'echo x >> www/index.html', diff: ['C /www', 'C /www/index.html'], layer: ['www/', 'www/index.html'] },
  { name: 'delete a file', script: 'rm www/index.html', diff: ['C /www', 'D /www/index.html'], layer: ['www/', 'www/.wh.index.html 600'] },
  { name: 'delete a directory', script: 'rm -rf www', diff: ['D /www'], layer: ['.wh.www 600'] },
  {
    name: 'delete then recreate a directory (opaque)', script: 'rm -rf www && mkdir www && echo new > www/new.html',
    diff: ['C /www', 'D /www/index.html', 'A /www/new.html', 'D /www/old.html'],
    layer: ['www/', 'www/.wh..wh..opq 755', 'www/new.html'],
    check: (e) => {
      const opq = e.find((h) => h.name === 'www/.wh..wh..opq')!;
      assert.equal(opq.mtime, 0);
      assert.equal(opq.size, 0);
    },
  },
  { name: 'recreate an empty dir as it was: empty diff, opaque in layer', script: 'rm -rf root && mkdir -m 700 root', diff: [], layer: ['root/', 'root/.wh..wh..opq 700'] },
  {
    name: 'rename a file', script: 'mv www/index.html www/main.html',
    diff: ['C /www', 'D /www/index.html', 'A /www/main.html'], layer: ['www/', 'www/.wh.index.html 600', 'www/main.html'],
  },
  {
    name: 'rename a directory (copy + delete)', script: 'mv deep moved',
    diff: ['D /deep', 'A /moved', 'A /moved/a', 'A /moved/a/b', 'A /moved/a/b/c.txt'],
    layer: ['.wh.deep 600', 'moved/', 'moved/a/', 'moved/a/b/', 'moved/a/b/c.txt'],
  },
  {
    name: 'chmod only', script: 'chmod 4755 mode/file', diff: ['C /mode', 'C /mode/file'], layer: ['mode/', 'mode/file'],
    check: (e) => { const f = e.find((h) => h.name === 'mode/file')!; assert.equal(f.mode, 0o4755); assert.equal(f.size, 5); },
  },
  {
    name: 'chown only', script: 'chown 1000:1000 mode/file', diff: ['C /mode', 'C /mode/file'], layer: ['mode/', 'mode/file'],
    check: (e) => { const f = e.find((h) => h.name === 'mode/file')!; assert.equal(f.uid, 1000); assert.equal(f.gid, 1000); },
  },
  { name: 'touch a file', script: `touch -d @${T0 + 100} mode/file`, diff: ['C /mode', 'C /mode/file'], layer: ['mode/', 'mode/file'] },
  {
    name: 'touch a directory: nothing in diff, in the layer', script: `touch -d @${T0 + 100} www`, diff: [], layer: ['www/'],
    check: (e) => assert.equal(e[0]!.mtime, T0 + 100),
  },
  { name: 'create a symlink', script: 'ln -s /www/index.html link', diff: ['A /link'], layer: ['link -> /www/index.html'] },
  { name: 'change a symlink', script: 'ln -sfn cat bin/ls', diff: ['C /bin', 'C /bin/ls'], layer: ['bin/', 'bin/ls -> cat'] },
  {
    name: 'hardlink to a lower file', script: 'ln www/index.html www/hard.html',
    diff: ['C /www', 'A /www/hard.html'], layer: ['www/', 'www/hard.html', 'www/index.html => www/hard.html'],
  },
  {
    name: 'device node and FIFO', script: 'mknod tmp/nulldev c 1 3 && mkfifo tmp/fifo',
    diff: ['C /tmp', 'A /tmp/fifo', 'A /tmp/nulldev'], layer: ['tmp/', 'tmp/fifo fifo', 'tmp/nulldev c1,3'],
  },
  { name: 'created then deleted in a lower dir', script: 'echo x > tmp/t && rm tmp/t', diff: [], layer: ['tmp/'] },
  { name: 'created then deleted at the root: empty upper', script: 'mkdir newdir && rmdir newdir', diff: [], layer: [] },
  { name: 'change a file a middle layer added', script: 'echo more >> etc/extra', diff: ['C /etc', 'C /etc/extra'], layer: ['etc/', 'etc/extra'] },
  { name: 'delete a directory a middle layer added', script: 'rm -rf mid', diff: ['D /mid'], layer: ['.wh.mid 600'] },
  {
    name: 're-add paths a middle layer deleted', script: 'echo back > redo.txt && mkdir redo && echo r > redo/r',
    diff: ['A /redo', 'A /redo/r', 'A /redo.txt'],
    check: (e) => {
      const names = e.map((h) => h.name);
      assert.ok(names.includes('redo/') && names.includes('redo/r') && names.includes('redo.txt'), names.join(','));
      assert.ok(!names.some((n) => n.startsWith('.wh.redo')), names.join(','));
    },
  },
  {
    name: 'deep new tree', script: 'mkdir -p n1/n2/n3 && echo f > n1/n2/n3/f && echo g > n1/f0',
    diff: ['A /n1', 'A /n1/f0', 'A /n1/n2', 'A /n1/n2/n3', 'A /n1/n2/n3/f'], layer: ['n1/', 'n1/f0', 'n1/n2/', 'n1/n2/n3/', 'n1/n2/n3/f'],
  },
  {
    name: 'names with spaces and non-ASCII', script: "echo a > 'tmp/with space' && echo b > tmp/ünïcödé",
    diff: ['C /tmp', 'A /tmp/with space', 'A /tmp/ünïcödé'], layer: ['tmp/', 'tmp/with space', 'tmp/ünïcödé'],
  },
  {
    name: 'user.* xattr: not in diff, in the layer', act: (m) => setAttributeSync(path.join(m, 'mode/file'), 'user.foo', 'bar'),
    diff: [], layer: ['mode/', 'mode/file'],
    check: (e) => assert.equal(e[1]!.xattrs.get('user.foo')?.toString(), 'bar'),
  },
  {
    name: 'security.capability: reported', act: (m) => setAttributeSync(path.join(m, 'cap/bin'), 'security.capability', CAP_V2),
    diff: ['C /cap', 'C /cap/bin'], layer: ['cap/', 'cap/bin'],
    check: (e) => assert.ok(e[1]!.xattrs.get('security.capability')?.equals(CAP_V2)),
  },
  {
    name: 'a large file', act: (m) => fs.writeFileSync(path.join(m, 'big.bin'), Buffer.alloc(4 << 20, 7)),
    diff: ['A /big.bin'], layer: ['big.bin'], check: (e) => assert.equal(e[0]!.size, 4 << 20),
  },
  {
    name: 'runtime mounts (/etc/hosts bind, /dev tmpfs, /proc) stay hidden',
    act: (merged, m) => {
      const hostFile = path.join(m.dir, 'hosts');
      fs.writeFileSync(hostFile, '127.0.0.1 localhost\n');
      execFileSync('mount', ['--bind', hostFile, path.join(merged, 'etc/hosts')]);
      m.extraMounts.push(path.join(merged, 'etc/hosts'));
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(merged, 'dev')]);
      m.extraMounts.push(path.join(merged, 'dev'));
      fs.appendFileSync(path.join(merged, 'etc/hosts'), '10.0.0.1 other\n');
      fs.writeFileSync(path.join(merged, 'dev/foo'), 'x');
      fs.mkdirSync(path.join(merged, 'proc'), { recursive: true }); // runc's mkdir -p of mount targets
      fs.mkdirSync(path.join(merged, 'sys'), { recursive: true });
    },
    diff: [], layer: [],
  },
  { name: 'delete an init file that is not a mount target', script: 'rm .dockerenv etc/mtab', diff: ['D /.dockerenv', 'C /etc', 'D /etc/mtab'], layer: ['.wh..dockerenv 600', 'etc/', 'etc/.wh.mtab 600'] },
  {
    name: 'same size, same mtime rewrite: not in diff, in the layer', script: `printf 'SEVENTEEN BYTES!\\n' > same/f && touch -d @${T0} same/f`,
    diff: [], layer: ['same/', 'same/f'],
  },
  { name: 'copy-up without a change', script: 'chmod 600 www/index.html && chmod 644 www/index.html', diff: [], layer: ['www/', 'www/index.html'] },
  { name: 'replace a directory by a file', script: 'rm -rf tree && echo f > tree', diff: ['C /tree'], layer: ['tree'] },
  {
    name: 'replace a file by a directory (opaque)', script: 'rm etc/passwd && mkdir etc/passwd && echo n > etc/passwd/n',
    diff: ['C /etc', 'C /etc/passwd', 'A /etc/passwd/n'], layer: ['etc/', 'etc/passwd/', 'etc/passwd/.wh..wh..opq 755', 'etc/passwd/n'],
  },
  {
    name: 'volume mount point: listed, contents hidden', script: 'mkdir -p vol/sub && echo x > vol/sub/data && echo y > vol/top',
    hide: ['/vol'], diff: ['A /vol'],
  },
  {
    name: 'many deletions in one dir (kernel may hard-link whiteouts)', script: 'rm bin/ls bin/cat bin/mv',
    diff: ['C /bin', 'D /bin/cat', 'D /bin/ls', 'D /bin/mv'], layer: ['bin/', 'bin/.wh.cat 600', 'bin/.wh.ls 600', 'bin/.wh.mv 600'],
  },
];

for (const s of S) {
  test(`diff: ${s.name}`, async () => {
    const m = mountOverlay(lowers, 'diff');
    try {
      if (s.script) shIn(m.merged, s.script);
      s.act?.(m.merged, m);
      const changes = diffUpper(m.upper, lowers, s.hide ? { hide: s.hide } : {});
      assert.deepEqual(sortedLines(changes), [...s.diff].sort((a, b) => Buffer.compare(Buffer.from(a.slice(2)), Buffer.from(b.slice(2)))), formatChanges(changes));
      assert.deepEqual(shapeProblems(changes), [], lines(changes).join('\n'));
      // the walk order: pre-order, byte order of names, D after siblings
      if (s.layer !== undefined || s.check) {
        for (const p of m.extraMounts.reverse()) execFileSync('umount', [p]);
        m.extraMounts.length = 0;
        const entries = await packEntries(m.upper);
        if (s.layer !== undefined) assert.deepEqual(entries.map(describe), s.layer);
        s.check?.(entries);
        // the layer dir unpacked from the commit tar packs back to the same bytes
        const [packed, again] = await repackRoundTrip(m.upper);
        assert.equal(again, packed, 'repacked layer dir differs from the commit tar');
        const [p2, a2] = await repackRoundTrip(m.upper, T0 + 10);
        assert.equal(a2, p2, 'repacked layer dir differs (with SOURCE_DATE_EPOCH)');
      }
    } finally {
      m.close();
    }
  });
}

test('diff: the walk order is pre-order with siblings in byte order and D lines last', () => {
  const m = mountOverlay(lowers, 'order');
  try {
    shIn(m.merged, 'rm -rf www/old.html deep && echo n > www/zz && echo a > www/aa && mkdir -p A/b && echo > A/b/c && echo x >> etc/group');
    assert.deepEqual(lines(diffUpper(m.upper, lowers)), [
      'A /A', 'A /A/b', 'A /A/b/c', 'C /etc', 'C /etc/group', 'C /www', 'A /www/aa', 'A /www/zz', 'D /www/old.html', 'D /deep',
    ]);
  } finally {
    m.close();
  }
});

test('diff: exclude predicate drops paths and their subtrees', () => {
  const m = mountOverlay(lowers, 'excl');
  try {
    shIn(m.merged, 'mkdir -p keep skip/deeper && echo > keep/f && echo > skip/deeper/f && rm www/old.html');
    const changes = diffUpper(m.upper, lowers, { exclude: (p) => p === '/skip' || p === '/www/old.html' });
    assert.deepEqual(lines(changes), ['A /keep', 'A /keep/f']);
  } finally {
    m.close();
  }
});
