// dist/strata.mjs: starts the CLI bundle (dist/strata.cjs) from V8's code cache for it
// (dist/strata.cjs.cache, made by scripts/bundle.sh), so a command does not compile ~800 KB of
// JavaScript first. The cache starts with the identity of the bundle file it was made from (size,
// mtime, inode: bundle.sh writes both together); a cache for another file, or one V8 rejects
// (another Node), is ignored and the bundle compiled as usual.
// `--version` alone is answered here without loading the bundle.
import { closeSync, fstatSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  process.stdout.write('@VERSION@\n');
} else {
  const here = dirname(fileURLToPath(import.meta.url));
  const file = join(here, 'strata.cjs');
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
  const require = createRequire(file);
  // the bundle has no import() (esbuild turns them into require), which a vm.Script could not serve
  const script = new Script(wrapped, { filename: file, cachedData });
  const module = { exports: {} };
  const run = script.runInThisContext();
  if (building) {
    process.on('exit', () => {
      const tmp = `${cacheFile}.${process.pid}`;
      writeFileSync(tmp, Buffer.concat([stamp, script.createCachedData()]));
      renameSync(tmp, cacheFile);
    });
  }
  run.call(module.exports, module.exports, require, module, file, here);
}
