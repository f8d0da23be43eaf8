/**
 * Load on the Engine API: N concurrent clients for a fixed time against `strata serve` on a
 * unix socket (loopback only, bounded: each client has one request in flight and at most one
 * container of its own), mixing `GET /containers/json`, `GET /images/json`, container
 * inspect and create/start/stop/rm cycles. Counts requests and errors (404/409 are expected:
 * a container another client removed meanwhile), latency percentiles, and the server's RSS and
 * open file descriptors before and after.
 *
 * `npm run bench` (section `apiload`): 100 clients × 30 s. Alone:
 *   node dist/bench/api-load.js [clients] [seconds]
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CLI, benchEnv, printFigure, strataRun, tmpRoot, type Figure } from './util.js';

export interface LoadOptions {
  sock: string;
  clients: number;
  durationMs: number;
  /** Image of the created containers (must exist in the store). */
  image: string;
  /** Prefix of the created containers' names (each client's are `<prefix><client>-<n>`). */
  prefix?: string;
}

export interface LoadResult {
  requests: number;
  /** 404/409 answers: the resource went away or changed state under another client. */
  expected: number;
  /** Everything else that is not a 2xx/304, plus transport errors. */
  errors: number;
  /** The first few unexpected answers, for the report. */
  samples: string[];
  p50: number;
  p99: number;
  max: number;
  /** Per kind of request: count and p50/p99 in ms. */
  kinds: Record<string, { n: number; p50: number; p99: number }>;
  cycles: number;
  seconds: number;
}

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function request(agent: http.Agent, sock: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({ socketPath: sock, agent, method, path: p, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.setTimeout(120_000, () => req.destroy(new Error(`${method} ${p}: no answer in 120 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** Run the load; resolves when every client has finished its last request (and removed its container). */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.clients });
  const prefix = o.prefix ?? 'load-';
  const lat = new Map<string, number[]>();
  const res: LoadResult = { requests: 0, expected: 0, errors: 0, samples: [], p50: 0, p99: 0, max: 0, kinds: {}, cycles: 0, seconds: 0 };
  const known: string[] = [];
  const end = Date.now() + o.durationMs;
  const call = async (kind: string, method: string, p: string, ok: number[], body?: unknown) => {
    const t0 = process.hrtime.bigint();
    let r: { status: number; body: string };
    try {
      r = await request(agent, o.sock, method, p, body);
    } catch (e) {
      r = { status: 0, body: (e as Error).message };
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    res.requests++;
    (lat.get(kind) ?? lat.set(kind, []).get(kind)!).push(ms);
    if (ok.includes(r.status)) return r;
    if (r.status === 404 || r.status === 409) res.expected++;
    else {
      res.errors++;
      if (res.samples.length < 10) res.samples.push(`${method} ${p} → ${r.status} ${r.body.trim().slice(0, 200)}`);
    }
    return r;
  };
  const client = async (id: number) => {
    let n = 0;
    while (Date.now() < end) {
      const dice = (id * 7 + n) % 10;
      n++;
      if (dice < 3) {
        await call('containers_json', 'GET', '/v1.41/containers/json?all=1', [200]);
      } else if (dice < 5) {
        await call('images_json', 'GET', '/v1.41/images/json', [200]);
      } else if (dice < 7) {
        const target = known[(id + n) % Math.max(1, known.length)];
        await call('inspect', 'GET', `/v1.41/containers/${target ?? 'nonexistent'}/json`, [200]);
      } else {
        const name = `${prefix}${id}-${n}`;
        const c = await call('create', 'POST', `/v1.41/containers/create?name=${name}`, [201], { Image: o.image, Cmd: ['sleep', '300'] });
        if (c.status !== 201) continue;
        known.push(name);
        await call('start', 'POST', `/v1.41/containers/${name}/start`, [204, 304]);
        await call('stop', 'POST', `/v1.41/containers/${name}/stop?t=0`, [204, 304]);
        await call('rm', 'DELETE', `/v1.41/containers/${name}?force=1`, [204]);
        known.splice(known.indexOf(name), 1);
        res.cycles++;
      }
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: o.clients }, (_, i) => client(i)));
  res.seconds = (Date.now() - t0) / 1000;
  agent.destroy();
  const all: number[] = [];
  for (const [k, xs] of lat) {
    xs.sort((a, b) => a - b);
    all.push(...xs);
    res.kinds[k] = { n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99) };
  }
  all.sort((a, b) => a - b);
  res.p50 = pct(all, 50);
  res.p99 = pct(all, 99);
  res.max = all[all.length - 1] ?? 0;
  return res;
}

/** RSS (KiB) and open file descriptors of a process. */
export function processUsage(pid: number): { rssKiB: number; fds: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  return { rssKiB, fds: fs.readdirSync(`/proc/${pid}/fd`).length };
}

/** `strata serve` on `<root>/api.sock` (the root must hold `busybox`). */
export async function startServer(root: string): Promise<{ proc: ChildProcess; sock: string; stop(): Promise<void> }> {
  const sock = path.join(root, 'api.sock');
  const proc = spawn(process.execPath, [CLI, 'serve', '-H', `unix://${sock}`], { env: benchEnv(root), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 300 && !/listening on/.test(err) && proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  if (!/listening on/.test(err)) { proc.kill('SIGKILL'); throw new Error(`strata serve did not start: ${err}`); }
  return {
    proc, sock,
    stop: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      proc.once('exit', () => { clearTimeout(t); resolve(); });
      proc.kill('SIGTERM');
    }),
  };
}

/** Let the server finish what the clients left (background clean-up), then sample it. */
export async function settledUsage(pid: number, ms = 3000): Promise<{ rssKiB: number; fds: number }> {
  await new Promise((r) => setTimeout(r, ms));
  return processUsage(pid);
}

export async function benchApiLoad(clients = 100, seconds = 30): Promise<Figure[]> {
  const root = tmpRoot('apiload');
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const { busyboxTar } = await import('../test/helpers.js');
    strataRun(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
    server = await startServer(root);
    const pid = server.proc.pid!;
    const cold = processUsage(pid);
    // a short warm-up, so that "before" is the server as it runs, not as it starts
    await runLoad({ sock: server.sock, clients: 10, durationMs: 3000, image: 'busybox', prefix: 'warm-' });
    const before = await settledUsage(pid);
    const r = await runLoad({ sock: server.sock, clients, durationMs: seconds * 1000, image: 'busybox' });
    const after = await settledUsage(pid);
    // the same load again: memory that keeps growing run after run is a leak, a plateau is the heap's size
    const again = await runLoad({ sock: server.sock, clients, durationMs: seconds * 1000, image: 'busybox', prefix: 'again-' });
    const after2 = await settledUsage(pid);
    const left = JSON.parse(await new Promise<string>((resolve, reject) => {
      http.get({ socketPath: server!.sock, path: '/containers/json?all=1' }, (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve(b));
      }).on('error', reject);
    })) as unknown[];
    const note = `${clients} clients × ${seconds} s`;
    const figs: Figure[] = [
      { name: 'apiload_requests', value: r.requests, unit: 'requests', note: `${note}, ${(r.requests / r.seconds).toFixed(0)} req/s, ${r.cycles} create/start/stop/rm cycles` },
      { name: 'apiload_unexpected_errors', value: r.errors + again.errors, unit: 'errors', note: [...r.samples, ...again.samples].join(' | ') || 'none' },
      { name: 'apiload_expected_404_409', value: r.expected, unit: 'answers', note: 'container removed or changed by another client' },
      { name: 'apiload_p50', value: r.p50, unit: 'ms', note: Object.entries(r.kinds).map(([k, v]) => `${k} ${v.p50.toFixed(0)}`).join(', ') },
      { name: 'apiload_p99', value: r.p99, unit: 'ms', note: `${Object.entries(r.kinds).map(([k, v]) => `${k} ${v.p99.toFixed(0)}`).join(', ')}; max ${r.max.toFixed(0)}` },
      { name: 'apiload_server_rss_before', value: before.rssKiB / 1024, unit: 'MiB', note: `at start ${(cold.rssKiB / 1024).toFixed(1)} MiB; after a 10-client warm-up` },
      { name: 'apiload_server_rss_after', value: after.rssKiB / 1024, unit: 'MiB', note: '3 s after the last request' },
      { name: 'apiload_server_rss_after_second_run', value: after2.rssKiB / 1024, unit: 'MiB', note: `the same load again: ${again.requests} requests, ${again.errors} unexpected errors, p50 ${again.p50.toFixed(0)} ms, p99 ${again.p99.toFixed(0)} ms` },
      { name: 'apiload_server_fds_before', value: before.fds, unit: 'fds', note: `at start ${cold.fds}` },
      { name: 'apiload_server_fds_after', value: after.fds, unit: 'fds', note: `after the second run ${after2.fds}; ${left.length} containers left` },
    ];
    return figs;
  } finally {
    await server?.stop();
    try { strataRun(root, ['system', 'reset', '--force']); } catch { /* best effort */ }
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export async function runApiLoad(): Promise<void> {
  for (const f of await benchApiLoad(Number(process.env.STRATA_APILOAD_CLIENTS) || 100, Number(process.env.STRATA_APILOAD_SECONDS) || 30)) printFigure(f);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [clients, seconds] = process.argv.slice(2).map(Number);
  for (const f of await benchApiLoad(clients || 100, seconds || 30)) printFigure(f);
}
