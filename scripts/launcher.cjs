// dist/launch.cjs (what bin/strata runs; dist/strata.mjs loads it too): starts the CLI bundle
// (dist/strata.cjs) from V8's code cache for it, so a command does not compile ~800 KB of
// JavaScript first. Two kinds of cache, each starting with the identity of the bundle file it was
// made from (size, mtime, inode): a cache for another file, or one V8 rejects (another Node), is
// ignored and the bundle compiled as usual.
//   - dist/strata.cjs.cache, made by scripts/bundle.sh from a `--help` run: any command.
//   - dist/strata.cjs.caches/WORD, for the commands people type most (COMMON below): written
//     at the exit of the first run of WORD that succeeds (temp file, rename), and from then on
//     used by WORD alone. It holds what that run compiled (its own listing, formatting, lookup
//     code), which the --help cache lacks: `ps` 4-10 ms less CPU. Not written when dist/ is
//     read-only.
// `--version` alone is answered here without loading the bundle.
'use strict';
const args = process.argv.slice(2);
const COMMON = new Set(['ps', 'images', 'inspect', 'logs', 'port', 'exec', 'run', 'create', 'start', 'stop', 'restart',
  'kill', 'rm', 'pause', 'unpause', 'wait', 'top', 'diff', 'history', 'version', 'container.ls', 'container.ps',
  'container.inspect', 'container.logs', 'container.exec', 'container.run', 'container.start', 'container.stop',
  'container.rm', 'image.ls', 'image.inspect', 'image.history', 'import', 'commit', 'pull', 'load', 'image.import']);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  process.stdout.write('@VERSION@\n');
} else {
  const { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } = require('node:fs');
  const { join } = require('node:path');
  const { Script } = require('node:vm');
  const file = join(__dirname, 'strata.cjs');
  const cacheFile = file + '.cache';
  const word = args[0] === 'container' || args[0] === 'image' ? `${args[0]}.${args[1]}` : args[0];
  const ownFile = COMMON.has(word) ? join(__dirname, 'strata.cjs.caches', word) : undefined;
  // native/load.c reads the bundle into a string outside V8's heap and the cache into a Buffer,
  // both in pages filled at once: ~5 ms quicker than fs here. Without it (not built), fs.
  let load;
  try {
    const m = { exports: {} };
    process.dlopen(m, join(__dirname, '..', 'native', 'build', 'strata-load.node'));
    load = m.exports;
  } catch { /* fs */ }
  let source;
  let id;
  if (load) {
    [source, id] = load.latin1(file);
  } else {
    const fd = openSync(file, 'r');
    const st = fstatSync(fd, { bigint: true });
    // latin1: the bundle is ASCII (bundle.sh checks), and a one-byte copy is ~3 ms quicker than UTF-8 decoding 800 KB
    source = readFileSync(fd, 'latin1');
    closeSync(fd);
    id = `${st.size}:${st.mtimeNs}:${st.ino}`;
  }
  const stamp = Buffer.alloc(64);
  stamp.write(id);
  let cachedData;
  let own = false;
  const building = process.env.STRATA_BUILD_CODE_CACHE === '1';
  const read = (f) => {
    try {
      const c = load ? load.bytes(f) : readFileSync(f);
      if (c.length > 64 && c.subarray(0, 64).equals(stamp)) return c.subarray(64);
    } catch { /* no cache */ }
    return undefined;
  };
  if (!building) {
    if (ownFile) own = !!(cachedData = read(ownFile));
    cachedData ??= read(cacheFile); // else compile
  }
  // the bundle is a function expression (bundle.sh wraps it as Node wraps a module), compiled from
  // the string as read: a wrapper added here would make V8 copy the whole string into its heap.
  // It has no import() (esbuild turns them into require), which a vm.Script could not serve.
  const script = new Script(source, { filename: file, cachedData });
  const bundle = { exports: {} };
  const run = script.runInThisContext();
  const save = (target) => {
    const tmp = `${target}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, Buffer.concat([stamp, script.createCachedData()]));
      renameSync(tmp, target);
    } catch (e) {
      try { unlinkSync(tmp); } catch { /* not made */ }
      throw e;
    }
  };
  if (building) process.on('exit', () => save(cacheFile));
  else if (ownFile && (!own || script.cachedDataRejected)) {
    process.on('exit', (code) => {
      if (code !== 0) return;
      try {
        mkdirSync(join(__dirname, 'strata.cjs.caches'), { recursive: true });
        save(ownFile);
      } catch { /* read-only dist/: the shared cache serves */ }
    });
  }
  // this file's own require: the bundle is in the same directory, so it resolves the same (node:module not loaded)
  run.call(bundle.exports, bundle.exports, require, bundle, file, __dirname);
}
