import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { StoreRoot } from '../src/engine/store-root.js';
import { importImage } from '../src/engine/transfer.js';
import { Readable } from 'node:stream';
import { median, printFigure, strataTime, tmpRoot, dockerAvailable, timeCmd, type Figure } from './util.js';

/** sha256 + write + fsync of the same bytes: what any store must at least do. */
export function floorWrite(src: string, dir: string): number {
  const t0 = process.hrtime.bigint();
  const h = createHash('sha256');
  const fdIn = fs.openSync(src, 'r');
  const out = path.join(dir, 'floor.bin');
  const fdOut = fs.openSync(out, 'w');
  const buf = Buffer.allocUnsafe(1 << 20);
  for (;;) {
    const n = fs.readSync(fdIn, buf, 0, buf.length, null);
    if (!n) break;
    h.update(buf.subarray(0, n));
    fs.writeSync(fdOut, buf, 0, n);
  }
  fs.fsyncSync(fdOut);
  fs.closeSync(fdOut);
  fs.closeSync(fdIn);
  h.digest();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  fs.rmSync(out);
  return ms;
}

/** A ~250 MB rootfs-like tree: system headers and compiler libraries (many small files, some large). */
export function makeRootfsTar(dir: string): string {
  const tar = path.join(dir, 'rootfs.tar');
  if (!fs.existsSync(tar)) execFileSync('tar', ['--numeric-owner', '-cf', tar, '-C', '/', 'usr/include', 'usr/lib/gcc']);
  return tar;
}

export async function benchImages(): Promise<Figure[]> {
  const figs: Figure[] = [];
  const work = tmpRoot('images');
  try {
    const tar = makeRootfsTar(work);
    const mb = fs.statSync(tar).size / 1e6;
    const docker = dockerAvailable();
    // import
    const imp: number[] = [];
    const floors: number[] = [];
    for (let i = 0; i < 3; i++) {
      const root = fs.mkdtempSync(path.join(work, 'root-'));
      execFileSync('sync');
      imp.push(strataTime(root, ['import', tar, 'big']));
      floors.push(floorWrite(tar, work));
      if (i < 2) fs.rmSync(root, { recursive: true, force: true });
      else {
        // save and load of the same image
        const saved = path.join(work, 'saved.tar');
        const sv: number[] = [];
        const ld: number[] = [];
        for (let j = 0; j < 3; j++) {
          fs.rmSync(saved, { force: true });
          sv.push(strataTime(root, ['save', '-o', saved, 'big']));
          const fresh = fs.mkdtempSync(path.join(work, 'load-'));
          execFileSync('sync');
          ld.push(strataTime(fresh, ['load', '-i', saved]));
          fs.rmSync(fresh, { recursive: true, force: true });
        }
        const f = median(floors);
        figs.push({ name: 'save_MBps', value: mb / (median(sv) / 1000), unit: 'MB/s', floor: mb / (f / 1000) });
        figs.push({ name: 'load_MBps', value: mb / (median(ld) / 1000), unit: 'MB/s', floor: mb / (f / 1000) });
        fs.rmSync(root, { recursive: true, force: true });
      }
    }
    const fl = median(floors);
    const dockerImport = docker ? median([0, 1, 2].map(() => timeCmd('docker', ['import', tar, 'strata-bench:import']))) : undefined;
    const impFig: Figure = { name: 'import_MBps', value: mb / (median(imp) / 1000), unit: 'MB/s', floor: mb / (fl / 1000), note: `${mb.toFixed(0)} MB tar, median of 3` };
    if (dockerImport) impFig.docker = mb / (dockerImport / 1000);
    figs.unshift(impFig);
    figs.unshift({ name: 'import_s', value: median(imp) / 1000, unit: 's', floor: fl / 1000 });

    // images with 1,000 distinct tagged images
    const root = fs.mkdtempSync(path.join(work, 'many-'));
    const store = new StoreRoot(root);
    const tiny = path.join(work, 'tiny.tar');
    const tinyDir = path.join(work, 'tiny');
    fs.mkdirSync(tinyDir);
    fs.writeFileSync(path.join(tinyDir, 'hello'), 'hi\n');
    execFileSync('tar', ['-cf', tiny, '-C', tinyDir, '.']);
    const tinyBytes = fs.readFileSync(tiny);
    for (let i = 0; i < 1000; i++) {
      await importImage(store, Readable.from([tinyBytes]), { reference: `bench/img${i}:v${i % 7}`, message: `image ${i}` });
    }
    store.close();
    const lst = [0, 1, 2, 3, 4].map(() => strataTime(root, ['images']));
    figs.push({ name: 'images_1000_ms', value: median(lst), unit: 'ms', note: 'CLI process, 1,000 distinct tagged images' });
    fs.rmSync(root, { recursive: true, force: true });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return figs;
}

export async function runImages(): Promise<void> {
  for (const f of await benchImages()) printFigure(f);
}
