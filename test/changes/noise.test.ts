/**
 * Noise rules and --exclude globs (no mounts), and noiseReport over an upper dir.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildExclude, classifyNoise, compileGlob, formatNoiseReport, noiseReport, type StatLike } from '../../src/changes/index.js';
import { rm, tempDir } from './helpers.js';

const FILE: StatLike = { isDirectory: () => false, isCharacterDevice: () => false, rdev: 0 };
const DIR: StatLike = { isDirectory: () => true, isCharacterDevice: () => false, rdev: 0 };
const WHITEOUT: StatLike = { isDirectory: () => false, isCharacterDevice: () => true, rdev: 0 };

test('classifyNoise: each kind, and what is not noise', () => {
  const cases: Array<[string, StatLike, string | undefined]> = [
    ['/root/.bash_history', FILE, 'history'], ['/home/u/.zsh_history', FILE, 'history'], ['/root/.lesshst', FILE, 'history'],
    ['/root/.viminfo', FILE, 'history'], ['/root/.python_history', FILE, 'history'],
    ['/var/run/nginx.pid', FILE, 'pid'], ['/srv/app.pid', FILE, 'pid'], ['/run/lock/x', FILE, 'pid'], ['/run', DIR, undefined],
    ['/var/cache/apt/archives/a.deb', FILE, 'cache'], ['/var/lib/apt/lists/deb.debian.org_dists', FILE, 'cache'],
    ['/var/cache/apk/APKINDEX.tar.gz', FILE, 'cache'], ['/root/.cache/pip/http/x', FILE, 'cache'], ['/home/me/.cache/pip/x', FILE, 'cache'],
    ['/root/.npm/_cacache/x', FILE, 'cache'], ['/var/cache/yum/x', FILE, 'cache'], ['/var/cache/dnf/x', FILE, 'cache'],
    ['/var/cache/apt', DIR, undefined], ['/var/lib/apt/extended_states', FILE, undefined],
    ['/var/log/nginx/access.log', FILE, 'log'], ['/srv/app/debug.log', FILE, 'log'], ['/srv/catalog', DIR, undefined],
    ['/tmp/x', FILE, 'temp'], ['/var/tmp/y/z', FILE, 'temp'], ['/tmp', DIR, undefined],
    ['/etc/.passwd.swp', FILE, 'swap'], ['/etc/x.swo', FILE, 'swap'], ['/etc/hosts~', FILE, 'swap'],
    ['/app/__pycache__', DIR, 'pycache'], ['/app/__pycache__/m.cpython-311.pyc', FILE, 'pycache'], ['/app/m.pyc', FILE, 'pycache'],
    ['/etc/passwd', FILE, undefined], ['/app/main.py', FILE, undefined], ['/var/log', DIR, undefined],
    ['/var/log/gone.log', WHITEOUT, undefined], ['/tmp/gone', WHITEOUT, undefined],
  ];
  for (const [p, st, want] of cases) assert.equal(classifyNoise(p, st), want, p);
});

test('compileGlob: anchored at /, * within a component, ** across, trailing /** below only', () => {
  const m = (pat: string, p: string) => compileGlob(pat).test(p);
  assert.ok(m('/etc/*.conf', '/etc/a.conf'));
  assert.ok(!m('/etc/*.conf', '/etc/sub/a.conf'));
  assert.ok(!m('/etc/*.conf', '/x/etc/a.conf'));
  assert.ok(m('etc/*.conf', '/etc/a.conf'));
  assert.ok(m('/**/*.log', '/a.log'));
  assert.ok(m('/**/*.log', '/var/x/a.log'));
  assert.ok(m('/srv/**', '/srv/a/b'));
  assert.ok(!m('/srv/**', '/srv'));
  assert.ok(m('/srv/', '/srv'));
  assert.ok(m('/a?c', '/abc'));
  assert.ok(!m('/a?c', '/a/c'));
  assert.ok(m('/[ab]x', '/bx'));
  assert.ok(m('/[!ab]x', '/cx'));
  assert.ok(m('/a.b', '/a.b'));
  assert.ok(!m('/a.b', '/axb'));
  assert.ok(m('/data (1)/*', '/data (1)/f'));
});

test('buildExclude: patterns match a path or an ancestor; noise by kind; undefined when empty', () => {
  assert.equal(buildExclude({}), undefined);
  assert.equal(buildExclude({ patterns: [], noise: false }), undefined);
  const ex = buildExclude({ patterns: ['/srv/cache', '/**/*.tmp'] })!;
  assert.ok(ex('/srv/cache', DIR));
  assert.ok(ex('/srv/cache/a/b', FILE));
  assert.ok(ex('/x/y.tmp', FILE));
  assert.ok(!ex('/srv/cachex', FILE));
  assert.ok(!ex('/tmp/x', FILE));
  const logsOnly = buildExclude({ noise: ['log'] })!;
  assert.ok(logsOnly('/var/log/x', FILE));
  assert.ok(!logsOnly('/tmp/x', FILE));
  assert.ok(!logsOnly('/var/log/x', WHITEOUT));
  const all = buildExclude({ noise: true })!;
  assert.ok(all('/tmp/x', FILE) && all('/root/.ash_history', FILE));
});

test('noiseReport over an upper dir and over a change list; formatted lines', (t) => {
  const up = tempDir('noise');
  t.after(() => rm(up));
  const w = (rel: string, n: number) => {
    fs.mkdirSync(path.dirname(path.join(up, rel)), { recursive: true });
    fs.writeFileSync(path.join(up, rel), Buffer.alloc(n));
  };
  for (let i = 0; i < 5; i++) w(`tmp/f${i}`, 10);
  w('root/.ash_history', 7);
  w('app/main.py', 100);
  const rep = noiseReport(up);
  assert.deepEqual(rep.map((l) => [l.kind, l.count, l.bytes]), [['history', 1, 7], ['temp', 5, 50]]);
  assert.deepEqual(formatNoiseReport(rep), [
    'shell history: 1 file, 7B (/root/.ash_history)',
    'temp files: 5 files, 50B (/tmp/f0, /tmp/f1, /tmp/f2 and 2 more)',
  ]);
  const fromChanges = noiseReport(up, [{ kind: 'A', path: '/tmp/f1' }, { kind: 'C', path: '/app/main.py' }, { kind: 'D', path: '/tmp/gone' }]);
  assert.deepEqual(fromChanges.map((l) => [l.kind, l.count, l.paths]), [['temp', 1, ['/tmp/f1']]]);
});
