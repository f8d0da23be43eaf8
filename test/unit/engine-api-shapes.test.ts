/**
 * On FakeSys: the networks a container joins (EndpointsConfig aliases at create, connect and
 * disconnect created or running, fixed addresses), Docker's list filters, inspect's HostConfig
 * defaults and anonymous volumes; and the pure helpers behind archive and stats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CniExecRequest } from '../../src/sys/types.js';
import { goFileMode, isGoDir } from '../../src/engine/archive.js';
import { statsRow, type StatsJson } from '../../src/engine/stats.js';
import { hostConfigView } from '../../src/engine/inspect-shape.js';
import { fakeEngine } from './engine-helpers.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test('endpoints: recorded at create, changed while created or running, shown by inspect', async (t) => {
  const { sys, engine } = await fakeEngine(t);
  const cs = engine.containers;
  const nets = engine.networks;
  await nets.ensureDefault();
  await nets.create('front', { subnet: '10.98.0.0/24' });
  const c = await cs.create({ Image: 'tiny', HostConfig: { NetworkMode: 'front' }, NetworkingConfig: { EndpointsConfig: { front: { Aliases: ['web'] } } } }, 'w1');

  let n = (cs.inspect('w1').NetworkSettings as Obj).Networks as Obj;
  assert.deepEqual(Object.keys(n), ['front']);
  assert.deepEqual(n.front.Aliases, ['web']);
  assert.equal(n.front.IPAddress, '');
  assert.equal(n.front.NetworkID, (nets.inspect('front') as Obj).Id);

  await nets.connect('w1', 'bridge');
  assert.deepEqual(Object.keys((cs.inspect('w1').NetworkSettings as Obj).Networks as Obj), ['front', 'bridge']);
  await assert.rejects(nets.connect('w1', 'bridge'), /endpoint with name w1 already exists in network bridge/);
  await assert.rejects(nets.connect('w1', 'bridge', { Aliases: ['x'] }), /network-scoped alias is supported only for containers in user defined networks/);
  await nets.disconnect('w1', 'bridge');
  await assert.rejects(nets.disconnect('w1', 'bridge'), new RegExp(`container ${c.id} is not connected to network bridge`));
  await nets.disconnect('w1', 'bridge', true);

  await cs.start('w1');
  n = (cs.inspect('w1').NetworkSettings as Obj).Networks as Obj;
  assert.match(n.front.IPAddress, /^10\.98\.0\.\d+$/);
  assert.match(n.front.EndpointID, /^[0-9a-f]{64}$/);
  assert.deepEqual(n.front.Aliases, ['web', c.id.slice(0, 12)]);
  assert.equal((cs.inspect('w1').NetworkSettings as Obj).EndpointID, n.front.EndpointID);

  await nets.create('back', { subnet: '10.97.0.0/24' });
  await nets.connect('w1', 'back', { IPAMConfig: { IPv4Address: '10.97.0.77' }, Aliases: ['db'] });
  n = (cs.inspect('w1').NetworkSettings as Obj).Networks as Obj;
  assert.deepEqual(n.back.IPAMConfig, { IPv4Address: '10.97.0.77' });
  assert.deepEqual(n.back.Aliases, ['db', c.id.slice(0, 12)]);
  // the fixed address goes to host-local as runtimeConfig.ips (the real plugin honours it: test/api)
  const adds = sys.callsOf('cniExec').map(([r]) => r as CniExecRequest).filter((r) => r.env.CNI_COMMAND === 'ADD' && r.plugin.endsWith('/bridge'));
  assert.deepEqual((JSON.parse(adds.at(-1)!.stdin) as Obj).runtimeConfig, { ips: ['10.97.0.77/24'] });
  await cs.create({ Image: 'tiny', HostConfig: { NetworkMode: 'back' }, NetworkingConfig: { EndpointsConfig: { back: { IPAMConfig: { IPv4Address: '10.96.0.1' } } } } }, 'w2');
  await assert.rejects(cs.start('w2'), /Invalid address 10\.96\.0\.1: It does not belong to any of this network's subnets/);
  await assert.rejects(nets.connect('w2', 'back'), /endpoint with name w2 already exists/);
  await assert.rejects(nets.connect('w1', 'bridge', { IPAMConfig: { IPv4Address: '10.1.2.3' } }), /user specified IP address is supported on user defined networks only/);

  await nets.disconnect('w1', 'back');
  assert.deepEqual(Object.keys((cs.inspect('w1').NetworkSettings as Obj).Networks as Obj), ['front']);
  assert.deepEqual(await nets.prune(), [], 'networks configured for a container are in use');
  await cs.remove('w1', { force: true });
  await cs.remove('w2', { force: true });
  await engine.settle();
  assert.deepEqual(await nets.prune(), ['back', 'front']);
});

test('filters: values of a key OR-ed, keys AND-ed, every label required, unknown keys refused', async (t) => {
  const { engine } = await fakeEngine(t);
  const cs = engine.containers;
  await cs.create({ Image: 'tiny', Labels: { app: 'a', tier: 'web' } }, 'f1');
  await cs.create({ Image: 'tiny', Labels: { app: 'a', tier: 'db' } }, 'f2');
  await cs.create({ Image: 'tiny', Labels: { app: 'b' } }, 'f3');
  const names = (filters: string[]) => cs.list({ all: true, filters }).map((c) => c.name).sort();
  assert.deepEqual(names(['label=app=a', 'label=tier=web']), ['f1']);
  assert.deepEqual(names(['label=app=a', 'label=tier']), ['f1', 'f2']);
  assert.deepEqual(names(['name=f1', 'name=f3']), ['f1', 'f3']);
  assert.deepEqual(names(['name=f1', 'name=f3', 'label=app=b']), ['f3']);
  assert.deepEqual(names(['network=bridge']), ['f1', 'f2', 'f3']);
  assert.throws(() => names(['foo=bar']), /Invalid filter 'foo'/);

  engine.volumes.create('v1', { labels: { k: 'v', x: '1' } });
  engine.volumes.create('v2', { labels: { k: 'w' } });
  assert.deepEqual(engine.volumes.query(['label=k=v']).map((v) => v.name), ['v1']);
  assert.deepEqual(engine.volumes.query(['label=k', 'label=x']).map((v) => v.name), ['v1']);
  assert.deepEqual(engine.volumes.query(['dangling=true', 'name=v2']).map((v) => v.name), ['v2']);
  assert.throws(() => engine.volumes.query(['size=1']), /Invalid filter 'size'/);

  await engine.networks.create('lab', { labels: { team: 'x' } });
  assert.deepEqual((await engine.networks.query(['type=builtin'])).map((n) => n.name), ['bridge', 'host', 'none']);
  assert.deepEqual((await engine.networks.query(['type=custom'])).map((n) => n.name), ['lab']);
  assert.deepEqual((await engine.networks.query(['label=team=x', 'driver=bridge'])).map((n) => n.name), ['lab']);
  assert.deepEqual((await engine.networks.query(['dangling=true'])).map((n) => n.name), ['lab']);
  await assert.rejects(engine.networks.query(['foo=1']), /Invalid filter 'foo'/);
});

test('inspect: HostConfig with Docker\'s keys and defaults; -v /path in Config.Volumes', async (t) => {
  const { engine } = await fakeEngine(t);
  await engine.containers.create({ Image: 'tiny', HostConfig: { Binds: ['/vol'], ShmSize: 0, PidsLimit: 0 } as never }, 'i1');
  const c = engine.containers.inspect('i1');
  const hc = c.HostConfig as Obj;
  assert.deepEqual(hc.LogConfig, { Type: 'json-file', Config: {} });
  assert.deepEqual(hc.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  assert.equal(hc.ShmSize, 64 * 1024 * 1024);
  assert.equal(hc.PidsLimit, null);
  assert.deepEqual(hc.Ulimits, []);
  assert.equal(hc.Binds, null);
  assert.equal(hc.MaskedPaths.length, 10);
  assert.deepEqual((c.Config as Obj).Volumes, { '/vol': {} });
  assert.equal(Object.keys(hostConfigView({})).length, 65, "dockerd 20.10's HostConfig keys");
  assert.equal(hostConfigView({ Privileged: true }).MaskedPaths, null);
});

test('archive stat modes and stats figures', () => {
  assert.equal(goFileMode(0o040755), 2 ** 31 + 0o755);
  assert.ok(goFileMode(0o040755) > 0 && isGoDir(goFileMode(0o040755)));
  assert.equal(goFileMode(0o100644), 0o644);
  assert.equal(goFileMode(0o120777), 2 ** 27 + 0o777);
  assert.equal(goFileMode(0o104755), 2 ** 23 + 0o755);
  const cpu = (total: number, system: number) => ({ cpu_usage: { total_usage: total, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: system, online_cpus: 2, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } });
  const s: StatsJson = {
    read: '2026-01-01T00:00:01Z', preread: '2026-01-01T00:00:00Z', pids_stats: { current: 3 }, num_procs: 0, storage_stats: {},
    blkio_stats: { io_service_bytes_recursive: [{ major: 8, minor: 0, op: 'Read', value: 2048 }, { major: 8, minor: 0, op: 'Write', value: 1000 }] },
    cpu_stats: cpu(1_500_000_000, 4_000_000_000), precpu_stats: cpu(1_000_000_000, 2_000_000_000),
    memory_stats: { usage: 10 * 1024 * 1024, limit: 100 * 1024 * 1024, stats: { total_inactive_file: 2 * 1024 * 1024 } },
    name: '/s1', id: 'f'.repeat(64), networks: { eth0: { rx_bytes: 1500, rx_packets: 1, rx_errors: 0, rx_dropped: 0, tx_bytes: 500, tx_packets: 1, tx_errors: 0, tx_dropped: 0 } },
  };
  assert.deepEqual(statsRow(s), {
    ID: 'f'.repeat(12), Container: 'f'.repeat(12), Name: 's1', CPUPerc: '50.00%', MemUsage: '8MiB / 100MiB', MemPerc: '8.00%',
    NetIO: '1.5kB / 500B', BlockIO: '2.05kB / 1kB', PIDs: '3',
  });
});
