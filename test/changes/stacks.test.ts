/**
 * Image vs image and image vs container diffs, checked against a full walk of
 * real read-only overlay mounts (Docker's own algorithm as the oracle); and
 * diffUpper against the same oracle on a container with many kinds of change.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import fsMod from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { setAttributeSync } from '@napi-rs/xattr';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { changeSizes, changesToApi, changesToJson, diffLayerStacks, diffStackVsUpper, diffUpper, summarize } from '../../src/changes/index.js';
import {
  T0, buildBase, buildInit, buildMiddle, fixTimes, lines, mountOverlay, mountStack, naiveDiff, rm, shIn, shapeProblems, tempDir, whiteout,
} from './helpers.js';

let fx: string;
const L = (n: string): string => path.join(fx, n);

function put(root: string, rel: string, data: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), data);
}

before(() => {
  fx = tempDir('stacks');
  buildBase(L('base'));
  buildMiddle(L('middle'));
  buildInit(L('init'));
  // image A = a1 on base
  put(L('a1'), 'app/v1.txt', 'v1\n');
  put(L('a1'), 'etc/passwd', 'root:x:0:0:a1:/root:/bin/sh\n');
  whiteout(L('a1'), 'www/old.html');
  fixTimes(L('a1'));
  // image B = b2 on b1 on base
  put(L('b1'), 'app/v1.txt', 'v1\n');
  put(L('b1'), 'app/lib/x', 'x\n');
  put(L('b1'), 'etc/passwd', 'root:x:0:0:b:/root:/bin/sh\n');
  fixTimes(L('b1'));
  put(L('b2'), 'www/index.html', 'new index\n');
  whiteout(L('b2'), 'deep');
  put(L('b2'), 'tree/z', 'zz\n');
  fixTimes(L('b2'), T0 + 50);
  fs.utimesSync(L('b2'), T0, T0);
  fs.utimesSync(path.join(L('b2'), 'tree'), T0, T0);
  fs.utimesSync(path.join(L('b2'), 'www'), T0, T0);
  execOpaque(path.join(L('b2'), 'www'));
});
after(() => rm(fx));

function execOpaque(dir: string): void {
  setAttributeSync(dir, 'trusted.overlay.opaque', 'y'); // as unpackLayer writes it
}

function oracle(older: string[], newer: string[]): string[] {
  const a = mountStack(older, 'old');
  const b = mountStack(newer, 'new');
  try {
    return lines(naiveDiff(a.merged, b.merged));
  } finally {
    a.close();
    b.close();
  }
}

test('image vs image: stacks sharing a base layer, same lines as a full walk of both mounts', () => {
  const A = [L('a1'), L('base')];
  const B = [L('b2'), L('b1'), L('base')];
  const got = diffLayerStacks(A, B);
  assert.deepEqual(lines(got), oracle(A, B));
  assert.deepEqual(shapeProblems(got), []);
  assert.ok(lines(got).includes('A /app/lib'), lines(got).join('\n'));
  assert.ok(lines(got).includes('D /deep'));
  assert.ok(lines(got).includes('C /www/index.html'));
  // and the other way round
  assert.deepEqual(lines(diffLayerStacks(B, A)), oracle(B, A));
  assert.deepEqual(diffLayerStacks(A, A), []);
  assert.deepEqual(diffLayerStacks([L('middle'), L('base')], [L('middle'), L('base')]), []);
  // against the base alone, and a middle layer with whiteouts
  assert.deepEqual(lines(diffLayerStacks([L('base')], [L('middle'), L('base')])), oracle([L('base')], [L('middle'), L('base')]));
  assert.deepEqual(lines(diffLayerStacks([L('middle'), L('base')], B)), oracle([L('middle'), L('base')], B));
});

test('image vs image: only the layers that differ are walked', () => {
  // a base layer that cannot be listed would fail any walk that reads it
  const A = [L('a1'), L('base')];
  const B = [L('b1'), L('base')];
  const readdir = fsMod.readdirSync;
  const seen: string[] = [];
  fsMod.readdirSync = ((p: fs.PathLike, o?: unknown) => {
    seen.push(Buffer.isBuffer(p) ? p.toString() : String(p));
    return (readdir as (p: fs.PathLike, o?: unknown) => unknown)(p, o);
  }) as typeof fs.readdirSync;
  syncBuiltinESMExports();
  try {
    diffLayerStacks(A, B);
  } finally {
    fsMod.readdirSync = readdir;
    syncBuiltinESMExports();
  }
  assert.ok(seen.length > 0);
  assert.deepEqual(seen.filter((p) => p.startsWith(L('base'))), [], seen.join('\n'));
});

test('image vs container, with the init dir hidden on both sides', () => {
  const imageB = [L('b2'), L('b1'), L('base')];
  const ctrLowers = [L('init'), L('middle'), L('base')];
  const m = mountOverlay(ctrLowers, 'ivc');
  try {
    shIn(m.merged, 'echo c > app.txt && rm -rf mid/b && echo x >> etc/group');
    const got = diffStackVsUpper(imageB, m.upper, ctrLowers, { initDir: L('init') });
    const want = oracle([L('init'), ...imageB], [m.upper, ...ctrLowers]);
    assert.deepEqual(lines(got), want);
    assert.ok(!lines(got).some((l) => l.includes('/etc/hosts') || l.includes('dockerenv')), lines(got).join('\n'));
  } finally {
    m.close();
  }
});

test('diffUpper equals the full-walk oracle on a container with many kinds of change', () => {
  const lowers = [L('init'), L('middle'), L('base')];
  const m = mountOverlay(lowers, 'many');
  try {
    shIn(m.merged, [
      'echo x >> www/index.html', 'rm -rf deep', 'rm -rf tree && mkdir tree && echo t > tree/x', 'mv mid moved',
      'chmod 700 mode/file', 'ln -s /x link', 'ln -sfn cat bin/ls', 'rm bin/mv', 'mkdir -p n/o/p && echo > n/o/p/q',
      'echo back > redo.txt', 'rm etc/extra', 'mknod tmp/dev c 1 3', 'touch -d @1700000100 same/f', 'rm .dockerenv',
      'printf "x" > "tmp/ü space"', 'mkdir -p var/log/app && echo l > var/log/app/x.log', 'mkdir -p "nü/ö d" && echo > "nü/ö d/ä"',
    ].join(' && '));
    const got = diffUpper(m.upper, lowers);
    const ro = mountStack(lowers, 'many-ro');
    try {
      assert.deepEqual(lines(got), lines(naiveDiff(ro.merged, m.merged)));
    } finally {
      ro.close();
    }
    assert.deepEqual(shapeProblems(got), []);

    // sizes, summary, JSON and API shapes
    const sizes = changeSizes(got, { newer: m.upper, older: lowers });
    const at = (p: string) => sizes[got.findIndex((c) => c.path === p)];
    assert.equal(at('/www/index.html'), 19);
    assert.equal(at('/link'), 2);
    assert.equal(at('/deep'), 5); // the deleted subtree's bytes
    const s = summarize(got, { newer: m.upper, older: lowers });
    assert.equal(s.added.count + s.changed.count + s.deleted.count, got.length);
    assert.equal(s.deleted.count, got.filter((c) => c.kind === 'D').length);
    const json = changesToJson(got, m.upper);
    assert.deepEqual(json[0], { Kind: got[0]!.kind, Path: got[0]!.path, Size: json[0]!.Size });
    const api = changesToApi(got)!;
    assert.deepEqual(api.find((c) => c.Path === '/deep'), { Path: '/deep', Kind: 2 });
    assert.deepEqual(api.find((c) => c.Path === '/link'), { Path: '/link', Kind: 1 });
    assert.deepEqual(api.find((c) => c.Path === '/www'), { Path: '/www', Kind: 0 });
    assert.equal(changesToApi([]), null);
  } finally {
    m.close();
  }
});
