/**
 * Layer pack/unpack speed against GNU tar, on tmpfs.
 *
 *   node dist/bench/layer-bench.js [srcDir ...]
 *
 * Default tree: /usr/include + /usr/lib/gcc (~250 MB, ~9k entries, the tree of
 * shared/libraries.md A.1). Prints `name value unit` lines; best of 3 runs.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { compressStream, packDir, unpackLayer } from '../src/layer/index.js';

const RUNS = Number(process.env['LAYER_BENCH_RUNS'] ?? 3);

function out(name: string, value: number, unit: string): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)} ${unit}`);
}

async function best(fn: () => Promise<void> | void, before?: () => void): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < RUNS; i++) {
    before?.();
    const t0 = process.hrtime.bigint();
    await fn();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (dt < b) b = dt;
  }
  return b;
}

async function main(): Promise<void> {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const work = fs.mkdtempSync(path.join(base, 'strata-layer-bench-'));
  try {
    const src = path.join(work, 'src');
    fs.mkdirSync(src);
    const inputs = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['/usr/include', '/usr/lib/gcc'].filter((p) => fs.existsSync(p));
    for (const p of inputs) execFileSync('cp', ['-a', p, path.join(src, path.basename(p))]);
    const ours = path.join(work, 'strata.tar');
    const gnu = path.join(work, 'gnu.tar');
    const dst = path.join(work, 'dst');
    const fresh = (): void => {
      fs.rmSync(dst, { recursive: true, force: true });
      fs.mkdirSync(dst);
    };

    const packed = await packDir(src, ours);
    out('layer.tree.bytes', packed.size, 'B');
    out('layer.tree.entries', packed.entries, 'entries');
    const mb = packed.size / 1e6;

    const gnuPack = await best(() => { execFileSync('tar', ['-cf', gnu, '-C', src, '.']); });
    const ourPack = await best(async () => { await packDir(src, ours); });
    out('layer.pack.gnu_tar', gnuPack, 's');
    out('layer.pack.strata', ourPack, 's');
    out('layer.pack.strata_rate', mb / ourPack, 'MB/s');

    const gnuX = await best(() => { execFileSync('tar', ['-xf', ours, '-C', dst]); }, fresh);
    const ourX = await best(async () => { await unpackLayer(fs.createReadStream(ours, { highWaterMark: 1 << 20 }), dst); }, fresh);
    out('layer.unpack.gnu_tar', gnuX, 's');
    out('layer.unpack.strata', ourX, 's');
    out('layer.unpack.strata_rate', mb / ourX, 'MB/s');

    const sha = await best(() => { execFileSync('sha256sum', [ours]); });
    out('layer.sha256sum', sha, 's');

    for (const kind of ['zstd', 'gzip'] as const) {
      const blob = path.join(work, `strata.tar.${kind}`);
      const level = kind === 'gzip' ? 1 : 3;
      const t0 = process.hrtime.bigint();
      const c = compressStream(kind, level);
      const w = pipeline(c, fs.createWriteStream(blob));
      await packDir(src, c);
      await w;
      out(`layer.pack_${kind}${level}.strata`, Number(process.hrtime.bigint() - t0) / 1e9, 's');
      out(`layer.blob_${kind}${level}.bytes`, fs.statSync(blob).size, 'B');
      const x = await best(async () => { await unpackLayer(fs.createReadStream(blob, { highWaterMark: 1 << 20 }), dst); }, fresh);
      out(`layer.unpack_${kind}.strata`, x, 's');
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
