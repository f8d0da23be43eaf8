/**
 * `exec` without runc: native/exec.c (`strata-exec`) does what `runc exec` does, from the
 * same sources runc reads: the container's init, namespaces and cgroups from runc's
 * state.json; the user, capabilities, rlimits, no_new_privs and seccomp rules from the
 * process spec runc would get and the bundle's config.json. runc starts two Go processes
 * (~34 ms here); strata-exec is one short C process.
 *
 * Only what strata-exec reproduces exactly goes this way; anything else is left to runc:
 * a user namespace, a seccomp profile with flags, a notify action or an unusual set of
 * architectures, an SELinux label or a personality, and any process that would hold
 * CAP_SYS_PTRACE (a privileged exec or container could open strata-exec's
 * /proc/PID/exe before execve; without that capability the non-dumpable child is out of
 * reach). `STRATA_EXEC_RUNTIME=runc` sends every exec through runc.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { capMask } from './caps.js';
import type { Runc } from './runc.js';
import type { OciProcess, OciSpec } from './spec.js';
import { nativeBinary } from '../base/native.js';

/** The part of runc's state.json (libcontainer's State) an exec needs. */
interface RuncState {
  init_process_pid?: number;
  init_process_start?: number | string;
  cgroup_paths?: Record<string, string>;
  config?: { namespaces?: { type: string; path?: string }[] };
}

/** libcontainer's namespace types -> /proc/PID/ns names strata-exec joins. */
const NAMESPACES: Record<string, string> = { NEWIPC: 'ipc', NEWUTS: 'uts', NEWNET: 'net', NEWPID: 'pid', NEWNS: 'mnt', NEWCGROUP: 'cgroup' };

const RLIMITS = ['CPU', 'FSIZE', 'DATA', 'STACK', 'CORE', 'RSS', 'NPROC', 'NOFILE', 'MEMLOCK', 'AS', 'LOCKS', 'SIGPENDING', 'MSGQUEUE', 'NICE', 'RTPRIO', 'RTTIME'];

const OPS: Record<string, number> = { SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7 };

const EPERM = 1;

/** libseccomp's action value (as runc maps the OCI names), or undefined for one left to runc. */
function seccompAction(action: string, errnoRet: number | undefined): number | undefined {
  switch (action) {
    case 'SCMP_ACT_KILL': case 'SCMP_ACT_KILL_THREAD': return 0;
    case 'SCMP_ACT_KILL_PROCESS': return 0x80000000;
    case 'SCMP_ACT_TRAP': return 0x00030000;
    case 'SCMP_ACT_ERRNO': return 0x00050000 + ((errnoRet ?? EPERM) & 0xffff);
    case 'SCMP_ACT_TRACE': return 0x7ff00000 + ((errnoRet ?? EPERM) & 0xffff);
    case 'SCMP_ACT_LOG': return 0x7ffc0000;
    case 'SCMP_ACT_ALLOW': return 0x7fff0000;
    default: return undefined;
  }
}

/** Architectures strata-exec lays runc's ENOSYS stub out for: x32 only beside x86_64. */
function archesSupported(arches: readonly string[]): boolean {
  return !arches.includes('SCMP_ARCH_X32') || arches.includes('SCMP_ARCH_X86_64');
}

function readState(runc: Runc, id: string): RuncState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(runc.stateDir(id), 'state.json'), 'utf8')) as RuncState;
  } catch {
    return undefined;
  }
}

/** Bumped when the rules strata-exec gets for a profile change: programs kept before are not used. */
const PROGRAM_FORMAT = 1;

/** The profile's rules as strata-exec takes them; false for a profile left to runc. */
function seccompRules(sc: NonNullable<OciSpec['linux']['seccomp']>, put: (k: string, v: string | number) => void): boolean {
  if (sc.flags?.length || sc.listenerPath) return false;
  const def = seccompAction(sc.defaultAction, sc.defaultErrnoRet);
  if (def === undefined || !archesSupported(sc.architectures ?? [])) return false;
  put('sc_default', def.toString(16));
  for (const a of sc.architectures ?? []) put('sc_arch', a.replace(/^SCMP_ARCH_/, '').toLowerCase());
  for (const rule of sc.syscalls) {
    const act = seccompAction(rule.action, rule.errnoRet);
    if (act === undefined || (rule.args?.length ?? 0) > 6) return false;
    put('sc_rule', `${act.toString(16)} ${rule.names.join(' ')}`);
    for (const a of rule.args ?? []) {
      const op = OPS[a.op];
      if (op === undefined) return false;
      put('sc_arg', `${a.index} ${op} ${BigInt.asUintN(64, BigInt(a.value))} ${BigInt.asUintN(64, BigInt(a.valueTwo ?? 0))}`);
    }
  }
  return true;
}

interface NativeExecFiles {
  log: string;
  pid: string;
  /** the bundle (config.json's directory), where the compiled seccomp program is kept */
  cacheDir: string;
  /**
   * strata-exec takes the CLI's place (Sys.execReplace): it reports a failure itself, removes
   * its configuration and writes the exit status here (no log or pid file then)
   */
  exitFile?: string;
}

/**
 * strata-exec and its configuration for this exec (NUL-separated key/value pairs), or
 * undefined when it must go through runc.
 */
export function nativeExecConfig(runc: Runc, id: string, spec: OciSpec, proc: OciProcess, files: NativeExecFiles): { binary: string; conf: Buffer } | undefined {
  const kv: string[] = [];
  const put = (k: string, v: string | number) => kv.push(k, String(v));
  const binary = nativeBinary('strata-exec');
  if (process.env.STRATA_EXEC_RUNTIME === 'runc' || !binary) return undefined;
  const caps = proc.capabilities ?? {};
  const all = [caps.bounding, caps.effective, caps.permitted, caps.inheritable, caps.ambient].flatMap((c) => c ?? []);
  if (all.includes('CAP_SYS_PTRACE')) return undefined;
  const ext = spec.process as OciProcess & { selinuxLabel?: string };
  const linux = spec.linux as OciSpec['linux'] & { personality?: unknown } | undefined;
  if (ext.selinuxLabel || linux?.personality !== undefined) return undefined;
  const st = readState(runc, id);
  if (!st?.init_process_pid || st.init_process_start === undefined || !st.cgroup_paths || !st.config?.namespaces) return undefined;

  put('id', id);
  put('pid', st.init_process_pid);
  put('start', st.init_process_start);
  for (const ns of st.config.namespaces) {
    const name = NAMESPACES[ns.type];
    if (!name) return undefined; // a user namespace (or one this code does not know)
    put('ns', name);
  }
  for (const dir of new Set(Object.values(st.cgroup_paths))) put('cgroup', path.join(dir, 'cgroup.procs'));
  if (spec.process.oomScoreAdj !== undefined) put('oom', spec.process.oomScoreAdj);
  if (proc.apparmorProfile) put('apparmor', proc.apparmorProfile);
  put('uid', proc.user.uid);
  put('gid', proc.user.gid);
  for (const g of proc.user.additionalGids ?? []) put('group', g);
  put('bnd', capMask(caps.bounding ?? []));
  put('eff', capMask(caps.effective ?? []));
  put('prm', capMask(caps.permitted ?? []));
  put('inh', capMask(caps.inheritable ?? []));
  put('amb', capMask(caps.ambient ?? []));
  if (proc.noNewPrivileges) put('nnp', 1);
  for (const r of proc.rlimits ?? []) {
    const n = RLIMITS.indexOf(r.type.replace(/^RLIMIT_/, ''));
    if (n < 0) return undefined;
    put('rlimit', `${n} ${BigInt.asUintN(64, BigInt(r.soft))} ${BigInt.asUintN(64, BigInt(r.hard))}`);
  }
  const sc = linux?.seccomp;
  if (sc) {
    // compiled by the first exec after a start (which rewrites config.json) and kept beside
    // config.json, named after it: later execs send no rules
    let made: fs.BigIntStats;
    try { made = fs.statSync(path.join(files.cacheDir, 'config.json'), { bigint: true }); } catch { return undefined; }
    const name = `seccomp-${PROGRAM_FORMAT}-${made.ino}-${made.mtimeNs}-${made.size}.bpf`;
    const file = path.join(files.cacheDir, name);
    put('sc_file', file);
    const kept = fs.statSync(file, { throwIfNoEntry: false });
    if (!kept || kept.size === 0 || kept.size % 8 !== 0) { // (8 bytes per instruction)
      if (!seccompRules(sc, put)) return undefined;
      for (const f of fs.readdirSync(files.cacheDir)) if (f.startsWith('seccomp-') && f !== name) fs.rmSync(path.join(files.cacheDir, f), { force: true });
    }
  }
  put('cwd', proc.cwd);
  // (strata-exec sets HOME from the container's /etc/passwd when the environment has none, as runc does)
  for (const e of proc.env) put('env', e);
  for (const a of proc.args) put('arg', a);
  if (files.exitFile) {
    put('direct', 1);
    put('exitfile', files.exitFile);
  } else {
    put('log', files.log);
    put('pidfile', files.pid);
  }
  if (kv.some((s) => s.includes('\0'))) return undefined;
  return { binary, conf: Buffer.from(kv.join('\0') + '\0') };
}
