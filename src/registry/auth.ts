/**
 * Registry authentication (distribution's token spec and RFC 7617 basic auth).
 *
 * A registry answers 401 with `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`
 * (or `Basic realm="…"`). For Bearer we GET `realm?service=…&scope=…` — with the user's
 * credentials as Basic auth when we have them, anonymously otherwise — and send the
 * returned token as `Authorization: Bearer …`. A stored identity token (Docker config
 * `identitytoken`, or a credential helper's user `<token>`) is a refresh token instead: it is
 * POSTed to the realm as an OAuth2 form (`grant_type=refresh_token`), as Docker does. Tokens are cached per set of scopes
 * (`repository:library/nginx:pull`, `repository:x:pull,push`, plus the source repository's
 * `pull` for a cross-repository mount) until shortly before they expire.
 */
import { StrataError } from '../base/errors.js';
import type { Credentials } from './config.js';
import { httpRequest, readBody, type HttpResponse } from './http.js';

interface Challenge {
  scheme: 'bearer' | 'basic' | string;
  params: Record<string, string>;
}

/** Parse a WWW-Authenticate header (one or more challenges). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (!header) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: Challenge[] = [];
  let i = 0;
  const skipWs = () => { while (i < text.length && /[\s,]/.test(text[i]!)) i++; };
  const token = () => { const s = i; while (i < text.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(text[i]!)) i++; return text.slice(s, i); };
  while (i < text.length) {
    skipWs();
    const scheme = token();
    if (!scheme) { i++; continue; }
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    for (;;) {
      while (i < text.length && /\s/.test(text[i]!)) i++;
      const save = i;
      const key = token();
      while (i < text.length && /\s/.test(text[i]!)) i++;
      if (!key || text[i] !== '=') { i = save; break; }
      i++;
      while (i < text.length && /\s/.test(text[i]!)) i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          value += text[i++];
        }
        i++;
      } else value = token();
      ch.params[key.toLowerCase()] = value;
      while (i < text.length && /\s/.test(text[i]!)) i++;
      if (text[i] === ',') {
        // a comma either separates params or ends this challenge; peek for `key=`
        const after = i + 1;
        let j = after;
        while (j < text.length && /\s/.test(text[j]!)) j++;
        const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*=/.exec(text.slice(j));
        if (m) { i = j; continue; }
        i = after;
      }
      break;
    }
  }
  return out;
}

/** `repository:library/nginx:pull,push` */
export function repoScope(path: string, actions: string[]): string {
  return `repository:${path}:${actions.join(',')}`;
}

/** Merge scopes on the same resource (`repository:x:pull` + `repository:x:push` -> `repository:x:pull,push`). */
export function mergeScopes(scopes: string[]): string[] {
  const byRes = new Map<string, Set<string>>();
  for (const s of scopes) {
    const i = s.lastIndexOf(':');
    if (i < 0) continue;
    const res = s.slice(0, i);
    const set = byRes.get(res) ?? new Set<string>();
    for (const a of s.slice(i + 1).split(',')) if (a) set.add(a);
    byRes.set(res, set);
  }
  return [...byRes.entries()].map(([r, a]) => `${r}:${[...a].sort().join(',')}`).sort();
}

interface CachedToken { token: string; expires: number; }

/** The error text a registry (or token server) put in its body: `unauthorized: authentication required`. */
export function errorText(body: Buffer | string, status: number): string {
  const s = body.toString();
  try {
    const j = JSON.parse(s) as { errors?: { code?: string; message?: string; detail?: unknown }[]; details?: string; message?: string; error?: string };
    if (Array.isArray(j.errors) && j.errors.length) {
      return j.errors.map((e) => {
        const code = (e.code ?? 'UNKNOWN').toLowerCase().replace(/_/g, ' ');
        return e.message ? `${code}: ${e.message}` : code;
      }).join(', ');
    }
    if (typeof j.details === 'string') return j.details;
    if (typeof j.message === 'string') return j.message;
    if (typeof j.error === 'string') return j.error;
  } catch { /* not JSON */ }
  const t = s.trim();
  if (t && t.length < 200 && !t.startsWith('<')) return t;
  return `${status} ${statusText(status)}`;
}

export function statusText(status: number): string {
  const m: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 416: 'Requested Range Not Satisfiable', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
  return m[status] ?? '';
}

/**
 * Holds what one registry asked for and the tokens it granted. One per registry host and
 * process; `authorize()` returns the header for a request needing `scopes`.
 */
export class Authorizer {
  challenge: Challenge | undefined;
  private tokens = new Map<string, CachedToken>();

  constructor(readonly creds: Credentials | undefined, private insecureTls: boolean) {}

  /** Record the challenge of a 401 (or of the /v2/ ping). */
  setChallenge(res: HttpResponse): void {
    const chs = parseChallenges(res.headers['www-authenticate']);
    const pick = chs.find((c) => c.scheme === 'bearer') ?? chs.find((c) => c.scheme === 'basic');
    if (pick) this.challenge = pick;
  }

  /** Scopes the registry named in its challenge (merged into ours on a retry). */
  challengeScopes(): string[] {
    const s = this.challenge?.params.scope;
    return s ? s.split(' ').filter(Boolean) : [];
  }

  invalidate(scopes: string[]): void {
    this.tokens.delete(mergeScopes(scopes).join(' '));
  }

  async authorize(scopes: string[]): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      if (!this.creds) return undefined;
      return `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}`;
    }
    if (ch.scheme !== 'bearer') return undefined;
    const key = mergeScopes(scopes).join(' ');
    const hit = this.tokens.get(key);
    if (hit && hit.expires > Date.now()) return `Bearer ${hit.token}`;
    const tok = await this.fetchToken(mergeScopes(scopes));
    this.tokens.set(key, tok);
    return `Bearer ${tok.token}`;
  }

  /** GET realm?service=&scope= (Basic credentials when we have them), or the OAuth2 POST for an identity token. */
  async fetchToken(scopes: string[]): Promise<CachedToken> {
    const ch = this.challenge!;
    const realm = ch.params.realm;
    if (!realm) throw new StrataError('unavailable', 'registry sent a Bearer challenge without a realm');
    let url: URL;
    try { url = new URL(realm); } catch { throw new StrataError('unavailable', `invalid token realm ${JSON.stringify(realm)}`); }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new StrataError('unavailable', `invalid token realm ${JSON.stringify(realm)}`);
    if (this.creds?.identityToken) return this.fetchTokenWithRefreshToken(url, this.creds.identityToken, scopes);
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (this.creds?.username) {
      url.searchParams.set('account', this.creds.username);
      headers.Authorization = `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}`;
    }
    const res = await httpRequest({ method: 'GET', url, headers, insecureTls: this.insecureTls });
    const body = await readBody(res, 1 << 20);
    if (res.status === 401 || res.status === 403) {
      throw new StrataError('failed_precondition', this.creds ? `unauthorized: incorrect username or password` : `unauthorized: ${errorText(body, res.status)}`);
    }
    if (res.status !== 200) throw new StrataError('unavailable', `getting a token from ${url.origin}${url.pathname}: ${errorText(body, res.status)}`);
    return parseTokenResponse(body, url);
  }

  /**
   * OAuth2 (distribution's token spec, "Requesting a Token using OAuth2"): POST
   * grant_type=refresh_token with the identity token, service, scope and client_id.
   */
  private async fetchTokenWithRefreshToken(url: URL, refreshToken: string, scopes: string[]): Promise<CachedToken> {
    const ch = this.challenge!;
    const form = new URLSearchParams();
    form.set('grant_type', 'refresh_token');
    form.set('refresh_token', refreshToken);
    if (ch.params.service) form.set('service', ch.params.service);
    form.set('scope', scopes.join(' '));
    form.set('client_id', 'docker');
    const body = Buffer.from(form.toString());
    const res = await httpRequest({
      method: 'POST', url, body, contentLength: body.length, insecureTls: this.insecureTls,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' },
    });
    const resBody = await readBody(res, 1 << 20);
    if (res.status === 401 || res.status === 403) throw new StrataError('failed_precondition', `unauthorized: ${errorText(resBody, res.status)}`);
    if (res.status < 200 || res.status > 299) throw new StrataError('unavailable', `getting a token from ${url.origin}${url.pathname}: ${errorText(resBody, res.status)}`);
    return parseTokenResponse(resBody, url);
  }
}

function parseTokenResponse(body: Buffer, url: URL): CachedToken {
  let j: { token?: string; access_token?: string; expires_in?: number };
  try { j = JSON.parse(body.toString()) as typeof j; } catch { throw new StrataError('unavailable', `token server ${url.origin} returned invalid JSON`); }
  const token = j.token || j.access_token;
  if (!token) throw new StrataError('unavailable', `token server ${url.origin} returned no token`);
  // the spec's minimum lifetime is 60 s; renew 10 s early
  const life = Math.max(Number(j.expires_in) || 60, 60);
  return { token, expires: Date.now() + (life - 10) * 1000 };
}
