/**
 * kill -9 at random moments of volume removal: `volume rm`, `volume prune` (at least 20
 * kills each; `rm -v` is in kill-rm-volumes.test.ts). Afterwards a volume is
 * listed and usable (a container mounts it and sees its files) or gone; a gone volume's
 * name gives an empty volume when made again (never half of the old content); system
 * check finds no problem; the same command run again succeeds.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerRoot, strata, strataOk } from '../helpers.js';
import { Tally, faultSeed, fillVolume, prng, record, runAndKill, timeOf, usableVolume, volumes } from './helpers.js';

const KILLS = Number(process.env.STRATA_FAULT_KILLS ?? 20);

/** A gone volume's name, made again, is empty; its directory went with it. */
function goneForGood(r: string, name: string): string | undefined {
  strataOk(r, ['volume', 'create', name]);
  const data = strataOk(r, ['volume', 'inspect', '--format', '{{.Mountpoint}}', name]).trim();
  const left = fs.readdirSync(data);
  strataOk(r, ['volume', 'rm', name]);
  return left.length ? `made again, volume ${name} holds ${left.length} old entries` : undefined;
}

test('kill -9 during volume rm and volume prune', { timeout: 170_000 }, async (t) => {
  const rand = prng(faultSeed());
  const r = containerRoot(t);
  for (const op of ['volume rm', 'volume prune'] as const) {
    const tally = new Tally(op);
    const cmd = (name: string): string[] => (op === 'volume rm' ? ['volume', 'rm', name] : ['volume', 'prune', '-a', '-f']);
    // the shorter of two runs: a slow first one would let most later ones finish before their kill
    let ms = Infinity;
    for (const probe of ['probe1', 'probe2']) {
      strataOk(r, ['volume', 'create', probe]);
      fillVolume(r, probe);
      ms = Math.min(ms, await timeOf(r, cmd(probe)));
    }
    for (let round = 0; tally.kills < KILLS && round < KILLS * 3; round++) {
      const name = `vol${round}`;
      strataOk(r, ['volume', 'create', name]);
      fillVolume(r, name);
      const res = await runAndKill(r, cmd(name), rand() * ms * 1.1);
      if (res.killed) tally.kills++; else tally.finished++;
      const what = `${op} killed after ${res.ms.toFixed(0)} ms`;
      record(tally, r, what);
      const bad = volumes(r).includes(name) ? usableVolume(r, name) : goneForGood(r, name);
      if (bad) tally.problems.push(`${what}: ${bad}`);
      const again = strata(r, cmd(name));
      if (again.code !== 0 && !/no such volume/.test(again.stderr)) tally.problems.push(`${what}: ${op} again: ${again.stderr.trim()}`);
      if (volumes(r).includes(name)) tally.problems.push(`${what}: still listed after ${op} again`);
      const dirs = fs.readdirSync(path.join(r, 'volumes'));
      if (dirs.length) tally.problems.push(`${what}: left under volumes/: ${dirs.join(' ')}`);
    }
    record(tally, r, 'at the end');
    console.log(tally.line());
    assert.ok(tally.kills >= KILLS, tally.line());
    assert.deepEqual(tally.problems, []);
  }
});
