/**
 * Seccomp filters in Docker's format. The default is Docker's own profile,
 * shipped unchanged as `seccomp/default.json` (see seccomp/README.md for its
 * source and licence); a user's `--security-opt seccomp=FILE` profile is read
 * by the same code. A profile becomes a container's OCI `linux.seccomp` by
 * applying each rule's `includes` / `excludes` (capabilities of the bounding
 * set, architecture, kernel version) and `archMap`, as moby does: rules are
 * kept in file order, nothing is merged or reordered.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { invalidArgument } from '../base/errors.js';
import DEFAULT_PROFILE_JSON from './seccomp/default.json' with { type: 'json' };

interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
}

/** The OCI runtime-spec `linux.seccomp` object. */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: SeccompSyscall[];
}

/** A condition of a profile rule. */
interface SeccompFilter {
  caps?: string[];
  arches?: string[];
  /** "<kernel>.<major>" */
  minKernel?: string;
}

/** One rule of a Docker-format profile. */
interface ProfileSyscall {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  comment?: string;
  includes?: SeccompFilter;
  excludes?: SeccompFilter;
}

/** A Docker-format seccomp profile (what default.json and `--security-opt seccomp=FILE` hold). */
interface DockerSeccompProfile {
  defaultAction?: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures?: string[] | null }> | null;
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: ProfileSyscall[] | null;
}

/** Docker's default profile, as shipped. */
export const DOCKER_DEFAULT_PROFILE: DockerSeccompProfile = DEFAULT_PROFILE_JSON as DockerSeccompProfile;

/** Node's process.arch -> the native name the profile's `arches` use (libseccomp's); ppc64 by endianness. */
const NATIVE_ARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: 'x86',
  arm: 'arm',
  arm64: 'arm64',
  loong64: 'loongarch64',
  mips: 'mips',
  mipsel: 'mipsel',
  ppc: 'ppc',
  ppc64: 'ppc64',
  riscv64: 'riscv64',
  s390: 's390',
  s390x: 's390x',
};

/** The native name -> its SCMP_ARCH_* (the key into `archMap`). */
const SCMP_ARCH: Record<string, string> = {
  x86: 'SCMP_ARCH_X86',
  amd64: 'SCMP_ARCH_X86_64',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  loongarch64: 'SCMP_ARCH_LOONGARCH64',
  mipsel: 'SCMP_ARCH_MIPSEL',
  ppc: 'SCMP_ARCH_PPC',
  ppc64: 'SCMP_ARCH_PPC64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  s390: 'SCMP_ARCH_S390',
  s390x: 'SCMP_ARCH_S390X',
};

/** The running kernel's release (uname -r), read once: from /proc without loading node:os on a start's path. */
let osRelease: string | undefined;
function kernelRelease(): string {
  if (osRelease === undefined) {
    try { osRelease = fs.readFileSync('/proc/sys/kernel/osrelease', 'latin1').trim(); } catch { osRelease = os.release(); }
  }
  return osRelease;
}

function kernelVersion(release: string = kernelRelease()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function parseMinKernel(v: string): [number, number] {
  const m = /^(\d{1,3})\.(\d{1,3})$/.exec(v);
  if (!m || (m[1] === '0' && m[2] === '0')) throw invalidArgument(`invalid kernel version: "${v}", expected "<kernel>.<major>"`);
  return [Number(m[1]), Number(m[2])];
}

function atLeast(k: [number, number], min: [number, number]): boolean {
  return k[0] > min[0] || (k[0] === min[0] && k[1] >= min[1]);
}

interface ProfileContext {
  /** the container's bounding capabilities (full CAP_* names) */
  caps: readonly string[];
  /** Node's process.arch (default: this machine's) */
  arch?: string;
  /** [kernel, major] (default: this machine's) */
  kernel?: [number, number];
}

/**
 * The OCI filter a Docker-format profile gives a container; null when the
 * profile disables seccomp (no default action and no rules).
 */
export function seccompFromProfile(profile: DockerSeccompProfile, ctx: ProfileContext): SeccompProfile | null {
  const rules = profile.syscalls ?? [];
  if (!profile.defaultAction && rules.length === 0) return null;
  if (!profile.defaultAction) throw invalidArgument('seccomp profile has no defaultAction');
  if ((profile.architectures?.length ?? 0) > 0 && (profile.archMap?.length ?? 0) > 0) {
    throw invalidArgument("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  const arch = ctx.arch ?? process.arch;
  // os.endianness() only here: every command loads this module, few need `os`
  const native = arch === 'ppc64' && os.endianness() === 'LE' ? 'ppc64le' : NATIVE_ARCH[arch] ?? arch;
  const kernel = ctx.kernel ?? kernelVersion();
  const out: SeccompProfile = { defaultAction: profile.defaultAction, syscalls: [] };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  const arches = [...(profile.architectures ?? [])];
  const scmp = SCMP_ARCH[native];
  const entry = scmp === undefined ? undefined : profile.archMap?.find((a) => a.architecture === scmp);
  if (entry) arches.push(entry.architecture, ...(entry.subArchitectures ?? []));
  if (arches.length > 0) out.architectures = arches;
  if (profile.flags?.length) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;

  for (const r of rules) {
    let names = r.names ?? [];
    if (r.name) {
      if (names.length > 0) throw invalidArgument("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'");
      names = [r.name];
    }
    const ex = r.excludes;
    if (ex) {
      if (ex.arches?.includes(native)) continue;
      if (ex.caps?.some((c) => ctx.caps.includes(c))) continue;
      if (ex.minKernel && atLeast(kernel, parseMinKernel(ex.minKernel))) continue;
    }
    const inc = r.includes;
    if (inc) {
      if (inc.arches?.length && !inc.arches.includes(native)) continue;
      if (inc.caps?.length && !inc.caps.every((c) => ctx.caps.includes(c))) continue;
      if (inc.minKernel && !atLeast(kernel, parseMinKernel(inc.minKernel))) continue;
    }
    if (!r.action) throw invalidArgument(`seccomp profile rule for ${names.join(', ') || '(no syscall)'} has no action`);
    const s: SeccompSyscall = { names: [...names], action: r.action };
    if (r.errnoRet !== undefined) s.errnoRet = r.errnoRet;
    if (r.args && r.args.length > 0) s.args = r.args.map((a) => ({ ...a }));
    out.syscalls.push(s);
  }
  return out;
}

/** Docker's default filter for a container whose bounding set is `caps`. */
export function defaultSeccompProfile(caps: readonly string[], arch: string = process.arch): SeccompProfile {
  return seccompFromProfile(DOCKER_DEFAULT_PROFILE, { caps, arch })!;
}

/** A user's profile (the JSON text of `--security-opt seccomp=FILE`), Docker's messages on bad input. */
export function loadSeccompProfile(json: string, caps: readonly string[], arch: string = process.arch): SeccompProfile | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw invalidArgument(`Decoding seccomp profile failed: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidArgument('Decoding seccomp profile failed: not a JSON object');
  const p = parsed as DockerSeccompProfile;
  if (p.syscalls != null && !Array.isArray(p.syscalls)) throw invalidArgument('Decoding seccomp profile failed: syscalls is not a list');
  return seccompFromProfile(p, { caps, arch });
}

/**
 * The seccomp choice of a container's HostConfig.SecurityOpt, as the Docker
 * CLI sends it: `seccomp=unconfined`, `seccomp=builtin`, or `seccomp=<the
 * profile's JSON>` (the CLI reads the file). The last one wins.
 */
export function seccompFromSecurityOpt(opts: readonly string[] | null | undefined): 'default' | 'unconfined' | { profileJson: string } {
  let out: 'default' | 'unconfined' | { profileJson: string } = 'default';
  for (const o of opts ?? []) {
    const m = /^seccomp[=:]([\s\S]*)$/.exec(o);
    if (!m) continue;
    const v = m[1]!;
    out = v === 'unconfined' ? 'unconfined' : v === 'builtin' || v === 'default' || v === '' ? 'default' : { profileJson: v };
  }
  return out;
}
