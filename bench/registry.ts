/**
 * Push and pull of a ~250 MB rootfs image to/from a local docker-registry, with each push
 * compression (gzip level 1, none, zstd), beside the floor for the same bytes on this
 * machine (gzip + sha256 for a push, gunzip + sha256 + write for a pull) and beside Docker
 * where a Docker engine is installed. Measured once (each figure costs seconds).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { makeRootfsTar } from './images.js';
import { dockerAvailable, printFigure, strataRun, strataTime, timeCmd, tmpRoot, type Figure } from './util.js';
import { registryAvailable, startRegistry } from '../test/registry/helpers.js';

async function timeMs(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** gzip -1 + sha256 of the compressed bytes: the least a compressing push does. */
async function floorPush(tar: string): Promise<number> {
  return timeMs(async () => {
    const h = createHash('sha256');
    await pipeline(fs.createReadStream(tar, { highWaterMark: 1 << 20 }), zlib.createGzip({ level: 1 }), new Writable({ write(c, _e, cb) { h.update(c); cb(); } }));
    h.digest();
  });
}

/** sha256 of the blob + gunzip + sha256 of the tar + write + fsync: the least a pull does before unpacking. */
async function floorPull(blob: string, dir: string): Promise<number> {
  const out = path.join(dir, 'floor.tar');
  const ms = await timeMs(async () => {
    const hb = createHash('sha256');
    const ht = createHash('sha256');
    const fd = fs.openSync(out, 'w');
    const src = fs.createReadStream(blob, { highWaterMark: 1 << 20 });
    src.on('data', (c) => hb.update(c));
    await pipeline(src, zlib.createGunzip({ chunkSize: 128 << 10 }), new Writable({ write(c: Buffer, _e, cb) { ht.update(c); fs.writeSync(fd, c); cb(); } }));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    hb.digest(); ht.digest();
  });
  fs.rmSync(out, { force: true });
  return ms;
}

export async function benchRegistry(): Promise<Figure[]> {
  if (!registryAvailable()) {
    console.log('# registry: docker-registry not installed, skipped');
    return [];
  }
  const figs: Figure[] = [];
  const work = tmpRoot('registry');
  const reg = await startRegistry();
  const env = { STRATA_CONFIG: path.join(work, 'strata.json'), DOCKER_CONFIG: path.join(work, 'docker') };
  try {
    const tar = makeRootfsTar(work);
    const mb = fs.statSync(tar).size / 1e6;
    const pushFloor = await floorPush(tar);
    let gzipBlob = '';
    for (const comp of ['gzip', 'none', 'zstd'] as const) {
      const root = fs.mkdtempSync(path.join(work, `push-${comp}-`));
      const ref = `${reg.addr}/bench/${comp}:v1`;
      strataRun(root, ['import', tar, ref]);
      execFileSync('sync');
      const ms = strataTime(root, ['push', '-q', ref], { ...env, STRATA_PUSH_COMPRESSION: comp });
      const note = `${mb.toFixed(0)} MB tar, push compression ${comp}${comp === 'gzip' ? ' (level 1)' : ''}`;
      figs.push({ name: `push_${comp}_s`, value: ms / 1000, unit: 's', ...(comp === 'gzip' ? { floor: pushFloor / 1000 } : {}), note });
      figs.push({ name: `push_${comp}_MBps`, value: mb / (ms / 1000), unit: 'MB/s', ...(comp === 'gzip' ? { floor: mb / (pushFloor / 1000) } : {}) });
      if (comp === 'gzip') {
        const rows = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]).toString()) as { layers: { digest: string; size: number }[] };
        gzipBlob = path.join(root, 'blobs', 'sha256', rows.layers[0]!.digest.slice(7));
        figs.push({ name: 'push_gzip_blob_MB', value: rows.layers[0]!.size / 1e6, unit: 'MB' });
      } else fs.rmSync(root, { recursive: true, force: true });
    }
    const pullFloor = gzipBlob ? await floorPull(gzipBlob, work) : undefined;
    // what unpacking alone costs here: `import` of the same tar from a local file
    const imp = fs.mkdtempSync(path.join(work, 'import-'));
    execFileSync('sync');
    figs.push({ name: 'import_same_tar_s', value: strataTime(imp, ['import', tar]) / 1000, unit: 's', note: 'local import of the same tar: the unpack cost a pull also pays' });
    fs.rmSync(imp, { recursive: true, force: true });
    for (const comp of ['gzip', 'none', 'zstd'] as const) {
      const fresh = fs.mkdtempSync(path.join(work, `pull-${comp}-`));
      execFileSync('sync');
      const ms = strataTime(fresh, ['pull', '-q', `${reg.addr}/bench/${comp}:v1`], env);
      const floor = comp === 'gzip' && pullFloor ? { floor: pullFloor / 1000 } : {};
      figs.push({ name: `pull_${comp}_s`, value: ms / 1000, unit: 's', ...floor, note: `${comp} layer, unpacked while downloading` });
      figs.push({ name: `pull_${comp}_MBps`, value: mb / (ms / 1000), unit: 'MB/s', ...(comp === 'gzip' && pullFloor ? { floor: mb / (pullFloor / 1000) } : {}) });
      fs.rmSync(fresh, { recursive: true, force: true });
    }
    if (dockerAvailable()) {
      const ref = `${reg.addr}/bench/docker:v1`;
      timeCmd('docker', ['import', tar, ref]);
      const push = timeCmd('docker', ['push', ref]);
      timeCmd('docker', ['rmi', ref]);
      const pull = timeCmd('docker', ['pull', ref]);
      timeCmd('docker', ['rmi', ref]);
      const pushFig = figs.find((f) => f.name === 'push_gzip_s');
      const pullFig = figs.find((f) => f.name === 'pull_gzip_s');
      if (pushFig) pushFig.docker = push / 1000;
      if (pullFig) pullFig.docker = pull / 1000;
    } else {
      console.log('# registry: no Docker engine here, Docker figures skipped');
    }
  } finally {
    await reg.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return figs;
}

export async function runRegistry(): Promise<void> {
  for (const f of await benchRegistry()) printFigure(f);
}
