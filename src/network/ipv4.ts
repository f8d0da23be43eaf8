/** IPv4 address and CIDR arithmetic (pure). */
import { StrataError } from '../base/errors.js';

export interface Cidr { base: number; prefix: number; }

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_LITERAL = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** A dotted-quad IPv4 address as `net.isIPv4` takes it (no leading zeros), without loading node:net. */
export function isIPv4Literal(s: string): boolean {
  return IPV4_LITERAL.test(s);
}

export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "172.17.0.0/16" -> {base, prefix}; the base is masked (host bits dropped). */
export function parseCidr(s: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m) return undefined;
  const ip = parseIPv4(m[1]!);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix > 32) return undefined;
  return { base: (ip & maskOf(prefix)) >>> 0, prefix };
}

/** Like parseCidr, with Go's net.ParseCIDR error text. */
export function mustParseCidr(s: string): Cidr {
  const c = parseCidr(s);
  if (!c) throw new StrataError('invalid_argument', `invalid CIDR address: ${s}`);
  return c;
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOf(p);
  return ((a.base & m) >>> 0) === ((b.base & m) >>> 0);
}

/**
 * Docker 20.10's default address pools for local networks: 172.17.0.0/16 .. 172.31.0.0/16,
 * then 192.168.0.0/16 cut into /20s. The default `bridge` network takes the first free one,
 * as docker0 takes 172.17.0.0/16 on a host where it is free.
 */
export function defaultPools(): Cidr[] {
  const out: Cidr[] = [];
  for (let b = 17; b <= 31; b++) out.push({ base: parseIPv4(`172.${b}.0.0`)!, prefix: 16 });
  for (let c = 0; c < 256; c += 16) out.push({ base: parseIPv4(`192.168.${c}.0`)!, prefix: 20 });
  return out;
}
