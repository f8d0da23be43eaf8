/**
 * Child-process helper for the few host tools network/ drives: `ip`, `iptables-save`,
 * `iptables-restore`, `iptables`, and the CNI plugin binaries.
 */
import { spawn } from 'node:child_process';
import { StrataError } from '../base/errors.js';

export interface RunResult { code: number; stdout: string; stderr: string; }

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** PATH with the sbin directories added: ip, iptables and the plugins' helpers live there. */
export function sbinPath(base = process.env.PATH ?? ''): string {
  const parts = base.split(':').filter((p) => p);
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (!parts.includes(d)) parts.push(d);
  return parts.join(':');
}

/** Run a program; resolve with its exit code and output (never rejects on a non-zero exit). */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env = opts.env ?? { ...process.env, PATH: sbinPath() };
    // spawn looks a bare name up in the PATH of the child's env.
    const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => { if (timer) clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    // A plugin that exits before reading stdin gives EPIPE; its exit code tells the story.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Run and require exit 0; the error names the command and carries stderr. */
export async function runOk(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    throw new StrataError('internal', `${file} ${args.join(' ')}: exit ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}
