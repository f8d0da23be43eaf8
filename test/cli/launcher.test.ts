/**
 * How the CLI starts: bin/strata (sh) runs dist/launch.cjs (scripts/launcher.cjs; dist/strata.mjs runs it
 * too): the bundle runs from the code
 * cache the build made for it; a cache made for other bytes is ignored (the bundle is compiled as
 * usual and every command still works); `--version` and `-v` are answered without the bundle,
 * with the same text as before. A command line builds only its own part of the program.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Script } from 'node:vm';
import type { Command } from 'commander';
import { VERSION } from '../../src/base/version.js';
import { buildProgram, containerWordFor, partsFor } from '../../src/cli/main.js';
import { PROJECT, strata, tempDir, tempRoot } from '../helpers.js';

const DIST = path.join(PROJECT, 'dist');

function env(root: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, STRATA_ROOT: root };
  delete e.NODE_EXTRA_CA_CERTS;
  return e;
}

test('launcher: --version and -v print the version alone, as commander did', (t) => {
  const root = tempRoot(t);
  assert.equal(execFileSync(path.join(PROJECT, 'bin', 'strata'), ['--version'], { env: env(root) }).toString(), `${VERSION}\n`);
  for (const flag of ['--version', '-v']) {
    const r = strata(root, [flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${VERSION}\n`);
    assert.equal(r.stderr, '');
  }
  assert.match(strata(root, ['version']).stdout, new RegExp(`^Strata version ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
});

test('launcher: the build made a code cache V8 accepts for this bundle', () => {
  const file = path.join(DIST, 'strata.cjs');
  const cache = fs.readFileSync(path.join(DIST, 'strata.cjs.cache'));
  const st = fs.statSync(file, { bigint: true });
  assert.equal(cache.subarray(0, 64).toString().replace(/\0+$/, ''), `${st.size}:${st.mtimeNs}:${st.ino}`);
  const source = fs.readFileSync(file, 'utf8');
  assert.match(source, /^[\x00-\x7f]*$/, 'the launcher reads the bundle as latin1: it must be ASCII');
  assert.ok(source.startsWith('(function (exports, require, module, __filename, __dirname) {') && source.endsWith('\n})'), 'wrapped as a module');
  const script = new Script(source, { filename: file, cachedData: cache.subarray(64) });
  assert.equal(script.cachedDataRejected, false);
});

test('launcher: strata-load.node reads the bundle and a cache as fs does, with the bundle\'s stamp', () => {
  const addon = path.join(PROJECT, 'native', 'build', 'strata-load.node');
  assert.ok(fs.existsSync(addon), 'built by scripts/build-native.sh on this Node');
  const m = { exports: {} as { latin1(f: string): [string, string]; bytes(f: string): Buffer } };
  process.dlopen(m, addon);
  const file = path.join(DIST, 'strata.cjs');
  const st = fs.statSync(file, { bigint: true });
  const [text, stamp] = m.exports.latin1(file);
  assert.equal(stamp, `${st.size}:${st.mtimeNs}:${st.ino}`);
  assert.ok(text === fs.readFileSync(file, 'latin1'), 'the same string');
  const cache = path.join(DIST, 'strata.cjs.cache');
  assert.deepEqual(m.exports.bytes(cache), fs.readFileSync(cache));
  assert.equal(m.exports.bytes('/dev/null').length, 0);
  assert.throws(() => m.exports.latin1('/nonexistent/x'), /\/nonexistent\/x: No such file or directory/);
});

test('launcher: a cache made for other bytes is ignored; the CLI works all the same', (t) => {
  const dir = tempDir(t);
  const root = tempRoot(t);
  // a copy of dist/ whose bundle differs by a comment: the stamp no longer matches
  for (const f of ['strata.mjs', 'launch.cjs', 'strata.cjs', 'strata.cjs.cache']) fs.copyFileSync(path.join(DIST, f), path.join(dir, f));
  fs.appendFileSync(path.join(dir, 'strata.cjs'), '\n// changed\n');
  fs.symlinkSync(path.join(PROJECT, 'node_modules'), path.join(dir, 'node_modules'));
  for (const entry of ['strata.mjs', 'launch.cjs']) {
    const r = spawnSync(process.execPath, [path.join(dir, entry), 'images', '--format', '{{.ID}}'], { env: env(root) });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stdout.toString(), '');
  }
  const bad = spawnSync(process.execPath, [path.join(dir, 'strata.mjs'), 'nosuchcommand'], { env: env(root) });
  assert.equal(bad.status, 125);
  assert.match(bad.stderr.toString(), /'nosuchcommand' is not a strata command/);
  // a command whose code loads Node modules on first use (crypto, streams)
  const out = execFileSync(process.execPath, [path.join(dir, 'strata.mjs'), 'system', 'df'], { env: env(root) }).toString();
  assert.match(out, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m);
});

test('launcher: a command line builds only its part of the program, and that part is the full program\'s', () => {
  const full = buildProgram();
  const words = full.commands.map((c) => c.name());
  assert.ok(words.length > 30, `${words.length} commands`);
  const described = (c: Command): string => [c.helpInformation(), ...c.commands.map(described)].join('\n');
  for (const w of words) {
    if (w === 'help') continue;
    const parts = partsFor([w, '--help']);
    assert.ok(parts, `no part for ${w}`);
    const lazy = buildProgram(parts, containerWordFor([w, '--help']));
    assert.ok(lazy.commands.length < full.commands.length, w);
    const mine = lazy.commands.find((c) => c.name() === w);
    assert.ok(mine, `${w} is missing from its part`);
    assert.equal(described(mine), described(full.commands.find((c) => c.name() === w)!), w);
  }
  // under `container`: one subcommand's line builds that subcommand alone, as the full program has it
  const group = full.commands.find((c) => c.name() === 'container')!;
  for (const sub of group.commands) {
    const only = containerWordFor(['container', sub.name()]);
    const mine = buildProgram(partsFor(['container', sub.name()]), only).commands.find((c) => c.name() === 'container')!;
    const found = mine.commands.find((c) => c.name() === sub.name());
    assert.ok(found, `container ${sub.name()} is missing from its part`);
    assert.equal(described(found), described(sub), `container ${sub.name()}`);
    assert.ok(mine.commands.length < group.commands.length || group.commands.length === 1);
  }
  assert.equal(containerWordFor(['container', '--help']), undefined);
  assert.equal(containerWordFor(['container', 'help', 'ls']), undefined);
  assert.deepEqual(containerWordFor(['container', 'list']), { sub: 'list' });
  assert.ok(buildProgram(partsFor(['container', 'list']), { sub: 'list' }).commands.find((c) => c.name() === 'container')!.commands.some((c) => c.name() === 'ls'));
  assert.equal(containerWordFor(['constructor']), undefined);
  assert.equal(partsFor(['--help']), undefined);
  assert.equal(partsFor(['help', 'ps']), undefined);
  assert.equal(partsFor(['nosuchcommand']), undefined);
  assert.equal(partsFor([]), undefined);
});

test('launcher: bin/strata runs the bundle, also through a symlink as `npm link` installs it', (t) => {
  const root = tempRoot(t);
  const bad = spawnSync(path.join(PROJECT, 'bin', 'strata'), ['nosuchcommand'], { env: env(root) });
  assert.equal(bad.status, 125);
  assert.match(bad.stderr.toString(), /'nosuchcommand' is not a strata command/);
  const dir = tempDir(t);
  const link = path.join(dir, 'strata-link');
  fs.symlinkSync(path.join(PROJECT, 'bin', 'strata'), link);
  const r = spawnSync(link, ['system', 'df'], { env: env(root) });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.match(r.stdout.toString(), /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m);
  const v = spawnSync(link, ['--version'], { env: env(root) });
  assert.equal(v.stdout.toString(), `${VERSION}\n`);
  // `--version` is answered by the sh launcher itself: no node started
  const traced = spawnSync('sh', ['-x', link, '--version'], { env: env(root) });
  assert.doesNotMatch(traced.stderr.toString(), /exec node/);
  const traced2 = spawnSync('sh', ['-x', link, 'images', '-q'], { env: env(root) });
  assert.equal(traced2.status, 0, traced2.stderr.toString());
  assert.match(traced2.stderr.toString(), /exec node \S+\/launch\.cjs images -q/);
});

test('launcher: a common command writes its own cache after its first successful run, and uses it', (t) => {
  const dir = tempDir(t);
  const root = tempRoot(t);
  for (const f of ['launch.cjs', 'strata.cjs', 'strata.cjs.cache']) fs.copyFileSync(path.join(DIST, f), path.join(dir, f));
  fs.symlinkSync(path.join(PROJECT, 'node_modules'), path.join(dir, 'node_modules'));
  const run = (...args: string[]) => spawnSync(process.execPath, [path.join(dir, 'launch.cjs'), ...args], { env: env(root) });
  const caches = path.join(dir, 'strata.cjs.caches');
  // a failing run writes nothing, nor does a command outside the common ones
  assert.equal(run('inspect', 'nosuch').status, 1);
  assert.equal(run('system', 'df').status, 0);
  assert.equal(fs.existsSync(caches), false);
  const first = run('images', '-q');
  assert.equal(first.status, 0, first.stderr.toString());
  assert.deepEqual(fs.readdirSync(caches), ['images']);
  const own = fs.readFileSync(path.join(caches, 'images'));
  const st = fs.statSync(path.join(dir, 'strata.cjs'), { bigint: true });
  assert.equal(own.subarray(0, 64).toString().replace(/\0+$/, ''), `${st.size}:${st.mtimeNs}:${st.ino}`);
  const source = fs.readFileSync(path.join(dir, 'strata.cjs'), 'utf8');
  const script = new Script(source, { filename: path.join(dir, 'strata.cjs'), cachedData: own.subarray(64) });
  assert.equal(script.cachedDataRejected, false);
  // the next run uses it and leaves it as it is
  const mtime = fs.statSync(path.join(caches, 'images')).mtimeMs;
  assert.equal(run('images', '-q').status, 0);
  assert.equal(fs.statSync(path.join(caches, 'images')).mtimeMs, mtime);
  // `image ls` has its own; a cache for other bytes is replaced
  assert.equal(run('image', 'ls', '-q').status, 0);
  assert.deepEqual(fs.readdirSync(caches).sort(), ['image.ls', 'images']);
  fs.writeFileSync(path.join(caches, 'images'), Buffer.alloc(200, 1));
  const again = run('images', '--format', '{{.ID}}');
  assert.equal(again.status, 0, again.stderr.toString());
  assert.equal(again.stdout.toString(), '');
  assert.equal(fs.readFileSync(path.join(caches, 'images')).subarray(0, 64).toString().replace(/\0+$/, ''), `${st.size}:${st.mtimeNs}:${st.ino}`);
  assert.deepEqual(fs.readdirSync(caches).sort(), ['image.ls', 'images']); // no temp file left
});
