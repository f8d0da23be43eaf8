/**
 * The explorer's lazy tree: opening the root of a layer of 100,000 files
 * (100 directories of 1,000) through the HTTP endpoint, a directory of 1,000
 * entries, the directory sizes of that root (a walk of the layer, fetched by
 * the page after the listing), and `analyze` of the image (a walk of every
 * layer). STRATA_BENCH_EXPLORE_FILES sets the file count.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { commitContainer } from '../src/engine/commit.js';
import { type Engine, openEngine } from '../src/engine/index.js';
import { StoreRoot } from '../src/engine/store-root.js';
import { importImage } from '../src/engine/transfer.js';
import { ExploreServer } from '../src/explore/server.js';
import { busyboxTar } from '../test/helpers.js';
import { median, printFigure, tmpRoot } from './util.js';
import { ensureImageDirs } from '../src/engine/layer-dirs.js';

const FILES = Number(process.env.STRATA_BENCH_EXPLORE_FILES ?? '100000');

function get(url: string): Promise<{ ms: number; body: string }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode} ${body}`));
        else resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, body });
      });
    }).on('error', reject);
  });
}

export async function runExplore(): Promise<void> {
  const root = tmpRoot('explore');
  let store: StoreRoot | undefined;
  let engine: Engine | undefined;
  let srv: ExploreServer | undefined;
  try {
    store = new StoreRoot(root);
    const imageId = await importImage(store, Readable.from([fs.readFileSync(busyboxTar())]), { reference: 'bbox:latest' });
    const upper = path.join(root, 'upper');
    for (let i = 0; i < FILES; i++) {
      const d = path.join(upper, 'many', String(Math.floor(i / 1000)));
      if (i % 1000 === 0) fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, `f${i % 1000}`), '');
    }
    const many = await commitContainer(store, {
      upperDir: upper, imageId, imageRef: 'bbox:latest', containerId: 'e'.repeat(64), reference: 'many:latest',
      containerConfig: { Hostname: 'eeeeeeeeeeee', Cmd: ['sh'], Image: 'bbox:latest' },
      pause: () => undefined, unpause: () => undefined,
    });
    await ensureImageDirs(store, many.id); // the layer dirs exist, as once a container has used the image
    fs.rmSync(upper, { recursive: true, force: true });
    store.close();
    store = undefined;
    engine = openEngine({ root });
    srv = new ExploreServer({ engine });
    const base = (await srv.listen('127.0.0.1', 0)).replace(/\/$/, '');
    const tree = (p: string) => `${base}/api/tree?ref=many&layer=1&path=${encodeURIComponent(p)}`;
    const first = await get(tree('/'));
    const entries = (JSON.parse(first.body) as { entries: unknown[] }).entries.length;
    const root5: number[] = [];
    for (let i = 0; i < 5; i++) root5.push((await get(tree('/'))).ms);
    printFigure({ name: `explore_open_layer_root_${FILES}_files_ms`, value: first.ms, unit: 'ms', note: `first request; median of 5 more ${median(root5).toFixed(1)} ms; ${entries} entry at the root; target < 1000 ms` });
    const dir = await get(tree('/many/0'));
    printFigure({ name: 'explore_open_dir_1000_entries_ms', value: dir.ms, unit: 'ms', note: 'one directory of 1,000 files (page of 1,000)' });
    const sizes = await get(`${base}/api/sizes?ref=many&layer=1&path=/`);
    printFigure({ name: `explore_dir_sizes_layer_root_${FILES}_files_ms`, value: sizes.ms, unit: 'ms', note: 'walks the layer; fetched after the listing is drawn' });
    const t0 = process.hrtime.bigint();
    engine.explore.analyze('many');
    printFigure({ name: `analyze_image_${FILES}_file_layer_ms`, value: Number(process.hrtime.bigint() - t0) / 1e6, unit: 'ms', note: 'in process: every layer walked once' });
  } finally {
    await srv?.close();
    store?.close();
    engine?.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runExplore();
