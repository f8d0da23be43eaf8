/** `start` (also deferred for an attached client) and the bundle it runs from. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError, conflict, invalidArgument, notFound } from '../base/errors.js';
import { writeFileAtomic } from '../base/fs.js';
import { rfc3339Nano } from '../image/config.js';
import { buildResolvConf } from '../network/index.js';
import {
  buildSpec, writeBundle, startMonitor, spawnMonitorEarly, gateHook, warmMonitorClient, type EarlyMonitor, waitExit, disableRestart, startContainer as startDeferred,
  type BuildSpecOptions, type MountOption,
  seccompFromSecurityOpt,
} from '../runtime/index.js';
import type { Container, NetworkDriver } from './container-model.js';
import type { ContainerCore } from './container-core.js';
import type { HostConfig } from './create-spec.js';
import { monitorLogOptions } from './log-config.js';

/**
 * Build the bundle and the spec, and join the container's networks. The attach begins first
 * and the root filesystem and the bundle are made beside it; with `create` (which makes the
 * container under its monitor, created but not started), the container is created as soon as
 * its netns and its bundle exist, beside the rest of the attach: the CNI plugins, the port
 * rules, the resolver and /etc/hosts (run -d -p on this 2-core host: netns to attach done ~45 ms,
 * runc create ~60 ms, one after the other before; mount + config.json ~15 ms before both). Measured
 * to the first HTTP 200: medians 217 -> 188 ms, 227 -> 204, 283 -> 241 (30 alternating runs each).
 * The caller starts it only once this resolves, so its process never
 * runs before its network, /etc/hosts and resolv.conf are final. On a failure this resolves
 * only once the attach has settled; `create` may have run even then (the caller undoes both).
 */
export async function prepareBundle(cs: ContainerCore, c: Container, create?: (gate: string | undefined) => Promise<void>, opts: { gate?: boolean; onReady?: () => void } = {}): Promise<{ spec: BuildSpecOptions }> {
  const cfg = c.config;
  const hc = c.hostConfig;
  const args = [...(cfg.Entrypoint ?? []), ...(cfg.Cmd ?? [])].filter((a, i) => !(i === 0 && a === '' && (cfg.Entrypoint?.length ?? 0) === 1));
  if (!args.length) throw invalidArgument('No command specified');
  const mode = hc.NetworkMode;
  const hostname = cfg.Hostname || c.id.slice(0, 12);
  // the bundle's files are written again at each start: no fsync (see writeFileAtomic)
  const volatile = { durable: false };
  writeFileAtomic(path.join(c.dir, 'hostname'), `${hostname}\n`, 0o644, volatile);
  writeFileAtomic(path.join(c.dir, 'resolv.conf'), cs.network?.resolvConf?.(c) ?? buildResolvConf(readHostResolvConf()), 0o644, volatile);
  const linkEnv = cs.network?.linkEnv?.(c) ?? []; // before the attach: a target that does not run fails the start
  const network = networkBeside(cs, c);
  // Docker's default; an attached container's own is written over it, in place, by the attach
  // (the file exists before the container is created: it is bind-mounted)
  writeFileAtomic(path.join(c.dir, 'hosts'), defaultHosts(hostname, hc.ExtraHosts ?? []), 0o644, volatile);
  if (!network) {
    const spec = await writeSpec(cs, c, { args, linkEnv, hostname, network: mode === 'host' ? 'host' : 'new' });
    await create?.(undefined);
    return { spec };
  }
  // the attach's first steps (its locks and record, the netns; the host ports too, unless they
  // are TCP ports chosen beside the bridge plugin) come before the bundle's writing (~5 ms), and
  // its interfaces after it; `writing` is set before the attach reaches its netns (that takes at
  // least one await)
  let writing: Promise<BuildSpecOptions> | undefined;
  let written = false;
  // a bundle written already: the create is spawned at once, in the attach's turn (see attachBeside);
  // gated (opts.gate), the container is made and started by one runc run, which waits in the
  // bundle's hook until the monitor is told to start it, once the attach is done
  const gate = opts.gate ? c.paths.gateFile : undefined;
  const createInBundle = create && (() => (written ? create(gate) : writing!.then(() => create(gate), () => undefined)));
  // the interfaces are made once the bundle is written: the container's creation, the longer
  // branch, starts first (the plugins' start on this thread would delay it)
  const attaching = attachBeside(cs, network, c, createInBundle, opts.onReady, () => (written ? undefined : writing));
  attaching.catch(() => undefined); // awaited below, after the bundle
  let spec: BuildSpecOptions;
  try {
    // the attach's first turns first (its locks, the record, the netns)
    writing = new Promise<void>((r) => setImmediate(r)).then(() => writeSpec(cs, c, { args, linkEnv, hostname, network: network.netnsPath(c), gate }));
    spec = await writing;
    written = true;
  } catch (e) {
    await attaching.catch(() => undefined); // settled before the caller undoes it
    throw e;
  }
  await attaching;
  return { spec };
}

/** Monitors spawned early in this process still waiting for their word (see startContainer). */
let earlyWaiting = 0;

/** The network a start attaches beside the container's creation (none: host, container:, no driver). */
function networkBeside(cs: ContainerCore, c: Container): NetworkDriver | undefined {
  const mode = c.hostConfig.NetworkMode;
  return cs.network && mode !== 'host' && !mode.startsWith('container:') ? cs.network : undefined;
}

/** Mount the root filesystem and write the OCI bundle (config.json). */
async function writeSpec(cs: ContainerCore, c: Container, run: { args: string[]; linkEnv: string[]; hostname: string; network: string; gate?: string | undefined }): Promise<BuildSpecOptions> {
  const rootfs = await cs.mountRootfs(c);
  const cfg = c.config;
  const hc = c.hostConfig;
  const { args, linkEnv, hostname } = run;
  const imgVolumes = Object.keys(cfg.Volumes ?? {});
  const mounts: MountOption[] = cs.volumes.mountsFor(c, imgVolumes);
  for (const [dst, opts] of Object.entries(hc.Tmpfs ?? {})) {
    mounts.push({ destination: dst, type: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...(opts ? opts.split(',') : [])] });
  }
  for (const m of hc.Mounts ?? []) {
    if (m.Type === 'tmpfs') {
      const o = ['nosuid', 'nodev', 'noexec'];
      if (m.TmpfsOptions?.SizeBytes) o.push(`size=${m.TmpfsOptions.SizeBytes}`);
      mounts.push({ destination: m.Target, type: 'tmpfs', options: o });
    }
  }
  const spec: BuildSpecOptions = {
    id: c.id,
    rootfs,
    args,
    env: [...linkEnv, ...(cfg.Env ?? [])], // the container's own variables win over the links'
    cwd: cfg.WorkingDir || '/',
    hostname,
    tty: cfg.Tty,
    readonlyRootfs: hc.ReadonlyRootfs,
    mounts,
    privileged: hc.Privileged,
    capAdd: hc.CapAdd ?? [],
    capDrop: hc.CapDrop ?? [],
    noNewPrivileges: (hc.SecurityOpt ?? []).some((s) => /^no-new-privileges(:true|=true)?$/.test(s)),
    hostsFile: path.join(c.dir, 'hosts'),
    hostnameFile: path.join(c.dir, 'hostname'),
    resolvConfFile: path.join(c.dir, 'resolv.conf'),
    network: run.network,
  };
  if (run.gate) spec.gate = gateHook(run.gate);
  if (cfg.User) spec.user = cfg.User;
  if (hc.Memory) spec.memory = hc.Memory;
  if (hc.NanoCpus) spec.cpus = hc.NanoCpus / 1e9;
  if (hc.PidsLimit && hc.PidsLimit > 0) spec.pidsLimit = hc.PidsLimit;
  if (hc.ShmSize) spec.shmSize = hc.ShmSize;
  spec.seccomp = seccompFromSecurityOpt(hc.SecurityOpt);
  writeBundle(c.dir, buildSpec(spec));
  return spec;
}

/** The network attach, with `create` run as soon as the netns exists (see prepareBundle). */
async function attachBeside(cs: ContainerCore, network: NetworkDriver, c: Container, create?: () => Promise<void>, onReady?: () => void, first?: () => Promise<unknown> | undefined): Promise<void> {
  let creating: Promise<void> | undefined;
  // called in the attach's own turn: the monitor (and runc create, the longest step) is spawned
  // before the CNI plugins are; an attach that fails before its netns exists never calls it
  const onNetns = (): Promise<unknown> | undefined => {
    creating = create?.();
    creating?.catch(() => undefined); // awaited below, once the attach is done: not unhandled meanwhile
    return first?.();
  };
  const [attached] = await Promise.allSettled([network.attach(c, { onNetns, ...(onReady ? { onReady } : {}) }).then((net) => {
    if (net.netns !== network.netnsPath(c)) throw new StrataError('internal', `network: netns ${net.netns ?? '(none)'} is not the spec's`);
    cs.update(c.id, { network: JSON.stringify(net) });
  })]);
  const [created] = await Promise.allSettled([creating]);
  if (attached.status === 'rejected') throw attached.reason;
  if (created.status === 'rejected') throw created.reason;
}

/** What a start killed before it recorded the container as running leaves (two stats). */
function startLeftovers(cs: ContainerCore, c: Container): boolean {
  return fs.existsSync(cs.runc.stateDir(c.id)) || cs.network?.nm?.get(c.id) !== undefined;
}

function restartPolicy(hc: HostConfig): string {
  const p = hc.RestartPolicy?.Name || 'no';
  return p === 'on-failure' && hc.RestartPolicy.MaximumRetryCount ? `on-failure:${hc.RestartPolicy.MaximumRetryCount}` : p;
}

/**
 * Start a created or exited container under a new monitor. With `deferStart` the
 * container is created and started only when an attached client says so.
 */
export async function startContainer(cs: ContainerCore, ref: string, opts: { deferStart?: boolean } = {}): Promise<Container> {
  let c = cs.get(ref);
  await cs.settle(c.id);
  if (!cs.find(c.id)) throw notFound(`No such container: ${ref}`);
  if (cs.isDeferred(c) && !opts.deferStart) {
    // created under its monitor for an attached client (run without -d): start it now
    const { pid } = await startDeferred(c.paths.socketPath);
    cs.markStarted(c.id, pid);
    return cs.get(c.id);
  }
  if (c.row.state === 'running' || c.row.state === 'restarting') return c;
  if (c.row.state === 'paused') throw conflict(`cannot start a paused container, try unpause instead`);
  // what a previous run left; a created container has nothing, unless a start of it was killed
  // midway (a failed start releases itself): a network attachment or a container created
  // under a monitor that was never started
  if (c.row.state !== 'created' || startLeftovers(cs, c)) await cs.releaseRuntime(c).catch(() => undefined);
  // The container is created under its monitor beside the network attach, and started (by the
  // monitor, on its socket) once the container's side of the network is ready: see
  // prepareBundle. Not deferred, one runc run does both, waiting in the bundle's hook (the gate)
  // when there is a network; its monitor is spawned first, beside the bundle's writing, and
  // creates the container when told (spawnMonitorEarly): its start-up is off the path.
  let created: { pid: number; monitorPid: number; gated?: boolean } | undefined;
  let started = false;
  let early: EarlyMonitor | undefined;
  let creating: Promise<{ pid: number; monitorPid: number; gated?: boolean }> | undefined;
  // a gated start sent as soon as the container's side of the network is ready (onReady),
  // while the host's side (published ports' rules, records) is still being done
  let startingEarly: Promise<{ pid: number } | undefined> | undefined;
  try {
    const monitorOpts = {
      id: c.id, ...c.paths, runtime: cs.runc, tty: !!c.config.Tty, openStdin: c.config.OpenStdin,
      restart: restartPolicy(c.hostConfig), ...monitorLogOptions(c.hostConfig.LogConfig),
    };
    // One monitor at a time waits for its word in a process: the launch holds a thread of
    // libuv's pool (4) until the monitor reports, and the word needs that pool (the bundle, the
    // netns, CNI), so concurrent starts (the API) would otherwise wait on each other for ever.
    if (!opts.deferStart && earlyWaiting === 0) {
      const how = networkBeside(cs, c) ? { gate: c.paths.gateFile } : { run: true };
      early = spawnMonitorEarly({ ...monitorOpts, ...how, goFile: c.paths.goFile });
      earlyWaiting++;
      void early.started.catch(() => undefined).finally(() => { earlyWaiting--; });
    }
    await prepareBundle(cs, c, async (gate) => {
      if (early) {
        early.go();
        creating = early.started;
      } else {
        creating = startMonitor({ ...monitorOpts, ...(opts.deferStart ? { deferStart: true } : gate ? { gate } : { run: true }) });
      }
      // the start command goes over node:net once the attach is done: load it meanwhile
      if (gate) setImmediate(warmMonitorClient);
      created = await creating;
      // running already (runc run, no gate): from here a failure is the run's own
      if (!opts.deferStart && !created.gated) started = true;
    }, {
      gate: !opts.deferStart,
      ...(!opts.deferStart ? {
        onReady: () => {
          startingEarly = creating?.then((m) => (m.gated ? startDeferred(c.paths.socketPath, { gated: true }) : undefined));
          startingEarly?.catch(() => undefined); // awaited below
        },
      } : {}),
    });
    c = cs.get(c.id);
    const monitor = created!;
    let pid = monitor.pid;
    if (monitor.gated) {
      try {
        pid = ((startingEarly && await startingEarly) ?? await startDeferred(c.paths.socketPath, { gated: true })).pid;
      } catch (e) {
        // runc run failed (in its create): the monitor recorded it and is gone, as after a
        // create that failed under it
        created = undefined;
        throw e;
      }
    }
    cs.update(c.id, { state: 'running', pid, monitor_pid: monitor.monitorPid, started_at: opts.deferStart ? c.row.started_at : rfc3339Nano(), exit_code: 0, error: '', oom_killed: 0, manually_stopped: 0 });
    if (!opts.deferStart) cs.event(c, 'start');
  } catch (e) {
    await startingEarly?.catch(() => undefined); // settled before anything is undone
    if (early && !created) {
      // told nothing, or failed in its create: the monitor ends (or has ended) having made nothing
      early.cancel();
      await early.started.catch(() => undefined);
    }
    cs.update(c.id, { error: e instanceof Error ? e.message : String(e) });
    if (created) await undoCreated(cs, cs.get(c.id), created.monitorPid, !started);
    await cs.releaseRuntime(cs.get(c.id)).catch(() => undefined);
    throw e;
  }
  return cs.get(c.id);
}

/**
 * A container created under its monitor that will not run (its network failed, or its start):
 * no restart, the runc container deleted, the monitor gone. `forget`: it never started, so its
 * exit is no run of the container and its state files go (as if it had never been created).
 */
async function undoCreated(cs: ContainerCore, c: Container, monitorPid: number, forget: boolean): Promise<void> {
  await disableRestart(c.paths.socketPath).catch(() => undefined);
  try { await cs.runc.delete(c.id, { force: true }); } catch { /* gone */ }
  await waitExit(c.paths.exitFile, { monitorPid, sys: cs.sys, intervalMs: 20 }).catch(() => undefined);
  if (forget) for (const f of [c.paths.exitFile, c.paths.stateFile]) fs.rmSync(f, { force: true });
}

/**
 * The attached client went away before starting a deferred container: undo the deferred
 * creation (runc container, monitor, mounts, network) and make it `created` again, as if
 * the attach never happened.
 */
export async function abandonDeferred(cs: ContainerCore, ref: string): Promise<void> {
  const c = cs.get(ref);
  if (!cs.isDeferred(c)) return;
  // first the row, so that nobody records the exit this causes as a run of the container
  if (!cs.updateFrom(c.id, ['running'], { state: 'created', pid: 0, monitor_pid: 0, exit_code: 0, error: '', started_at: c.row.started_at, finished_at: c.row.finished_at })) return;
  // tracked: a start that comes meanwhile waits for this (settle)
  cs.track(c.id, (async () => {
    await undoCreated(cs, c, c.row.monitor_pid, true);
    await cs.releaseRuntime(c);
  })());
  await cs.settle(c.id);
}

function defaultHosts(hostname: string, extra: string[]): string {
  let s = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';
  for (const e of extra) { const i = e.lastIndexOf(':'); if (i > 0) s += `${e.slice(i + 1)}\t${e.slice(0, i)}\n`; }
  s += `127.0.1.1\t${hostname}\n`;
  return s;
}

function readHostResolvConf(): string {
  try { return fs.readFileSync('/etc/resolv.conf', 'utf8'); } catch { return ''; }
}
