/**
 * kill -9 at random moments of `strata build --no-cache` (a small Dockerfile on busybox: two
 * RUN steps on the default bridge network and a COPY; at least 20 kills). Afterwards system
 * check finds no problem; the image is listed whole (it runs with every step's files) or not
 * at all; the next build succeeds from whatever cache the killed one left, its image is
 * right, and the build after it is cached throughout with the same ID; no mount, netns,
 * veth or iptables rule of a killed step's container outlives that next build.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerRoot, mountsUnder, strata, strataOk, tempDir } from '../helpers.js';
import { Tally, faultSeed, hostState, prng, record, runAndKill, timeOf } from './helpers.js';

const KILLS = Number(process.env.STRATA_FAULT_KILLS ?? 20);

const DOCKERFILE = [
  'FROM busybox',
  'RUN echo one > /one && seq 1 200000 > /blob',
  'COPY file.txt /file.txt',
  'RUN cat /file.txt > /two && echo two >> /two',
  '',
].join('\n');
const EXPECT = 'one\nhello\nhello\ntwo\n200000\n';

test('kill -9 during build', { timeout: 170_000 }, async (t) => {
  const rand = prng(faultSeed());
  const r = containerRoot(t);
  const dir = tempDir(t, 'strata-fault-build-');
  fs.writeFileSync(path.join(dir, 'Dockerfile'), DOCKERFILE);
  fs.writeFileSync(path.join(dir, 'file.txt'), 'hello\n');
  const tally = new Tally('build');
  const ref = 'app:latest';
  const args = ['build', '--progress', 'plain', '--no-cache', '-t', ref, dir];
  const contents = (): string | undefined => {
    const run = strata(r, ['run', '--rm', '--network', 'none', ref, 'sh', '-c', 'cat /one /file.txt /two; tail -n1 /blob']);
    return run.code === 0 ? run.stdout : `exit ${run.code}: ${run.stderr.trim()}`;
  };
  const ms = await timeOf(r, args);
  assert.equal(contents(), EXPECT);
  strataOk(r, ['rmi', ref]);
  const baseline = hostState(r);
  let cachedSteps = 0;
  for (let round = 0; tally.kills < KILLS && round < KILLS * 3; round++) {
    const res = await runAndKill(r, args, rand() * ms * 1.1);
    if (res.killed) tally.kills++; else tally.finished++;
    const what = `build killed after ${res.ms.toFixed(0)} ms`;
    record(tally, r, what);
    if (strataOk(r, ['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').includes(ref)) {
      const c = contents();
      if (c !== EXPECT) tally.problems.push(`${what}: listed but not whole: ${c}`);
    }
    // the next build takes what the killed one cached, and is right
    const next = strata(r, ['build', '--progress', 'plain', '-t', ref, dir]);
    if (next.code !== 0) { tally.problems.push(`${what}: build again: ${next.stderr.trim().split('\n').slice(-3).join(' | ')}`); continue; }
    cachedSteps += (next.stderr.match(/ CACHED$/gm) ?? []).length;
    const c = contents();
    if (c !== EXPECT) tally.problems.push(`${what}: the next build's image is wrong: ${c}`);
    // nothing of the killed build's containers is left once a build ran after it
    const mounts = mountsUnder(path.join(r, 'build-tmp'));
    if (mounts.length) tally.problems.push(`${what}: mounts left: ${mounts.join(' ')}`);
    const scratch = fs.readdirSync(path.join(r, 'build-tmp'));
    if (scratch.length) tally.problems.push(`${what}: build-tmp/ left: ${scratch.join(' ')}`);
    const h = hostState(r);
    const extra = [...h.links.filter((l) => !baseline.links.includes(l)), ...h.netns, ...h.rules.filter((l) => !baseline.rules.includes(l))];
    if (extra.length) tally.problems.push(`${what}: host state left: ${extra.join('; ')}`);
    if (round % 4 === 0) {
      // the cache is right: a build after that is cached throughout and gives the same image
      const id = strataOk(r, ['image', 'inspect', '--format', '{{.Id}}', ref]).trim();
      const again = strata(r, ['build', '--progress', 'plain', '-t', ref, dir]);
      const steps = (again.stderr.match(/^#\d+ \[\d+\/\d+\] (RUN|COPY)/gm) ?? []).length;
      const cached = (again.stderr.match(/ CACHED$/gm) ?? []).length;
      if (again.code !== 0 || !again.stderr.includes(`writing image ${id}`) || cached < steps) tally.problems.push(`${what}: the cached build: exit ${again.code}, ${cached} of ${steps} steps cached, ${/writing image (\S+)/.exec(again.stderr)?.[1]} for ${id}`);
    }
    strataOk(r, ['rmi', ref]);
  }
  // the build cache can be emptied, and a build from nothing still works
  strataOk(r, ['builder', 'prune', '-a', '-f']);
  strataOk(r, ['build', '--progress', 'plain', '-t', ref, dir]);
  assert.equal(contents(), EXPECT);
  record(tally, r, 'at the end');
  console.log(`build: the builds after the kills found ${cachedSteps} steps cached`);
  console.log(tally.line());
  assert.ok(tally.kills >= KILLS, tally.line());
  assert.deepEqual(tally.problems, []);
});
