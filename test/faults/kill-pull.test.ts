/**
 * kill -9 at random moments of `pull` from a local docker-registry (at least 20 kills):
 * afterwards system check finds no problem, the image is listed whole (it runs) or not at
 * all, tmp/ is swept by the next command, and the same pull then succeeds.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerRoot, strata, strataOk } from '../helpers.js';
import { clientEnv, registryAvailable, startRegistry, tmp } from '../registry/helpers.js';
import { Tally, faultSeed, health, prng, runAndKill, seedImage, timeOf } from './helpers.js';

const KILLS = Number(process.env.STRATA_FAULT_KILLS ?? 20);
const skip = registryAvailable() ? false : 'docker-registry is not installed';

test('kill -9 during pull', { skip, timeout: 170_000 }, async (t) => {
  const rand = prng(faultSeed());
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const work = tmp('strata-fault-pull-');
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const env = clientEnv(work);
  const ref = `${reg.addr}/team/app:v1`;
  await seedImage(t, ref, env);

  const r = containerRoot(t);
  const tally = new Tally('pull');
  const listed = (): boolean => strataOk(r, ['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').includes(ref);
  const ms = await timeOf(r, ['pull', '-q', ref]);
  strataOk(r, ['rmi', ref]);
  for (let round = 0; tally.kills < KILLS && round < KILLS * 3; round++) {
    const res = await runAndKill(r, ['pull', '-q', ref], rand() * ms * 1.1, env);
    if (res.killed) tally.kills++; else tally.finished++;
    const what = `pull killed after ${res.ms.toFixed(0)} ms`;
    const h = health(r);
    tally.garbage += h.garbage;
    if (h.kinds.length) console.log(`leftovers: ${[...new Set(h.kinds)].join('; ')}`);
    tally.problems.push(...h.problems.map((p) => `${what}: ${p}`));
    if (fs.readdirSync(path.join(r, 'tmp')).length > 0) tally.problems.push(`${what}: tmp/ not swept: ${fs.readdirSync(path.join(r, 'tmp')).join(' ')}`);
    if (listed()) {
      // listed means whole: it runs, with the top layer's file
      const run = strata(r, ['run', '--rm', '--network', 'none', ref, 'cat', '/marker']);
      if (run.code !== 0 || run.stdout !== 'marker\n') tally.problems.push(`${what}: listed but does not run: ${run.stderr.trim()}`);
    } else {
      // the same pull succeeds, and its image runs
      const again = strata(r, ['pull', '-q', ref], { env });
      if (again.code !== 0) tally.problems.push(`${what}: pull again: ${again.stderr.trim()}`);
      else if (strata(r, ['run', '--rm', '--network', 'none', ref, 'cat', '/marker']).stdout !== 'marker\n') tally.problems.push(`${what}: pulled again but does not run`);
    }
    const rmi = strata(r, ['rmi', ref]);
    if (rmi.code !== 0) tally.problems.push(`${what}: rmi: ${rmi.stderr.trim()}`);
  }
  const h = health(r);
  tally.problems.push(...h.problems.map((p) => `at the end: ${p}`));
  console.log(tally.line());
  assert.ok(tally.kills >= KILLS, tally.line());
  assert.deepEqual(tally.problems, []);
});
