/**
 * Seccomp from Docker's own profile (src/runtime/seccomp/default.json): the
 * filter a container gets is the file's rules selected by includes/excludes,
 * unchanged; --cap-add opens the capability-gated rules; --privileged runs
 * unconfined; a user's profile goes through the same code; and a real
 * container sees the result (AF_ALG refused, syscalls new to the profile
 * allowed).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import {
  DEFAULT_CAPABILITIES, DOCKER_DEFAULT_PROFILE, buildSpec, defaultSeccompProfile, hostCapabilities, loadSeccompProfile,
  seccompFromProfile, type SeccompProfile,
} from '../../src/runtime/index.js';
import { StrataError } from '../../src/base/errors.js';
import { makeBusyboxRootfs } from './fixture.js';
import { PROJECT, containerRoot, strata, strataOk } from '../helpers.js';

const FILE = JSON.parse(fs.readFileSync(path.join(PROJECT, 'src/runtime/seccomp/default.json'), 'utf8')) as {
  defaultAction: string; defaultErrnoRet: number; syscalls: Array<Record<string, unknown>>;
};

/** The file's rules at these positions, as the OCI filter lists them (no includes/excludes/comment). */
function fileRules(indices: number[]): SeccompProfile['syscalls'] {
  return indices.map((i) => {
    const { includes: _i, excludes: _e, comment: _c, ...rest } = FILE.syscalls[i]!;
    return rest as unknown as SeccompProfile["syscalls"][number];
  });
}

const X86_ARCHES = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
const allowed = (p: SeccompProfile, name: string): boolean => p.syscalls.some((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args && s.names.includes(name));

test('the default filter is the file\'s rules for Docker\'s default capabilities', () => {
  assert.equal(FILE.syscalls.length, 33, 'the shipped file is the one the indices below were read from');
  const p = seccompFromProfile(DOCKER_DEFAULT_PROFILE, { caps: DEFAULT_CAPABILITIES, arch: 'x64', kernel: [6, 8] })!;
  assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(p.defaultErrnoRet, 1);
  assert.deepEqual(p.architectures, X86_ARCHES);
  // 0 the allowlist; 1 ptrace & co (4.8+); 2-4 socket but AF_ALG/AF_VSOCK; 5-9 personality; 12 arch_prctl,
  // 13 modify_ldt (amd64); 18 clone without namespace flags; 20 clone3 -> ENOSYS; 22 chroot (CAP_SYS_CHROOT)
  assert.deepEqual(p.syscalls, fileRules([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 18, 20, 22]));
  // what drifted in the old hand copy
  for (const n of ['cachestat', 'statmount', 'listmount', 'mseal', 'getxattrat', 'setxattrat', 'listxattrat', 'removexattrat']) assert.ok(allowed(p, n), n);
  for (const n of ['lsm_get_self_attr', 'lsm_list_modules', 'lsm_set_self_attr', 'mount', 'unshare', 'bpf', 'keyctl', 'io_uring_setup']) assert.ok(!allowed(p, n), n);
  const socketRules = p.syscalls.filter((s) => s.names[0] === 'socket').map((s) => s.args);
  assert.deepEqual(socketRules, [
    [{ index: 0, value: 38, op: 'SCMP_CMP_LT' }], [{ index: 0, value: 39, op: 'SCMP_CMP_EQ' }], [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }],
  ], 'AF_ALG (38) and AF_VSOCK (40) refused');
  // this machine's default is the same selection (for its arch and kernel)
  if (process.arch === 'x64' && Number(os.release().split('.')[0]) >= 5) assert.deepEqual(defaultSeccompProfile(DEFAULT_CAPABILITIES), p);
});

test('--cap-add SYS_ADMIN, other arches and old kernels select other rules of the file', (t) => {
  const admin = seccompFromProfile(DOCKER_DEFAULT_PROFILE, { caps: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], arch: 'x64', kernel: [6, 8] })!;
  // 17 the SYS_ADMIN list opens; 18 (masked clone) and 20 (clone3 ENOSYS) are excluded by it
  assert.deepEqual(admin.syscalls, fileRules([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 17, 22]));
  for (const n of ['mount', 'unshare', 'setns', 'clone', 'clone3', 'lsm_get_self_attr', 'lsm_set_self_attr', 'lsm_list_modules']) assert.ok(allowed(admin, n), n);
  // via buildSpec, as a container gets it
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-seccomp-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  makeBusyboxRootfs(dir);
  const spec = buildSpec({ rootfs: dir, args: ['sh'], capAdd: ['SYS_ADMIN'] });
  assert.deepEqual(spec.linux.seccomp, defaultSeccompProfile(spec.process.capabilities!.bounding!));
  assert.ok(allowed(spec.linux.seccomp as SeccompProfile, 'mount'));
  // capabilities dropped close their rules: no CAP_SYS_CHROOT, no chroot
  const dropped = buildSpec({ rootfs: dir, args: ['sh'], capDrop: ['SYS_CHROOT'] });
  assert.ok(!allowed(dropped.linux.seccomp as SeccompProfile, 'chroot'));

  const arm = seccompFromProfile(DOCKER_DEFAULT_PROFILE, { caps: DEFAULT_CAPABILITIES, arch: 'arm64', kernel: [6, 8] })!;
  assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.deepEqual(arm.syscalls, fileRules([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 18, 20, 22]));
  const s390 = seccompFromProfile(DOCKER_DEFAULT_PROFILE, { caps: DEFAULT_CAPABILITIES, arch: 's390x', kernel: [6, 8] })!;
  assert.deepEqual(s390.syscalls, fileRules([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 19, 20, 22]));
  const old = seccompFromProfile(DOCKER_DEFAULT_PROFILE, { caps: DEFAULT_CAPABILITIES, arch: 'x64', kernel: [4, 4] })!;
  assert.deepEqual(old.syscalls, fileRules([0, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 18, 20, 22]));
});

test('--privileged is unconfined; a profile file applies even then; seccomp=unconfined', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-seccomp-'));
  try {
    makeBusyboxRootfs(dir);
    assert.equal(buildSpec({ rootfs: dir, args: ['sh'], privileged: true }).linux.seccomp, undefined);
    assert.equal(buildSpec({ rootfs: dir, args: ['sh'], seccomp: 'unconfined' }).linux.seccomp, undefined);
    const json = JSON.stringify(DOCKER_DEFAULT_PROFILE);
    const priv = buildSpec({ rootfs: dir, args: ['sh'], privileged: true, seccomp: { profileJson: json } });
    assert.deepEqual(priv.linux.seccomp, defaultSeccompProfile(hostCapabilities()));
    assert.ok(allowed(priv.linux.seccomp as SeccompProfile, 'mount'), 'the host capability set opens the SYS_ADMIN rules');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a user profile: name/names, includes/excludes, archMap or architectures, Docker\'s errors', () => {
  const profile = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [
      { name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      { names: ['chmod'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'] } },
      { names: ['chown'], action: 'SCMP_ACT_ERRNO', excludes: { minKernel: '5.0' } },
      { names: ['link'], action: 'SCMP_ACT_ERRNO', includes: { arches: ['arm64'] } },
    ],
  };
  const p = loadSeccompProfile(JSON.stringify(profile), ['CAP_SYS_ADMIN'], 'x64')!;
  assert.deepEqual(p, { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] },
    'includes needs every cap; excludes minKernel drops on newer kernels; arches filter');
  const both = loadSeccompProfile(JSON.stringify(profile), ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'], 'x64')!;
  assert.deepEqual(both.syscalls.map((s) => s.names[0]), ['mkdir', 'chmod']);
  assert.equal(loadSeccompProfile('{}', []), null, 'an empty profile means unconfined');
  const fails = (json: string, re: RegExp): void => {
    assert.throws(() => loadSeccompProfile(json, []), (e: unknown) => e instanceof StrataError && e.code === 'invalid_argument' && re.test(e.message));
  };
  fails('{not json', /^Decoding seccomp profile failed: /);
  fails(JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], archMap: [{ architecture: 'SCMP_ARCH_X86_64' }] }), /both 'architectures' and 'archMap'/);
  fails(JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ALLOW' }] }), /both 'name' and 'names'/);
  fails(JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4' } }] }), /invalid kernel version/);
});

/** A static probe: errno of socket(AF_ALG) and of syscalls the old hand copy lacked (x86_64 numbers). */
const PROBE_C = `
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
static void show(const char *name, long r) {
  printf("%s=%s\\n", name, r >= 0 ? "ok" : errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS" : errno == EACCES ? "EACCES" : "other");
}
int main(void) {
  show("af_alg", syscall(SYS_socket, 38, 5, 0));
  show("af_inet", syscall(SYS_socket, 2, 1, 0));
  show("cachestat", syscall(451, -1, 0, 0, 0));
  show("mseal", syscall(462, 0, 0, 0));
  show("getxattrat", syscall(464, -1, "", 0, "user.x", 0, 0));
  show("mkdir", syscall(SYS_mkdir, "/tmp/probe-dir", 0755));
  show("unshare", syscall(SYS_unshare, 0x00020000));
  return 0;
}
`;

test('in a real container: AF_ALG refused, new syscalls not refused, SYS_ADMIN opens its rules, a profile file applies', (t) => {
  if (process.arch !== 'x64') { t.skip('x86_64 syscall numbers'); return; }
  const root = containerRoot(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-seccomp-probe-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'probe.c'), PROBE_C);
  execFileSync('gcc', ['-static', '-O1', '-o', path.join(dir, 'probe'), path.join(dir, 'probe.c')]);
  const run = (extra: string[]): Record<string, string> => {
    const out = strataOk(root, ['run', '--rm', '--network', 'none', '-v', `${dir}:/probe:ro`, ...extra, 'busybox', '/probe/probe']);
    return Object.fromEntries(out.trim().split('\n').map((l) => l.split('=') as [string, string]));
  };
  const def = run([]);
  assert.equal(def['af_alg'], 'EPERM', 'socket(AF_ALG) is refused as in Docker');
  assert.equal(def['af_inet'], 'ok');
  assert.equal(def['mkdir'], 'ok');
  assert.equal(def['unshare'], 'EPERM');
  // Newer than what runc's libseccomp can name: runc leaves them out of the filter and its stub answers
  // ENOSYS (Docker on this runc does the same); what matters is that the profile does not refuse them.
  for (const n of ['cachestat', 'mseal', 'getxattrat']) assert.notEqual(def[n], 'EPERM', n);
  assert.notEqual(run(['--cap-add', 'SYS_ADMIN'])['unshare'], 'EPERM');
  assert.notEqual(run(['--security-opt', 'seccomp=unconfined'])['af_alg'], 'EPERM');
  assert.notEqual(run(['--privileged'])['af_alg'], 'EPERM');
  // a profile file: Docker's, with mkdir answered EACCES
  const custom = structuredClone(DOCKER_DEFAULT_PROFILE);
  custom.syscalls![0] = { ...custom.syscalls![0]!, names: custom.syscalls![0]!.names!.filter((n) => n !== 'mkdir') };
  custom.syscalls!.push({ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 });
  const profilePath = path.join(dir, 'profile.json');
  fs.writeFileSync(profilePath, JSON.stringify(custom, null, 2));
  const withFile = run(['--security-opt', `seccomp=${profilePath}`]);
  assert.equal(withFile['mkdir'], 'EACCES');
  assert.equal(withFile['af_alg'], 'EPERM');
  // even --privileged takes a profile file (Docker does)
  assert.equal(run(['--privileged', '--security-opt', `seccomp=${profilePath}`])['mkdir'], 'EACCES');
  // bad profile files: one clear line, exit 125
  const missing = strata(root, ['run', '--rm', '--security-opt', `seccomp=${dir}/nope.json`, 'busybox', 'true']);
  assert.equal(missing.code, 125);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  assert.match(missing.stderr, /opening seccomp profile \(.*nope\.json\) failed: open .*: no such file or directory/);
  fs.writeFileSync(path.join(dir, 'bad.json'), '{"defaultAction": ');
  const bad = strata(root, ['run', '--rm', '--security-opt', `seccomp=${dir}/bad.json`, 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /compacting json for seccomp profile/);
});
