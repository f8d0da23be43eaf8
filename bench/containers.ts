/**
 * End-to-end container figures through the strata CLI (each a real process, as a user runs it):
 *   run_rm_true_ms             `strata run --rm busybox true`
 *   run_d_first_exec_ms        `run -d` then the first `exec true` returns
 *   run_d_p_to_http_ms         `run -d -p` busybox httpd to the first HTTP 200 on 127.0.0.1
 *   exec_true_ms               `exec true` in a running container
 *   stop_sigterm_ms            `stop` of a process that exits on SIGTERM
 *   rm_f_ms                    `rm -f` of a running container
 *   monitor_pss_kib / monitor_rss_kib   per running container (the only Strata process it needs)
 *   strata_total_pss_mib_20    all Strata processes with 20 running containers (monitors; no daemon)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';

import { median, printFigure, strataRun, strataTime, tmpRoot, type Figure } from './util.js';
import { makeBusyboxTar } from './fixtures.js';

const N = Number(process.env.BENCH_N ?? 10);

function smaps(pid: number): { pss: number; rss: number } {
  const txt = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(txt)?.[1] ?? 0);
  return { pss: kb('Pss'), rss: kb('Rss') };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

async function untilHttp(url: string, deadlineMs = 10000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    try { const r = await fetch(url); await r.text(); if (r.status === 200) return; } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`no answer from ${url}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function benchContainers(): Promise<Figure[]> {
  const figs: Figure[] = [];
  const root = tmpRoot('containers');
  try {
    strataRun(root, ['import', '-c', 'CMD ["httpd","-f","-p","80","-h","/www"]', '-c', 'EXPOSE 80', makeBusyboxTar(root), 'busybox']);
    strataRun(root, ['run', '--rm', 'busybox', 'true']); // warm caches, create the bridge
    figs.push({ name: 'run_rm_true_ms', value: median(Array.from({ length: N }, () => strataTime(root, ['run', '--rm', 'busybox', 'true']))), unit: 'ms' });

    const firstExec: number[] = [];
    const execs: number[] = [];
    const stops: number[] = [];
    const rms: number[] = [];
    const toHttp: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = process.hrtime.bigint();
      strataRun(root, ['run', '-d', '--name', `c${i}`, 'busybox', 'sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait']);
      strataRun(root, ['exec', `c${i}`, 'true']);
      firstExec.push(Number(process.hrtime.bigint() - t0) / 1e6);
      execs.push(strataTime(root, ['exec', `c${i}`, 'true']));
      stops.push(strataTime(root, ['stop', `c${i}`]));
      strataRun(root, ['start', `c${i}`]);
      rms.push(strataTime(root, ['rm', '-f', `c${i}`]));
      const port = await freePort();
      const t1 = process.hrtime.bigint();
      strataRun(root, ['run', '-d', '--name', `h${i}`, '-p', `127.0.0.1:${port}:80`, 'busybox']);
      await untilHttp(`http://127.0.0.1:${port}/`);
      toHttp.push(Number(process.hrtime.bigint() - t1) / 1e6);
      strataRun(root, ['rm', '-f', `h${i}`]);
    }
    figs.push({ name: 'run_d_first_exec_ms', value: median(firstExec), unit: 'ms' });
    figs.push({ name: 'run_d_p_to_http_ms', value: median(toHttp), unit: 'ms', docker: 402, note: 'docker figure: Docker 20.10 on a machine like this one (issue #3)' });
    figs.push({ name: 'exec_true_ms', value: median(execs), unit: 'ms', docker: 94, note: 'docker figure from issue #3' });
    figs.push({ name: 'stop_sigterm_ms', value: median(stops), unit: 'ms', docker: 225, note: 'docker figure from issue #3' });
    figs.push({ name: 'rm_f_ms', value: median(rms), unit: 'ms', docker: 173, note: 'docker figure from issue #3' });

    // memory: 20 running containers
    for (let i = 0; i < 20; i++) strataRun(root, ['run', '-d', '--name', `m${i}`, 'busybox']);
    const monitors = fs.readdirSync(path.join(root, 'containers')).map((id) => JSON.parse(fs.readFileSync(path.join(root, 'containers', id, 'state.json'), 'utf8')).monitorPid as number);
    const mem = monitors.map(smaps);
    figs.push({ name: 'monitor_pss_kib', value: median(mem.map((m) => m.pss)), unit: 'KiB', docker: 4.3 * 1024, note: 'docker: containerd-shim + proxies, 4.3 MiB PSS (issue #3)' });
    figs.push({ name: 'monitor_rss_kib', value: median(mem.map((m) => m.rss)), unit: 'KiB', docker: 19 * 1024 });
    figs.push({ name: 'strata_total_pss_mib_20', value: mem.reduce((a, m) => a + m.pss, 0) / 1024, unit: 'MiB', note: '20 running containers; Strata runs no daemon' });
  } finally {
    try { strataRun(root, ['system', 'reset', '--force']); } catch { /* best effort */ }
    fs.rmSync(root, { recursive: true, force: true });
  }
  return figs;
}

export async function runContainers(): Promise<void> {
  for (const f of await benchContainers()) printFigure(f);
}


