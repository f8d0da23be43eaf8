/**
 * Engine API throughput and latency through `strata serve` (a child process, as in use):
 *   - requests/s of GET /containers/json with 100 containers (created, not started)
 *   - requests/s of GET /images/json with 1,000 images
 *   - `docker run -d` latency (docker CLI v28 through the socket), median of 5
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { StoreRoot } from '../src/engine/store-root.js';
import { Containers } from '../src/engine/containers.js';
import { VolumeStore } from '../src/engine/volumes.js';
import { importImage } from '../src/engine/transfer.js';
import { busyboxTar } from '../test/helpers.js';
import { CLI, benchEnv, median, printFigure, strataRun, tmpRoot, type Figure } from './util.js';

const DOCKER = '/usr/local/bin/docker';

/** `concurrency` keep-alive connections issuing GETs for `ms`; returns requests per second. */
async function hammer(sock: string, p: string, ms: number, concurrency = 4): Promise<{ rps: number; bytes: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let n = 0;
  let bytes = 0;
  const end = Date.now() + ms;
  const one = () => new Promise<void>((resolve, reject) => {
    http.get({ socketPath: sock, path: p, agent }, (res) => {
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${p}: ${res.statusCode}`))));
    }).on('error', reject);
  });
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) { await one(); n++; }
  }));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  return { rps: n / s, bytes: bytes / Math.max(1, n) };
}

async function serve(root: string, sock: string): Promise<() => Promise<void>> {
  const p = spawn(process.execPath, [CLI, 'serve', '-H', `unix://${sock}`], { env: benchEnv(root), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 300 && !/listening on/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
  if (!/listening on/.test(err)) throw new Error(`strata serve did not start: ${err}`);
  return () => new Promise<void>((resolve) => { p.once('exit', () => resolve()); p.kill('SIGTERM'); });
}

export async function benchApi(): Promise<Figure[]> {
  const figs: Figure[] = [];
  const root = tmpRoot('api');
  const sock = path.join(root, 'api.sock');
  let stop: (() => Promise<void>) | undefined;
  try {
    const store = new StoreRoot(root);
    await importImage(store, fs.createReadStream(busyboxTar()), { reference: 'busybox' });
    const engine = new Containers(store, new VolumeStore(store));
    for (let i = 0; i < 100; i++) await engine.create({ Image: 'busybox', Cmd: ['sleep', '300'] }, `bench${i}`);
    const tinyDir = path.join(root, 'tiny');
    fs.mkdirSync(tinyDir);
    fs.writeFileSync(path.join(tinyDir, 'hello'), 'hi\n');
    const tiny = path.join(root, 'tiny.tar');
    execFileSync('tar', ['-cf', tiny, '-C', tinyDir, '.']);
    const bytes = fs.readFileSync(tiny);
    for (let i = 0; i < 999; i++) await importImage(store, Readable.from([bytes]), { reference: `bench/img${i}:v${i % 7}`, message: `image ${i}` });
    store.close();
    stop = await serve(root, sock);

    await hammer(sock, '/v1.41/containers/json?all=1', 300); // warm-up
    const ps = await hammer(sock, '/v1.41/containers/json?all=1', 3000);
    figs.push({ name: 'api_containers_json_100_rps', value: ps.rps, unit: 'req/s', note: `4 keep-alive clients, ${(ps.bytes / 1024).toFixed(0)} KiB per answer` });
    await hammer(sock, '/v1.41/images/json', 300);
    const im = await hammer(sock, '/v1.41/images/json', 3000);
    figs.push({ name: 'api_images_json_1000_rps', value: im.rps, unit: 'req/s', note: `4 keep-alive clients, ${(im.bytes / 1024).toFixed(0)} KiB per answer` });

    if (fs.existsSync(DOCKER)) {
      const env = { ...benchEnv(root), DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: path.join(root, '.docker') };
      const times: number[] = [];
      for (let i = 0; i < 6; i++) {
        const t0 = process.hrtime.bigint();
        const r = spawnSync(DOCKER, ['run', '-d', '--name', `lat${i}`, 'busybox', 'sleep', '300'], { env });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r.status !== 0) throw new Error(`docker run -d failed: ${r.stderr}`);
        if (i > 0) times.push(ms); // the first run warms caches
        spawnSync(DOCKER, ['rm', '-f', `lat${i}`], { env });
      }
      const cli: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = process.hrtime.bigint();
        const r = spawnSync(process.execPath, [CLI, 'run', '-d', '--name', `cli${i}`, 'busybox', 'sleep', '300'], { env: benchEnv(root) });
        cli.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.status !== 0) throw new Error(`strata run -d failed: ${r.stderr}`);
        spawnSync(DOCKER, ['rm', '-f', `cli${i}`], { env });
      }
      figs.push({ name: 'api_docker_run_d_ms', value: median(times), unit: 'ms', note: `docker CLI through strata serve, median of 5 (strata run -d: ${median(cli).toFixed(0)} ms)` });
    }
  } finally {
    await stop?.();
    // everything the root holds on the host (containers, netns, bridge, /run state), then the dir
    try { strataRun(root, ['system', 'reset', '--force']); } catch { /* best effort */ }
    fs.rmSync(root, { recursive: true, force: true });
  }
  return figs;
}

export async function runApi(): Promise<void> {
  for (const f of await benchApi()) printFigure(f);
}
