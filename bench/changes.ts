/**
 * diff and commit on a real overlay mount over a busybox lower:
 *   diff with 10 / 10,000 / 100,000 changed files (half changed lower files,
 *   half new), beside the floor (a walk + lstat of the upper dir); the 10-change
 *   diff again over a lower of 100,000 files (cost follows the change);
 *   commit of 10 small files, one 1 GiB file, 100,000 files of 4 KiB, beside
 *   the floor (read + sha256 + write of the same bytes), and the store's growth.
 * STRATA_BENCH_CHANGES_SCALE=0.1 shrinks every size (for a quick run).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { diffUpper } from '../src/changes/index.js';
import { commitContainer } from '../src/engine/commit.js';
import { imageLayers } from '../src/engine/images.js';
import { StoreRoot } from '../src/engine/store-root.js';
import { importImage } from '../src/engine/transfer.js';
import { packDir } from '../src/layer/index.js';
import { buildBusyboxRootfs } from '../test/helpers.js';
import { median, printFigure, tmpRoot } from './util.js';
import { ensureImageDirs } from '../src/engine/layer-dirs.js';

const SCALE = Number(process.env.STRATA_BENCH_CHANGES_SCALE ?? '1');
const n = (x: number) => Math.max(1, Math.round(x * SCALE));

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function du(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);
}

interface Mount { upper: string; merged: string; close(): void; }

function mount(work: string, lowers: string[], name: string): Mount {
  const dir = path.join(work, name);
  const upper = path.join(dir, 'upper');
  const wk = path.join(dir, 'work');
  const merged = path.join(dir, 'merged');
  for (const d of [upper, wk, merged]) fs.mkdirSync(d, { recursive: true });
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${wk},index=off,metacopy=off,redirect_dir=off`, merged]);
  return { upper, merged, close() { try { execFileSync('umount', [merged]); } catch { /* gone */ } fs.rmSync(dir, { recursive: true, force: true }); } };
}

/** files spread over dirs of 1,000 */
function writeFiles(root: string, prefix: string, count: number, data: Buffer): void {
  for (let i = 0; i < count; i++) {
    const d = path.join(root, `${prefix}${Math.floor(i / 1000)}`);
    if (i % 1000 === 0) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `f${i}`), data);
  }
}

/** the diff floor: a walk of the upper dir with an lstat of every entry */
function walkLstat(dir: string): number {
  const t0 = process.hrtime.bigint();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d)) {
      const p = path.join(d, e);
      if (fs.lstatSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return ms(t0);
}

/** the commit floor: read + sha256 + write (one output file) of every regular file below dir */
function readHashWrite(dir: string, out: string): number {
  const t0 = process.hrtime.bigint();
  const h = createHash('sha256');
  const fdOut = fs.openSync(out, 'w');
  const buf = Buffer.allocUnsafe(1 << 20);
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d).sort()) {
      const p = path.join(d, e);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) { walk(p); continue; }
      if (!st.isFile()) continue;
      const fd = fs.openSync(p, 'r');
      for (;;) {
        const k = fs.readSync(fd, buf, 0, buf.length, null);
        if (!k) break;
        h.update(buf.subarray(0, k));
        fs.writeSync(fdOut, buf, 0, k);
      }
      fs.closeSync(fd);
    }
  };
  walk(dir);
  fs.fsyncSync(fdOut);
  fs.closeSync(fdOut);
  h.digest();
  const t = ms(t0);
  fs.rmSync(out);
  return t;
}

export async function runChanges(): Promise<void> {
  const work = tmpRoot('changes');
  const mounts: Mount[] = [];
  let store: StoreRoot | undefined;
  try {
    const bb = path.join(work, 'busybox');
    buildBusyboxRootfs(bb);
    const init = path.join(work, 'init');
    for (const d of ['etc', 'dev/pts', 'dev/shm', 'proc', 'sys']) fs.mkdirSync(path.join(init, d), { recursive: true });
    for (const f of ['.dockerenv', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf']) fs.writeFileSync(path.join(init, f), '');

    // ---------------- diff
    let bigLower = '';
    for (const count of [10, 10_000, 100_000].map(n)) {
      const data = path.join(work, `data-${count}`);
      writeFiles(data, 'lower', Math.ceil(count / 2), Buffer.from('lower\n'));
      const lowers = [init, data, bb];
      const m = mount(work, lowers, `diff-${count}`);
      mounts.push(m);
      for (let i = 0; i < Math.ceil(count / 2); i++) fs.appendFileSync(path.join(m.merged, `lower${Math.floor(i / 1000)}`, `f${i}`), 'x');
      writeFiles(m.merged, 'new', Math.floor(count / 2), Buffer.from('new\n'));
      const times: number[] = [];
      const floors: number[] = [];
      let lines = 0;
      for (let r = 0; r < 3; r++) {
        const t0 = process.hrtime.bigint();
        lines = diffUpper(m.upper, lowers).length;
        times.push(ms(t0));
        floors.push(walkLstat(m.upper));
      }
      printFigure({ name: `diff_${count}_files_ms`, value: median(times), unit: 'ms', floor: median(floors), note: `${lines} lines; half changed lower files, half new; floor = walk+lstat of upper` });
      m.close();
      mounts.pop();
      if (count === n(100_000)) bigLower = data;
      else fs.rmSync(data, { recursive: true, force: true });
    }
    {
      const lowers = [init, bigLower, bb];
      const m = mount(work, lowers, 'diff-small-on-big');
      mounts.push(m);
      for (let i = 0; i < 5; i++) fs.appendFileSync(path.join(m.merged, 'lower0', `f${i}`), 'x');
      writeFiles(m.merged, 'new', 5, Buffer.from('new\n'));
      const times = [0, 1, 2].map(() => { const t0 = process.hrtime.bigint(); diffUpper(m.upper, lowers); return ms(t0); });
      printFigure({ name: `diff_10_files_over_${n(100_000) / 2}_file_lower_ms`, value: median(times), unit: 'ms', floor: walkLstat(m.upper), note: 'cost follows the change, not the image' });
      m.close();
      mounts.pop();
      fs.rmSync(bigLower, { recursive: true, force: true });
    }

    // ---------------- commit
    const root = path.join(work, 'store');
    store = new StoreRoot(root);
    const bbTar = path.join(work, 'bb.tar');
    await packDir(bb, bbTar, { mode: 'plain' });
    const imageId = await importImage(store, Readable.from([fs.readFileSync(bbTar)]), { reference: 'bbox:latest' });
    await ensureImageDirs(store, imageId);
    const layerDirs = imageLayers(store, imageId).map((l) => store!.layerDir(l.diffId)).reverse();
    const lowers = [init, ...layerDirs];
    const cases: Array<{ name: string; fill: (merged: string) => void }> = [
      { name: 'commit_10_small_files', fill: (mg) => writeFiles(mg, 'small', 10, Buffer.from('small file\n')) },
      {
        name: `commit_1_file_${n(1024)}MiB`,
        fill: (mg) => {
          const fd = fs.openSync(path.join(mg, 'big.bin'), 'w');
          const chunk = Buffer.alloc(1 << 20);
          for (let i = 0; i < n(1024); i++) { chunk.writeUInt32LE(i, 0); fs.writeSync(fd, chunk); }
          fs.closeSync(fd);
        },
      },
      { name: `commit_${n(100_000)}_files_4KiB`, fill: (mg) => writeFiles(mg, 'many', n(100_000), Buffer.alloc(4096, 1)) },
    ];
    let k = 0;
    for (const c of cases) {
      const m = mount(work, lowers, `commit-${k++}`);
      mounts.push(m);
      c.fill(m.merged);
      execFileSync('sync');
      const bytes = du(m.upper);
      const floor = readHashWrite(m.upper, path.join(work, 'floor.bin'));
      // what creating the same files costs on this disk: GNU tar | tar (Docker's commit is a tar and an untar too)
      const copy = path.join(work, 'tarcopy');
      fs.mkdirSync(copy);
      const tc = process.hrtime.bigint();
      execFileSync('sh', ['-c', `tar -C '${m.upper}' -cf - . | tar -C '${copy}' -xf -`]);
      const tarCopy = ms(tc);
      fs.rmSync(copy, { recursive: true, force: true });
      execFileSync('sync');
      const before = du(root);
      const t0 = process.hrtime.bigint();
      const res = await commitContainer(store, {
        upperDir: m.upper, imageId, imageRef: 'bbox:latest', containerId: 'b'.repeat(64),
        containerConfig: { Hostname: 'bbbbbbbbbbbb', Cmd: ['sh'], Image: 'bbox:latest' },
        pause: () => undefined, unpause: () => undefined,
      });
      const t = ms(t0);
      execFileSync('sync');
      const grew = du(root) - before;
      const mb = res.tarSize / 1e6;
      printFigure({ name: `${c.name}_ms`, value: t, unit: 'ms', floor, note: `tar ${mb.toFixed(1)} MB, frozen ${res.frozenMs.toFixed(0)} ms; floor = read+sha256+write of the same bytes; GNU tar|tar copy ${tarCopy.toFixed(0)} ms` });
      if (mb > 10) printFigure({ name: `${c.name}_MBps`, value: mb / (t / 1000), unit: 'MB/s', floor: mb / (floor / 1000) });
      printFigure({ name: `${c.name}_store_growth_MB`, value: grew / 1e6, unit: 'MB', note: `upper dir ${(bytes / 1e6).toFixed(1)} MB (du); Docker stores the change once` });
      const lazy = res.diffId !== undefined && !fs.existsSync(store.layerDir(res.diffId));
      if (lazy) {
        // the layer dir this commit left for later: what the first container of the image pays
        execFileSync('sync');
        const tu = process.hrtime.bigint();
        await ensureImageDirs(store, res.id);
        printFigure({ name: `${c.name}_first_use_unpack_ms`, value: ms(tu), unit: 'ms', note: 'the layer dir made from the kept tar when a container first needs it (then the tar is dropped)' });
      }
      if (mb > 100 && !lazy) {
        // the same commit with the verification re-pack (a byte more, so the layer is new)
        fs.appendFileSync(path.join(m.merged, 'extra.bin'), 'x');
        const t1 = process.hrtime.bigint();
        await commitContainer(store, {
          upperDir: m.upper, imageId, imageRef: 'bbox:latest', containerId: 'b'.repeat(64),
          containerConfig: { Hostname: 'bbbbbbbbbbbb', Cmd: ['sh'], Image: 'bbox:latest' }, verifyRepack: true,
        });
        printFigure({ name: `${c.name}_verify_repack_ms`, value: ms(t1), unit: 'ms', floor, note: 'verifyRepack: true (runs second: warmer caches)' });
      }
      m.close();
      mounts.pop();
    }
  } finally {
    for (const m of mounts) m.close();
    store?.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}
