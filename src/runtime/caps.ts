/**
 * Linux capabilities by number, Docker's default set, and Docker's
 * `--cap-add` / `--cap-drop` rules (moby `oci/caps`).
 */
import * as fs from 'node:fs';
import { StrataError } from '../base/errors.js';

/** Index = capability number (linux/capability.h). */
const CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default capabilities (14; CapEff 00000000a80425fb). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Bit mask of a capability list, as /proc/PID/status prints it (16 hex digits). */
export function capMask(caps: readonly string[]): string {
  let m = 0n;
  for (const c of caps) {
    const i = CAPABILITIES.indexOf(c);
    if (i >= 0) m |= 1n << BigInt(i);
  }
  return m.toString(16).padStart(16, '0');
}

/** Capability names present in a hex mask. */
function capsFromMask(hex: string): string[] {
  const m = BigInt('0x' + hex.trim());
  return CAPABILITIES.filter((_c, i) => (m >> BigInt(i)) & 1n);
}

let hostBounding: string[] | undefined;
/**
 * The capabilities this process may hand out: its bounding set. `--privileged`
 * gets these (this host lacks CAP_SYS_RESOURCE, so "all 41" would fail in runc).
 */
export function hostCapabilities(): string[] {
  if (!hostBounding) {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
    hostBounding = m ? capsFromMask(m[1]!) : [...CAPABILITIES];
  }
  return [...hostBounding];
}

/** `chown`, `cap_chown`, `CAP_CHOWN` -> `CAP_CHOWN`; `all` -> `ALL`. Unknown names fail as Docker's do. */
function normalizeCapability(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const full = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!CAPABILITIES.includes(full)) {
    throw new StrataError('invalid_argument', `unknown capability: "${full}"`);
  }
  return full;
}

/**
 * Docker's TweakCapabilities: `--cap-add ALL` means every capability except the
 * dropped ones; `--cap-drop ALL` means only the added ones; otherwise defaults
 * minus drops plus adds. The result is limited to what the host can grant.
 */
export function resolveCapabilities(opts: {
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  privileged?: boolean;
  base?: readonly string[];
}): string[] {
  const host = hostCapabilities();
  if (opts.privileged) return host;
  const adds = (opts.capAdd ?? []).map(normalizeCapability);
  const drops = (opts.capDrop ?? []).map(normalizeCapability);
  const base = opts.base ?? DEFAULT_CAPABILITIES;
  let caps: string[];
  if (adds.includes('ALL')) {
    caps = CAPABILITIES.filter((c) => !drops.includes(c));
  } else if (drops.includes('ALL')) {
    caps = adds;
  } else {
    caps = base.filter((c) => !drops.includes(c));
    caps.push(...adds);
  }
  const uniq: string[] = [];
  for (const c of caps) if (!uniq.includes(c) && host.includes(c)) uniq.push(c);
  return uniq;
}
