// dist/launch.cjs (what bin/strata runs; dist/strata.mjs loads it too): starts the CLI bundle
// (dist/strata.cjs) from V8's code cache for it (dist/strata.cjs.cache, made by
// scripts/bundle.sh), so a command does not compile ~800 KB of JavaScript first. The cache starts
// with the identity of the bundle file it was made from (size, mtime, inode: bundle.sh writes
// both together); a cache for another file, or one V8 rejects (another Node), is ignored and the
// bundle compiled as usual. `--version` alone is answered here without loading the bundle.
// CommonJS: an ES module entry would also load Node's ESM loader (~5 ms).
'use strict';
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  process.stdout.write('@VERSION@\n');
} else {
  const { closeSync, fstatSync, openSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
  const { createRequire } = require('node:module');
  const { join } = require('node:path');
  const { Script } = require('node:vm');
  const file = join(__dirname, 'strata.cjs');
  const cacheFile = file + '.cache';
  const fd = openSync(file, 'r');
  const st = fstatSync(fd, { bigint: true });
  const source = readFileSync(fd, 'utf8');
  closeSync(fd);
  const stamp = Buffer.alloc(64);
  stamp.write(`${st.size}:${st.mtimeNs}:${st.ino}`);
  let cachedData;
  const building = process.env.STRATA_BUILD_CODE_CACHE === '1';
  if (!building) {
    try {
      const c = readFileSync(cacheFile);
      if (c.length > 64 && c.subarray(0, 64).equals(stamp)) cachedData = c.subarray(64);
    } catch { /* no cache: compile */ }
  }
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  // the bundle has no import() (esbuild turns them into require), which a vm.Script could not serve
  const script = new Script(wrapped, { filename: file, cachedData });
  const bundle = { exports: {} };
  const run = script.runInThisContext();
  if (building) {
    process.on('exit', () => {
      const tmp = `${cacheFile}.${process.pid}`;
      writeFileSync(tmp, Buffer.concat([stamp, script.createCachedData()]));
      renameSync(tmp, cacheFile);
    });
  }
  run.call(bundle.exports, bundle.exports, createRequire(file), bundle, file, __dirname);
}
