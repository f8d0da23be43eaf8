/**
 * A short run of the API load driver (bench/api-load.ts, which `npm run bench` runs at 100
 * clients × 30 s): 20 clients × 5 s against `strata serve`. No answer other than 404/409
 * fails, the server holds no more file descriptors afterwards than before, and nothing of
 * the containers it ran is left on the host. (Timings are reported, never asserted.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { containerRoot } from '../helpers.js';
import { processUsage, runLoad, settledUsage, startServer } from '../../bench/api-load.js';
import { hostState } from './reboot-sim.js';

function getJson(sock: string, p: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: sock, path: p }, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve(JSON.parse(b)));
    }).on('error', reject);
  });
}

test('20 API clients for 5 s: no unexpected error, no fd leak, nothing left', { timeout: 170_000 }, async (t) => {
  const root = containerRoot(t);
  const server = await startServer(root);
  t.after(() => server.stop());
  const pid = server.proc.pid!;
  const cold = processUsage(pid);
  await runLoad({ sock: server.sock, clients: 5, durationMs: 1500, image: 'busybox', prefix: 'warm-' });
  const before = await settledUsage(pid, 2000);
  const r = await runLoad({ sock: server.sock, clients: 20, durationMs: 5000, image: 'busybox' });
  const after = await settledUsage(pid, 2000);
  t.diagnostic(`${r.requests} requests, ${r.cycles} cycles, ${r.expected} 404/409, p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms; RSS ${(cold.rssKiB / 1024).toFixed(1)} → ${(before.rssKiB / 1024).toFixed(1)} → ${(after.rssKiB / 1024).toFixed(1)} MiB; fds ${cold.fds} → ${before.fds} → ${after.fds}`);
  assert.equal(r.errors, 0, r.samples.join('\n'));
  assert.ok(r.requests > 20 && r.cycles > 0, `the load ran: ${r.requests} requests, ${r.cycles} cycles`);
  assert.ok(after.fds <= before.fds, `fds ${before.fds} → ${after.fds}: ${listFds(pid)}`);
  assert.deepEqual(await getJson(server.sock, '/containers/json?all=1'), []);
  await server.stop();
  assert.deepEqual(hostState(root, []), { netns: [], bridgePorts: [], rules: [], mounts: [], runtime: [] });
});

function listFds(pid: number): string {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).map((f) => { try { return fs.readlinkSync(`/proc/${pid}/fd/${f}`); } catch { return '?'; } }).join(' ');
  } catch { return ''; }
}
