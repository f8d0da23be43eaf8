/**
 * Platforms (`linux/amd64`, `linux/arm/v7`), normalised as containerd's `platforms` package
 * does, and the choice of one manifest from an index or Docker manifest list.
 */
import { invalidArgument } from '../base/errors.js';
import type { Descriptor } from './types.js';

export interface PlatformSpec { os: string; architecture: string; variant?: string; }

function normArch(arch: string, variant: string | undefined): { architecture: string; variant?: string } {
  const a = arch.toLowerCase();
  const v = variant?.toLowerCase();
  switch (a) {
    case 'i386': return { architecture: '386' };
    case 'x86_64': case 'x86-64': case 'amd64': return v && v !== 'v1' ? { architecture: 'amd64', variant: v } : { architecture: 'amd64' };
    case 'aarch64': case 'arm64': return v && v !== 'v8' && v !== '8' ? { architecture: 'arm64', variant: v } : { architecture: 'arm64' };
    case 'armhf': return { architecture: 'arm', variant: 'v7' };
    case 'armel': return { architecture: 'arm', variant: 'v6' };
    case 'arm': {
      const vv = !v ? 'v7' : /^\d$/.test(v) ? `v${v}` : v;
      return { architecture: 'arm', variant: vv };
    }
    default: return v ? { architecture: a, variant: v } : { architecture: a };
  }
}

function normalizePlatform(p: { os: string; architecture: string; variant?: string }): PlatformSpec {
  return { os: p.os.toLowerCase(), ...normArch(p.architecture, p.variant) };
}

/** The platform images run on here (Linux; Node's arch names mapped to OCI's). */
export function hostPlatform(): PlatformSpec {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return normalizePlatform({ os: 'linux', architecture: map[process.arch] ?? process.arch });
}

/** `linux/amd64`, `linux/arm/v7`, `linux` (host arch), `amd64` (linux). */
export function parsePlatform(s: string): PlatformSpec {
  const parts = s.trim().split('/');
  if (parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p)) || parts.length > 3) {
    throw invalidArgument(`"${s}": unknown operating system or architecture: invalid argument`);
  }
  if (parts.length === 1) {
    const known = ['linux', 'windows', 'darwin', 'freebsd'];
    return known.includes(parts[0]!.toLowerCase()) ? { ...hostPlatform(), os: parts[0]!.toLowerCase() } : normalizePlatform({ os: 'linux', architecture: parts[0]! });
  }
  const p: { os: string; architecture: string; variant?: string } = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return normalizePlatform(p);
}

export function platformString(p: PlatformSpec): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** Does a descriptor's (or config's) platform satisfy `want`? A variant is compared only when asked for. */
export function matchPlatform(want: PlatformSpec, have: { os?: string; architecture?: string; variant?: string } | undefined): boolean {
  if (!have?.os || !have.architecture) return false;
  const h = normalizePlatform({ os: have.os, architecture: have.architecture, ...(have.variant ? { variant: have.variant } : {}) });
  if (h.os !== want.os || h.architecture !== want.architecture) return false;
  return !want.variant || h.variant === want.variant || (want.architecture === 'arm' && !h.variant && want.variant === 'v7');
}

/** The manifest of an index for a platform: an exact variant match first, then any match. */
export function selectManifest(list: Descriptor[], want: PlatformSpec): Descriptor | undefined {
  const candidates = list.filter((d) => matchPlatform(want, d.platform));
  if (candidates.length === 0) return undefined;
  const exact = candidates.find((d) => normalizePlatform(d.platform!).variant === want.variant);
  return exact ?? candidates[0];
}
