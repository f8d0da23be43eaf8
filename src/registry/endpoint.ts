/** A registry's endpoint (scheme, TLS) and its error answers, and what a request looks like. */
import type { Readable } from 'node:stream';
import { StrataError, type ErrorCode } from '../base/errors.js';
import { isLoopback } from '../base/net.js';
import { MediaType } from '../image/types.js';
import { errorText } from './auth.js';
import { DOCKER_HUB, registrySettings } from './config.js';
import { readBody, type HttpResponse } from './http.js';

export const MANIFEST_LIMIT = 4 << 20;
export const CONFIG_LIMIT = 8 << 20;

export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
];


/** An HTTP error from the registry, with its error codes (`MANIFEST_UNKNOWN`, `DENIED`, …). */
export class RegistryError extends StrataError {
  constructor(code: ErrorCode, message: string, readonly status: number, readonly codes: string[], readonly text: string) {
    super(code, message);
    this.name = 'RegistryError';
  }
}

function errorCodes(body: Buffer): string[] {
  try {
    const j = JSON.parse(body.toString()) as { errors?: { code?: string }[] };
    return (j.errors ?? []).map((e) => String(e.code ?? ''));
  } catch { return []; }
}

export async function registryError(res: HttpResponse, what?: string): Promise<RegistryError> {
  let body: Buffer = Buffer.alloc(0);
  if (res.body.readable && res.headers['content-length'] !== '0') {
    try { body = await readBody(res, 64 << 10); } catch { /* keep the status */ }
  }
  const codes = errorCodes(body);
  let text = errorText(body, res.status);
  if (body.length === 0) {
    // HEAD answers carry no body: say what distribution's error codes would
    if (res.status === 401) text = 'unauthorized: authentication required';
    else if (res.status === 403) text = 'denied: requested access to the resource is denied';
  }
  const code: ErrorCode = res.status === 404 ? 'not_found' : res.status === 401 || res.status === 403 ? 'failed_precondition'
    : res.status >= 500 || res.status === 429 ? 'unavailable' : 'invalid_argument';
  return new RegistryError(code, what ? `${what}: ${text}` : text, res.status, codes, text);
}


/** host[:port] of a reference domain (IPv6 literals keep their brackets). */
function hostOf(domain: string): string {
  if (domain.startsWith('[')) return domain.slice(0, domain.indexOf(']') + 1);
  const i = domain.lastIndexOf(':');
  return i < 0 ? domain : domain.slice(0, i);
}

export interface Endpoint { domain: string; base: URL; insecureTls: boolean; httpFallback: boolean; }

/**
 * Where a registry domain is served: Docker Hub at registry-1.docker.io; loopback over plain
 * HTTP (as Docker does); insecure registries over HTTPS without verification, then HTTP;
 * everything else HTTPS.
 */
export function resolveEndpoint(domain: string, insecure: string[] = registrySettings().insecureRegistries): Endpoint {
  if (domain === DOCKER_HUB) return { domain, base: new URL('https://registry-1.docker.io'), insecureTls: false, httpFallback: false };
  const host = hostOf(domain);
  if (isLoopback(host)) return { domain, base: new URL(`http://${domain}`), insecureTls: false, httpFallback: false };
  const listed = insecure.some((e) => e === domain || e === host);
  return { domain, base: new URL(`https://${domain}`), insecureTls: listed, httpFallback: listed };
}

export interface RequestOptions {
  method: string;
  /** A path below the endpoint (`/v2/...`) or an absolute URL (upload locations). */
  url: string | URL;
  scopes: string[];
  headers?: Record<string, string>;
  /** Body factory, called again on a retry. */
  body?: () => Buffer | Readable;
  contentLength?: number;
  /** Retry on 5xx/429/network errors (the request must be replayable). Default: true when there is no body or it is a Buffer. */
  retry?: boolean;
  followRedirects?: boolean;
  /** The body factory can be called again (false for a stream handed in once). Default true. */
  replayable?: boolean;
}

/** What a repository needs from its registry: authorised, retried requests. */
export interface Transport {
  request(o: RequestOptions): Promise<HttpResponse>;
}
