/**
 * Network benchmarks. Prints `name value unit` lines:
 *   network_attach_ms          median CNI setup of one container (netns, lo, bridge+IPAM, portmap, firewall)
 *   network_detach_ms          median teardown (CNI DEL, netns delete)
 *   network_attach_port_ms     the same setup with one published port (adds port checks and DNAT)
 *   network_setup_teardown_ms  median of attach + detach
 *   network_http_rps           wrk -t2 -c50 -d5s through a published port on 127.0.0.1
 *   network_http_direct_rps    the same against the container address (no DNAT), for comparison
 * Env: BENCH_N (containers per figure, default 20), BENCH_WRK_SECONDS (default 5).
 * Traffic goes only to 127.0.0.1 and to the address of a container on the network made here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { NetworkManager, parsePublish } from '../src/network/index.js';
import { median } from './util.js';

const N = Number(process.env.BENCH_N ?? 20);
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 5);


const id = () => randomBytes(32).toString('hex');
const line = (name: string, value: number, unit: string) => console.log(`${name} ${Number(value.toFixed(2))} ${unit}`);

function get(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 500, agent: false }, (res) => { res.resume(); res.on('end', () => resolve()); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitHttp(url: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try { await get(url); return; } catch (e) { if (Date.now() > deadline) throw e; }
    await new Promise((r) => setTimeout(r, 25));
  }
}

function wrk(url: string): number {
  const r = spawnSync('wrk', ['-t2', '-c50', `-d${WRK_SECONDS}s`, url], { encoding: 'utf8', timeout: (WRK_SECONDS + 30) * 1000 });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout ?? '');
  if (!m) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  return Number(m[1]);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-netbench-'));
  const nm = new NetworkManager(path.join(dir, 'network'), { rootTag: `b${randomBytes(2).toString('hex')}` });
  let httpd: ChildProcess | undefined;
  try {
    await nm.ensureDefault();
    // Warm-up (page cache of the plugin binaries).
    const w = id();
    await nm.attach(w, ['bridge'], []);
    await nm.detach(w);

    const attach: number[] = [];
    const detach: number[] = [];
    const both: number[] = [];
    for (let i = 0; i < N; i++) {
      const c = id();
      const t0 = performance.now();
      await nm.attach(c, ['bridge'], []);
      const t1 = performance.now();
      await nm.detach(c);
      const t2 = performance.now();
      attach.push(t1 - t0);
      detach.push(t2 - t1);
      both.push(t2 - t0);
    }
    const withPort: number[] = [];
    for (let i = 0; i < N; i++) {
      const c = id();
      const t0 = performance.now();
      await nm.attach(c, ['bridge'], parsePublish('80'));
      withPort.push(performance.now() - t0);
      await nm.detach(c);
    }
    line('network_attach_ms', median(attach), 'ms');
    line('network_detach_ms', median(detach), 'ms');
    line('network_attach_port_ms', median(withPort), 'ms');
    line('network_setup_teardown_ms', median(both), 'ms');

    const www = path.join(dir, 'www');
    fs.mkdirSync(www);
    fs.writeFileSync(path.join(www, 'index.html'), '<html><body>strata network bench</body></html>\n');
    const c = id();
    const att = await nm.attach(c, ['bridge'], parsePublish('80'));
    httpd = spawn('ip', ['netns', 'exec', att.netnsName, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' });
    const ip = att.endpoints[0]!.ipAddress;
    const port = att.ports[0]!.hostPort;
    await waitHttp(`http://${ip}:80/`);
    line('network_http_rps', wrk(`http://127.0.0.1:${port}/`), 'req/s');
    line('network_http_direct_rps', wrk(`http://${ip}:80/`), 'req/s');
    httpd.kill('SIGKILL');
    await nm.detach(c);
  } finally {
    if (httpd && httpd.exitCode === null) httpd.kill('SIGKILL');
    await nm.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
