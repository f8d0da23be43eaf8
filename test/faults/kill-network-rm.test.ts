/**
 * kill -9 at random moments of `network rm` of a user network (unused, with a stopped
 * container attached, after its containers were removed): afterwards the network is listed
 * and usable or gone with its bridge and rules, no netns, veth or iptables rule of a
 * container that no longer runs is left, and the same command run again succeeds.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerRoot, strata, strataOk } from '../helpers.js';
import { deriveRootTag } from '../../src/network/index.js';
import { Tally, faultSeed, hostState, prng, record, runAndKill, timeOf } from './helpers.js';

const KILLS = Number(process.env.STRATA_FAULT_KILLS ?? 20);

function networkId(root: string, name: string): string | undefined {
  const r = strata(root, ['network', 'inspect', '--format', '{{.Id}}', name]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** Anything of network `name` (id) left on the host: its bridge and rules naming it. */
function networkLeft(root: string, name: string, id: string): string[] {
  const tag = deriveRootTag(path.join(root, 'network'));
  const bridge = `st${tag}-${id.slice(0, 6)}`;
  const h = hostState(root);
  return [
    ...h.links.filter((l) => l === bridge).map((l) => `bridge ${l}`),
    ...h.rules.filter((r) => r.includes(`strata-${tag}.${name} `) || r.includes(`strata-${tag}.${name}"`) || new RegExp(`\\b${bridge}\\b`).test(r)).map((r) => `rule ${r}`),
  ];
}

test('kill -9 during network rm', { timeout: 170_000 }, async (t) => {
  const rand = prng(faultSeed());
  const r = containerRoot(t);
  const tally = new Tally('network rm');
  strataOk(r, ['run', '--rm', 'busybox', 'true']);
  const baseline = hostState(r); // the default bridge and its rules
  strataOk(r, ['network', 'create', 'probe']);
  const ms = await timeOf(r, ['network', 'rm', 'probe']);
  const variants = ['unused', 'stopped container attached', 'containers removed'] as const;
  for (let round = 0; tally.kills < KILLS && round < KILLS * 3; round++) {
    const variant = variants[round % variants.length]!;
    const net = `net${round}`;
    strataOk(r, ['network', 'create', net]);
    const id = networkId(r, net)!;
    const ctr = `c${round}`;
    if (variant !== 'unused') {
      strataOk(r, ['run', '--name', ctr, '--network', net, 'busybox', 'true']);
      if (variant === 'containers removed') strataOk(r, ['rm', ctr]);
    }
    const res = await runAndKill(r, ['network', 'rm', net], rand() * ms * 1.1);
    if (res.killed) tally.kills++; else tally.finished++;
    const what = `network rm (${variant}) killed after ${res.ms.toFixed(0)} ms`;
    record(tally, r, what);
    if (networkId(r, net) !== undefined) {
      // listed means usable: a container runs on it and reaches its gateway
      // (a second echo when the first is lost: under load one can be)
      const run = strata(r, ['run', '--rm', '--network', net, 'busybox', 'sh', '-c', 'ip -4 addr show eth0 | grep inet; gw=$(ip route | awk \'/default/{print $3}\'); echo "gateway $gw"; { ping -c1 -W3 "$gw" || ping -c1 -W3 "$gw"; } >/dev/null && echo up']);
      if (run.code !== 0 || !run.stdout.endsWith('up\n')) tally.problems.push(`${what}: listed but not usable: exit ${run.code} ${run.stderr.trim()} ${run.stdout.trim().replace(/\n/g, ' | ')}`);
    } else if (variant === 'stopped container attached') {
      // as Docker: the container's network is gone, its start says so, it is removable
      const start = strata(r, ['start', ctr]);
      if (start.code === 0 || !/network .* not found/.test(start.stderr)) tally.problems.push(`${what}: start without its network: ${start.code} ${start.stderr.trim()}`);
    }
    // the same command again: removes it (or says it is gone, when the kill came too late)
    const again = strata(r, ['network', 'rm', net]);
    if (again.code !== 0 && !/No such network/.test(again.stderr)) tally.problems.push(`${what}: network rm again: ${again.stderr.trim()}`);
    if (variant === 'stopped container attached') strataOk(r, ['rm', ctr]);
    const left = networkLeft(r, net, id);
    if (left.length) tally.problems.push(`${what}: left on the host: ${left.join('; ')}`);
  }
  // nothing of any of them, nor of any container, is left beyond what the root started with
  const end = hostState(r);
  const extra = [...end.links.filter((l) => !baseline.links.includes(l)), ...end.netns, ...end.rules.filter((l) => !baseline.rules.includes(l))];
  if (extra.length) tally.problems.push(`at the end, host state beyond the default bridge: ${extra.join('; ')}`);
  record(tally, r, 'at the end');
  console.log(tally.line());
  assert.ok(tally.kills >= KILLS, tally.line());
  assert.deepEqual(tally.problems, []);
});
