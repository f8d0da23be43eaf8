/**
 * Port publishing: Docker's `-p`/`--expose`/`-P` grammar and the ps PORTS column.
 *
 * Parsing follows docker/go-connections `nat.ParsePortSpec` as vendored by Docker 20.10
 * (v0.4.0), including its capitalised error wording ("Invalid hostPort: 99999"), and the
 * CLI's long syntax (`published=8080,target=80,protocol=udp`). Pure: no I/O.
 */
import { isIP } from 'node:net';
import { isIPv4Literal } from './ipv4.js';
import { StrataError } from '../base/errors.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';

/**
 * One requested port mapping. `hostIp` '' means every address (Docker stores '' in
 * HostConfig and reports '0.0.0.0'). `hostPort` 0 means "pick a free port"; when
 * `hostPortEnd` is set (`-p 8080-8090:80`) the free port is picked inside that range.
 */
export interface PortSpec {
  hostIp: string;
  hostPort: number;
  hostPortEnd?: number;
  containerPort: number;
  protocol: Protocol;
}

/** A mapping as actually set up: host IP resolved ('0.0.0.0' for all), host port chosen. */
export interface PortBinding {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

function invalid(msg: string): StrataError {
  return new StrataError('invalid_argument', msg);
}

/** Go's strconv.ParseUint(s, 10, 16), with Go's error text. */
function parseUint16(s: string): number | string {
  if (!/^[0-9]+$/.test(s)) return `strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`;
  const n = Number(s);
  return n <= 65535 ? n : `strconv.ParseUint: parsing ${JSON.stringify(s)}: value out of range`;
}

/**
 * nat.ParsePortRange: "8000" or "8000-9000". Like Go's strings.Split, "1-2-3" reads 1 and 2.
 * Returns [start, end] or Go's error text.
 */
function portRange(s: string): [number, number] | string {
  if (s === '') return 'Empty string specified for ports.';
  if (!s.includes('-')) {
    const n = parseUint16(s);
    return typeof n === 'string' ? n : [n, n];
  }
  const parts = s.split('-');
  const start = parseUint16(parts[0]!);
  if (typeof start === 'string') return start;
  const end = parseUint16(parts[1]!);
  if (typeof end === 'string') return end;
  if (end < start) return `Invalid range specified for the Port: ${s}`;
  return [start, end];
}

function parsePortRange(s: string): [number, number] | undefined {
  const r = portRange(s);
  return typeof r === 'string' ? undefined : r;
}

/** nat.SplitProtoPort: "80/udp" -> ['udp','80']; "80" -> ['tcp','80']; "" -> ['','']. */
function splitProtoPort(raw: string): [string, string] {
  const parts = raw.split('/');
  if (raw.length === 0 || parts.length === 0 || parts[0] === '') return ['', ''];
  if (parts.length === 1) return ['tcp', raw];
  if (parts[1] === '') return ['tcp', parts[0]!];
  return [parts[1]!, parts[0]!];
}

function splitParts(raw: string): [string, string, string] {
  const parts = raw.split(':');
  const n = parts.length;
  const containerPort = parts[n - 1]!;
  switch (n) {
    case 1: return ['', '', containerPort];
    case 2: return ['', parts[0]!, containerPort];
    case 3: return [parts[0]!, parts[1]!, containerPort];
    default: return [parts.slice(0, n - 2).join(':'), parts[n - 2]!, containerPort];
  }
}

/**
 * The CLI's convertToStandardNotation: `published=8080,target=80[,protocol=udp][,mode=...]`
 * becomes `8080:80/udp`.
 */
function toStandardNotation(spec: string): string {
  if (!spec.includes('=')) return spec;
  const params = new Map<string, string>([['protocol', 'tcp']]);
  for (const param of spec.split(',')) {
    const opt = param.split('=');
    if (opt.length < 2) throw invalid(`invalid publish opts format (should be name=value but got '${param}')`);
    params.set(opt[0]!, opt[1]!);
  }
  return `${params.get('published') ?? ''}:${params.get('target') ?? ''}/${params.get('protocol')}`;
}

/** Go's net.SplitHostPort(rawIP + ":") host part, enough for "[::1]" and plain hosts. */
function stripBrackets(rawIp: string): string {
  if (rawIp === '') return '';
  if (rawIp.startsWith('[')) {
    const end = rawIp.indexOf(']');
    if (end < 0) throw invalid(`Invalid ip address ${rawIp}: address ${rawIp}:: missing ']' in address`);
    if (end !== rawIp.length - 1) throw invalid(`Invalid ip address ${rawIp}: address ${rawIp}:: missing port in address`);
    return rawIp.slice(1, end);
  }
  if (rawIp.includes(':')) throw invalid(`Invalid ip address ${rawIp}: address ${rawIp}:: too many colons in address`);
  return rawIp;
}

/**
 * Parse one `-p` value into one PortSpec per container port.
 *
 *   parsePublish('8080:80')            -> [{hostIp:'', hostPort:8080, containerPort:80, protocol:'tcp'}]
 *   parsePublish('127.0.0.1::53/udp')  -> hostPort 0 (a free port is chosen at attach)
 *   parsePublish('8080-8081:80-81')    -> two specs
 *   parsePublish('8080-8090:80')       -> hostPort 8080, hostPortEnd 8090 (first free in range)
 *
 * Errors (StrataError 'invalid_argument') carry go-connections' wording:
 * `Invalid hostPort: 99999`, `Invalid containerPort: abc`, `Invalid proto: xyz`,
 * `No port specified: 8080:<empty>`, `Invalid ip address: 1.2.3`,
 * `Invalid ranges specified for container and host Ports: 80-81 and 8080-8082`.
 */
export function parsePublish(spec: string): PortSpec[] {
  const raw = toStandardNotation(spec);
  const [rawIp, hostPort, containerPart] = splitParts(raw);
  const [proto, containerPort] = splitProtoPort(containerPart);

  const ip = stripBrackets(rawIp);
  if (ip !== '' && !isIPv4Literal(ip) && isIP(ip) === 0) throw invalid(`Invalid ip address: ${ip}`);
  if (containerPort === '') throw invalid(`No port specified: ${raw}<empty>`);

  const cRange = parsePortRange(containerPort);
  if (!cRange) throw invalid(`Invalid containerPort: ${containerPort}`);
  const [startPort, endPort] = cRange;

  let startHost = 0;
  let endHost = 0;
  if (hostPort.length > 0) {
    const hRange = parsePortRange(hostPort);
    if (!hRange) throw invalid(`Invalid hostPort: ${hostPort}`);
    [startHost, endHost] = hRange;
    if (endPort - startPort !== endHost - startHost && endPort !== startPort) {
      throw invalid(`Invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
    }
  }

  const protocol = proto.toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') throw invalid(`Invalid proto: ${proto}`);

  const out: PortSpec[] = [];
  for (let i = 0; i <= endPort - startPort; i++) {
    const p: PortSpec = { hostIp: ip, hostPort: 0, containerPort: startPort + i, protocol };
    if (hostPort.length > 0) {
      p.hostPort = startHost + i;
      // A single container port with a host range: the range is where a free port is picked.
      if (startPort === endPort && startHost !== endHost) p.hostPortEnd = endHost;
    }
    out.push(p);
  }
  return out;
}

/** Parse several `-p` values (the order is kept). */
export function parsePublishAll(specs: readonly string[]): PortSpec[] {
  return specs.flatMap(parsePublish);
}

/**
 * `--expose 80`, `--expose 8000-8002/udp` -> exposed-port keys as in the image config
 * (`80/tcp`, `8000/udp`, `8001/udp`, ...). Docker CLI wording for errors.
 */
export function parseExpose(spec: string): string[] {
  if (spec.includes(':')) throw invalid(`invalid port format for --expose: ${spec}`);
  const [proto, port] = splitProtoPort(spec);
  const range = portRange(port);
  if (typeof range === 'string') throw invalid(`invalid range format for --expose: ${spec}, error: ${range}`);
  const out: string[] = [];
  for (let p = range[0]; p <= range[1]; p++) out.push(`${p}/${proto.toLowerCase()}`);
  return out;
}

/** Parse an exposed-port key (`80/tcp`, `80`, `8000-8002/udp`) into [port, proto] pairs. */
function parseExposedKey(key: string): Array<{ port: number; protocol: Protocol }> {
  const [proto, port] = splitProtoPort(key);
  const range = parsePortRange(port);
  const protocol = proto.toLowerCase();
  if (!range || (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp')) {
    throw invalid(`invalid exposed port: ${key}`);
  }
  const out: Array<{ port: number; protocol: Protocol }> = [];
  for (let p = range[0]; p <= range[1]; p++) out.push({ port: p, protocol });
  return out;
}

/**
 * `-P`: every exposed port (image EXPOSE plus --expose) published on a free host port of
 * every address. Ports already published explicitly with `-p` are left to those specs,
 * as Docker does (an explicit binding wins over -P for that port).
 */
export function publishAllSpecs(exposed: readonly string[], explicit: readonly PortSpec[] = []): PortSpec[] {
  const taken = new Set(explicit.map((p) => `${p.containerPort}/${p.protocol}`));
  const out: PortSpec[] = [];
  const seen = new Set<string>();
  for (const key of exposed) {
    for (const { port, protocol } of parseExposedKey(key)) {
      const k = `${port}/${protocol}`;
      if (taken.has(k) || seen.has(k)) continue;
      seen.add(k);
      out.push({ hostIp: '', hostPort: 0, containerPort: port, protocol });
    }
  }
  return out;
}

/** The exposed-port keys implied by port specs (`-p` also exposes, as in Docker). */
export function exposedKeys(ports: readonly PortSpec[]): string[] {
  return [...new Set(ports.map((p) => `${p.containerPort}/${p.protocol}`))];
}

interface FormatPortsOptions {
  /**
   * Docker 20.10 on an IPv6-capable host also binds `[::]` for every all-addresses
   * binding and prints it (`0.0.0.0:8080->80/tcp, :::8080->80/tcp`). Strata publishes
   * IPv4 only (its networks are IPv4 and there is no userland proxy to carry IPv6 into
   * them), so this is off by default: the column shows what really answers. Turn it on
   * to print Docker's twin entry anyway.
   */
  ipv6Twin?: boolean;
}

interface ApiPort { ip: string; privatePort: number; publicPort: number; type: string; }

/**
 * The ps PORTS column, as docker/cli `DisplayablePorts` (20.10): sort by (container port,
 * IP, host port, proto); bindings whose host port equals the container port group into
 * runs (`0.0.0.0:8000-8001->8000-8001/tcp`), as do unpublished exposed ports
 * (`8000-8002/tcp`); other bindings follow, in sort order; joined with ", ".
 *
 * `ports` are bindings as set up (hostIp '' is shown as 0.0.0.0); `exposed` are
 * exposed-port keys (`80/tcp`); an exposed port that also has a binding is not repeated.
 */
export function formatPorts(ports: readonly (PortSpec | PortBinding)[], exposed: readonly string[] = [], opts: FormatPortsOptions = {}): string {
  const list: ApiPort[] = [];
  const published = new Set<string>();
  for (const p of ports) {
    const ip = p.hostIp === '' ? '0.0.0.0' : p.hostIp;
    published.add(`${p.containerPort}/${p.protocol}`);
    list.push({ ip, privatePort: p.containerPort, publicPort: p.hostPort, type: p.protocol });
    if (opts.ipv6Twin && ip === '0.0.0.0') list.push({ ip: '::', privatePort: p.containerPort, publicPort: p.hostPort, type: p.protocol });
  }
  for (const key of exposed) {
    for (const { port, protocol } of parseExposedKey(key)) {
      const k = `${port}/${protocol}`;
      if (published.has(k)) continue;
      published.add(k);
      list.push({ ip: '', privatePort: port, publicPort: 0, type: protocol });
    }
  }
  return displayablePorts(list);
}

function comparePorts(a: ApiPort, b: ApiPort): number {
  if (a.privatePort !== b.privatePort) return a.privatePort - b.privatePort;
  if (a.ip !== b.ip) return a.ip < b.ip ? -1 : 1;
  if (a.publicPort !== b.publicPort) return a.publicPort - b.publicPort;
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  return 0;
}

function formGroup(key: string, first: number, last: number): string {
  const parts = key.split('/');
  let type = parts[0]!;
  let ip = '';
  if (parts.length > 1) { ip = parts[0]!; type = parts[1]!; }
  let group = String(first);
  if (first !== last) group = `${group}-${last}`;
  if (ip !== '') group = `${ip}:${group}->${group}`;
  return `${group}/${type}`;
}

function displayablePorts(input: ApiPort[]): string {
  const ports = [...input].sort(comparePorts);
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  for (const port of ports) {
    const current = port.privatePort;
    let key = port.type;
    if (port.ip !== '') {
      if (port.publicPort !== current) {
        hostMappings.push(`${port.ip}:${port.publicPort}->${port.privatePort}/${port.type}`);
        continue;
      }
      key = `${port.ip}/${port.type}`;
    }
    const group = groups.get(key);
    if (!group) { groups.set(key, { first: current, last: current }); continue; }
    if (current === group.last + 1) { group.last = current; continue; }
    result.push(formGroup(key, group.first, group.last));
    // Go re-assigns the map entry: the key keeps its original insertion position.
    group.first = current;
    group.last = current;
  }
  for (const [key, g] of groups) result.push(formGroup(key, g.first, g.last));
  return [...result, ...hostMappings].join(', ');
}
