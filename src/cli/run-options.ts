import * as fs from 'node:fs';
import { Option, type Command } from 'commander';
import { invalidArgument } from '../base/errors.js';
import { parseSize } from '../format/index.js';
import { parsePublishAll, type CreateRequest, type HostConfig, type MountSpec, type PortBinding } from '../engine/index.js';
import { collect } from './util.js';

/** The flags `create` and `run` share, in Docker's grammar. */
export function addCreateFlags(c: Command): Command {
  return c
    .option('--name <string>', 'Assign a name to the container')
    .option('-e, --env <list>', 'Set environment variables', collect)
    .option('--env-file <list>', 'Read in a file of environment variables', collect)
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .option('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('--entrypoint <string>', 'Overwrite the default ENTRYPOINT of the image')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('--rm', 'Automatically remove the container when it exits')
    .option('-h, --hostname <string>', 'Container host name')
    .option('-v, --volume <list>', 'Bind mount a volume', collect)
    .option('--mount <mount>', 'Attach a filesystem mount to the container', collect)
    .option('--tmpfs <list>', 'Mount a tmpfs directory', collect)
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--cpus <decimal>', 'Number of CPUs')
    .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--restart <string>', 'Restart policy to apply when a container exits', 'no')
    .option('--network <network>', 'Connect a container to a network', 'default')
    .option('--network-alias <list>', 'Add network-scoped alias for the container', collect)
    .option('--ip <string>', 'IPv4 address (e.g., 172.30.100.104)')
    .option('--privileged', 'Give extended privileges to this container')
    .option('--cap-add <list>', 'Add Linux capabilities', collect)
    .option('--cap-drop <list>', 'Drop Linux capabilities', collect)
    .option('--security-opt <list>', 'Security Options', collect)
    .option('--log-driver <string>', 'Logging driver for the container')
    .option('--log-opt <list>', 'Log driver options', collect)
    .option('-p, --publish <list>', "Publish a container's port(s) to the host", collect)
    .option('-P, --publish-all', 'Publish all exposed ports to random ports')
    .option('--expose <list>', 'Expose a port or a range of ports', collect)
    .option('-l, --label <list>', 'Set meta data on a container', collect)
    .option('--add-host <list>', 'Add a custom host-to-IP mapping (host:ip)', collect)
    .option('--link <list>', 'Add link to another container', collect)
    .option('--shm-size <bytes>', 'Size of /dev/shm')
    .option('--runtime <string>', 'Runtime to use for this container')
    .option('--pull <string>', 'Pull image before running ("always", "missing", "never")', 'missing')
    .addOption(new Option('--init', 'Run an init inside the container').hideHelp());
}

export interface CreateFlags {
  name?: string; env?: string[]; envFile?: string[]; workdir?: string; user?: string; entrypoint?: string;
  interactive?: boolean; tty?: boolean; rm?: boolean; hostname?: string; volume?: string[]; mount?: string[];
  tmpfs?: string[]; readOnly?: boolean; memory?: string; cpus?: string; pidsLimit?: string; restart: string;
  network: string; networkAlias?: string[]; ip?: string; privileged?: boolean; capAdd?: string[]; capDrop?: string[]; securityOpt?: string[];
  publish?: string[]; publishAll?: boolean; pull?: string; expose?: string[]; label?: string[]; addHost?: string[]; link?: string[]; shmSize?: string; runtime?: string;
  logDriver?: string; logOpt?: string[];
}

/** `KEY=VALUE` stays; a bare `KEY` takes the value from this environment or is dropped (Docker). */
function envEntry(e: string): string | undefined {
  if (e.includes('=')) {
    if (e.startsWith('=')) throw invalidArgument(`invalid environment variable: ${e}`);
    return e;
  }
  const v = process.env[e];
  return v === undefined ? undefined : `${e}=${v}`;
}

function readEnvFile(file: string): string[] {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { throw invalidArgument(`open ${file}: no such file or directory`); }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) continue;
    const e = envEntry(line.replace(/\r$/, ''));
    if (e) out.push(e);
  }
  return out;
}

function parseMount(spec: string): MountSpec {
  const kv: Record<string, string> = {};
  let readOnly = false;
  for (const part of spec.split(',')) {
    const i = part.indexOf('=');
    const k = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
    const v = i < 0 ? '' : part.slice(i + 1);
    if (k === 'readonly' || k === 'ro') { readOnly = v === '' || v === 'true' || v === '1'; continue; }
    kv[k] = v;
  }
  const type = (kv.type ?? 'volume') as MountSpec['Type'];
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw invalidArgument(`invalid argument "${spec}" for "--mount" flag: type '${type}' is not supported`);
  const target = kv.target ?? kv.destination ?? kv.dst;
  if (!target) throw invalidArgument(`invalid argument "${spec}" for "--mount" flag: target is required`);
  const m: MountSpec = { Type: type, Target: target };
  const src = kv.source ?? kv.src;
  if (src) m.Source = src;
  if (readOnly) m.ReadOnly = true;
  if (type === 'tmpfs' && kv['tmpfs-size']) m.TmpfsOptions = { SizeBytes: parseSize(kv['tmpfs-size']) };
  if (type === 'bind' && !src) throw invalidArgument(`invalid argument "${spec}" for "--mount" flag: source is required when specifying a bind mount`);
  return m;
}

/** Docker's flag rules, then the create body. */
export function toCreateRequest(image: string, cmd: string[], f: CreateFlags): CreateRequest {
  const env: string[] = [];
  for (const file of f.envFile ?? []) env.push(...readEnvFile(file));
  for (const e of f.env ?? []) { const x = envEntry(e); if (x) env.push(x); }
  const labels: Record<string, string> = {};
  for (const l of f.label ?? []) { const i = l.indexOf('='); labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1); }

  const hc: Partial<HostConfig> = {
    NetworkMode: f.network,
    AutoRemove: !!f.rm,
    Privileged: !!f.privileged,
    ReadonlyRootfs: !!f.readOnly,
    PublishAllPorts: !!f.publishAll,
    CapAdd: f.capAdd ?? null,
    CapDrop: f.capDrop ?? null,
    SecurityOpt: f.securityOpt ?? null,
    Binds: f.volume?.length ? f.volume : null,
    ExtraHosts: f.addHost ?? null,
  };
  if (f.link?.length) hc.Links = f.link;
  if (f.runtime) hc.Runtime = f.runtime;
  if (f.logDriver !== undefined || f.logOpt?.length) {
    const config: Record<string, string> = {};
    for (const o of f.logOpt ?? []) {
      const i = o.indexOf('=');
      if (i < 0) throw invalidArgument(`invalid key/value pair format in logging opts: ${o}`);
      config[o.slice(0, i)] = o.slice(i + 1);
    }
    hc.LogConfig = { Type: f.logDriver ?? '', Config: config };
  }
  if (f.memory !== undefined) {
    let m: number;
    try { m = parseSize(f.memory); } catch { throw invalidArgument(`invalid argument "${f.memory}" for "-m, --memory" flag: invalid size: '${f.memory}'`); }
    if (m > 0 && m < 6 * 1024 * 1024) throw invalidArgument('Minimum memory limit allowed is 6MB');
    hc.Memory = m;
  }
  if (f.shmSize !== undefined) hc.ShmSize = parseSize(f.shmSize);
  if (f.cpus !== undefined) {
    const c = Number(f.cpus);
    if (!Number.isFinite(c) || c < 0) throw invalidArgument(`invalid argument "${f.cpus}" for "--cpus" flag: failed to parse ${f.cpus} as a rational number`);
    hc.NanoCpus = Math.round(c * 1e9);
  }
  if (f.pidsLimit !== undefined) {
    const n = Number(f.pidsLimit);
    if (!Number.isInteger(n)) throw invalidArgument(`invalid argument "${f.pidsLimit}" for "--pids-limit" flag: strconv.ParseInt: parsing "${f.pidsLimit}": invalid syntax`);
    hc.PidsLimit = n;
  }
  const rp = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(f.restart);
  if (!rp) throw invalidArgument(`invalid restart policy format`);
  if (rp[2] && rp[1] !== 'on-failure') throw invalidArgument(`maximum retry count cannot be used with restart policy '${rp[1]}'`);
  hc.RestartPolicy = { Name: rp[1]!, MaximumRetryCount: rp[2] ? Number(rp[2]) : 0 };
  if (f.rm && rp[1] !== 'no') throw invalidArgument('Conflicting options: --restart and --rm');
  if (f.tmpfs?.length) {
    hc.Tmpfs = {};
    for (const t of f.tmpfs) { const i = t.indexOf(':'); hc.Tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1); }
  }
  if (f.mount?.length) hc.Mounts = f.mount.map(parseMount);
  const exposedPorts: Record<string, Record<string, never>> = {};
  for (const e of f.expose ?? []) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(\w+))?$/.exec(e);
    if (!m) throw invalidArgument(`invalid range format for --expose: ${e}`);
    for (let p = Number(m[1]); p <= Number(m[2] ?? m[1]); p++) exposedPorts[`${p}/${m[3] ?? 'tcp'}`] = {};
  }
  if (f.publish?.length) {
    const bindings: Record<string, PortBinding[]> = {};
    for (const p of parsePublishAll(f.publish)) {
      const key = `${p.containerPort}/${p.protocol}`;
      exposedPorts[key] = {};
      const hostPort = p.hostPortEnd ? `${p.hostPort}-${p.hostPortEnd}` : p.hostPort ? String(p.hostPort) : '';
      (bindings[key] ??= []).push({ HostIp: p.hostIp, HostPort: hostPort });
    }
    hc.PortBindings = bindings;
  }
  for (const [i, s] of (f.securityOpt ?? []).entries()) {
    if (!/^(no-new-privileges(=(true|false))?|no-new-privileges:(true|false)|seccomp[=:].+|apparmor[=:].+|label[=:].+)$/.test(s)) {
      throw invalidArgument(`Invalid --security-opt: "${s}"`);
    }
    // seccomp=FILE: the profile itself travels in HostConfig (compact JSON), as the Docker CLI sends it
    const sc = /^seccomp[=:](.+)$/.exec(s);
    if (sc && sc[1] !== 'unconfined' && sc[1] !== 'builtin') {
      let text: string;
      try {
        text = fs.readFileSync(sc[1]!, 'utf8');
      } catch (e) {
        throw invalidArgument(`opening seccomp profile (${sc[1]}) failed: open ${sc[1]}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
      }
      try {
        text = JSON.stringify(JSON.parse(text));
      } catch (e) {
        throw invalidArgument(`compacting json for seccomp profile (${sc[1]}) failed: ${(e as Error).message}`);
      }
      f.securityOpt![i] = `seccomp=${text}`;
    }
  }
  const req: CreateRequest = {
    Image: image,
    Hostname: f.hostname ?? '',
    User: f.user ?? '',
    AttachStdin: !!f.interactive,
    AttachStdout: true,
    AttachStderr: true,
    Tty: !!f.tty,
    OpenStdin: !!f.interactive,
    StdinOnce: !!f.interactive,
    Env: env,
    Cmd: cmd.length ? cmd : null,
    WorkingDir: f.workdir ?? '',
    Labels: labels,
    HostConfig: hc,
  };
  if (Object.keys(exposedPorts).length) req.ExposedPorts = exposedPorts;
  // on a user-defined network, links are the endpoint's (as the docker CLI sends them)
  const userNet = !['', 'default', 'bridge', 'host', 'none'].includes(f.network || '') && !(f.network ?? '').startsWith('container:');
  const epLinks = userNet && f.link?.length ? f.link : undefined;
  if (f.networkAlias?.length || f.ip || epLinks) {
    req.NetworkingConfig = { EndpointsConfig: { [f.network || 'default']: { ...(f.networkAlias?.length ? { Aliases: f.networkAlias } : {}), ...(f.ip ? { IPAMConfig: { IPv4Address: f.ip } } : {}), ...(epLinks ? { Links: epLinks } : {}) } } };
  }
  if (f.entrypoint !== undefined) req.Entrypoint = f.entrypoint === '' ? [''] : [f.entrypoint];
  if (f.name) (req as CreateRequest & { name?: string }).name = f.name;
  return req;
}
