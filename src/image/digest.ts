import { createHash } from 'node:crypto';
import { invalidArgument } from '../base/errors.js';

/** `sha256:<64 hex>` */
export type Digest = string & { readonly __brand: 'Digest' };

const RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: string): s is Digest {
  return RE.test(s);
}

export function parseDigest(s: string): Digest {
  if (!RE.test(s)) throw invalidArgument(`invalid digest: ${JSON.stringify(s)}`);
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

/** The empty tar (1024 zero bytes): Docker's marker for "no layer". */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';
