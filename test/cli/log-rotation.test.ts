/**
 * json-file rotation (`--log-opt max-size=…,max-file=…`) as Docker does it:
 * `<id>-json.log`, `.1`, `.2`…, the oldest dropped; `logs` reads across the
 * rotated files (whole, --tail, --follow through rotations).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { CLI, containerRoot, strata, strataOk } from '../helpers.js';

const PAD = 'x'.repeat(40);

function logFiles(root: string, id: string): string[] {
  return fs.readdirSync(path.join(root, 'containers', id)).filter((f) => f.startsWith(`${id}-json.log`)).sort();
}

/** The numbers of `line-N-…` lines, checked to be consecutive. */
function numbers(out: string): number[] {
  const ns = out.trim().split('\n').map((l) => Number(/^line-(\d+)-/.exec(l)?.[1] ?? NaN));
  for (let i = 1; i < ns.length; i++) assert.equal(ns[i], ns[i - 1]! + 1, `consecutive at ${i}: ${ns.slice(Math.max(0, i - 2), i + 2).join(',')}`);
  return ns;
}

test('max-size and max-file rotate the log; logs reads across the files', (t) => {
  const root = containerRoot(t);
  const id = strataOk(root, ['run', '--name', 'chatty', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=3', 'busybox',
    'sh', '-c', `i=0; while [ $i -lt 300 ]; do echo line-$i-${PAD}; i=$((i+1)); done`]).length;
  assert.ok(id > 0);
  const cid = strataOk(root, ['inspect', '--format', '{{.Id}}', 'chatty']).trim();
  assert.deepEqual(logFiles(root, cid), [`${cid}-json.log`, `${cid}-json.log.1`, `${cid}-json.log.2`]);
  for (const f of logFiles(root, cid)) {
    const size = fs.statSync(path.join(root, 'containers', cid, f)).size;
    assert.ok(size < 1000 + 200, `${f}: ${size} bytes, rotated once past 1000 (max-size=1k is 1000 bytes, as go-units reads it)`);
  }
  const all = numbers(strataOk(root, ['logs', 'chatty']));
  assert.equal(all[all.length - 1], 299);
  assert.ok(all.length > 15 && all.length < 40, `${all.length} lines kept in three files`);
  assert.deepEqual(numbers(strataOk(root, ['logs', '--tail', '5', 'chatty'])), [295, 296, 297, 298, 299]);
  const tailMany = numbers(strataOk(root, ['logs', '--tail', String(all.length - 2), 'chatty']));
  assert.deepEqual(tailMany, all.slice(2), 'a tail reaching into the rotated files');
  assert.deepEqual(numbers(strataOk(root, ['logs', '--tail', '1000', 'chatty'])), all);
  const cfg = JSON.parse(strataOk(root, ['inspect', '--format', '{{json .HostConfig.LogConfig}}', 'chatty']));
  assert.deepEqual(cfg, { Type: 'json-file', Config: { 'max-size': '1k', 'max-file': '3' } });

  // max-file defaults to 1: one file, started afresh
  strataOk(root, ['run', '--name', 'single', '--log-opt', 'max-size=2k', 'busybox', 'sh', '-c', `i=0; while [ $i -lt 300 ]; do echo line-$i-${PAD}; i=$((i+1)); done`]);
  const sid = strataOk(root, ['inspect', '--format', '{{.Id}}', 'single']).trim();
  assert.deepEqual(logFiles(root, sid), [`${sid}-json.log`]);
  const one = numbers(strataOk(root, ['logs', 'single']));
  assert.equal(one[one.length - 1], 299);
  assert.ok(one.length < 50);
  // without options nothing rotates
  strataOk(root, ['run', '--name', 'plain', 'busybox', 'sh', '-c', `i=0; while [ $i -lt 300 ]; do echo line-$i-${PAD}; i=$((i+1)); done`]);
  assert.equal(numbers(strataOk(root, ['logs', 'plain'])).length, 300);
});

test('logs --follow goes on across rotations', async (t) => {
  const root = containerRoot(t);
  strataOk(root, ['run', '-d', '--name', 'slow', '--log-opt', 'max-size=600', '--log-opt', 'max-file=20', 'busybox',
    'sh', '-c', `sleep 1; i=0; while [ $i -lt 120 ]; do echo line-$i-${PAD}; i=$((i+1)); sleep 0.01; done`]);
  const child = spawn(process.execPath, [CLI, 'logs', '-f', 'slow'], { env: { ...process.env, STRATA_ROOT: root } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 0);
  const ns = numbers(out);
  assert.deepEqual([ns[0], ns[ns.length - 1], ns.length], [0, 119, 120], 'every line once, in order');
  const cid = strataOk(root, ['inspect', '--format', '{{.Id}}', 'slow']).trim();
  assert.ok(logFiles(root, cid).length > 5);
});

test('bad log options: Docker\'s messages, exit 125', (t) => {
  const root = containerRoot(t);
  for (const [args, re] of [
    [['--log-opt', 'max-file=0', '--log-opt', 'max-size=1m'], /max-file cannot be less than 1/],
    [['--log-opt', 'max-size=-1'], /max-size must be a positive number|invalid size/],
    [['--log-opt', 'max-size=abc'], /invalid size: 'abc'/],
    [['--log-opt', 'colour=red'], /unknown log opt 'colour' for json-file log driver/],
    [['--log-opt', 'novalue'], /invalid key\/value pair format in logging opts: novalue/],
    [['--log-driver', 'syslogd'], /no log driver named 'syslogd' is registered/],
  ] as const) {
    const r = strata(root, ['run', '--rm', ...args, 'busybox', 'true']);
    assert.equal(r.code, 125, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
  assert.equal(strataOk(root, ['ps', '-aq']), '');
});
