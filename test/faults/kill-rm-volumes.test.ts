/**
 * kill -9 at random moments of `rm -v` of a container with an anonymous volume (at least 20
 * kills): afterwards the container is gone or the same command removes it with its volume;
 * the volume is listed and usable or gone, never a directory under volumes/ that nothing
 * lists; a volume the container left dangling is removed by `volume prune`; system check
 * finds no problem.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerRoot, strata, strataOk } from '../helpers.js';
import { Tally, faultSeed, fillVolume, prng, record, runAndKill, timeOf, usableVolume, volumes } from './helpers.js';

const KILLS = Number(process.env.STRATA_FAULT_KILLS ?? 20);

test('kill -9 during rm -v of a container with an anonymous volume', { timeout: 170_000 }, async (t) => {
  const rand = prng(faultSeed());
  const r = containerRoot(t);
  const tally = new Tally('rm -v');
  const make = (name: string): string => {
    strataOk(r, ['run', '--name', name, '--network', 'none', '-v', '/data', 'busybox', 'true']);
    const vol = strataOk(r, ['inspect', '--format', '{{range .Mounts}}{{.Name}}{{end}}', name]).trim();
    fillVolume(r, vol);
    return vol;
  };
  // the shorter of two runs: a slow first one would let most later ones finish before their kill
  let ms = Infinity;
  for (const probe of ['probe1', 'probe2']) {
    make(probe);
    ms = Math.min(ms, await timeOf(r, ['rm', '-v', probe]));
  }
  let dangling = 0;
  for (let round = 0; tally.kills < KILLS && round < KILLS * 4; round++) {
    const name = `anon${round}`;
    const vol = make(name);
    const res = await runAndKill(r, ['rm', '-v', name], rand() * ms * 1.1);
    if (res.killed) tally.kills++; else tally.finished++;
    const what = `rm -v killed after ${res.ms.toFixed(0)} ms`;
    record(tally, r, what);
    const ctrListed = strataOk(r, ['ps', '-aq']).trim() !== '';
    const volListed = volumes(r).includes(vol);
    if (volListed) {
      const bad = usableVolume(r, vol);
      if (bad) tally.problems.push(`${what}: ${bad}`);
    }
    if (ctrListed) {
      // still there: the same command removes it and its volume
      const again = strata(r, ['rm', '-v', name]);
      if (again.code !== 0) tally.problems.push(`${what}: rm -v again: ${again.stderr.trim()}`);
      if (volumes(r).includes(vol)) tally.problems.push(`${what}: rm -v again left the anonymous volume`);
    } else if (volListed) {
      // the container went before its anonymous volume: a dangling volume, as Docker's, that prune removes
      dangling++;
      const prune = strata(r, ['volume', 'prune', '-f']);
      if (prune.code !== 0 || volumes(r).includes(vol)) tally.problems.push(`${what}: prune of the dangling volume: ${prune.stderr.trim()}`);
    }
    const dirs = fs.readdirSync(path.join(r, 'volumes'));
    if (dirs.length) tally.problems.push(`${what}: left under volumes/: ${dirs.join(' ')}`);
  }
  record(tally, r, 'at the end');
  console.log(`rm -v: ${dangling} kills left the anonymous volume dangling (volume prune removed it)`);
  console.log(tally.line());
  assert.ok(tally.kills >= KILLS, tally.line());
  assert.deepEqual(tally.problems, []);
});
