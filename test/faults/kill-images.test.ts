/**
 * kill -9 at random moments of `import` and `load` (at least 20 kills each):
 * afterwards system check finds no problem, an image is listed whole or not
 * at all, a listed image can be removed and runs, and the same command then
 * succeeds.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { busyboxTar, strata, strataOk } from '../helpers.js';
import { Tally, faultSeed, health, prng, runAndKill, timeOf } from './helpers.js';

const KILLS = Number(process.env.STRATA_FAULT_KILLS ?? 20);

function root(t: { after(fn: () => void): void }, prefix: string): string {
  const r = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => {
    strata(r, ['system', 'reset', '--force']);
    fs.rmSync(r, { recursive: true, force: true });
  });
  return r;
}

async function killLoop(r: string, tally: Tally, args: string[], ref: string, rand: () => number): Promise<void> {
  const ms = await timeOf(r, args);
  strataOk(r, ['rmi', ref]);
  for (let round = 0; tally.kills < KILLS && round < KILLS * 3; round++) {
    const res = await runAndKill(r, args, rand() * ms * 1.1);
    if (res.killed) tally.kills++; else tally.finished++;
    const h = health(r);
    tally.garbage += h.garbage;
    if (h.kinds.length) console.log(`leftovers: ${[...new Set(h.kinds)].join('; ')}`);
    tally.problems.push(...h.problems.map((p) => `after ${res.ms.toFixed(0)} ms: ${p}`));
    const listed = strataOk(r, ['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').includes(ref);
    if (listed) {
      // listed means whole: its config and layers are there, and it goes away cleanly
      const inspect = strata(r, ['image', 'inspect', ref]);
      if (inspect.code !== 0) tally.problems.push(`listed but not inspectable: ${inspect.stderr.trim()}`);
      const rmi = strata(r, ['rmi', ref]);
      if (rmi.code !== 0) tally.problems.push(`listed but not removable: ${rmi.stderr.trim()}`);
    }
    if (fs.readdirSync(path.join(r, 'tmp')).length > 0 && strata(r, ['images']).code === 0 && fs.readdirSync(path.join(r, 'tmp')).length > 0) {
      tally.problems.push(`tmp/ not swept: ${fs.readdirSync(path.join(r, 'tmp')).join(' ')}`);
    }
  }
  // the same command succeeds afterwards, and the image runs
  strataOk(r, args);
  assert.equal(strataOk(r, ['run', '--rm', '--network', 'none', ref, 'echo', 'runs']), 'runs\n');
  const h = health(r);
  tally.problems.push(...h.problems);
  console.log(tally.line());
  assert.ok(tally.kills >= KILLS, tally.line());
  assert.deepEqual(tally.problems, []);
}

test('kill -9 during import', async (t) => {
  const rand = prng(faultSeed());
  const r = root(t, 'strata-fault-import-');
  await killLoop(r, new Tally('import'), ['import', busyboxTar(), 'imp:latest'], 'imp:latest', rand);
});

test('kill -9 during load', async (t) => {
  const rand = prng(faultSeed());
  const src = root(t, 'strata-fault-load-src-');
  strataOk(src, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'loaded:1']);
  const archive = path.join(src, 'img.tar');
  strataOk(src, ['save', '-o', archive, 'loaded:1']);
  const r = root(t, 'strata-fault-load-');
  await killLoop(r, new Tally('load'), ['load', '-i', archive], 'loaded:1', rand);
});
