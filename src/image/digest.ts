import { createHash } from 'node:crypto';
import { invalidArgument } from '../base/errors.js';

/** `sha256:<64 hex>` */
export type Digest = string & { readonly __brand: 'Digest' };

/** The hex part of a sha256 digest, as a pattern to build others from (paths, file names). */
export const DIGEST_HEX = '[a-f0-9]{64}';
/** `sha256:<64 lowercase hex>`: the one digest pattern. */
export const DIGEST_RE = new RegExp(`^sha256:${DIGEST_HEX}$`);
const HEX_RE = new RegExp(`^${DIGEST_HEX}$`);

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

/** 64 lowercase hex digits (a digest without its `sha256:`). */
export function isDigestHex(s: string): boolean {
  return HEX_RE.test(s);
}

export function parseDigest(s: string): Digest {
  if (!isDigest(s)) throw invalidArgument(`invalid digest: ${JSON.stringify(s)}`);
  return s as Digest;
}

export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

export function hexOf(d: string): string {
  return d.startsWith('sha256:') ? d.slice(7) : d;
}

/** chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)) (OCI image spec). */
export function chainIds(diffIds: readonly string[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? (d as Digest) : sha256(`${prev} ${d}`));
  }
  return out;
}

