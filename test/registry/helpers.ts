/**
 * Registry test fixtures: Debian's docker-registry on a free loopback port with a temp config,
 * an async CLI runner (the test process serves proxies and token servers, so it must not
 * block in spawnSync), and a programmable HTTP proxy for fault injection.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { CLI, PROJECT, type RunResult } from '../helpers.js';
import { freePort } from '../helpers.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export function registryAvailable(): boolean {
  return fs.existsSync(REGISTRY_BIN);
}

export { freePort };

export interface Registry { port: number; addr: string; dir: string; stop(): Promise<void>; }

export type RegistryAuth =
  | { htpasswd: string }
  | { token: { realm: string; service: string; issuer: string; rootcertbundle: string } };

/** Start docker-registry with filesystem storage in a temp dir; resolves once /v2/ answers. */
export async function startRegistry(opts: { auth?: RegistryAuth } = {}): Promise<Registry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-registry-'));
  const port = await freePort();
  let auth = '';
  if (opts.auth && 'htpasswd' in opts.auth) {
    auth = `auth:\n  htpasswd:\n    realm: strata-test\n    path: ${opts.auth.htpasswd}\n`;
  } else if (opts.auth && 'token' in opts.auth) {
    const t = opts.auth.token;
    auth = `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${t.rootcertbundle}\n`;
  }
  const cfg = path.join(dir, 'config.yml');
  fs.writeFileSync(cfg, [
    'version: 0.1',
    'log:\n  level: error\n  accesslog:\n    disabled: true',
    `storage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n  delete:\n    enabled: true`,
    `http:\n  addr: 127.0.0.1:${port}\n  secret: strata-test-secret`,
    auth,
  ].join('\n') + '\n');
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/' }, (res) => { res.resume(); resolve(true); });
      req.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`docker-registry did not start: ${stderr}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port, addr: `127.0.0.1:${port}`, dir,
    stop: async () => {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Per-test client config (Strata's and an empty Docker one), so no real credentials are read. */
export function clientEnv(dir: string): Record<string, string> {
  const dockerDir = path.join(dir, 'docker-config');
  fs.mkdirSync(dockerDir, { recursive: true });
  return { STRATA_CONFIG: path.join(dir, 'strata-config.json'), DOCKER_CONFIG: dockerDir };
}

/** The CLI in a child process, without blocking this one. */
export function strataAsync(root: string, args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<RunResult> {
  const env: Record<string, string> = { ...process.env as Record<string, string>, STRATA_ROOT: root, ...opts.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd: PROJECT, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(opts.input ?? '');
  });
}

export async function strataAsyncOk(root: string, args: string[], opts: Parameters<typeof strataAsync>[2] = {}): Promise<string> {
  const r = await strataAsync(root, args, opts);
  if (r.code !== 0) throw new Error(`strata ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export interface ProxyRequest { method: string; url: string; headers: http.IncomingHttpHeaders; }

/**
 * A proxy in front of a registry. `intercept` may answer a request itself (return true);
 * `transform` may rewrite a response body chunk by chunk (for blob corruption) or drop the
 * connection. Every request is logged in `log`.
 */
export interface ProxyHooks {
  /** Rewrite the headers sent upstream (say, drop Range). */
  requestHeaders?: (req: ProxyRequest, headers: http.OutgoingHttpHeaders) => void;
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => boolean | Promise<boolean>;
  /** Called with the upstream response; return a handler to take over the body, or undefined to pass it through. */
  response?: (req: ProxyRequest, up: http.IncomingMessage, res: http.ServerResponse) => ((chunk: Buffer) => void) | undefined | 'handled';
}

export interface Proxy { port: number; addr: string; log: ProxyRequest[]; hooks: ProxyHooks; close(): Promise<void>; }

export async function startProxy(target: string, hooks: ProxyHooks = {}): Promise<Proxy> {
  const log: ProxyRequest[] = [];
  const [thost, tport] = target.split(':');
  const p: Proxy = { port: 0, addr: '', log, hooks, close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const entry: ProxyRequest = { method: req.method!, url: req.url!, headers: req.headers };
      log.push(entry);
      if (p.hooks.intercept && await p.hooks.intercept(req, res, body)) return;
      const headers: http.OutgoingHttpHeaders = { ...req.headers, host: target };
      p.hooks.requestHeaders?.(entry, headers);
      const up = http.request({ host: thost, port: Number(tport), method: req.method, path: req.url, headers }, (ur) => {
        const take = p.hooks.response?.(entry, ur, res);
        if (take === 'handled') return;
        // rewrite the registry's absolute Location headers to point back at us
        const h = { ...ur.headers };
        if (typeof h.location === 'string') h.location = h.location.replace(`//${target}`, `//${p.addr}`);
        if (!take) {
          res.writeHead(ur.statusCode!, h);
          ur.pipe(res);
          return;
        }
        res.writeHead(ur.statusCode!, h);
        ur.on('data', (c: Buffer) => take(c));
        ur.on('end', () => { if (!res.destroyed) res.end(); });
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  p.port = (server.address() as net.AddressInfo).port;
  p.addr = `127.0.0.1:${p.port}`;
  p.close = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  return p;
}

/** A bcrypt htpasswd line (docker-registry accepts only bcrypt), from python's crypt or htpasswd. */
export function htpasswdLine(user: string, password: string): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      const hash = execFileSync(py, ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1<<5)))', password], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
      if (hash.startsWith('$2')) return `${user}:${hash}`;
    } catch { /* next */ }
  }
  try { return execFileSync('htpasswd', ['-nbB', user, password]).toString().trim(); } catch { return undefined; }
}

/** A busybox image imported into `root` as `name` (Strata's import; the same ID on every run). */
export async function importBusybox(root: string, name: string, tar: string, env: Record<string, string>): Promise<string> {
  return (await strataAsyncOk(root, ['import', '-c', 'CMD ["sh"]', tar, name], { env })).trim();
}

export function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
