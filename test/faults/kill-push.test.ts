/**
 * kill -9 at random moments of `push` to a local docker-registry (at least 20 kills):
 * afterwards the local store is untouched (system check finds no problem, the image still
 * runs), the registry is consistent (a tag it lists pulls whole into another root) and the
 * same push succeeds. The registry's storage is emptied between rounds, so every push
 * uploads again.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerRoot, strata, strataOk, tempRoot } from '../helpers.js';
import { clientEnv, registryAvailable, startRegistry, tmp } from '../registry/helpers.js';
import { Tally, faultSeed, health, prng, runAndKill, seedImage, timeOf } from './helpers.js';

const KILLS = Number(process.env.STRATA_FAULT_KILLS ?? 20);
const skip = registryAvailable() ? false : 'docker-registry is not installed';

test('kill -9 during push', { skip, timeout: 170_000 }, async (t) => {
  const rand = prng(faultSeed());
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const work = tmp('strata-fault-push-');
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const env = clientEnv(work);
  const ref = `${reg.addr}/team/app:v1`;
  // the image to push, made and pushed once in its own root, pulled here
  await seedImage(t, ref, env);
  const r = containerRoot(t);
  strataOk(r, ['pull', '-q', ref], { env });
  const check = tempRoot(t, 'strata-fault-push-check-');
  const storage = path.join(reg.dir, 'data');
  const wipe = (): void => fs.rmSync(storage, { recursive: true, force: true });
  const tags = async (): Promise<string[]> => {
    const res = await fetch(`http://${reg.addr}/v2/team/app/tags/list`);
    if (res.status === 404) { await res.body?.cancel(); return []; }
    return ((await res.json()) as { tags?: string[] | null }).tags ?? [];
  };

  const tally = new Tally('push');
  wipe();
  const ms = await timeOf(r, ['push', '-q', ref]);
  for (let round = 0; tally.kills < KILLS && round < KILLS * 3; round++) {
    wipe();
    const res = await runAndKill(r, ['push', '-q', ref], rand() * ms * 1.1, env);
    if (res.killed) tally.kills++; else tally.finished++;
    const what = `push killed after ${res.ms.toFixed(0)} ms`;
    const h = health(r);
    tally.garbage += h.garbage;
    if (h.kinds.length) console.log(`leftovers: ${[...new Set(h.kinds)].join('; ')}`);
    tally.problems.push(...h.problems.map((p) => `${what}: ${p}`));
    // what the registry lists pulls whole
    if ((await tags()).includes('v1')) {
      const pull = strata(check, ['pull', '-q', ref], { env });
      if (pull.code !== 0) tally.problems.push(`${what}: the registry lists v1 but its pull fails: ${pull.stderr.trim()}`);
      else strataOk(check, ['rmi', ref]);
    }
    // the same push succeeds, and then the registry holds the image whole
    const again = strata(r, ['push', '-q', ref], { env });
    if (again.code !== 0) tally.problems.push(`${what}: push again: ${again.stderr.trim()}`);
    const pull = strata(check, ['pull', '-q', ref], { env });
    if (pull.code !== 0) tally.problems.push(`${what}: pull after the second push: ${pull.stderr.trim()}`);
    else strataOk(check, ['rmi', ref]);
  }
  // the local image still runs
  assert.equal(strataOk(r, ['run', '--rm', '--network', 'none', ref, 'cat', '/marker']), 'marker\n');
  const h = health(r);
  tally.problems.push(...h.problems.map((p) => `at the end: ${p}`));
  console.log(tally.line());
  assert.ok(tally.kills >= KILLS, tally.line());
  assert.deepEqual(tally.problems, []);
});
