/**
 * Name resolution servers on a scratch bridge (10.254.N.1/24, removed afterwards):
 *   aardvark_start_ms / dnsmasq_start_ms       process start until the first answer
 *   aardvark_update_ms / dnsmasq_update_ms     new record written + SIGHUP until it is answered
 *                                              (queries time out after 20 ms: an unknown name is forwarded upstream)
 *   aardvark_query_us / dnsmasq_query_us       one A query over UDP (median of 2,000, from the host)
 *   aardvark_rss_kib / dnsmasq_rss_kib         resident memory of the server
 * aardvark-dns is what Strata runs (one per root); dnsmasq is what the CNI dnsname plugin runs
 * (one per network). Both must be installed (`aardvark-dns`, `dnsmasq-base`).
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { Aardvark, findAardvark } from '../src/network/index.js';
import { median, printFigure } from './util.js';

const DNSMASQ = '/usr/sbin/dnsmasq';

function query(server: string, name: string, timeoutMs = 1000): Promise<number> {
  const id = Math.floor(Math.random() * 65535);
  const q = Buffer.concat([
    Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...name.split('.').map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); reject(new Error('timeout')); }, timeoutMs);
    s.once('message', (m) => { clearTimeout(t); s.close(); resolve(m.readUInt16BE(6)); });
    s.once('error', (e) => { clearTimeout(t); s.close(); reject(e); });
    s.send(q, 53, server);
  });
}

async function until(fn: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    try { if (await fn()) return; } catch { /* not yet */ }
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('no answer');
}

async function queryFigure(server: string): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = process.hrtime.bigint();
    await query(server, 'web');
    xs.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return median(xs);
}

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

export async function runDns(): Promise<void> {
  const bin = findAardvark();
  if (!bin || !fs.existsSync(DNSMASQ)) { console.log('# skipped: aardvark-dns or dnsmasq missing'); return; }
  const third = 1 + (process.pid % 250);
  const gw = `10.254.${third}.1`;
  const br = `stbench${third}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-dns-bench-'));
  execFileSync('ip', ['link', 'add', br, 'type', 'bridge']);
  try {
    execFileSync('ip', ['addr', 'add', `${gw}/24`, 'dev', br]);
    execFileSync('ip', ['link', 'set', br, 'up']);
    const records = [{ id: 'a'.repeat(64), ipv4: [`10.254.${third}.5`], names: ['web'] }, { id: 'b'.repeat(64), ipv4: [`10.254.${third}.6`], names: ['web'] }];
    // aardvark-dns through Strata's own driver code
    const a = new Aardvark(path.join(dir, 'aardvark'), bin);
    let t = process.hrtime.bigint();
    await a.sync([{ name: 'bench', gateway: gw, records }]);
    await until(async () => (await query(gw, 'web')) === 2);
    printFigure({ name: 'aardvark_start_ms', value: Number(process.hrtime.bigint() - t) / 1e6, unit: 'ms' });
    t = process.hrtime.bigint();
    await a.sync([{ name: 'bench', gateway: gw, records: [...records, { id: 'c'.repeat(64), ipv4: [`10.254.${third}.7`], names: ['probe'] }] }]);
    await until(async () => (await query(gw, 'probe', 20)) === 1);
    printFigure({ name: 'aardvark_update_ms', value: Number(process.hrtime.bigint() - t) / 1e6, unit: 'ms' });
    printFigure({ name: 'aardvark_query_us', value: await queryFigure(gw), unit: 'us' });
    printFigure({ name: 'aardvark_rss_kib', value: rss(a.pid()!), unit: 'KiB' });
    await a.stop();

    // dnsmasq as the dnsname plugin runs it: a hosts file per network, SIGHUP to reload
    const hosts = path.join(dir, 'hosts');
    fs.writeFileSync(hosts, `10.254.${third}.5 web\n10.254.${third}.6 web\n`);
    const pidFile = path.join(dir, 'dnsmasq.pid');
    t = process.hrtime.bigint();
    spawnSync(DNSMASQ, ['-u', 'root', '--conf-file=/dev/null', `--pid-file=${pidFile}`, '--no-hosts', `--addn-hosts=${hosts}`, `--listen-address=${gw}`, '--bind-interfaces', '--no-resolv']);
    await until(async () => (await query(gw, 'web')) === 2);
    printFigure({ name: 'dnsmasq_start_ms', value: Number(process.hrtime.bigint() - t) / 1e6, unit: 'ms' });
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    try {
      t = process.hrtime.bigint();
      fs.appendFileSync(hosts, `10.254.${third}.7 probe\n`);
      process.kill(pid, 'SIGHUP');
      await until(async () => (await query(gw, 'probe', 20)) === 1);
      printFigure({ name: 'dnsmasq_update_ms', value: Number(process.hrtime.bigint() - t) / 1e6, unit: 'ms' });
      printFigure({ name: 'dnsmasq_query_us', value: await queryFigure(gw), unit: 'us' });
      printFigure({ name: 'dnsmasq_rss_kib', value: rss(pid), unit: 'KiB' });
    } finally {
      process.kill(pid, 'SIGTERM');
    }
  } finally {
    execFileSync('ip', ['link', 'del', br]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
