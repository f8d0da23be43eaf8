import { spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// the CLI entry the tests run
import { CLI } from '../test/helpers.js';
export { CLI };

/** Environment for timing Node: NODE_EXTRA_CA_CERTS makes every start ~80 ms slower. */
export function benchEnv(root: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, STRATA_ROOT: root, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

export function timeCmd(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: Buffer } = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: opts.env, input: opts.input, stdio: [opts.input ? 'pipe' : 'ignore', 'ignore', 'pipe'], maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr?.toString()}`);
  return ms;
}

/** The command users run (`npm link` puts it on PATH): timed as they start it. */
export const BIN = path.join(PROJECT, 'bin', 'strata');

export function strataTime(root: string, args: string[], extra: Record<string, string> = {}): number {
  return timeCmd(BIN, args, { env: benchEnv(root, extra) });
}

export function strataRun(root: string, args: string[]): string {
  return execFileSync(process.execPath, [CLI, ...args], { env: benchEnv(root), maxBuffer: 1 << 30 }).toString();
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The same starting state for each timed run of a heavy workload, whichever engine ran before:
 * dirty pages written (sync), the page cache dropped (what the last run left in it, up to a GB
 * of layers, made the next run's allocations slower here: a 246 MB import took 0.53-0.62 s after
 * Strata's own run and 0.84-1.04 s after Docker's), then `warm` read back so that the input
 * itself is cached, as a file just made or downloaded is. Without root, sync alone.
 *
 * On a VM whose balloon reports free pages to the host (freeReportingVm), the memory freed here
 * goes back to the host ~2 s later, and from then on each page of it costs a fault on the host
 * when it is used again. A run started before that and one started after see different machines
 * (a C program's write of a 246 MB file into the page cache here: 41-91 ms within the 2 s, 190-201
 * ms after). So settle() waits that out: every timed run, and every floor, starts once the
 * freed memory is back with the host.
 */
export function settle(warm?: string): void {
  dropCaches();
  try { fs.writeFileSync('/proc/sys/vm/drop_caches', '1'); } catch { /* not root */ }
  if (warm) {
    const fd = fs.openSync(warm, 'r');
    const buf = Buffer.allocUnsafe(1 << 20);
    try { while (fs.readSync(fd, buf, 0, buf.length, null) > 0) { /* into the page cache */ } } finally { fs.closeSync(fd); }
  }
  if (freeReportingVm()) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, REPORTING_WAIT_MS);
}

/** Linux reports free pages 2 s after they are freed (mm/page_reporting.c's delay); a margin on top. */
const REPORTING_WAIT_MS = 3000;

let reporting: boolean | undefined;
/** A virtio balloon (device 5) that negotiated free page reporting (feature bit 5). */
export function freeReportingVm(): boolean {
  if (reporting !== undefined) return reporting;
  reporting = false;
  const dir = '/sys/bus/virtio/devices';
  try {
    for (const d of fs.readdirSync(dir)) {
      const dev = fs.readFileSync(path.join(dir, d, 'device'), 'utf8').trim();
      const features = fs.readFileSync(path.join(dir, d, 'features'), 'utf8');
      if (dev === '0x0005' && features[5] === '1') reporting = true;
    }
  } catch { /* not a virtio guest */ }
  return reporting;
}

export function dropCaches(): void {
  try { execFileSync('sync'); } catch { /* best effort */ }
}

export interface Figure { name: string; value: number; unit: string; floor?: number; docker?: number; note?: string; }

export function printFigure(f: Figure): void {
  const v = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
  let line = `${f.name} ${v(f.value)} ${f.unit}`;
  if (f.floor !== undefined) line += `  (floor ${v(f.floor)} ${f.unit})`;
  if (f.docker !== undefined) line += `  (docker ${v(f.docker)} ${f.unit})`;
  if (f.note) line += `  # ${f.note}`;
  console.log(line);
}

export function dockerAvailable(): boolean {
  try { execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }); return true; } catch { return false; }
}

export function tmpRoot(name: string): string {
  const base = process.env.STRATA_BENCH_DIR || '/var/tmp/strata-bench';
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, `${name}-`));
}
