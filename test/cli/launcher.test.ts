/**
 * How the CLI starts: bin/strata runs node from the V8 startup snapshot of the CLI (dist/strata.blob),
 * else dist/launch.cjs (scripts/launcher.cjs; dist/strata.mjs runs it too): the bundle runs from the code
 * cache the build made for it; a cache made for other bytes is ignored (the bundle is compiled as
 * usual and every command still works); `--version` and `-v` are answered without the bundle,
 * with the same text as before. A command line builds only its own part of the program.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Script } from 'node:vm';
import type { Command } from 'commander';
import { VERSION } from '../../src/base/version.js';
import { buildProgram, partsFor } from '../../src/cli/main.js';
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
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData: cache.subarray(64) });
  assert.equal(script.cachedDataRejected, false);
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
    const lazy = buildProgram(parts);
    assert.ok(lazy.commands.length < full.commands.length, w);
    const mine = lazy.commands.find((c) => c.name() === w);
    assert.ok(mine, `${w} is missing from its part`);
    assert.equal(described(mine), described(full.commands.find((c) => c.name() === w)!), w);
  }
  assert.equal(partsFor(['--help']), undefined);
  assert.equal(partsFor(['help', 'ps']), undefined);
  assert.equal(partsFor(['nosuchcommand']), undefined);
  assert.equal(partsFor([]), undefined);
});

test('launcher: bin/strata starts Node from the startup snapshot the build made, else from the bundle', async (t) => {
  const root = tempRoot(t);
  const blob = path.join(DIST, 'strata.blob');
  assert.ok(fs.existsSync(blob), 'npm run build made dist/strata.blob');
  assert.equal(fs.readFileSync(path.join(DIST, 'strata.node'), 'utf8').trim(), process.execPath);
  // a long-running command: its process (bin/strata execs node) was started from the snapshot
  const sock = path.join(root, 'api.sock');
  const serve = spawn(path.join(PROJECT, 'bin', 'strata'), ['serve', '-H', `unix://${sock}`], { env: env(root), stdio: 'ignore' });
  t.after(() => { serve.kill('SIGKILL'); });
  for (let i = 0; i < 200 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(fs.existsSync(sock), 'serve listens');
  const argv = fs.readFileSync(`/proc/${serve.pid}/cmdline`, 'utf8').split('\0');
  assert.equal(argv[0], process.execPath);
  assert.equal(argv[1], '--snapshot-blob');
  assert.equal(path.resolve(argv[2]!), blob);
  // and a command run from it behaves as the bundle's: output, errors, exit codes
  const snap = strata(root, ['images', '--format', '{{.ID}}']);
  assert.equal(snap.code, 0, snap.stderr);
  assert.equal(snap.stdout, '');
  const bad = spawnSync(path.join(PROJECT, 'bin', 'strata'), ['nosuchcommand'], { env: env(root) });
  assert.equal(bad.status, 125);
  assert.match(bad.stderr.toString(), /'nosuchcommand' is not a strata command/);

  // a copy of bin/ and dist/ whose snapshot names a node binary that is not there: the bundle runs
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.mkdirSync(path.join(dir, 'dist'));
  fs.copyFileSync(path.join(PROJECT, 'bin', 'strata'), path.join(dir, 'bin', 'strata'));
  fs.chmodSync(path.join(dir, 'bin', 'strata'), 0o755);
  for (const f of ['launch.cjs', 'strata.cjs', 'strata.cjs.cache', 'strata.blob', 'version']) fs.copyFileSync(path.join(DIST, f), path.join(dir, 'dist', f));
  fs.writeFileSync(path.join(dir, 'dist', 'strata.node'), '/nonexistent/node\n');
  fs.symlinkSync(path.join(PROJECT, 'node_modules'), path.join(dir, 'node_modules'));
  // reached through a symlink, as `npm link` installs it
  const link = path.join(dir, 'strata-link');
  fs.symlinkSync(path.join(dir, 'bin', 'strata'), link);
  const r = spawnSync(link, ['system', 'df'], { env: env(root) });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.match(r.stdout.toString(), /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m);
  assert.equal(spawnSync(link, ['--version'], { env: env(root) }).stdout.toString(), `${VERSION}\n`);
  // the right node named, but another file in its place since (a Node upgrade): the bundle runs
  fs.writeFileSync(path.join(dir, 'dist', 'strata.node'), `${process.execPath}\n`);
  fs.writeFileSync(path.join(dir, 'dist', 'other-file'), '');
  fs.linkSync(path.join(dir, 'dist', 'other-file'), path.join(dir, 'dist', 'strata.node-ref'));
  const traced = spawnSync('sh', ['-x', path.join(dir, 'bin', 'strata'), 'images', '-q'], { env: env(root) });
  assert.equal(traced.status, 0, traced.stderr.toString());
  assert.match(traced.stderr.toString(), /exec node \S+\/launch\.cjs images -q/);
  // and the very binary: the snapshot
  fs.rmSync(path.join(dir, 'dist', 'strata.node-ref'));
  try {
    fs.linkSync(fs.realpathSync(process.execPath), path.join(dir, 'dist', 'strata.node-ref'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EXDEV') return; // node on another filesystem than the temp dir
    throw e;
  }
  const snap2 = spawnSync('sh', ['-x', path.join(dir, 'bin', 'strata'), 'images', '-q'], { env: env(root) });
  assert.equal(snap2.status, 0, snap2.stderr.toString());
  assert.match(snap2.stderr.toString(), /exec \S+ --snapshot-blob \S+strata\.blob/);
});
