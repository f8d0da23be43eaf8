/**
 * exec through strata-exec (native/exec.c) against exec through runc: for each container
 * configuration the same probe runs both ways and must see the same process: user, groups,
 * capability sets, no_new_privs, seccomp mode, cgroups, namespaces, rlimits,
 * oom_score_adj, umask, working directory and environment. The seccomp program strata-exec
 * installs is compared with the one runc installed in the container's init: libseccomp's
 * part instruction by instruction, runc's ENOSYS stub in front of it by what it decides.
 * What strata-exec does not reproduce goes through runc.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Fixture, ensureMonitorBuilt, collector, execOutput, until, repoRoot } from './fixture.js';
import { execInContainer, type BuildSpecOptions } from '../../src/runtime/index.js';
import { nativeExecConfig } from '../../src/runtime/exec-native.js';
import { readBundleSpec } from '../../src/runtime/spec.js';

const HELPER = path.join(repoRoot, 'native', 'build', 'strata-exec');

let fx: Fixture;
before(() => {
  ensureMonitorBuilt();
  fx = new Fixture();
});
after(async () => {
  delete process.env.STRATA_EXEC_RUNTIME;
  await fx.cleanup();
  assert.deepEqual(await fx.runc.list().catch(() => []), []);
});

const running = (spec: Omit<BuildSpecOptions, 'rootfs'> = { args: ['sleep', '1000'] }) => fx.running(spec);

type Opts = Parameters<typeof execInContainer>[2];

/** Run through runc (`via: 'runc'`) or through strata-exec; stdout, stderr, status. */
async function execVia(via: 'runc' | 'native', id: string, opts: Opts) {
  if (via === 'runc') process.env.STRATA_EXEC_RUNTIME = 'runc';
  else delete process.env.STRATA_EXEC_RUNTIME;
  try {
    return await execOutput(await execInContainer(fx.runc, id, opts));
  } finally {
    delete process.env.STRATA_EXEC_RUNTIME;
  }
}

/** Everything about the process that runc sets up. */
const PROBE = [
  'id',
  'grep -E "^(Uid|Gid|Groups|Cap[A-Za-z]+|NoNewPrivs|Seccomp|Seccomp_filters):" /proc/self/status',
  'cat /proc/self/cgroup',
  'for n in cgroup ipc mnt net pid uts; do readlink /proc/self/ns/$n; done',
  'cat /proc/self/limits',
  'cat /proc/self/oom_score_adj',
  'umask',
  'pwd',
  'env | sort',
].join('; ');

interface Insn { code: number; jt: number; jf: number; k: number }

/**
 * runc's ENOSYS stub, and libseccomp's program after it. runc lays the stub's sections out
 * in Go map order, which changes from one container to the next, so stubs are compared by
 * what they decide, not byte for byte.
 */
function splitStub(text: string): { stub: Insn[]; filter: Insn[] } {
  const all = text.trim().split('\n').map((l) => {
    const [code, jt, jf, k] = l.split(' ').map((h) => parseInt(h, 16));
    return { code: code!, jt: jt!, jf: jf!, k: k! };
  });
  const ret = all.findIndex((i) => i.code === 0x06 && i.k === 0x00050026);
  return ret < 0 ? { stub: [], filter: all } : { stub: all.slice(0, ret + 1), filter: all.slice(ret + 1) };
}

/** Run a stub for one architecture and syscall number: 'enosys', or 'filter' when it falls through. */
function runStub(stub: Insn[], arch: number, nr: number): string {
  let a = 0;
  for (let pc = 0; pc < stub.length; pc++) {
    const i = stub[pc]!;
    if (i.code === 0x20) a = i.k === 4 ? arch : nr;
    else if (i.code === 0x05) pc += i.k;
    else if (i.code === 0x15) pc += a === i.k ? i.jt : i.jf;
    else if (i.code === 0x25) pc += a > i.k ? i.jt : i.jf;
    else if (i.code === 0x45) pc += (a & i.k) !== 0 ? i.jt : i.jf;
    else if (i.code === 0x06) return i.k === 0x00050026 ? 'enosys' : `ret ${i.k}`;
    else throw new Error(`unexpected instruction ${i.code.toString(16)}`);
  }
  return 'filter';
}

function stubOutcomes(stub: Insn[]): string[] {
  const out: string[] = [];
  for (const arch of [0xc000003e, 0x40000003, 0xc00000b7]) {
    for (const base of [0, 0x40000000]) {
      for (let nr = base; nr < base + 600; nr++) out.push(`${arch.toString(16)} ${nr.toString(16)} ${runStub(stub, arch, nr)}`);
    }
  }
  return out;
}

/** Whether nativeExecConfig sends this exec through strata-exec. */
function goesNative(c: { id: string; dir: string }, opts: { privileged?: boolean } = {}): boolean {
  const spec = readBundleSpec(c.dir);
  const caps = opts.privileged ? ['CAP_SYS_PTRACE'] : spec.process.capabilities?.bounding ?? [];
  const proc = { ...spec.process, capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [] } };
  return nativeExecConfig(fx.runc, c.id, spec, proc, { log: '/dev/null', pid: '/dev/null', cacheDir: c.dir }) !== undefined;
}

test('strata-exec sets up the process exactly as runc exec does, container by container', { timeout: 120000 }, async (t) => {
  const cases: Array<{ name: string; spec: Omit<BuildSpecOptions, 'rootfs'>; exec: Omit<Opts, 'args'> }> = [
    { name: 'defaults', spec: { args: ['sleep', '1000'] }, exec: {} },
    { name: 'user and groups', spec: { args: ['sleep', '1000'], env: ['BASE=1'] }, exec: { user: 'app', groupAdd: ['50'], cwd: '/tmp', env: ['FOO=bar baz', 'BASE=2'] } },
    { name: 'numeric user without a passwd entry', spec: { args: ['sleep', '1000'] }, exec: { user: '4242:4343' } },
    { name: 'capabilities, no_new_privs, rlimits, oom_score_adj', spec: { args: ['sleep', '1000'], capDrop: ['ALL'], capAdd: ['NET_ADMIN', 'KILL'], noNewPrivileges: true, ulimits: [{ name: 'nproc', soft: 100, hard: 200 }, { name: 'nofile', soft: 123, hard: 456 }], oomScoreAdj: 300 }, exec: {} },
    { name: 'seccomp unconfined, host ipc and uts', spec: { args: ['sleep', '1000'], seccomp: 'unconfined', ipcMode: 'host', utsMode: 'host' }, exec: {} },
    { name: 'a user seccomp profile with conditions', spec: { args: ['sleep', '1000'], seccomp: { profileJson: JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] }, { names: ['mkdirat', 'mkdir'], action: 'SCMP_ACT_ERRNO' }] }) } }, exec: {} },
  ];
  for (const k of cases) {
    const r = await running(k.spec);
    t.after(r.stop);
    assert.ok(goesNative(r.c), `${k.name}: goes through strata-exec`);
    const viaRunc = await execVia('runc', r.c.id, { args: ['sh', '-c', PROBE], ...k.exec });
    const viaNative = await execVia('native', r.c.id, { args: ['sh', '-c', PROBE], ...k.exec });
    assert.equal(viaRunc.code, 0, `${k.name}: ${viaRunc.err}`);
    // runc 1.1.5's exec leaves RLIMIT_NOFILE's soft limit raised to the hard one (its Go
    // runtime raises it at start and its exec does not restore it); strata-exec gives the
    // exec'd process the container's limit, as its init has it
    const nofile = /^Max open files .*$/m;
    const initNofile = nofile.exec(fs.readFileSync(`/proc/${r.pid}/limits`, 'utf8'))![0];
    assert.equal(nofile.exec(viaNative.out)?.[0], initNofile, `${k.name}: the init's open-files limit`);
    const same = (o: typeof viaRunc) => ({ ...o, out: o.out.replace(nofile, 'Max open files: as above') });
    assert.deepEqual(same(viaNative), same(viaRunc), k.name);
    // a few facts spelled out, so that "the same" also means "right"
    if (k.name === 'user and groups') assert.match(viaNative.out, /^uid=1000\(app\) gid=1000\(app\) groups=50\(staff\)$/m);
    if (k.name === 'user and groups') assert.match(viaNative.out, /^FOO=bar baz$/m);
    if (k.name === 'numeric user without a passwd entry') assert.match(viaNative.out, /^HOME=\/$/m);
    if (k.name.startsWith('capabilities')) {
      assert.match(viaNative.out, /^CapEff:\t0000000000001020$/m);
      assert.match(viaNative.out, /^NoNewPrivs:\t1$/m);
      assert.match(viaNative.out, /^Max open files +123 +456 /m);
      assert.match(viaNative.out, /^300$/m);
    }
    if (k.name.startsWith('seccomp unconfined')) assert.match(viaNative.out, /^Seccomp:\t0$/m);
    else assert.match(viaNative.out, /^Seccomp:\t2$/m);

    // the program installed is runc's, instruction by instruction
    if (k.spec.seccomp !== 'unconfined') {
      const h = await execInContainer(fx.runc, r.c.id, { args: ['sleep', '30'] });
      const sleeper = Number(await until(() => {
        const hit = spawnSync('pgrep', ['-P', String(h.pid), '-x', 'sleep'], { encoding: 'utf8' }).stdout.trim();
        return hit ? Number(hit) : undefined;
      }, 5000, 'the exec\'d sleep'));
      const filterOf = (pid: number) => {
        const f = spawnSync(HELPER, ['--filter-of', String(pid)], { encoding: 'utf8' });
        assert.equal(f.status, 0, f.stderr);
        return f.stdout;
      };
      // compiled once, by the first exec, and loaded from the bundle since (as for this sleep)
      const kept = fs.readdirSync(r.c.dir).filter((f) => /^seccomp-\d+-\d+-\d+-\d+\.bpf$/.test(f));
      assert.equal(kept.length, 1, `${k.name}: the compiled program kept beside the bundle`);
      const installed = splitStub(filterOf(sleeper));
      const runcs = splitStub(filterOf(r.pid));
      assert.ok(installed.filter.length > 3, `${k.name}: a filter is installed`);
      assert.deepEqual(installed.filter, runcs.filter, `${k.name}: libseccomp's program, as runc installed it in the init`);
      assert.deepEqual(stubOutcomes(installed.stub), stubOutcomes(runcs.stub), `${k.name}: the ENOSYS stub decides as runc's does`);
      process.kill(sleeper, 'SIGKILL'); // a SIGKILL to the handle, as to runc exec, ends only the helper
      await h.wait();
    }
  }
});

test('strata-exec: signals reach the process, failures read as runc\'s, a recycled pid is refused', { timeout: 60000 }, async (t) => {
  const r = await running({ args: ['sleep', '1000'] });
  t.after(r.stop);
  assert.ok(goesNative(r.c));
  // SIGTERM to the exec handle reaches the process inside
  const h = await execInContainer(fx.runc, r.c.id, { args: ['sh', '-c', 'trap "echo term; exit 7" TERM; echo ready; while :; do sleep 0.05; done'] });
  const out = collector();
  h.stdout!.pipe(out.stream);
  await until(() => out.text().includes('ready'), 5000, 'the trap');
  h.kill('SIGTERM');
  assert.equal(await h.wait(), 7);
  assert.equal(out.text(), 'ready\nterm\n');
  // killed by a signal: 128 + N, as runc reports it
  const k = await execInContainer(fx.runc, r.c.id, { args: ['sh', '-c', 'kill -9 $$'] });
  assert.equal(await k.wait(), 137);
  // the helper is not visible inside the container: only the container's own processes
  const ps = await execVia('native', r.c.id, { args: ['sh', '-c', 'cat /proc/[0-9]*/comm | sort | uniq -c'] });
  assert.doesNotMatch(ps.out, /strata-exec/);
  assert.match(ps.out, /1 sleep\n/);
  // a working directory that does not exist: runc's message, word for word
  const viaRunc = await execVia('runc', r.c.id, { args: ['true'], cwd: '/nope' }).catch((e: Error) => e.message);
  const viaNative = await execVia('native', r.c.id, { args: ['true'], cwd: '/nope' }).catch((e: Error) => e.message);
  assert.equal(viaNative, viaRunc);
  assert.match(String(viaNative), /chdir to cwd \("\/nope"\) set in config\.json failed: no such file or directory/);
  assert.deepEqual(fs.readdirSync(r.c.dir).filter((f) => f.startsWith('exec-')), [], 'no exec-* file left in the bundle');
  // a kept program that is not whole is compiled again and replaced
  const kept = path.join(r.c.dir, fs.readdirSync(r.c.dir).find((f) => f.startsWith('seccomp-'))!);
  const whole = fs.readFileSync(kept);
  fs.writeFileSync(kept, whole.subarray(0, 13));
  const again = await execVia('native', r.c.id, { args: ['sh', '-c', 'grep Seccomp: /proc/self/status'] });
  assert.equal(again.out, 'Seccomp:\t2\n');
  assert.deepEqual(fs.readFileSync(kept), whole);
  assert.deepEqual(fs.readdirSync(r.c.dir).filter((f) => f.includes('.tmp')), []);

  // a configuration naming a process whose start time is not the recorded one: nothing runs
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'strata-exec-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = path.join(dir, 'conf');
  const log = path.join(dir, 'log');
  fs.writeFileSync(conf, ['pid', String(r.pid), 'start', '1', 'ns', 'mnt', 'arg', '/bin/touch', 'arg', '/tmp/ran', 'cwd', '/', 'log', log, ''].join('\0'));
  const s = spawnSync(HELPER, [conf], { encoding: 'utf8' });
  assert.equal(s.status, 255);
  assert.match(JSON.parse(fs.readFileSync(log, 'utf8')).msg, /container is not running: its init process \(pid \d+\) has exited/);
  assert.equal(fs.existsSync(path.join(r.c.dir, 'upper', 'tmp', 'ran')), false);
});

test('what strata-exec does not reproduce goes through runc: privileged, CAP_SYS_PTRACE, tty, STRATA_EXEC_RUNTIME=runc', { timeout: 60000 }, async (t) => {
  const plain = await running({ args: ['sleep', '1000'] });
  t.after(plain.stop);
  assert.equal(goesNative(plain.c), true);
  assert.equal(goesNative(plain.c, { privileged: true }), false, 'an exec --privileged');
  process.env.STRATA_EXEC_RUNTIME = 'runc';
  try { assert.equal(goesNative(plain.c), false, 'STRATA_EXEC_RUNTIME=runc'); } finally { delete process.env.STRATA_EXEC_RUNTIME; }
  const ptrace = await running({ args: ['sleep', '1000'], capAdd: ['SYS_PTRACE'] });
  t.after(ptrace.stop);
  assert.equal(goesNative(ptrace.c), false, 'a container with CAP_SYS_PTRACE');
  const privileged = await running({ args: ['sleep', '1000'], privileged: true });
  t.after(privileged.stop);
  assert.equal(goesNative(privileged.c), false, 'a privileged container');
  // and these still run, through runc
  const o = await execVia('native', privileged.c.id, { args: ['sh', '-c', 'grep Seccomp: /proc/self/status'] });
  assert.equal(o.out, 'Seccomp:\t0\n');
});
