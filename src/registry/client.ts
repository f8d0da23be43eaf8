/**
 * Distribution (OCI) API client: ping, manifests, blobs, uploads, tags.
 *
 *   const reg = RegistryClient.for('localhost:5000');
 *   const repo = reg.repository('team/app', ['pull']);
 *   const m = await repo.getManifest('v1');              // verified against its digest
 *   const rd = repo.openBlob(m.layers[0]);                // Readable; resumes, verifies at the end
 *
 * Every request carries the auth the registry asked for (see auth.ts); 5xx, 429 and dropped
 * connections are retried with backoff where the request can be replayed; blob reads resume
 * with `Range` (or by skipping what was already received when the server ignores Range).
 */
import { Authorizer, mergeScopes, parseChallenges } from './auth.js';
import { getCredentials, type Credentials } from './config.js';
import { NetworkError, discard, httpRequest, type HttpResponse } from './http.js';
import { RegistryError, resolveEndpoint, type Endpoint, type RequestOptions, type Transport } from './endpoint.js';
import { RETRY, backoff, isRetryable, sleep } from './retry.js';
import { Repository } from './repository.js';

const clients = new Map<string, RegistryClient>();

/** One registry (host). Shared per process so tokens and connections are reused. */
export class RegistryClient implements Transport {
  readonly endpoint: Endpoint;
  readonly auth: Authorizer;
  private pinged: Promise<void> | undefined;

  /** `creds`: use these instead of the stored ones (login checks them; null = anonymous). */
  constructor(readonly domain: string, opts: { endpoint?: Endpoint; creds?: Credentials | null } = {}) {
    this.endpoint = opts.endpoint ?? resolveEndpoint(domain);
    const creds = opts.creds === undefined ? getCredentials(domain) : opts.creds ?? undefined;
    this.auth = new Authorizer(creds, this.endpoint.insecureTls);
  }

  static for(domain: string): RegistryClient {
    let c = clients.get(domain);
    if (!c) { c = new RegistryClient(domain); clients.set(domain, c); }
    return c;
  }

  /** Forget cached clients (credentials changed: login/logout). */
  static reset(): void { clients.clear(); }

  repository(path: string, actions: string[] = ['pull']): Repository {
    return new Repository(this, path, actions);
  }

  url(path: string): URL {
    return new URL(path, this.endpoint.base);
  }

  /** GET /v2/ once: learns the auth challenge, and for insecure registries whether HTTPS works. */
  ping(): Promise<void> {
    this.pinged ??= this.doPing().catch((e) => { this.pinged = undefined; throw e; });
    return this.pinged;
  }

  private async doPing(): Promise<void> {
    let res: HttpResponse;
    try {
      res = await this.withRetries(() => httpRequest({ method: 'GET', url: this.url('/v2/'), insecureTls: this.endpoint.insecureTls }));
    } catch (e) {
      if (!(this.endpoint.httpFallback && e instanceof NetworkError)) throw e;
      this.endpoint.base = new URL(`http://${this.domain}`);
      this.endpoint.httpFallback = false;
      res = await this.withRetries(() => httpRequest({ method: 'GET', url: this.url('/v2/') }));
    }
    if (res.status === 401) this.auth.setChallenge(res);
    discard(res);
  }

  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try { return await fn(); } catch (e) {
        if (attempt + 1 >= RETRY.attempts || !isRetryable(e)) throw e;
        await sleep(backoff(attempt));
      }
    }
  }

  /**
   * One API request with auth; a 401 is answered once (new token for the challenge's scope),
   * 5xx/429/network errors are retried with backoff when `retry`. Returns any other status.
   */
  async request(o: RequestOptions): Promise<HttpResponse> {
    await this.ping();
    const retry = o.retry ?? true;
    let scopes = o.scopes;
    let authRetried = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...o.headers };
      const url = typeof o.url === 'string' ? this.url(o.url) : o.url;
      const req: Parameters<typeof httpRequest>[0] = { method: o.method, url, headers, insecureTls: this.endpoint.insecureTls };
      let res: HttpResponse;
      try {
        // the token server can fail like the registry: inside the retried part
        const authz = await this.auth.authorize(scopes);
        if (authz) headers.Authorization = authz;
        if (o.body) req.body = o.body();
        if (o.contentLength !== undefined) req.contentLength = o.contentLength;
        if (o.followRedirects !== undefined) req.followRedirects = o.followRedirects;
        res = await httpRequest(req);
      } catch (e) {
        if (retry && attempt + 1 < RETRY.attempts && isRetryable(e)) { await sleep(backoff(attempt)); continue; }
        throw e;
      }
      if (res.status === 401 && !this.auth.creds && parseChallenges(res.headers['www-authenticate']).some((c) => c.scheme === 'basic')) {
        discard(res);
        if (req.body && !Buffer.isBuffer(req.body)) req.body.destroy();
        throw new RegistryError('failed_precondition', 'no basic auth credentials', 401, ['UNAUTHORIZED'], 'no basic auth credentials');
      }
      if (res.status === 401 && !authRetried) {
        // the token expired or the registry wants a scope we did not ask for: ask once more
        authRetried = true;
        this.auth.setChallenge(res);
        discard(res);
        if (req.body && !Buffer.isBuffer(req.body)) req.body.destroy();
        if (this.auth.challenge?.scheme === 'bearer') {
          this.auth.invalidate(scopes);
          scopes = mergeScopes([...scopes, ...this.auth.challengeScopes()]);
        }
        if (o.replayable === false) {
          throw new RegistryError('failed_precondition', 'unauthorized: authentication required', 401, ['UNAUTHORIZED'], 'unauthorized: authentication required');
        }
        attempt--;
        continue;
      }
      if ((res.status >= 500 || res.status === 429) && retry && attempt + 1 < RETRY.attempts) {
        discard(res);
        const ra = Number(res.headers['retry-after']);
        await sleep(Number.isFinite(ra) && ra > 0 ? Math.min(ra * 1000, 10_000) : backoff(attempt));
        continue;
      }
      return res;
    }
  }
}
