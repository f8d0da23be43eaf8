import { isDigestHex } from './digest.js';
import { invalidArgument } from '../base/errors.js';

/**
 * Docker image references (distribution/reference grammar), normalised as Docker does:
 * `nginx` = `docker.io/library/nginx:latest`; `localhost:5000/a/b:tag`; `name@sha256:<hex>`.
 */
export interface Reference {
  domain: string;        // docker.io, localhost:5000, ghcr.io
  path: string;          // library/nginx, a/b
  tag?: string;
  digest?: string;       // sha256:<hex>
}

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const NAME_TOTAL_MAX = 255;

const ERR_FORMAT = 'invalid reference format';

function validDomain(d: string): boolean {
  // host[:port] or [ipv6]:port
  let host = d;
  let port: string | undefined;
  if (d.startsWith('[')) {
    const end = d.indexOf(']');
    if (end < 0) return false;
    host = d.slice(1, end);
    const rest = d.slice(end + 1);
    if (rest && !/^:[0-9]+$/.test(rest)) return false;
    return /^[0-9a-fA-F:.]+$/.test(host);
  }
  const colon = d.lastIndexOf(':');
  if (colon >= 0) { host = d.slice(0, colon); port = d.slice(colon + 1); }
  if (port !== undefined && !/^[0-9]+$/.test(port)) return false;
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/** Parse and normalise. Throws Docker's `invalid reference format` errors. */
export function parseReference(input: string): Reference {
  if (input.length === 0) throw invalidArgument(ERR_FORMAT);
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalidArgument(ERR_FORMAT);
    if (digest.startsWith('sha256:') && !isDigestHex(digest.slice(7))) throw invalidArgument(`${ERR_FORMAT}`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalidArgument(ERR_FORMAT);
  }
  let domain: string;
  let path: string;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (slash < 0 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    path = rest;
  } else {
    domain = first;
    path = rest.slice(slash + 1);
    if (!validDomain(domain)) throw invalidArgument(ERR_FORMAT);
  }
  if (path.length === 0) throw invalidArgument(ERR_FORMAT);
  const comps = path.split('/');
  for (const c of comps) {
    if (!COMPONENT.test(c)) {
      if (COMPONENT.test(c.toLowerCase())) throw invalidArgument(`${ERR_FORMAT}: repository name must be lowercase`);
      throw invalidArgument(ERR_FORMAT);
    }
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && comps.length === 1) {
    if (isDigestHex(path)) {
      throw invalidArgument(`invalid repository name (${path}), cannot specify 64-byte hexadecimal strings`);
    }
    path = OFFICIAL_PREFIX + path;
  }
  if (domain.length + 1 + path.length > NAME_TOTAL_MAX) throw invalidArgument(`${ERR_FORMAT}: repository name must not be more than ${NAME_TOTAL_MAX} characters`);
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** With `:latest` added when there is neither tag nor digest (Docker's TagNameOnly). */
export function parseTaggedReference(input: string): Reference {
  const r = parseReference(input);
  if (!r.tag && !r.digest) r.tag = 'latest';
  return r;
}

/** `docker.io/library/nginx` */
export function fullName(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** `nginx` for docker.io/library/nginx, `user/app` for docker.io/user/app, else the full name. */
export function familiarName(r: Reference): string {
  if (r.domain === DEFAULT_DOMAIN) {
    return r.path.startsWith(OFFICIAL_PREFIX) && r.path.split('/').length === 2 ? r.path.slice(OFFICIAL_PREFIX.length) : r.path;
  }
  return fullName(r);
}

/** Canonical string used as a key in the store: `docker.io/library/nginx:latest` or `name@sha256:…`. */
export function canonicalString(r: Reference): string {
  let s = fullName(r);
  if (r.tag) s += `:${r.tag}`;
  if (r.digest) s += `@${r.digest}`;
  return s;
}

/** `nginx:latest`, `localhost:5000/a/b:v1`, `nginx@sha256:…` */
export function familiarString(r: Reference): string {
  let s = familiarName(r);
  if (r.tag) s += `:${r.tag}`;
  if (r.digest) s += `@${r.digest}`;
  return s;
}

/** Split a canonical key back into (familiar repository, tag). */
export function repoAndTag(canonical: string): { repository: string; tag: string } {
  let v = repoTagMemo.get(canonical);
  if (!v) {
    const r = parseReference(canonical);
    v = { repository: familiarName(r), tag: r.tag ?? '<none>' };
    if (repoTagMemo.size >= 20000) repoTagMemo.clear();
    repoTagMemo.set(canonical, v);
  }
  return { ...v };
}

/** Listings split every stored tag on every call: remember the answers (pure function of the text). */
const repoTagMemo = new Map<string, { repository: string; tag: string }>();

/** Glob match as Go's path.Match (used by `images --filter reference=` and `images REPO`). */
export function globMatch(pattern: string, name: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) { re += '\\['; continue; }
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1);
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$').test(name);
}
