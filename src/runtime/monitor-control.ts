/**
 * Commands to a running monitor over its control socket (one line out, one reply back):
 * start (a container created with deferStart), resize, norestart, kill, status.
 */
import * as net from 'node:net';
import { StrataError, errnoCode } from '../base/errors.js';
import { hasUnixRequest, unixRequest } from '../sys/linux.js';
import { RuntimeError, runtimeError, startErrorExitCode } from './runc.js';

/**
 * Without the addon's unixRequest, load node:net now (~4.5 ms), in time the caller would spend
 * waiting (a start, while the CNI plugins run), rather than at its first command to a monitor.
 */
export function warmMonitorClient(): boolean {
  if (hasUnixRequest()) return true;
  return typeof net.Socket === 'function'; // a use the bundler keeps (a bare access would be dropped)
}

/** A failed command's error as callers see it: no monitor listening, or no answer in time. */
function monitorError(e: unknown, command: string): unknown {
  const code = errnoCode(e);
  if (code === 'ENOENT' || code === 'ECONNREFUSED') return new StrataError('failed_precondition', 'container is not running (no monitor)');
  if (code === 'ETIMEDOUT') return new StrataError('unavailable', `monitor did not answer ${command}`);
  return e;
}

/** Send one command line to a monitor and collect its whole reply. */
function monitorCommand(socketPath: string, command: string, timeoutMs = 30000): Promise<string> {
  const quick = unixRequest(socketPath, command + '\n', timeoutMs);
  if (quick) return quick.catch((e: unknown) => { throw monitorError(e, command); });
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let reply = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new StrataError('unavailable', `monitor did not answer ${command}`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(command + '\n'));
    sock.on('data', (d: string) => (reply += d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(monitorError(e, command));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

function checkOk(reply: string): string {
  if (reply.startsWith('ok')) return reply.trim();
  const m = /^err (\d+) ?(.*)$/s.exec(reply.trim());
  throw new StrataError('failed_precondition', m ? m[2]! : `monitor: ${reply.trim() || 'no reply'}`);
}

/**
 * Start a container created with `deferStart`, or open a gated run's gate (`gated`: its
 * failures are runc run's, made in its create: Docker's words for them are a create's).
 */
export async function startContainer(socketPath: string, opts: { gated?: boolean } = {}): Promise<{ pid: number }> {
  const reply = (await monitorCommand(socketPath, 'start')).trim();
  const m = /^ok (\d+)/.exec(reply);
  if (m) return { pid: Number(m[1]) };
  const e = /^err (\d+) ?(.*)$/s.exec(reply);
  if (e) {
    const err = runtimeError(opts.gated ? 'create' : 'start', '', e[2]!, 1);
    throw new RuntimeError(err.code, err.message, err.detail, Number(e[1]) || startErrorExitCode(e[2]!));
  }
  throw new StrataError('internal', `monitor: unexpected reply ${JSON.stringify(reply)}`);
}

/** Set the pty size (stored by the monitor until the pty exists). */
export async function resize(socketPath: string, rows: number, cols: number): Promise<void> {
  checkOk(await monitorCommand(socketPath, `resize ${Math.floor(rows)} ${Math.floor(cols)}`));
}

/** No restart after the next exit (`docker stop`); ends a pending restart back-off. */
export async function disableRestart(socketPath: string): Promise<void> {
  checkOk(await monitorCommand(socketPath, 'norestart'));
}

/**
 * Signal the container's init through its monitor (its parent: the pid cannot have been
 * reused), `norestart` first when asked: one socket round trip where `disableRestart` and
 * `runc kill` took a round trip and a runc process (~25 ms, ~15 ms of CPU). `not-running`:
 * the monitor knows it has exited. `unsupported`: no monitor answers (killed: the container
 * may still run) or it predates the command: the caller falls back to `runc kill`.
 */
export async function signalInit(socketPath: string, signal: number, opts: { norestart?: boolean } = {}): Promise<'ok' | 'not-running' | 'unsupported'> {
  let reply: string;
  try {
    reply = (await monitorCommand(socketPath, `kill ${signal}${opts.norestart ? ' norestart' : ''}`)).trim();
  } catch {
    return 'unsupported';
  }
  if (reply === 'ok') return 'ok';
  return /not running/.test(reply) ? 'not-running' : 'unsupported';
}

interface MonitorStatus {
  status: 'created' | 'running' | 'restarting' | 'exited';
  pid: number;
  monitorPid: number;
  restartCount: number;
  exitCode: number;
  startedAt: string;
}

export async function monitorStatus(socketPath: string): Promise<MonitorStatus> {
  return JSON.parse(await monitorCommand(socketPath, 'status')) as MonitorStatus;
}
