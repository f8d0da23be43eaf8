import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { CLI, PROJECT, busyboxTar, strata, strataOk, type RunResult } from '../helpers.js';
import { freePort } from '../helpers.js';

export const DOCKER = '/usr/local/bin/docker';

/** Why the docker CLI tests cannot run here, or undefined. */
export function dockerMissing(): string | undefined {
  if (!fs.existsSync(DOCKER)) return `no docker CLI at ${DOCKER}`;
  return undefined;
}

export interface Served {
  root: string;
  sock: string;
  host: string;
  proc: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** `strata serve -H unix://<root>/strata.sock` as a child process, with busybox imported. */
export async function serve(root: string, opts: { importBusybox?: boolean; args?: string[] } = {}): Promise<Served> {
  if (opts.importBusybox !== false) strataOk(root, ['import', busyboxTar(), 'busybox']);
  const sock = path.join(root, 'strata.sock');
  // a per-test client config: no real registry credentials are read
  const env: Record<string, string> = { ...process.env as Record<string, string>, STRATA_ROOT: root, STRATA_CONFIG: path.join(root, 'strata-config.json') };
  delete env.NODE_EXTRA_CA_CERTS;
  const proc = spawn(process.execPath, [CLI, 'serve', '-H', `unix://${sock}`, ...(opts.args ?? [])], { env, cwd: PROJECT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const deadline = Date.now() + 15000;
  while (!/listening on/.test(err)) {
    if (proc.exitCode !== null) throw new Error(`strata serve exited ${proc.exitCode}: ${err}`);
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`strata serve did not start: ${err}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    root, sock, host: `unix://${sock}`, proc,
    stderr: () => err,
    stop: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      proc.once('exit', () => { clearTimeout(t); resolve(); });
      proc.kill('SIGTERM');
    }),
  };
}

/** The docker CLI against a server. */
export function docker(s: Served, args: string[], opts: { input?: string | Buffer; timeout?: number } = {}): RunResult {
  const env: Record<string, string> = { ...process.env as Record<string, string>, DOCKER_HOST: s.host, DOCKER_CONFIG: path.join(s.root, '.docker') };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(DOCKER, args, { env, input: opts.input, timeout: opts.timeout ?? 60000, maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

export function dockerOk(s: Served, args: string[], opts: Parameters<typeof docker>[2] = {}): string {
  const r = docker(s, args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A TCP port nothing listens on right now. */
export { freePort };

/** GET over TCP, retried while the port is not yet forwarded. */
export async function httpGet(port: number, tries = 40): Promise<string> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      return await res.text();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

/** Remove every container of a root through the CLI (test cleanup). */
export function removeAllContainers(root: string): void {
  const ids = strataOk(root, ['ps', '-aq', '--no-trunc']).split('\n').filter(Boolean);
  if (ids.length) strataOk(root, ['rm', '-f', ...ids]);
}

interface Ctx { after(fn: () => void | Promise<void>): void; }

/**
 * A fresh STRATA_ROOT whose cleanups (`defer`, run last-in first-out) all run before the
 * root is reset and removed: containers go before their mounts' directories.
 */
export function apiRoot(t: Ctx, prefix: string): { root: string; defer(fn: () => void | Promise<void>): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const fns: (() => void | Promise<void>)[] = [];
  t.after(async () => {
    for (const f of fns.reverse()) {
      try { await f(); } catch (e) { console.error(`cleanup: ${(e as Error).message}`); }
    }
    // everything the root holds outside itself: bridges, iptables rules, netns, mounts
    strata(root, ['system', 'reset', '--force']);
    fs.rmSync(root, { recursive: true, force: true });
  });
  return { root, defer: (fn) => { fns.push(fn); } };
}
