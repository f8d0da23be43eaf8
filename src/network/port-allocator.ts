/**
 * Host ports for published container ports. Free means: not booked in this root's
 * attachment records, not claimed by any CNI portmap DNAT rule on the host (other roots,
 * nerdctl, Podman), and bindable now (no host process listens). Port 0 takes the next free
 * one round robin through `ip_local_port_range`, from the last one given (Docker's
 * allocator). The caller holds the host-wide lock from the choice until portmap's rule exists.
 */
import * as path from 'node:path';
import { StrataError } from '../base/errors.js';
import { writeFileAtomic } from '../base/fs.js';
import { linuxSys, type Sys } from '../sys/index.js';
import { claimedHostPorts } from './iptables.js';
import { isIPv4Literal } from './ipv4.js';
import type { PortBinding, PortSpec, Protocol } from './ports.js';
import { readJson, type NetworkState } from './state.js';

/** Ports this root has handed out, from the attachment records. */
function bookedPorts(st: NetworkState, exceptContainer?: string): PortBinding[] {
  return st.readRecords().filter((r) => r.containerId !== exceptContainer).flatMap((r) => r.ports);
}

/**
 * Resolve requested specs to bindings: explicit host ports must be free, port 0 (or a host
 * range) gets a free one. Free means: not booked by this root, not claimed by any CNI
 * portmap rule on the host, and bindable right now (nothing on the host listens there).
 */
export async function allocatePorts(st: NetworkState, specs: readonly PortSpec[]): Promise<PortBinding[]> {
const sys = st.sys;
  if (specs.length === 0) return [];
  const taken: Array<{ hostIp: string; hostPort: number; protocol: string }> = [...bookedPorts(st), ...(await claimedHostPorts(sys))];
  const clash = (ip: string, port: number, proto: string) =>
    taken.some((t) => t.protocol === proto && t.hostPort === port && (t.hostIp === ip || t.hostIp === '0.0.0.0' || ip === '0.0.0.0'));
  const out: PortBinding[] = [];
  const statePath = path.join(st.stateDir, 'ports.json');
  const state = readJson<{ lastEphemeral?: number }>(statePath) ?? {};
  const [lo, hi] = ephemeralRange(sys);
  for (const s of specs) {
    const hostIp = s.hostIp === '' ? '0.0.0.0' : s.hostIp;
    if (!isIPv4Literal(hostIp)) {
      throw new StrataError('invalid_argument', `cannot publish on ${s.hostIp}: Strata networks are IPv4 only`);
    }
    if (s.containerPort <= 0) throw new StrataError('invalid_argument', `Invalid containerPort: ${s.containerPort}`);
    let chosen: number | undefined;
    if (s.hostPort !== 0 && s.hostPortEnd === undefined) {
      if (clash(hostIp, s.hostPort, s.protocol) || !(await sys.canBind(hostIp, s.hostPort, s.protocol))) {
        throw new StrataError('conflict', `Bind for ${hostIp}:${s.hostPort} failed: port is already allocated`);
      }
      chosen = s.hostPort;
    } else if (s.hostPortEnd !== undefined) {
      for (let p = s.hostPort; p <= s.hostPortEnd && chosen === undefined; p++) {
        if (!clash(hostIp, p, s.protocol) && (await sys.canBind(hostIp, p, s.protocol))) chosen = p;
      }
      if (chosen === undefined) throw new StrataError('conflict', `Bind for ${hostIp}:${s.hostPort}-${s.hostPortEnd} failed: port is already allocated`);
    } else {
      // Docker's allocator: round robin through the ephemeral range from the last one given.
      const span = hi - lo + 1;
      const startAt = state.lastEphemeral !== undefined && state.lastEphemeral >= lo && state.lastEphemeral < hi ? state.lastEphemeral + 1 : lo;
      for (let i = 0; i < span && chosen === undefined; i++) {
        const p = lo + ((startAt - lo + i) % span);
        if (!clash(hostIp, p, s.protocol) && (await sys.canBind(hostIp, p, s.protocol))) chosen = p;
      }
      if (chosen === undefined) throw new StrataError('conflict', 'all ports are allocated');
      state.lastEphemeral = chosen;
    }
    taken.push({ hostIp, hostPort: chosen, protocol: s.protocol });
    out.push({ hostIp, hostPort: chosen, containerPort: s.containerPort, protocol: s.protocol });
  }
  // a hint (where the round robin goes on): lost in a machine crash, the next choice starts over
  writeFileAtomic(statePath, JSON.stringify(state), 0o644, { durable: false });
  return out;
}

function ephemeralRange(sys: Sys): [number, number] {
  const [a, b] = (sys.readSysctl('net/ipv4/ip_local_port_range') ?? '').split(/\s+/).map(Number);
  if (a && b && a <= b) return [a, b];
  return [32768, 60999];
}

/** Can this process bind hostIp:port for this protocol right now? */
export function canBind(hostIp: string, port: number, protocol: Protocol | string, sys: Sys = linuxSys): Promise<boolean> {
  return sys.canBind(hostIp, port, protocol);
}

