/**
 * Client configuration: registry credentials and registry settings.
 *
 * Strata's own file is `$STRATA_CONFIG` (a file path) or `~/.strata/config.json`. It has the
 * shape of Docker's `~/.docker/config.json`, so the two can be copied into each other:
 *
 *   {
 *     "auths": { "localhost:5000": { "auth": "<base64 user:pass>" },
 *                "https://index.docker.io/v1/": { "auth": "..." } },
 *     "insecure-registries": ["registry.lan:5000"],     // HTTPS without verification, then HTTP
 *     "push-compression": "gzip",                        // none | gzip | zstd, for layers held uncompressed
 *     "push-chunk-size": 0                               // bytes per PATCH; 0 = monolithic PUT
 *   }
 *
 * `login` writes only Strata's file (mode 0600, atomically); lookups read Strata's file first,
 * then Docker's (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`), including Docker's
 * credential helpers (`credHelpers`, `credsStore`), so a machine already logged in with the
 * docker CLI works unchanged. Environment overrides: STRATA_INSECURE_REGISTRIES (comma list),
 * STRATA_PUSH_COMPRESSION, STRATA_PUSH_CHUNK_SIZE.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { invalidArgument } from '../base/errors.js';
import { mkdirp, writeFileAtomic } from '../base/fs.js';

export const DOCKER_HUB = 'docker.io';
/** The key Docker uses for Docker Hub credentials. */
const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export interface Credentials {
  username: string;
  password: string;
  /** OAuth refresh token some registries hand out instead of a password. */
  identityToken?: string;
  /** Which file (or helper) they came from. */
  source: string;
}

interface AuthFileEntry { auth?: string; username?: string; password?: string; identitytoken?: string; }

interface ClientConfig {
  auths?: Record<string, AuthFileEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  'insecure-registries'?: string[];
  'push-compression'?: string;
  'push-chunk-size'?: number;
  [key: string]: unknown;
}

export function strataConfigPath(): string {
  return process.env.STRATA_CONFIG || path.join(os.homedir(), '.strata', 'config.json');
}

export function dockerConfigPath(): string {
  return path.join(process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
}

function readConfigFile(file: string): ClientConfig {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return {}; }
  if (text.trim() === '') return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as ClientConfig;
  } catch (e) {
    throw invalidArgument(`loading config file ${file}: ${(e as Error).message}`);
  }
}

/** `https://index.docker.io/v1/`, `http://host:5000/v2/`, `host:5000` -> `docker.io` / `host:5000`. */
export function normalizeServer(server: string): string {
  let s = server.trim().replace(/^[a-z]+:\/\//i, '');
  s = s.replace(/\/.*$/, '');
  s = s.toLowerCase();
  if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === 'registry.hub.docker.com') return DOCKER_HUB;
  return s;
}

/** The auths key for a registry domain, as Docker writes it. */
export function authKey(domain: string): string {
  return domain === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : domain;
}

function fromEntry(e: AuthFileEntry, source: string): Credentials | undefined {
  let username = e.username ?? '';
  let password = e.password ?? '';
  if (e.auth) {
    const dec = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = dec.indexOf(':');
    if (i < 0) return undefined;
    username = dec.slice(0, i);
    password = dec.slice(i + 1);
  }
  if (!username && !e.identitytoken) return undefined;
  const c: Credentials = { username, password, source };
  if (e.identitytoken) c.identityToken = e.identitytoken;
  return c;
}

function lookupIn(cfg: ClientConfig, domain: string, source: string): Credentials | undefined {
  for (const [k, v] of Object.entries(cfg.auths ?? {})) {
    if (normalizeServer(k) === domain && v) {
      const c = fromEntry(v, source);
      if (c) return c;
    }
  }
  return undefined;
}

function fromHelper(helper: string, domain: string): Credentials | undefined {
  try {
    const out = execFileSync(`docker-credential-${helper}`, ['get'], { input: authKey(domain), stdio: ['pipe', 'pipe', 'ignore'], timeout: 10_000 }).toString();
    const r = JSON.parse(out) as { Username?: string; Secret?: string };
    if (!r.Secret) return undefined;
    if (r.Username === '<token>') return { username: '', password: '', identityToken: r.Secret, source: `docker-credential-${helper}` };
    return { username: r.Username ?? '', password: r.Secret, source: `docker-credential-${helper}` };
  } catch {
    return undefined; // helper missing or no entry: as anonymous
  }
}

/** Credentials for a registry domain (`docker.io`, `localhost:5000`), or undefined for anonymous access. */
export function getCredentials(domain: string): Credentials | undefined {
  const own = strataConfigPath();
  const mine = lookupIn(readConfigFile(own), domain, own);
  if (mine) return mine;
  const dfile = dockerConfigPath();
  const docker = readConfigFile(dfile);
  const helper = docker.credHelpers?.[authKey(domain)] ?? docker.credHelpers?.[domain];
  if (helper) return fromHelper(helper, domain);
  const found = lookupIn(docker, domain, dfile);
  if (found) return found;
  if (docker.credsStore) return fromHelper(docker.credsStore, domain);
  return undefined;
}

function writeConfig(file: string, cfg: ClientConfig): void {
  mkdirp(path.dirname(file), 0o700);
  writeFileAtomic(file, JSON.stringify(cfg, null, '\t') + '\n', 0o600);
}

/** Store credentials in Strata's file (base64 `user:pass`, as Docker does). Returns the file. */
export function saveCredentials(domain: string, username: string, password: string): string {
  const file = strataConfigPath();
  const cfg = readConfigFile(file);
  const auths = { ...(cfg.auths ?? {}) };
  for (const k of Object.keys(auths)) if (normalizeServer(k) === domain) delete auths[k];
  auths[authKey(domain)] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  cfg.auths = auths;
  writeConfig(file, cfg);
  return file;
}

/** Remove credentials from Strata's file; false when there were none. */
export function removeCredentials(domain: string): boolean {
  const file = strataConfigPath();
  const cfg = readConfigFile(file);
  const auths = { ...(cfg.auths ?? {}) };
  let found = false;
  for (const k of Object.keys(auths)) {
    if (normalizeServer(k) === domain) { delete auths[k]; found = true; }
  }
  if (!found) return false;
  cfg.auths = auths;
  writeConfig(file, cfg);
  return true;
}

/** Whether Docker's own file holds credentials for the domain (logout leaves them in place). */
export function dockerHasCredentials(domain: string): boolean {
  return lookupIn(readConfigFile(dockerConfigPath()), domain, '') !== undefined;
}

export type PushCompression = 'none' | 'gzip' | 'zstd';

interface RegistrySettings {
  insecureRegistries: string[];
  pushCompression: PushCompression;
  /** 0: one monolithic PUT per blob; otherwise PATCH chunks of this many bytes. */
  pushChunkSize: number;
}

const DEFAULT_PUSH_COMPRESSION: PushCompression = 'gzip';

export function registrySettings(): RegistrySettings {
  const cfg = readConfigFile(strataConfigPath());
  const insecure = [
    ...(process.env.STRATA_INSECURE_REGISTRIES ?? '').split(','),
    ...(Array.isArray(cfg['insecure-registries']) ? cfg['insecure-registries'] : []),
  ].map((s) => s.trim()).filter(Boolean).map(normalizeServer);
  const comp = (process.env.STRATA_PUSH_COMPRESSION || cfg['push-compression'] || DEFAULT_PUSH_COMPRESSION) as string;
  if (!['none', 'gzip', 'zstd'].includes(comp)) throw invalidArgument(`invalid push compression ${JSON.stringify(comp)}: use none, gzip or zstd`);
  const chunk = Number(process.env.STRATA_PUSH_CHUNK_SIZE || cfg['push-chunk-size'] || 0);
  if (!Number.isInteger(chunk) || chunk < 0) throw invalidArgument(`invalid push chunk size ${JSON.stringify(chunk)}`);
  return { insecureRegistries: insecure, pushCompression: comp as PushCompression, pushChunkSize: chunk };
}
