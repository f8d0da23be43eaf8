import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  buildSpec,
  capMask,
  resolveCapabilities,
  resolveUserFrom,
  resolveUser,
  defaultSeccompProfile,
  containerEnv,
  mergeEnv,
  hostCapabilities,
  cleanRuncMessage,
  runtimeError,
  runtimeDirFor,
  DEFAULT_CAPABILITIES,
  parseDetachKeys,
  DetachKeyFilter,
} from '../../src/runtime/index.js';
import { makeBusyboxRootfs } from './fixture.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\napp:x:1000:\nstaff:x:50:app,other\naudio:x:29:app\nnogroup:x:65534:\n';

function rootfs(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-spec-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  makeBusyboxRootfs(dir);
  return dir;
}

test('default capabilities are Docker\'s 14 (a80425fb), inheritable and ambient empty', (t) => {
  assert.equal(capMask(DEFAULT_CAPABILITIES), '00000000a80425fb');
  const spec = buildSpec({ rootfs: rootfs(t), args: ['sh'] });
  const caps = spec.process.capabilities!;
  assert.equal(capMask(caps.bounding!), '00000000a80425fb');
  assert.deepEqual(caps.effective, caps.bounding);
  assert.deepEqual(caps.permitted, caps.bounding);
  assert.deepEqual(caps.inheritable, []);
  assert.equal(caps.ambient, undefined);
});

test('cap-add / cap-drop follow Docker (names with or without CAP_, ALL)', () => {
  const has = (caps: string[], c: string) => caps.includes(c);
  let caps = resolveCapabilities({ capAdd: ['sys_admin'], capDrop: ['CAP_NET_RAW', 'mknod'] });
  assert.ok(has(caps, 'CAP_SYS_ADMIN'));
  assert.ok(!has(caps, 'CAP_NET_RAW') && !has(caps, 'CAP_MKNOD'));
  assert.equal(caps.length, 13);
  assert.deepEqual(resolveCapabilities({ capDrop: ['ALL'] }), []);
  assert.deepEqual(resolveCapabilities({ capDrop: ['ALL'], capAdd: ['chown'] }), ['CAP_CHOWN']);
  caps = resolveCapabilities({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] });
  assert.ok(!has(caps, 'CAP_SYS_ADMIN') && has(caps, 'CAP_SYS_MODULE'));
  // never more than the host can grant (this host's bounding set lacks SYS_RESOURCE)
  for (const c of caps) assert.ok(hostCapabilities().includes(c));
  assert.throws(() => resolveCapabilities({ capAdd: ['FOO'] }), /unknown capability: "CAP_FOO"/);
  assert.deepEqual(resolveCapabilities({ privileged: true }), hostCapabilities());
});

test('user resolution follows runc/Docker rules', () => {
  assert.deepEqual(resolveUserFrom('', PASSWD, GROUP), { uid: 0, gid: 0, additionalGids: [], home: '/root', name: 'root' });
  const app = resolveUserFrom('app', PASSWD, GROUP);
  assert.equal(app.uid, 1000);
  assert.equal(app.gid, 1000);
  assert.deepEqual(app.additionalGids, [50, 29]);
  assert.equal(app.home, '/home/app');
  assert.deepEqual(resolveUserFrom('1000', PASSWD, GROUP).additionalGids, [50, 29]);
  const explicit = resolveUserFrom('app:staff', PASSWD, GROUP);
  assert.equal(explicit.gid, 50);
  assert.deepEqual(explicit.additionalGids, []);
  const numeric = resolveUserFrom('4242:4343', PASSWD, GROUP);
  assert.deepEqual([numeric.uid, numeric.gid, numeric.additionalGids], [4242, 4343, []]);
  assert.equal(resolveUserFrom('4242', PASSWD, GROUP).gid, 0);
  assert.throws(() => resolveUserFrom('xyz', PASSWD, GROUP), { message: 'unable to find user xyz: no matching entries in passwd file' });
  assert.throws(() => resolveUserFrom('app:nogrp', PASSWD, GROUP), { message: 'unable to find group nogrp: no matching entries in group file' });
  assert.throws(() => resolveUserFrom('xyz', undefined, undefined), /unable to find user xyz/);
  assert.equal(resolveUserFrom('1000', undefined, undefined).uid, 1000);
});

test('user lookup reads the rootfs and does not follow links out of it', (t) => {
  const dir = rootfs(t);
  assert.equal(resolveUser(dir, 'app').uid, 1000);
  // an absolute symlink is resolved inside the rootfs, not on the host
  fs.rmSync(path.join(dir, 'etc', 'passwd'));
  fs.mkdirSync(path.join(dir, 'alt'));
  fs.writeFileSync(path.join(dir, 'alt', 'passwd'), 'svc:x:777:777::/:/bin/sh\n');
  fs.symlinkSync('/alt/passwd', path.join(dir, 'etc', 'passwd'));
  assert.equal(resolveUser(dir, 'svc').uid, 777);
  fs.rmSync(path.join(dir, 'etc', 'passwd'));
  fs.symlinkSync('../../../../../../../../etc/passwd', path.join(dir, 'etc', 'passwd'));
  assert.throws(() => resolveUser(dir, 'root'), /unable to find user root/); // host's passwd not read
});

test('default spec: namespaces, mounts, masked and read-only paths, devices, rlimits, sysctls', (t) => {
  const spec = buildSpec({ id: 'abc', rootfs: rootfs(t), args: ['sh'], hostname: 'h1', hostsFile: '/x/hosts', resolvConfFile: '/x/resolv.conf', hostnameFile: '/x/hostname' });
  assert.deepEqual(spec.linux.namespaces.map((n) => n.type), ['pid', 'network', 'ipc', 'uts', 'mount']);
  assert.equal(spec.hostname, 'h1');
  assert.equal(spec.linux.cgroupsPath, '/strata/abc');
  const dests = spec.mounts.map((m) => m.destination);
  for (const d of ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) {
    assert.ok(dests.includes(d), d);
  }
  assert.ok(dests.indexOf('/dev') < dests.indexOf('/dev/pts'));
  assert.ok(spec.mounts.find((m) => m.destination === '/sys')!.options!.includes('ro'));
  assert.ok(spec.mounts.find((m) => m.destination === '/dev/shm')!.options!.includes('size=67108864'));
  assert.ok(spec.linux.maskedPaths!.includes('/proc/kcore'));
  assert.ok(spec.linux.maskedPaths!.includes('/sys/firmware'));
  assert.deepEqual(spec.linux.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  assert.deepEqual(spec.linux.resources!.devices![0], { allow: false, access: 'rwm' });
  assert.equal(spec.linux.resources!.devices!.length, 13);
  assert.equal(spec.process.rlimits![0]!.type, 'RLIMIT_NOFILE');
  assert.equal(spec.process.noNewPrivileges, false);
  assert.equal(spec.linux.sysctl!['net.ipv4.ip_unprivileged_port_start'], '0');
  assert.deepEqual(spec.process.env.slice(0, 2), ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=h1']);
});

test('seccomp follows Docker\'s default profile semantics', () => {
  const def = defaultSeccompProfile([...DEFAULT_CAPABILITIES]);
  assert.equal(def.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(def.defaultErrnoRet, 1);
  const allow = (p: typeof def, n: string) => p.syscalls.some((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args && s.names.includes(n));
  for (const n of ['read', 'write', 'execve', 'openat', 'chroot', 'ptrace', 'setuid', 'capset']) assert.ok(allow(def, n), n);
  for (const n of ['mount', 'umount2', 'unshare', 'setns', 'kexec_load', 'init_module', 'finit_module', 'delete_module', 'reboot', 'keyctl', 'add_key', 'request_key', 'bpf', 'pivot_root', 'swapon', 'userfaultfd', 'io_uring_setup', 'clock_settime', 'acct', 'open_by_handle_at']) {
    assert.ok(!allow(def, n), n);
  }
  const clone = def.syscalls.find((s) => s.names.includes('clone') && s.args);
  assert.deepEqual(clone!.args, [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ' }]);
  assert.equal(def.syscalls.find((s) => s.names.includes('clone3'))!.errnoRet, 38);
  assert.deepEqual(def.syscalls.filter((s) => s.names[0] === 'personality').map((s) => s.args![0]!.value), [0, 8, 0x20000, 0x20008, 0xffffffff]);
  // capabilities open their syscalls
  const admin = defaultSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
  for (const n of ['mount', 'umount2', 'unshare', 'setns', 'clone', 'clone3']) assert.ok(allow(admin, n), n);
  assert.ok(!admin.syscalls.some((s) => s.names.includes('clone') && s.args));
  assert.ok(allow(defaultSeccompProfile(['CAP_SYS_TIME']), 'clock_settime'));
  assert.ok(!allow(defaultSeccompProfile([]), 'chroot'));
});

test('privileged lifts seccomp, masking, read-only sysfs; adds host devices', (t) => {
  const spec = buildSpec({ rootfs: rootfs(t), args: ['sh'], privileged: true });
  assert.equal(spec.linux.seccomp, undefined);
  assert.equal(spec.linux.maskedPaths, undefined);
  assert.equal(spec.linux.readonlyPaths, undefined);
  assert.ok(!spec.mounts.find((m) => m.destination === '/sys')!.options!.includes('ro'));
  assert.deepEqual(spec.linux.resources!.devices, [{ allow: true, access: 'rwm' }]);
  assert.ok(spec.linux.devices!.some((d) => d.path === '/dev/null'));
  assert.deepEqual(spec.process.capabilities!.bounding, hostCapabilities());
});

test('options: user, env, mounts, limits, network modes, read-only rootfs', (t) => {
  const dir = rootfs(t);
  const spec = buildSpec({
    rootfs: dir,
    args: ['sh'],
    user: 'app',
    groupAdd: ['staff', '4000'],
    env: ['FOO=1', 'PATH=/bin'],
    extraEnv: ['FOO=2'],
    tty: true,
    cwd: '/data',
    readonlyRootfs: true,
    mounts: [
      { source: '/tmp', destination: '/host-tmp', options: ['rbind', 'ro'] },
      { type: 'tmpfs', destination: '/run' },
    ],
    memory: 64 * 1024 * 1024,
    cpus: 0.5,
    pidsLimit: 20,
    network: '/var/run/netns/x',
    noNewPrivileges: true,
    hostsFile: '/x/hosts',
  });
  assert.deepEqual(spec.process.user, { uid: 1000, gid: 1000, additionalGids: [50, 4000] });
  assert.deepEqual(spec.process.env, ['PATH=/bin', 'TERM=xterm', 'FOO=2']);
  assert.equal(spec.process.terminal, true);
  assert.equal(spec.process.cwd, '/data');
  assert.equal(spec.root.readonly, true);
  assert.deepEqual(spec.mounts.find((m) => m.destination === '/host-tmp'), { destination: '/host-tmp', type: 'bind', source: '/tmp', options: ['rbind', 'ro', 'rprivate'] });
  assert.deepEqual(spec.mounts.find((m) => m.destination === '/run')!.options, ['noexec', 'nosuid', 'nodev']);
  assert.ok(spec.mounts.find((m) => m.destination === '/etc/hosts')!.options!.includes('ro'));
  assert.equal(spec.linux.resources!.memory!.limit, 67108864);
  assert.deepEqual(spec.linux.resources!.cpu, { period: 100000, quota: 50000 });
  assert.deepEqual(spec.linux.resources!.pids, { limit: 20 });
  assert.deepEqual(spec.linux.namespaces.find((n) => n.type === 'network'), { type: 'network', path: '/var/run/netns/x' });
  assert.equal(spec.process.noNewPrivileges, true);
  const host = buildSpec({ rootfs: dir, args: ['sh'], network: 'host' });
  assert.ok(!host.linux.namespaces.some((n) => n.type === 'network'));
  assert.equal(host.linux.sysctl!['net.ipv4.ip_unprivileged_port_start'], undefined);
  assert.throws(() => buildSpec({ rootfs: dir, args: ['sh'], user: 'nosuchuser' }), /unable to find user nosuchuser: no matching entries in passwd file/);
  assert.throws(() => buildSpec({ rootfs: dir, args: ['sh'], memory: 1024 }), /Minimum memory limit allowed is 6MB/);
});

test('env helpers keep Docker\'s order and replace by key', () => {
  assert.deepEqual(containerEnv({ hostname: 'h', env: ['A=1', 'HOSTNAME=x'] }), [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=x', 'A=1',
  ]);
  assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['B', 'C=3']), ['A=1', 'C=3']);
});

test('runc messages map to Docker wording and exit codes', () => {
  const raw = 'time="2026-01-01T00:00:00Z" level=error msg="runc create failed: unable to start container process: exec: \\"nosuch\\": executable file not found in $PATH"';
  assert.equal(cleanRuncMessage(raw), 'runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH');
  const e = runtimeError('create', 'c1', raw, 1);
  assert.equal(e.exitCode, 127);
  assert.equal(e.message, 'failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown');
  assert.equal(runtimeError('create', 'c1', 'exec: "/etc": permission denied', 1).exitCode, 126);
  assert.equal(runtimeError('kill', 'c1', 'container does not exist', 1).code, 'not_found');
  assert.notEqual(runtimeDirFor('/tmp/a'), runtimeDirFor('/tmp/b'));
  assert.match(runtimeDirFor('/var/lib/strata'), /^\/run\/strata-[0-9a-f]{12}$/);
});

test('detach keys: Docker\'s syntax, held-back prefixes', () => {
  assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [0x10, 0x11]);
  assert.deepEqual([...parseDetachKeys('a,ctrl-@,ctrl-[')], [0x61, 0, 27]);
  assert.throws(() => parseDetachKeys('ctrl-pp'), /Unknown character/);
  const f = new DetachKeyFilter(parseDetachKeys('ctrl-p,ctrl-q'));
  assert.deepEqual(f.push(Buffer.from('ab\x10')), { data: Buffer.from('ab'), detach: false });
  assert.deepEqual(f.push(Buffer.from('x')), { data: Buffer.from('\x10x'), detach: false });
  assert.deepEqual(f.push(Buffer.from('\x10\x10')), { data: Buffer.from('\x10'), detach: false });
  assert.deepEqual(f.push(Buffer.from('\x11rest')), { data: Buffer.alloc(0), detach: true });
});
