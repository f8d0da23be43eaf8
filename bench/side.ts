/**
 * Side by side with a Docker engine (bench/docker.ts starts a private one when Debian's
 * docker.io is installed): the same workloads, alternating Strata and Docker run by run (the
 * order flips every run), medians of N paired runs. One line per figure:
 *
 *   name strata docker ratio  (prev strata docker ratio)
 *
 * ratio = strata / docker (below 1: Strata ahead); `-` where there is no Docker figure; prev
 * is the figure of the same name in bench/RESULTS.md's side-by-side block, so nothing gets
 * slower unnoticed. Without Docker only Strata's figures (and the floors) are printed.
 *
 * Workloads (STRATA_BENCH_SIDE=light,lifecycle,commit,pull,import picks some):
 *   light      exec CTR true, ps, images, inspect CTR, logs --tail 10 CTR, port CTR, --version
 *   lifecycle  run -d -p busybox httpd -> first HTTP 200 on 127.0.0.1; stop; rm -f
 *   commit     commit of 10 small files / one 1 GiB file / 100,000 x 4 KiB (written into the
 *              container's merged dir from the host, then `commit CTR`), and the first
 *              `run --rm` of the new image (Strata makes the layer dir commit left for later)
 *   pull       pull of the nginx image from a local docker-registry (pushed once by Strata,
 *              gzip), each run into a fresh store
 *   import     import of a ~250 MB rootfs tar, beside the floor (sha256 + write + fsync), and
 *              the first use of the image (its layer dir is made then); each engine's import
 *              and each floor start from the same state (util.ts settle(): sync, page cache
 *              dropped, the tar read back, the freed memory back with the host)
 * BENCH_N (default 10) runs for light and lifecycle, BENCH_HEAVY_N (default 3) for the rest;
 * STRATA_BENCH_COMMIT_SCALE=0.1 shrinks the commit sizes for a quick run.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { startDocker, type DockerEngine } from './docker.js';
import { makeBusyboxTar } from './fixtures.js';
import { floorWrite, makeRootfsTar } from './images.js';
import { BIN, PROJECT, benchEnv, median, settle, tmpRoot } from './util.js';
import { registryAvailable, startRegistry } from '../test/registry/helpers.js';

const N = Number(process.env.BENCH_N ?? 10);
const HEAVY = Number(process.env.BENCH_HEAVY_N ?? 3);
const SCALE = Number(process.env.STRATA_BENCH_COMMIT_SCALE ?? 1);
const STRATA = BIN;
const RESULTS = path.join(PROJECT, 'bench', 'RESULTS.md');

interface Engine {
  name: 'strata' | 'docker';
  env: NodeJS.ProcessEnv;
  cmd: string;
  run(args: string[], input?: Buffer): string;
}

function engineRun(cmd: string, env: NodeJS.ProcessEnv, args: string[], input?: Buffer): string {
  const r = spawnSync(cmd, args, { env, input, maxBuffer: 1 << 30, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')}: ${r.stderr?.toString().trim()}`);
  return r.stdout.toString();
}

/**
 * CPU time (ms) of an engine's processes so far: the commands this process ran and waited for
 * (its children's times, with their own children: runc under a CLI), plus the long-lived
 * processes that serve them (Docker: dockerd, containerd, shims, proxies; Strata: container
 * monitors), with what those reaped. Work of a long-lived process that exits inside the window is
 * lost (e.g. a monitor ending with `rm -f`), so the figure is a lower bound for both engines.
 * On this shared machine the wall time of a command depends on its neighbours; CPU time less so.
 */
const DAEMONS: Record<Engine['name'], RegExp> = { docker: /^(dockerd|containerd|containerd-shim.*|docker-proxy)$/, strata: /^strata-monitor$/ };
function statTicks(stat: string, self: boolean): { comm: string; ticks: number } {
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const f = stat.slice(close + 2).split(' '); // f[0] is field 3 (state)
  const n = (i: number): number => Number(f[i - 3]);
  return { comm, ticks: self ? n(16) + n(17) : n(14) + n(15) + n(16) + n(17) };
}
function cpuOf(name: Engine['name']): number {
  let ticks = statTicks(fs.readFileSync('/proc/self/stat', 'utf8'), true).ticks;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const st = statTicks(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'), false);
      if (DAEMONS[name].test(st.comm)) ticks += st.ticks;
    } catch { /* gone */ }
  }
  return ticks * 10;
}
/** CPU ms of the last timed() call (or of run -d -p to the first HTTP answer), for paired() */
let lastCpu = NaN;

function timed(e: Engine, args: string[]): number {
  const c0 = cpuOf(e.name);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(e.cmd, args, { env: e.env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  lastCpu = cpuOf(e.name) - c0;
  if (r.status !== 0) throw new Error(`${e.name} ${args.join(' ')}: ${r.stderr?.toString().trim()}`);
  return ms;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

async function untilHttp(url: string, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    try { const r = await fetch(url); await r.text(); if (r.status === 200) return; } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`no answer from ${url}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// ---------------------------------------------------------------- output

interface Prev { strata: number; docker?: number; ratio?: number }

/** the fenced blocks under "## Side by side" in RESULTS.md: `name strata docker ratio` lines; the first (latest) figure of a name wins */
export function previousFigures(file = RESULTS): Map<string, Prev> {
  const out = new Map<string, Prev>();
  let text = '';
  try { text = fs.readFileSync(file, 'utf8'); } catch { return out; }
  const at = text.indexOf('## Side by side');
  if (at < 0) return out;
  const section = text.slice(at + 1);
  const end = section.search(/^## /m);
  const lines = [...(end < 0 ? section : section.slice(0, end)).matchAll(/```[a-z]*\n([\s\S]*?)```/g)].flatMap((b) => b[1]!.split('\n'));
  for (const line of lines) {
    const m = /^([A-Za-z0-9_]+) ([\d.]+) ([\d.]+|-) ([\d.]+|-)/.exec(line.trim());
    if (!m) continue;
    const p: Prev = { strata: Number(m[2]) };
    if (m[3] !== '-') p.docker = Number(m[3]);
    if (m[4] !== '-') p.ratio = Number(m[4]);
    if (!out.has(m[1]!)) out.set(m[1]!, p);
  }
  return out;
}

const fmt = (n: number | undefined): string => (n === undefined ? '-' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

export function printPair(prev: Map<string, Prev>, name: string, strata: number, docker: number | undefined, note = ''): void {
  const ratio = docker !== undefined && docker > 0 ? strata / docker : undefined;
  let line = `${name} ${fmt(strata)} ${fmt(docker)} ${ratio === undefined ? '-' : ratio.toFixed(2)}`;
  const p = prev.get(name);
  if (p) line += `  (prev ${fmt(p.strata)} ${fmt(p.docker)} ${p.ratio === undefined ? '-' : p.ratio.toFixed(2)}${p.strata > 0 && strata > p.strata * 1.2 ? ' SLOWER' : ''})`;
  if (note) line += `  # ${note}`;
  console.log(line);
}

// ---------------------------------------------------------------- workloads

/** Paired runs: fn(engine, i) for both engines, alternating which goes first. */
/** wall ms per engine, and CPU ms (see cpuOf) under the key `<engine>:cpu` */
async function paired(engines: Engine[], runs: number, fn: (e: Engine, i: number) => Promise<number> | number): Promise<Map<string, number[]>> {
  const res = new Map<string, number[]>(engines.flatMap((e) => [[e.name, []], [`${e.name}:cpu`, []]] as Array<[string, number[]]>));
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? engines : [...engines].reverse();
    for (const e of order) {
      lastCpu = NaN;
      res.get(e.name)!.push(await fn(e, i));
      if (!Number.isNaN(lastCpu)) res.get(`${e.name}:cpu`)!.push(lastCpu);
    }
  }
  return res;
}

function report(prev: Map<string, Prev>, name: string, r: Map<string, number[]>, note = '', div = 1): void {
  const d = r.get('docker');
  const cpu = (k: string): string => { const v = r.get(`${k}:cpu`); return v && v.length ? fmt(median(v) / div) : '-'; };
  const cpuNote = `cpu ${cpu('strata')} / ${cpu('docker')}`;
  printPair(prev, name, median(r.get('strata')!) / div, d && d.length ? median(d) / div : undefined, note ? `${cpuNote}; ${note}` : cpuNote);
}

const SLEEPER = ['sh', '-c', 'i=0; while [ $i -lt 50 ]; do echo line $i; i=$((i+1)); done; trap "exit 0" TERM; sleep 100000 & wait'];

async function light(engines: Engine[], prev: Map<string, Prev>): Promise<void> {
  for (const e of engines) e.run(['run', '-d', '--name', 'sb-ctr', '-p', `127.0.0.1:${await freePort()}:80`, 'busybox', ...SLEEPER]);
  const cases: Array<[string, string[]]> = [
    ['exec_true_ms', ['exec', 'sb-ctr', 'true']],
    ['ps_ms', ['ps']],
    ['images_ms', ['images']],
    ['inspect_ms', ['inspect', 'sb-ctr']],
    ['logs_tail_10_ms', ['logs', '--tail', '10', 'sb-ctr']],
    ['port_ms', ['port', 'sb-ctr']],
    ['version_ms', ['--version']],
  ];
  for (const [name, args] of cases) {
    for (const e of engines) timed(e, args); // warm
    report(prev, name, await paired(engines, N, (e) => timed(e, args)));
  }
  for (const e of engines) e.run(['rm', '-f', 'sb-ctr']);
}

async function lifecycle(engines: Engine[], prev: Map<string, Prev>): Promise<void> {
  const http = await paired(engines, N, async (e, i) => {
    const port = await freePort();
    const c0 = cpuOf(e.name);
    const t0 = process.hrtime.bigint();
    e.run(['run', '-d', '--name', `sb-h${i}`, '-p', `127.0.0.1:${port}:80`, 'busybox']);
    await untilHttp(`http://127.0.0.1:${port}/`);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    lastCpu = cpuOf(e.name) - c0;
    e.run(['rm', '-f', `sb-h${i}`]);
    return ms;
  });
  report(prev, 'run_d_p_to_http_ms', http, 'busybox httpd');
  const stop = await paired(engines, N, (e, i) => {
    e.run(['run', '-d', '--name', `sb-s${i}`, 'busybox', ...SLEEPER]);
    const ms = timed(e, ['stop', `sb-s${i}`]);
    e.run(['rm', `sb-s${i}`]);
    return ms;
  });
  report(prev, 'stop_ms', stop, 'the process exits on SIGTERM');
  const rm = await paired(engines, N, (e, i) => {
    e.run(['run', '-d', '--name', `sb-r${i}`, 'busybox', ...SLEEPER]);
    return timed(e, ['rm', '-f', `sb-r${i}`]);
  });
  report(prev, 'rm_f_ms', rm, 'a running container');
}

function writeFiles(root: string, count: number, data: Buffer): void {
  for (let i = 0; i < count; i++) {
    const d = path.join(root, `d${Math.floor(i / 1000)}`);
    if (i % 1000 === 0) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `f${i}`), data);
  }
}

/**
 * What writing a change once costs here: GNU `cp -a` of it beside itself, page cache warm as
 * for the commit that follows and, like the commit, without waiting for the disk (neither engine
 * fsyncs a committed layer's files); the copy is removed outside the timing.
 */
function copyFloor(dir: string): number {
  const dst = `${dir}.floor`;
  spawnSync('sync');
  const t0 = process.hrtime.bigint();
  spawnSync('cp', ['-a', dir, dst]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  fs.rmSync(dst, { recursive: true, force: true });
  return ms;
}

async function commit(engines: Engine[], prev: Map<string, Prev>): Promise<void> {
  const n = (x: number) => Math.max(1, Math.round(x * SCALE));
  const cases: Array<[string, (dir: string) => void, number]> = [
    ['commit_10_files_ms', (d) => writeFiles(d, 10, Buffer.from('small file\n')), N],
    [`commit_1_file_${n(1024)}MiB_s`, (d) => {
      const fd = fs.openSync(path.join(d, 'big.bin'), 'w');
      const chunk = Buffer.alloc(1 << 20);
      for (let i = 0; i < n(1024); i++) { chunk.writeUInt32LE(i, 0); fs.writeSync(fd, chunk); }
      fs.closeSync(fd);
    }, HEAVY],
    [`commit_${n(100_000)}_files_4KiB_s`, (d) => writeFiles(d, n(100_000), Buffer.alloc(4096, 1)), HEAVY],
  ];
  for (const [name, fill, runs] of cases) {
    const floors: number[] = [];
    // the first container of the new image: Strata makes the layer dir it left for later then
    const firstRun = new Map<string, number[]>(engines.map((e) => [e.name, []]));
    const r = await paired(engines, runs, (e, i) => {
      const ctr = `sb-k${i}`;
      e.run(['run', '-d', '--name', ctr, 'busybox', ...SLEEPER]);
      const merged = e.run(['inspect', '-f', '{{.GraphDriver.Data.MergedDir}}', ctr]).trim();
      fill(path.join(merged, 'tmp'));
      if (e.name === 'strata') floors.push(copyFloor(path.join(merged, 'tmp')));
      spawnSync('sync');
      const ms = timed(e, ['commit', ctr, `sb-commit:${i}`]);
      const cpu = lastCpu;
      spawnSync('sync');
      firstRun.get(e.name)!.push(timed(e, ['run', '--rm', '--network', 'none', `sb-commit:${i}`, 'true']));
      lastCpu = cpu;
      e.run(['rm', '-f', ctr]);
      e.run(['rmi', `sb-commit:${i}`]);
      return ms;
    });
    const div = name.endsWith('_s') ? 1000 : 1;
    report(prev, name, r, 'container running; written from the host into its merged dir', div);
    const fr = (k: string): number | undefined => { const v = firstRun.get(k); return v && v.length ? median(v) / div : undefined; };
    printPair(prev, `${name.replace(/_(ms|s)$/, '')}_first_run_${name.endsWith('_s') ? 's' : 'ms'}`, fr('strata')!, fr('docker'), 'then `run --rm --network none IMAGE true`: Strata makes the layer dir there (commit keeps the tar)');
    printPair(prev, `${name.replace(/_(ms|s)$/, '')}_copy_floor_${name.endsWith('_s') ? 's' : 'ms'}`, median(floors) / div, undefined, 'GNU cp -a of the same change on the same disk: the data written once, no tar, no hash, no fsync');
  }
}

async function pull(engines: Engine[], prev: Map<string, Prev>, strataRoot: string, work: string): Promise<void> {
  if (!registryAvailable()) { console.log('# pull: docker-registry not installed, skipped'); return; }
  const reg = await startRegistry();
  try {
    const strata = engines.find((e) => e.name === 'strata')!;
    const ref = `${reg.addr}/bench/nginx:v1`;
    strata.run(['tag', 'nginx', ref]);
    strata.run(['push', '-q', ref]);
    strata.run(['rmi', ref]);
    const r = await paired(engines, HEAVY, (e) => {
      if (e.name === 'strata') {
        const fresh = fs.mkdtempSync(path.join(work, 'pull-'));
        spawnSync('sync');
        const ms = timed({ ...e, env: { ...e.env, STRATA_ROOT: fresh } }, ['pull', '-q', ref]);
        fs.rmSync(fresh, { recursive: true, force: true });
        return ms;
      }
      spawnSync('sync');
      const ms = timed(e, ['pull', '-q', ref]);
      e.run(['rmi', ref]);
      return ms;
    });
    const size = Number(strata.run(['image', 'inspect', '-f', '{{.Size}}', 'nginx']).trim());
    report(prev, 'pull_nginx_s', r, `gzip layers from a local docker-registry; image ${(size / 1e6).toFixed(0)} MB`, 1000);
  } finally {
    await reg.stop();
    void strataRoot;
  }
}

async function importTar(engines: Engine[], prev: Map<string, Prev>, work: string): Promise<void> {
  const tar = makeRootfsTar(work);
  const mb = fs.statSync(tar).size / 1e6;
  const floors: number[] = [];
  const firstUse: number[] = [];
  // each timed run (either engine's import, the floor) starts from the same state: settle()
  const r = await paired(engines, HEAVY, (e, i) => {
    settle(tar);
    if (e.name === 'strata') {
      const fresh = fs.mkdtempSync(path.join(work, 'import-'));
      const ms = timed({ ...e, env: { ...e.env, STRATA_ROOT: fresh } }, ['import', tar, 'big']);
      const cpu = lastCpu;
      spawnSync('sync');
      // the first use of the image (here an image-to-image diff): the layer dir import left for later
      firstUse.push(timed({ ...e, env: { ...e.env, STRATA_ROOT: fresh } }, ['diff', 'big', 'big']));
      lastCpu = cpu;
      fs.rmSync(fresh, { recursive: true, force: true });
      settle(tar);
      floors.push(floorWrite(tar, work));
      return ms;
    }
    const ms = timed(e, ['import', tar, `sb-big:${i}`]);
    e.run(['rmi', `sb-big:${i}`]);
    return ms;
  });
  // what creating the same files costs here, with no hashing and no blob: GNU tar -x
  const gnu = [0, 1, 2].map(() => {
    const dir = fs.mkdtempSync(path.join(work, 'gnutar-'));
    settle(tar);
    const t0 = process.hrtime.bigint();
    spawnSync('tar', ['-C', dir, '-xf', tar]);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    fs.rmSync(dir, { recursive: true, force: true });
    return ms;
  });
  report(prev, 'import_s', r, `${mb.toFixed(0)} MB rootfs tar; floor ${(median(floors) / 1000).toFixed(2)} s (sha256 + write + fsync), strata/floor ${(median(r.get('strata')!) / median(floors)).toFixed(2)}`, 1000);
  printPair(prev, 'import_floor_s', median(floors) / 1000, undefined, 'sha256 + write + fsync of the same tar');
  printPair(prev, 'import_first_use_s', median(firstUse) / 1000, undefined, 'the first use of the imported image (`diff big big`): its layer dir is made then');
  printPair(prev, 'gnu_tar_x_same_tar_s', median(gnu) / 1000, undefined, 'GNU tar -x of the same tar: file creation alone, no hash, no blob kept');
}

export async function runSide(): Promise<void> {
  const want = new Set((process.env.STRATA_BENCH_SIDE ?? 'light,lifecycle,commit,pull,import').split(','));
  const prev = previousFigures();
  const work = tmpRoot('side');
  const root = path.join(work, 'root');
  fs.mkdirSync(root);
  const strataEnv = benchEnv(root, { STRATA_CONFIG: path.join(work, 'strata.json'), DOCKER_CONFIG: path.join(work, 'docker-config') });
  const strata: Engine = { name: 'strata', env: strataEnv, cmd: STRATA, run: (a, i) => engineRun(STRATA, strataEnv, a, i) };
  let docker: DockerEngine | undefined;
  try {
    const base = '/var/cache/strata/base';
    const bb = fs.existsSync(path.join(base, 'busybox.tar')) ? path.join(base, 'busybox.tar') : makeBusyboxTar(work);
    strata.run(['import', '-c', 'CMD ["httpd","-f","-p","80","-h","/www"]', '-c', 'EXPOSE 80', bb, 'busybox']);
    if (fs.existsSync(path.join(base, 'nginx.tar'))) strata.run(['import', '-c', 'CMD ["nginx","-g","daemon off;"]', '-c', 'EXPOSE 80', path.join(base, 'nginx.tar'), 'nginx']);
    else want.delete('pull');
    strata.run(['run', '--rm', 'busybox', 'true']); // the bridge, warm caches
    const engines: Engine[] = [strata];
    docker = await startDocker();
    if (docker) {
      const d = docker;
      strata.run(['save', '-o', path.join(work, 'busybox-image.tar'), 'busybox']);
      d.run(['load', '-i', path.join(work, 'busybox-image.tar')]);
      engines.push({ name: 'docker', env: d.env, cmd: d.cli, run: (a, i) => d.run(a, i) });
      d.run(['run', '--rm', 'busybox', 'true']);
    }
    console.log('# name strata docker ratio  (prev strata docker ratio)  # cpu strata / docker   [wall medians; ratio = strata/docker; ms unless the name ends in _s; cpu: median CPU time of the engine\'s processes]');
    if (want.has('light')) await light(engines, prev);
    if (want.has('lifecycle')) await lifecycle(engines, prev);
    if (want.has('commit')) await commit(engines, prev);
    if (want.has('pull')) await pull(engines, prev, root, work);
    if (want.has('import')) await importTar(engines, prev, work);
  } finally {
    await docker?.stop();
    try { strata.run(['system', 'reset', '--force']); } catch { /* best effort */ }
    fs.rmSync(work, { recursive: true, force: true });
  }
}
