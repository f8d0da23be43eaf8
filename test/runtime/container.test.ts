/**
 * Real containers under runc: Docker's default isolation, proven from inside.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Fixture, ensureMonitorBuilt, collector, type TestContainer } from './fixture.js';
import { runForeground, readExit, RuntimeError, type BuildSpecOptions } from '../../src/runtime/index.js';

let fx: Fixture;
before(() => {
  ensureMonitorBuilt();
  fx = new Fixture();
});
after(async () => {
  await fx.cleanup();
  assert.deepEqual(await fx.runc.list().catch(() => []), []);
});

async function run(spec: Omit<BuildSpecOptions, 'rootfs'>, c?: TestContainer): Promise<{ code: number; out: string; err: string; c: TestContainer }> {
  c ??= await fx.container();
  c.writeSpec(spec);
  const out = collector();
  const err = collector();
  const exit = await runForeground({ ...c.paths, id: c.id, runtime: fx.runc, stdout: out.stream, stderr: err.stream });
  return { code: exit.exitCode, out: out.text(), err: err.text(), c };
}

const sh = (script: string) => ['sh', '-c', script];

test('default isolation: capabilities, seccomp, no-new-privs, hostname', async () => {
  const r = await run({ args: sh('grep -E "^(Cap|Seccomp|NoNewPrivs)" /proc/self/status; hostname; cat /proc/1/cmdline | tr "\\0" " "; echo'), hostname: 'box1' });
  assert.equal(r.code, 0, r.err);
  const status = Object.fromEntries(r.out.split('\n').filter((l) => l.includes(':')).map((l) => l.split(/:\s*/) as [string, string]));
  assert.equal(status.CapEff, '00000000a80425fb');
  assert.equal(status.CapPrm, '00000000a80425fb');
  assert.equal(status.CapBnd, '00000000a80425fb');
  assert.equal(status.CapInh, '0000000000000000');
  assert.equal(status.CapAmb, '0000000000000000');
  assert.equal(status.Seccomp, '2');
  assert.equal(status.NoNewPrivs, '0');
  assert.match(r.out, /^box1$/m);
  assert.match(r.out, /^sh -c /m, 'PID 1 is the container command');
});

test('namespaces: pid, mnt, net, uts, ipc are new; user and cgroup are the host\'s', async () => {
  const r = await run({ args: sh('for n in cgroup ipc mnt net pid user uts; do echo $n $(readlink /proc/self/ns/$n); done; cat /proc/self/uid_map; ls /sys/class/net') });
  assert.equal(r.code, 0, r.err);
  const inside = Object.fromEntries(r.out.split('\n').filter((l) => /^\w+ \w+:\[/.test(l)).map((l) => l.split(' ') as [string, string]));
  for (const n of ['ipc', 'mnt', 'net', 'pid', 'uts']) assert.notEqual(inside[n], fs.readlinkSync(`/proc/self/ns/${n}`), n);
  for (const n of ['cgroup', 'user']) assert.equal(inside[n], fs.readlinkSync(`/proc/self/ns/${n}`), n);
  assert.match(r.out, /^\s*0\s+0\s+4294967295$/m);
  assert.match(r.out, /^lo$/m);
});

test('mount and unshare are denied; masked and read-only paths; read-only sysfs', async () => {
  const script = [
    'mount -t tmpfs none /mnt && echo MOUNTED || echo MOUNT_DENIED',
    'unshare -U -r true 2>/dev/null && echo UNSHARED || echo UNSHARE_DENIED',
    'if [ -e /proc/kcore ]; then echo KCORE $(wc -c < /proc/kcore); else echo KCORE_ABSENT; fi',
    'echo KEYS $(cat /proc/keys 2>/dev/null | wc -l)',
    'echo TIMER $(cat /proc/timer_list 2>/dev/null | wc -c)',
    'ls -A /sys/firmware | wc -l | sed "s/^/FIRMWARE /"',
    'echo evil > /proc/sys/kernel/hostname && echo SYSCTL_WRITTEN || echo SYSCTL_RO',
    'touch /sys/kernel/evil 2>/dev/null && echo SYS_WRITTEN || echo SYS_RO',
    'grep -E " /proc/(bus|fs|irq|sys) " /proc/self/mountinfo | grep -c " ro," | sed "s/^/PROCRO /"',
    'hostname evil 2>/dev/null && echo HOSTNAME_SET || echo HOSTNAME_DENIED',
    'mknod /tmp/sda b 8 0 && (head -c 1 /tmp/sda >/dev/null 2>&1 && echo DISK_READ || echo DISK_DENIED)',
    'chroot / true && echo CHROOT_OK',
    'ls /dev | tr "\\n" " "; echo',
    'cat /sys/fs/cgroup/devices/devices.list | tr "\\n" ","; echo',
    'ulimit -n',
  ].join('; ');
  const r = await run({ args: sh(script) });
  assert.equal(r.code, 0, r.err);
  const o = r.out;
  assert.match(o, /^MOUNT_DENIED$/m);
  assert.match(o, /^UNSHARE_DENIED$/m);
  assert.match(o, /^(KCORE_ABSENT|KCORE 0)$/m);
  assert.match(o, /^KEYS 0$/m);
  assert.match(o, /^TIMER 0$/m);
  assert.match(o, /^FIRMWARE 0$/m);
  assert.match(o, /^SYSCTL_RO$/m);
  assert.match(o, /^SYS_RO$/m);
  assert.match(o, /^PROCRO 4$/m);
  assert.match(o, /^HOSTNAME_DENIED$/m);
  assert.match(o, /^DISK_DENIED$/m);
  assert.match(o, /^CHROOT_OK$/m);
  assert.match(o, /^fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero $/m);
  const devices = /^(b \*:\* m,.*)$/m.exec(o)?.[1]?.split(',').filter(Boolean).sort();
  assert.deepEqual(devices, ['b *:* m', 'c *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 10:200 rwm', 'c 136:* rwm', 'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm'].sort());
  assert.match(o, /^\d+$/m);
});

test('cap-add SYS_ADMIN opens mount; cap-drop ALL empties the sets; non-root user has no effective caps', async () => {
  let r = await run({ args: sh('mount -t tmpfs none /mnt && echo MOUNTED'), capAdd: ['SYS_ADMIN'] });
  assert.match(r.out, /^MOUNTED$/m, r.err);
  r = await run({ args: sh('grep CapEff /proc/self/status; chown 1 /tmp'), capDrop: ['ALL'] });
  assert.match(r.out, /CapEff:\s+0000000000000000/);
  assert.match(r.err, /Operation not permitted/);
  assert.notEqual(r.code, 0);
  r = await run({ args: sh('id; grep -E "Cap(Eff|Bnd)" /proc/self/status'), user: 'app' });
  assert.match(r.out, /uid=1000\(app\) gid=1000\(app\) groups=50\(staff\)/);
  assert.match(r.out, /CapEff:\s+0000000000000000/);
  assert.match(r.out, /CapBnd:\s+00000000a80425fb/);
});

test('privileged: host capability set, no seccomp, no masking', async () => {
  const hostBnd = /^CapBnd:\s*(\w+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1];
  const r = await run({ args: sh('grep -E "^(CapEff|Seccomp):" /proc/self/status; mount -t tmpfs none /mnt && echo MOUNTED; ls /dev | wc -l'), privileged: true });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`CapEff:\\s+${hostBnd}`));
  assert.match(r.out, /Seccomp:\s+0/);
  assert.match(r.out, /^MOUNTED$/m);
});

test('exit codes propagate', async () => {
  assert.equal((await run({ args: sh('exit 3') })).code, 3);
  assert.equal((await run({ args: ['true'] })).code, 0);
  const r = await run({ args: sh('echo to-stdout; echo to-stderr >&2; exit 7') });
  assert.deepEqual([r.code, r.out, r.err], [7, 'to-stdout\n', 'to-stderr\n']);
});

test('executable not found -> 127 with Docker\'s message; not executable -> 126', async () => {
  const c = await fx.container();
  await assert.rejects(run({ args: ['nosuch'] }, c), (e: unknown) => {
    assert.ok(e instanceof RuntimeError);
    assert.equal(e.exitCode, 127);
    assert.match(e.message, /exec: "nosuch": executable file not found in \$PATH: unknown$/);
    assert.match(e.message, /^failed to create task for container: /);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  assert.equal(readExit(c.paths.exitFile)?.exitCode, 127);
  assert.equal(await fx.runc.state(c.id), null, 'runtime state cleaned up');
  await assert.rejects(run({ args: ['/etc/notexec'] }), (e: unknown) => e instanceof RuntimeError && e.exitCode === 126 && /permission denied/.test(e.message));
});

test('limits: memory, cpus, pids visible in the cgroup and enforced', async () => {
  const c = await fx.container();
  const r = await run({
    args: sh('cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us; for i in $(seq 30); do sleep 5 & done 2>&1 | head -1; kill $(jobs -p) 2>/dev/null; true'),
    memory: 64 * 1024 * 1024,
    cpus: 0.5,
    pidsLimit: 20,
  }, c);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split('\n');
  assert.deepEqual(lines.slice(0, 4), ['67108864', '20', '50000', '100000']);
  assert.match(r.out + r.err, /can't fork|Resource temporarily unavailable/);
  // the cgroup was removed with the container
  assert.equal(fs.existsSync(path.join('/sys/fs/cgroup/memory/strata', c.id)), false);
});

test('read-only rootfs, bind mounts, tmpfs, working dir, env', async (t) => {
  const hostDir = fs.mkdtempSync(path.join(fx.root, 'bind-'));
  t.after(() => fs.rmSync(hostDir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(hostDir, 'in'), 'from host\n');
  const r = await run({
    args: sh('cat /data/in; echo x > /data/out; touch /x 2>&1; echo t > /scratch/t && echo TMPFS_OK; pwd; echo $FOO'),
    readonlyRootfs: true,
    mounts: [{ source: hostDir, destination: '/data', options: ['rbind', 'rw'] }, { type: 'tmpfs', destination: '/scratch' }],
    cwd: '/scratch',
    env: ['FOO=bar'],
  });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^from host$/m);
  assert.match(r.out + r.err, /Read-only file system/);
  assert.match(r.out, /^TMPFS_OK$/m);
  assert.match(r.out, /^\/scratch$/m);
  assert.match(r.out, /^bar$/m);
  assert.equal(fs.readFileSync(path.join(hostDir, 'out'), 'utf8'), 'x\n');
});

test('OOM: a container over its memory limit is killed (137) and reported as OOM-killed', async () => {
  const limits = { memory: 32 * 1024 * 1024, memorySwap: 32 * 1024 * 1024 };
  let c = await fx.container();
  c.writeSpec({ args: ['dd', 'if=/dev/zero', 'of=/dev/shm/fill', 'bs=1M', 'count=60'], ...limits });
  let exit = await runForeground({ ...c.paths, id: c.id, runtime: fx.runc });
  assert.equal(exit.exitCode, 137);
  assert.equal(exit.oomKilled, true);
  // a child killed by the OOM killer: the container goes on, the OOM is still reported
  c = await fx.container();
  c.writeSpec({ args: sh('dd if=/dev/zero of=/dev/shm/fill bs=1M count=60 2>/dev/null; echo survived $?'), ...limits });
  const out = collector();
  exit = await runForeground({ ...c.paths, id: c.id, runtime: fx.runc, stdout: out.stream });
  assert.equal(out.text(), 'survived 137\n');
  assert.deepEqual([exit.exitCode, exit.oomKilled], [0, true]);
  // and no OOM without pressure
  assert.equal((await run({ args: ['true'], ...limits })).code, 0);
});
