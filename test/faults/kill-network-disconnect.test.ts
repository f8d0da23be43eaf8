/**
 * kill -9 at random moments of `network disconnect` of a running container from a user
 * network: right after the kill, container inspect, network inspect and the container's
 * interfaces (as an exec sees them) agree, all connected or all disconnected; the next
 * disconnect succeeds or says it is not connected; the container still stops, starts and
 * execs; its rm -f leaves no netns or rule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerRoot, strata, strataOk } from '../helpers.js';
import { Tally, faultSeed, hostState, prng, record, runAndKill, timeOf } from './helpers.js';

const KILLS = Number(process.env.STRATA_FAULT_KILLS ?? 20);

test('kill -9 during network disconnect', { timeout: 170_000 }, async (t) => {
  const rand = prng(faultSeed());
  const r = containerRoot(t);
  const tally = new Tally('network disconnect');
  strataOk(r, ['network', 'create', 'side']);
  const ifaces = (name: string): string[] | undefined => {
    const x = strata(r, ['exec', name, 'sh', '-c', 'ls /sys/class/net']);
    return x.code === 0 ? x.stdout.split(/\s+/).filter((s) => s && s !== 'lo').sort() : undefined;
  };
  strataOk(r, ['run', '-d', '--name', 'probe', 'busybox']);
  strataOk(r, ['network', 'connect', 'side', 'probe']);
  const ms = await timeOf(r, ['network', 'disconnect', 'side', 'probe']);
  strataOk(r, ['rm', '-f', 'probe']);
  let disconnected = 0;
  for (let round = 0; tally.kills < KILLS && round < KILLS * 3; round++) {
    const name = `d${round}`;
    const cid = strataOk(r, ['run', '-d', '--name', name, 'busybox']).trim();
    strataOk(r, ['network', 'connect', 'side', name]);
    const res = await runAndKill(r, ['network', 'disconnect', 'side', name], rand() * ms * 1.1);
    if (res.killed) tally.kills++; else tally.finished++;
    const what = `network disconnect killed after ${res.ms.toFixed(0)} ms`;
    record(tally, r, what);
    // a disconnect is all or nothing as seen from inspect: once begun, every view leaves the
    // endpoint out (the exec, which touches the container, finishes the teardown first)
    const view = (): { said: string[]; has?: string[]; inNetwork: boolean } => ({
      said: Object.keys(JSON.parse(strataOk(r, ['inspect', '--format', '{{json .NetworkSettings.Networks}}', name])) as object).sort(),
      has: ifaces(name),
      inNetwork: Object.keys(JSON.parse(strataOk(r, ['network', 'inspect', '--format', '{{json .Containers}}', 'side'])) as object).includes(cid),
    });
    const v = view();
    if (!v.has) tally.problems.push(`${what}: exec fails`);
    if (v.said.includes('side') !== v.inNetwork || (v.has && v.has.length !== v.said.length)) {
      tally.problems.push(`${what}: container inspect says ${v.said.join(',')}, network inspect ${v.inNetwork ? 'lists' : 'does not list'} it, the container has ${v.has?.join(',')}`);
    } else if (!v.inNetwork) disconnected++;
    // the same command again: disconnects it, or says it is not connected; then all agree
    const again = strata(r, ['network', 'disconnect', 'side', name]);
    if (again.code !== 0 && !/is not connected/.test(again.stderr)) tally.problems.push(`${what}: disconnect again: ${again.stderr.trim()}`);
    const w = view();
    if (w.said.join(',') !== 'bridge' || w.has?.length !== 1 || w.inNetwork) tally.problems.push(`${what}: after the second disconnect: inspect ${w.said.join(',')}, interfaces ${w.has?.join(',')}, in network inspect ${w.inNetwork}`);
    // it still works on its first network: stop, start, exec
    strataOk(r, ['stop', '-t', '0', name]);
    strataOk(r, ['start', name]);
    if (ifaces(name)?.length !== 1) tally.problems.push(`${what}: after a restart the container has ${ifaces(name)?.join(',')}`);
    strataOk(r, ['rm', '-f', name]);
    const h = hostState(r);
    const mine = [...h.netns.filter((n) => n.endsWith(cid.slice(0, 12))), ...h.rules.filter((l) => l.includes(cid.slice(0, 12)))];
    if (mine.length) tally.problems.push(`${what}: left after rm -f: ${mine.join('; ')}`);
  }
  strataOk(r, ['network', 'rm', 'side']);
  record(tally, r, 'at the end');
  console.log(`network disconnect: ${disconnected} of ${tally.kills + tally.finished} runs left it disconnected in every view, the others connected in every view`);
  console.log(tally.line());
  assert.ok(tally.kills >= KILLS, tally.line());
  assert.deepEqual(tally.problems, []);
});
