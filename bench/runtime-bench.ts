/**
 * Runtime benchmarks. Prints `name value unit` lines:
 *   runtime_overlay_mount_ms     median mountOverlay of one busybox layer + unmount
 *   runtime_runc_run_ms          median plain `runc run` of `true` (bundle ready), for reference
 *   runtime_run_foreground_ms    median foreground run of `true` through the monitor (create, attach, start, exit file)
 *   runtime_start_detached_ms    median startMonitor until a detached `sleep` runs
 *   runtime_exec_ms              median execInContainer(`true`) in a running container
 *   runtime_monitor_rss_kb / runtime_monitor_pss_kb   one monitor with a running container (smaps_rollup)
 * Env: BENCH_N (runs per figure, default 10).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Fixture, ensureMonitorBuilt } from '../test/runtime/fixture.js';
import { mountOverlay, unmount } from '../src/snapshot/index.js';
import { runForeground, startMonitor, waitExit, execInContainer } from '../src/runtime/index.js';
import { median } from './util.js';

const N = Number(process.env.BENCH_N ?? 10);

const line = (name: string, value: number, unit: string) => console.log(`${name} ${Number(value.toFixed(2))} ${unit}`);
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export async function runRuntime(): Promise<void> {
  ensureMonitorBuilt();
  const fx = new Fixture();
  try {
    const mounts: number[] = [];
    for (let i = 0; i < N; i++) {
      const target = path.join(fx.root, 'bench-mount', String(i));
      const t0 = process.hrtime.bigint();
      await mountOverlay({ lowerDirs: [fx.lower], upperDir: `${target}-u`, workDir: `${target}-w`, target, linkDir: path.join(fx.root, 'l') });
      await unmount(target);
      mounts.push(ms(t0));
    }
    line('runtime_overlay_mount_ms', median(mounts), 'ms');

    const direct: number[] = [];
    for (let i = 0; i < N; i++) {
      const c = await fx.container();
      c.writeSpec({ args: ['true'] });
      const t0 = process.hrtime.bigint();
      const r = spawnSync(fx.runc.binary, [...fx.runc.globalArgs(), 'run', '--bundle', c.dir, c.id], { stdio: 'ignore' });
      direct.push(ms(t0));
      if (r.status !== 0) throw new Error('runc run failed');
      await fx.runc.delete(c.id, { force: true });
    }
    line('runtime_runc_run_ms', median(direct), 'ms');

    const fg: number[] = [];
    for (let i = 0; i < N; i++) {
      const c = await fx.container();
      c.writeSpec({ args: ['true'] });
      const t0 = process.hrtime.bigint();
      const exit = await runForeground({ ...c.paths, id: c.id, runtime: fx.runc });
      fg.push(ms(t0));
      if (exit.exitCode !== 0) throw new Error('run failed');
    }
    line('runtime_run_foreground_ms', median(fg), 'ms');

    const starts: number[] = [];
    const running: { id: string; exitFile: string; monitorPid: number }[] = [];
    for (let i = 0; i < N; i++) {
      const c = await fx.container();
      c.writeSpec({ args: ['sleep', '1000'] });
      const t0 = process.hrtime.bigint();
      const s = await startMonitor({ ...c.paths, id: c.id, runtime: fx.runc });
      starts.push(ms(t0));
      running.push({ id: c.id, exitFile: c.paths.exitFile, monitorPid: s.monitorPid });
    }
    line('runtime_start_detached_ms', median(starts), 'ms');

    const execs: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = process.hrtime.bigint();
      const h = await execInContainer(fx.runc, running[0]!.id, { args: ['true'] });
      if ((await h.wait()) !== 0) throw new Error('exec failed');
      execs.push(ms(t0));
    }
    line('runtime_exec_ms', median(execs), 'ms');

    const rollup = fs.readFileSync(`/proc/${running[0]!.monitorPid}/smaps_rollup`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(rollup)![1]);
    line('runtime_monitor_rss_kb', kb('Rss'), 'kB');
    line('runtime_monitor_pss_kb', kb('Pss'), 'kB');

    for (const r of running) {
      await fx.runc.kill(r.id, 'KILL');
      await waitExit(r.exitFile, { monitorPid: r.monitorPid });
    }
  } finally {
    await fx.cleanup();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runRuntime();
