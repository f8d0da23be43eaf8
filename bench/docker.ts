/**
 * A private Docker engine for side-by-side figures: Debian's dockerd (package docker.io), when
 * installed, started on its own socket with its own data and exec roots under a temp dir, no
 * iptables changes (published ports go through docker-proxy), its bridge on a subnet of its own,
 * and everything it made removed by stop(). Never a test dependency; never installed by setup.sh.
 *
 * The client is the docker CLI found at /usr/local/bin/docker (else `docker` on PATH), talking
 * to that socket with a temp DOCKER_CONFIG.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const DOCKER_SOCK = '/run/strata-bench-docker.sock';
const BRIDGE = 'strbdock0';
const BRIDGE_CIDR = '10.231.77.1/24';

export interface DockerEngine {
  version: string;
  /** environment for the docker CLI (DOCKER_HOST, DOCKER_CONFIG; NODE_EXTRA_CA_CERTS irrelevant) */
  env: NodeJS.ProcessEnv;
  cli: string;
  /** run the CLI, return stdout; throws on a non-zero exit */
  run(args: string[], input?: Buffer | string): string;
  /** the CLI's argv for timing: [cmd, ...args] */
  argv(args: string[]): [string, string[]];
  stop(): Promise<void>;
}

function which(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(d, cmd);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}

function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** Start a private dockerd, or undefined (with the reason printed) when there is none here. */
export async function startDocker(): Promise<DockerEngine | undefined> {
  if (process.env.STRATA_BENCH_DOCKER === '0') { console.log('# docker: STRATA_BENCH_DOCKER=0, Docker figures skipped'); return undefined; }
  const dockerd = which('dockerd') ?? (fs.existsSync('/usr/sbin/dockerd') ? '/usr/sbin/dockerd' : undefined);
  const cli = fs.existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : which('docker');
  if (!dockerd || !cli) { console.log('# docker: no dockerd here (apt-get install docker.io), Docker figures skipped'); return undefined; }
  if (fs.existsSync(DOCKER_SOCK)) {
    // a leftover of an interrupted run: only ours uses this socket
    try { fs.rmSync(DOCKER_SOCK); } catch { /* in use */ }
  }
  const dir = fs.mkdtempSync('/tmp/sbd-');
  const cfg = path.join(dir, 'client');
  fs.mkdirSync(cfg);
  // our own bridge, so the engine neither creates docker0 nor picks a subnet someone else uses
  spawnSync('ip', ['link', 'del', BRIDGE], { stdio: 'ignore' });
  execFileSync('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  execFileSync('ip', ['addr', 'add', BRIDGE_CIDR, 'dev', BRIDGE]);
  execFileSync('ip', ['link', 'set', BRIDGE, 'up']);
  const log = fs.openSync(path.join(dir, 'dockerd.log'), 'w');
  const child: ChildProcess = spawn(dockerd, [
    '--host', `unix://${DOCKER_SOCK}`, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'),
    '--pidfile', path.join(dir, 'dockerd.pid'), '--bridge', BRIDGE, '--iptables=false', '--ip-forward=false', '--ip-masq=false',
    '--containerd-namespace', 'strata-bench', '--containerd-plugins-namespace', 'strata-bench-plugins', '--log-level', 'warn',
  ], { stdio: ['ignore', log, log], detached: false });
  fs.closeSync(log);
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${DOCKER_SOCK}`, DOCKER_CONFIG: cfg };
  delete env.NODE_EXTRA_CA_CERTS;
  const run = (args: string[], input?: Buffer | string): string => {
    const r = spawnSync(cli, args, { env, input, maxBuffer: 1 << 30, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr?.toString().trim()}`);
    return r.stdout.toString();
  };
  const stop = async (): Promise<void> => {
    try { const ids = run(['ps', '-aq']).split('\n').filter(Boolean); if (ids.length) run(['rm', '-f', ...ids]); } catch { /* engine gone */ }
    if (child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) { child.kill('SIGKILL'); await gone; }
    }
    for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', BRIDGE], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
    try { fs.rmSync(DOCKER_SOCK, { force: true }); } catch { /* gone */ }
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = spawnSync(cli, ['version', '--format', '{{.Server.Version}}'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status === 0) {
      const version = r.stdout.toString().trim();
      console.log(`# docker: dockerd ${version} on ${DOCKER_SOCK} (data root ${dir}/data), client ${cli}`);
      return { version, env, cli, run, argv: (args) => [cli, args], stop };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      const tail = fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').split('\n').slice(-5).join('\n');
      await stop();
      console.log(`# docker: dockerd did not start, Docker figures skipped\n# ${tail.replace(/\n/g, '\n# ')}`);
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
