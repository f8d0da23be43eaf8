/**
 * `strata build` end to end, BuildKit semantics beyond the basics: unused build args,
 * SOURCE_DATE_EPOCH as a build arg, several heredocs on one RUN, COPY --exclude (and
 * --parents refused), cache mount sharing modes, contexts on stdin read by Strata's tar
 * codec. Real builds on the busybox image; each image is run afterwards.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { containerRoot, strata, strataOk, tempDir } from '../helpers.js';
import { ctx, twoRootsWithOneBusybox } from './helpers.js';


function buildOk(root: string, dir: string, args: string[] = [], opts: { env?: Record<string, string>; input?: Buffer } = {}): { id: string; log: string } {
  const r = strata(root, ['build', '--progress', 'plain', ...args, dir], opts);
  if (r.code !== 0) throw new Error(`build failed (${r.code}): ${r.stderr}`);
  const m = /writing image (sha256:[0-9a-f]{64})/.exec(r.stderr);
  assert.ok(m, r.stderr);
  return { id: m[1]!, log: r.stderr };
}

function history(root: string, ref: string): string[] {
  return strataOk(root, ['history', '--no-trunc', '--format', '{{json .CreatedBy}}', ref]).replace(/\n$/, '').split('\n').map((l) => JSON.parse(l) as string);
}

test('build args no ARG declares: the classic builder\'s warning, the build still succeeds', { timeout: 120000 }, (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, { Dockerfile: 'ARG GLOBAL\nFROM busybox\nARG USED\nRUN echo "$USED" > /used\n' });
  const { log } = buildOk(root, dir, ['-t', 'args', '--build-arg', 'ZED=1', '--build-arg', 'USED=yes', '--build-arg', 'FOO=2',
    '--build-arg', 'GLOBAL=g', '--build-arg', 'HTTP_PROXY=http://127.0.0.1:9', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000']);
  const warnings = log.split('\n').filter((l) => l.includes('[Warning]'));
  assert.deepEqual(warnings, ['[Warning] One or more build-args [FOO ZED] were not consumed']);
  assert.equal(strataOk(root, ['run', '--rm', 'args', 'cat', '/used']), 'yes\n');
  // all consumed: no warning; -q: nothing but the ID
  assert.doesNotMatch(buildOk(root, dir, ['--build-arg', 'USED=yes']).log, /Warning/);
  const q = strata(root, ['build', '-q', '--build-arg', 'NOPE=1', dir]);
  assert.equal(q.code, 0, q.stderr);
  assert.match(q.stdout, /^sha256:[0-9a-f]{64}\n$/);
  assert.equal(q.stderr, '');
});

test('--build-arg SOURCE_DATE_EPOCH: two fresh roots give the same image ID, times clamped', { timeout: 180000 }, (t) => {
  const dir = ctx(t, { Dockerfile: 'FROM busybox\nCOPY f /f\nRUN echo built > /built && touch /stamp\nENV X=1\n', f: 'content\n' });
  const [r1, r2] = twoRootsWithOneBusybox(t);
  const env = { SOURCE_DATE_EPOCH: '' };
  const ids = [r1, r2].map((root) => buildOk(root, dir, ['-t', 'repro', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000'], { env }).id);
  assert.equal(ids[0], ids[1]);
  const img = JSON.parse(strataOk(r1, ['image', 'inspect', 'repro']))[0];
  assert.equal(img.Created, '2023-11-14T22:13:20Z');
  // the layer times are clamped: the file RUN touched is no newer than the epoch
  assert.equal(strataOk(r1, ['run', '--rm', 'repro', 'stat', '-c', '%Y', '/stamp']), '1700000000\n');
  assert.equal(strataOk(r1, ['run', '--rm', 'repro', 'cat', '/built', '/f']), 'built\ncontent\n');
  // a different epoch is a different image; a bad one is refused
  assert.notEqual(buildOk(r1, dir, ['--build-arg', 'SOURCE_DATE_EPOCH=1700000001'], { env }).id, ids[0]);
  const bad = strata(r1, ['build', '--build-arg', 'SOURCE_DATE_EPOCH=yesterday', dir], { env });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid SOURCE_DATE_EPOCH: yesterday/);
});

test('several heredocs on one RUN: BuildKit hands the line and the bodies to the shell', { timeout: 120000 }, (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, {
    Dockerfile: [
      'FROM busybox',
      'ENV WHO=world',
      'RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2',
      'I am',
      'first $WHO',
      'FILE1',
      'I am',
      'second',
      'FILE2',
      'RUN <<-A sh && <<\'B\' sh',
      '\techo "tabs stripped $WHO" > /a',
      '\tA',
      'echo "quoted: $WHO" > /b',
      'B',
      'RUN <<A <<B',
      'echo never > /never',
      'A',
      'echo never > /never',
      'B',
      '',
    ].join('\n'),
  });
  buildOk(root, dir, ['-t', 'docs']);
  const out = strataOk(root, ['run', '--rm', 'docs', 'sh', '-c', 'cat /file1 /file2 /a /b; ls /never 2>&1 || true']);
  // unquoted terminators: the shell expands; 'B' quoted: it does not (but sh -c runs it, so $WHO expands there)
  assert.equal(out, 'I am\nfirst world\nI am\nsecond\ntabs stripped world\nquoted: world\nls: /never: No such file or directory\n');
  const h = history(root, 'docs');
  assert.equal(h[0], 'RUN /bin/sh -c <<A <<B\necho never > /never\nA\necho never > /never\nB # buildkit');
  // the bodies as written (the tab kept for the shell to strip; `history` shows tabs as spaces, as docker's does)
  assert.equal(h[1], 'RUN /bin/sh -c <<-A sh && <<\'B\' sh\n echo "tabs stripped $WHO" > /a\nA\necho "quoted: $WHO" > /b\nB # buildkit');
});

test('COPY --exclude: patterns below each source, .dockerignore rules; --parents refused', { timeout: 120000 }, (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, {
    'Dockerfile': [
      'FROM busybox AS src',
      'RUN mkdir -p /s/d && echo 1 > /s/keep.txt && echo 2 > /s/drop.log && echo 3 > /s/d/drop.log && echo 4 > /s/d/keep.log',
      'FROM busybox',
      'COPY --exclude=*.md --exclude=**/secret* app /app/',
      'COPY --exclude=*.md app/top.md /single.md',
      'COPY --from=src --exclude=**/drop.log --exclude=d --exclude=!d/keep.log /s /fromstage/',
      '',
    ].join('\n'),
    'app/top.md': 'top\n',
    'app/main.txt': 'main\n',
    'app/secret.key': 'k\n',
    'app/sub/notes.md': 'kept: not at the top level\n',
    'app/sub/secret-2': 's\n',
    'app/sub/code.txt': 'code\n',
  });
  buildOk(root, dir, ['-t', 'excl']);
  const files = strataOk(root, ['run', '--rm', 'excl', 'find', '/app', '/single.md', '/fromstage']).split('\n').filter(Boolean).sort();
  assert.deepEqual(files, ['/app', '/app/main.txt', '/app/sub', '/app/sub/code.txt', '/app/sub/notes.md', '/fromstage', '/fromstage/d', '/fromstage/d/keep.log', '/fromstage/keep.txt', '/single.md']);
  // the patterns are part of the step's key: another pattern, another layer
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nCOPY --exclude=*.txt app /app/\n');
  buildOk(root, dir, ['-t', 'excl2']);
  assert.equal(strataOk(root, ['run', '--rm', 'excl2', 'ls', '/app']), 'secret.key\nsub\ntop.md\n');
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nCOPY --parents app/main.txt /p/\n');
  const r = strata(root, ['build', '-t', 'parents', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr.trim().split('\n').pop()!, /dockerfile parse error line 2: COPY --parents is not supported$/);
  assert.equal(strata(root, ['image', 'inspect', 'parents']).code, 1);
});

test('RUN --mount=type=cache sharing: private gets another dir while the one is in use, locked waits, shared does not', { timeout: 180000 }, (t) => {
  const root = containerRoot(t);
  // one step mounting one cache id twice: shared gives the same dir twice; private gives the
  // second mount a dir of its own (the first is in use), empty the first time
  const twice = (mode: string) => `RUN --mount=type=cache,id=${mode},target=/c1,sharing=${mode} --mount=type=cache,id=${mode},target=/c2,sharing=${mode} ` +
    `sh -c 'touch /c1/x; ls /c2 > /seen-${mode}; touch /c2/y'`;
  // locked: two stages at once (independent stages build in parallel) on one id: the second
  // waits for the first, then sees its file; neither ever finds the other inside
  const locked = (me: string) => `FROM busybox AS locked-${me}\nRUN --mount=type=cache,id=lk,target=/c,sharing=locked sh -c ` +
    `'if [ -e /c/busy ]; then touch /c/overlap; fi; touch /c/busy /c/${me}; sleep 2; rm -f /c/busy; ls /c > /seen'\n`;
  const dir = ctx(t, {
    Dockerfile: locked('a') + locked('b') + 'FROM busybox\n' + twice('shared') + '\n' + twice('private') + '\n' +
      'COPY --from=locked-a /seen /locked-a\nCOPY --from=locked-b /seen /locked-b\n',
  });
  buildOk(root, dir, ['-t', 'sharing', '--network', 'none']);
  const cat = (f: string) => strataOk(root, ['run', '--rm', 'sharing', 'cat', f]).split('\n').filter(Boolean);
  assert.deepEqual(cat('/seen-shared'), ['x']);
  assert.deepEqual(cat('/seen-private'), []);
  const la = cat('/locked-a');
  const lb = cat('/locked-b');
  assert.ok(!la.includes('overlap') && !lb.includes('overlap'), `locked: ${la} / ${lb}`);
  const pair = [la.join(','), lb.join(',')].sort().join(' ');
  assert.ok(pair === 'a a,b' || pair === 'a,b b', `locked: ${pair}`);
  // the dirs persist between builds: a rebuild (--no-cache) finds, through the second
  // mount, what the second mount wrote last time (shared: the one dir holds both files)
  buildOk(root, dir, ['-t', 'sharing2', '--network', 'none', '--no-cache']);
  const cat2 = (f: string) => strataOk(root, ['run', '--rm', 'sharing2', 'cat', f]).split('\n').filter(Boolean);
  assert.deepEqual(cat2('/seen-shared'), ['x', 'y']);
  assert.deepEqual(cat2('/seen-private'), ['y']);
});

test('a context on stdin is read by Strata\'s tar reader: plain, gzip, xz; modes and links kept', { timeout: 120000 }, (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, { 'Dockerfile': 'FROM busybox\nCOPY . /ctx/\nRUN ls -l /ctx/run.sh | cut -c1-10 > /mode && readlink /ctx/link > /link\n', 'run.sh': 'echo hi\n', 'sub/deep/file': 'deep\n' });
  fs.chmodSync(path.join(dir, 'run.sh'), 0o755);
  fs.symlinkSync('run.sh', path.join(dir, 'link'));
  const tarFile = path.join(tempDir(t), 'ctx.tar');
  execFileSync('tar', ['-cf', tarFile, '-C', dir, '.']);
  const plain = fs.readFileSync(tarFile);
  const inputs: Array<[string, Buffer]> = [
    ['plain', plain],
    ['gzip', execFileSync('gzip', ['-c', tarFile], { maxBuffer: 1 << 26 })],
    ['xz', execFileSync('xz', ['-c', tarFile], { maxBuffer: 1 << 26 })],
  ];
  const ids = new Set<string>();
  for (const [name, input] of inputs) {
    const r = strata(root, ['build', '-q', '-t', `stdin-${name}`, '-'], { input });
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    ids.add(r.stdout.trim());
  }
  // the same context whatever the wrapping: one image
  assert.equal(ids.size, 1);
  assert.equal(strataOk(root, ['run', '--rm', 'stdin-xz', 'cat', '/mode', '/link', '/ctx/sub/deep/file']), '-rwxr-xr-x\nrun.sh\ndeep\n');
  // a truncated tar is refused in one line
  const bad = strata(root, ['build', '-'], { input: plain.subarray(0, 700) });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /failed to read build context/);
});
