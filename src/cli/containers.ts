import type { Command } from 'commander';
import { invalidArgument, StrataError } from '../base/errors.js';
import { attach, attachTerminal, waitExit, RuntimeError, formatLogEntry, type Container, type Containers } from '../engine/index.js';
import { commandColumn, displayablePorts, parseDuration } from '../format/index.js';
import { addCreateFlags, toCreateRequest, type CreateFlags } from './run-options.js';
import { engine, out, writeOut, collect, ExitError, writeFileAtomicStream } from './util.js';
import { printRows, since, size3, goTimeString } from './output.js';
import { printInspect } from './images.js';
import { progressTo } from './registry.js';

/** The container use cases of the process's engine. */
function containers(): Containers {
  return engine().containers;
}

const CONTAINER_HEADERS = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedSince: 'CREATED', RunningFor: 'CREATED', CreatedAt: 'CREATED AT',
  Status: 'STATUS', Ports: 'PORTS', Names: 'NAMES', State: 'STATE', Size: 'SIZE', Labels: 'LABELS', Mounts: 'MOUNTS', Networks: 'NETWORKS',
};


/** One `ps` row in the docker CLI's field names, from the engine's (and the API's) summary. */
function psView(e: Containers, c: Container, noTrunc: boolean): Record<string, unknown> {
  const s = e.summary(c);
  return {
    Command: commandColumn(s.Command, noTrunc),
    // computed when a format asks for it: a Go time string needs the zone's name
    get CreatedAt() { return goTimeString(new Date(s.Created * 1000)); },
    ID: noTrunc ? c.id : c.id.slice(0, 12),
    Image: s.Image,
    Labels: Object.entries(s.Labels).map(([k, v]) => `${k}=${v}`).join(','),
    LocalVolumes: '0',
    Mounts: '',
    Names: c.name,
    Networks: Object.keys(c.network.networks ?? {}).join(',') || (c.hostConfig.NetworkMode === 'default' ? 'bridge' : c.hostConfig.NetworkMode),
    Ports: displayablePorts(s.Ports),
    RunningFor: since(s.Created),
    Size: '0B',
    State: s.State,
    Status: s.Status,
  };
}

function forwardSignals(ids: () => string | undefined): () => void {
  const handlers: [NodeJS.Signals, () => void][] = [];
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as NodeJS.Signals[]) {
    const h = () => {
      const id = ids();
      if (id) containers().forwardSignal(id, sig.replace(/^SIG/, ''));
    };
    process.on(sig, h);
    handlers.push([sig, h]);
  }
  return () => { for (const [s, h] of handlers) process.off(s, h); };
}

/**
 * Attach this terminal/stdio to a container that was started with deferStart, start it,
 * and wait for it to exit. Returns the exit code.
 */
async function attachAndRun(c: Container, opts: { interactive: boolean; startNow: boolean }): Promise<number> {
  const e = containers();
  const tty = c.config.Tty;
  const session = tty && process.stdin.isTTY && process.stdout.isTTY
    ? await attachTerminal(c.paths.socketPath, { stdin: process.stdin, stdout: process.stdout, openStdin: opts.interactive })
    : await attach(c.paths.socketPath, { tty, stdin: opts.interactive ? process.stdin : null, stdout: process.stdout, stderr: process.stderr, closeStdin: c.config.StdinOnce });
  const stopForwarding = tty ? () => undefined : forwardSignals(() => c.id);
  let exitCode: number;
  try {
    if (opts.startNow) await e.start(c.id);
    // --rm: whoever notices the exit first may remove the container meanwhile (AutoRemove)
    exitCode = (await waitExit(c.paths.exitFile, { monitorPid: c.row.monitor_pid || e.find(c.id)?.row.monitor_pid })).exitCode;
    await session.done.catch(() => undefined);
  } finally {
    stopForwarding();
    session.close();
    if (process.stdin.isTTY) process.stdin.setRawMode?.(false);
    process.stdin.pause();
  }
  // reading it records the exit and releases its network and rootfs (in the background, waited
  // for before this process ends); --rm may have removed it already
  try { e.get(c.id); } catch (err) { if (!(err instanceof StrataError && err.code === 'not_found')) throw err; }
  return exitCode; // exit.json's, as the container's row records it
}

/** `run`/`create` pull a missing image as Docker does (`--pull missing|always|never`). */
async function pullIfMissing(image: string, policy = 'missing'): Promise<void> {
  if (!['missing', 'always', 'never'].includes(policy)) throw invalidArgument(`invalid pull option: '${policy}': must be one of "always", "missing" or "never"`);
  await engine().registry.ensureImage(image, { pull: policy as 'missing' | 'always' | 'never', log: (l) => process.stderr.write(l + '\n'), onProgress: progressTo(() => process.stderr) });
}

function runError(e: unknown): never {
  if (e instanceof RuntimeError) throw new ExitError(e.exitCode, `strata: Error: ${e.message}`);
  if (e instanceof StrataError) throw new ExitError(125, `strata: Error: ${e.message}`);
  throw e;
}

/** One command word of a command line: at the root (`ps`) or under `container` (`ls`). */
export interface CommandWord { root?: string; sub?: string }

/**
 * The container commands, at the root and under `container`; with `only`, just that word's
 * (run and create alone define ~120 options: a `ps` need not build them).
 */
export function registerContainerCommands(program: Command, container: Command, only?: CommandWord): void {
  const atRoot = (name: string): boolean => !only || only.root === name;
  const under = (...names: string[]): boolean => !only || (only.sub !== undefined && names.includes(only.sub));
  const both = (name: string, desc: string, sub = name): Command[] => [
    ...(atRoot(name) ? [program.command(name).description(desc)] : []),
    ...(under(sub) ? [container.command(sub).description(desc)] : []),
  ];

  for (const c of both('create', 'Create a new container')) {
    addCreateFlags(c).argument('<image>').argument('[command...]').passThroughOptions()
      .action(async (image: string, cmd: string[], f: CreateFlags) => {
        try {
          await pullIfMissing(image, f.pull);
          const ct = await containers().create(toCreateRequest(image, cmd, f), f.name);
          out(ct.id);
        } catch (e) { runError(e); }
      });
  }

  for (const c of both('run', 'Create and run a new container from an image')) {
    addCreateFlags(c).option('-d, --detach', 'Run container in background and print container ID')
      .argument('<image>').argument('[command...]').passThroughOptions()
      .action(async (image: string, cmd: string[], f: CreateFlags & { detach?: boolean }) => {
        const e = containers();
        let ct: Container;
        try {
          const req = toCreateRequest(image, cmd, f);
          await pullIfMissing(image, f.pull);
          ct = await e.create(req, f.name);
        } catch (err) { runError(err); }
        if (f.detach) {
          try {
            await e.start(ct.id);
          } catch (err) {
            await e.remove(ct.id, { force: true, volumes: true }).catch(() => undefined);
            runError(err);
          }
          out(ct.id);
          return;
        }
        let code: number;
        try {
          const started = await e.start(ct.id, { deferStart: true });
          code = await attachAndRun(started, { interactive: !!f.interactive, startNow: true });
        } catch (err) {
          await e.remove(ct.id, { force: true, volumes: true }).catch(() => undefined);
          runError(err);
        }
        if (f.rm) await e.remove(ct.id, { force: true, volumes: true }).catch(() => undefined);
        if (code !== 0) throw new ExitError(code);
      });
  }

  for (const c of both('start', 'Start one or more stopped containers')) {
    c.argument('<container...>').option('-a, --attach', 'Attach STDOUT/STDERR and forward signals').option('-i, --interactive', "Attach container's STDIN")
      .action(async (refs: string[], o: { attach?: boolean; interactive?: boolean }) => {
        const e = containers();
        if (o.attach || o.interactive) {
          if (refs.length > 1) throw invalidArgument('you cannot start and attach multiple containers at once');
          const ct = e.get(refs[0]!);
          if (ct.row.state === 'running') throw invalidArgument(`container ${ct.id} is already running`);
          const started = await e.start(ct.id, { deferStart: true });
          const code = await attachAndRun(started, { interactive: !!o.interactive, startNow: true });
          if (code !== 0) throw new ExitError(code);
          return;
        }
        await eachRef(refs, async (r) => { await e.start(r); out(r); }, 'Error response from daemon: ');
      });
  }

  for (const c of both('stop', 'Stop one or more running containers')) {
    c.argument('<container...>').option('-t, --time <seconds>', 'Seconds to wait before killing the container')
      .option('-s, --signal <signal>', 'Signal to send to the container')
      .action(async (refs: string[], o: { time?: string }) => {
        const t = o.time === undefined ? undefined : Number(o.time);
        await eachRef(refs, async (r) => { await containers().stop(r, t); out(r); });
      });
  }

  for (const c of both('restart', 'Restart one or more containers')) {
    c.argument('<container...>').option('-t, --time <seconds>', 'Seconds to wait before killing the container')
      .action(async (refs: string[], o: { time?: string }) => {
        const t = o.time === undefined ? undefined : Number(o.time);
        await eachRef(refs, async (r) => { await containers().restart(r, t); out(r); });
      });
  }

  for (const c of both('kill', 'Kill one or more running containers')) {
    c.argument('<container...>').option('-s, --signal <signal>', 'Signal to send to the container', 'KILL')
      .action(async (refs: string[], o: { signal: string }) => {
        await eachRef(refs, async (r) => { await containers().kill(r, o.signal); out(r); });
      });
  }

  for (const c of both('rm', 'Remove one or more containers')) {
    c.argument('<container...>').option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
      .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
      .action(async (refs: string[], o: { force?: boolean; volumes?: boolean }) => {
        await eachRef(refs, async (r) => { await containers().remove(r, { force: !!o.force, volumes: !!o.volumes }); out(r); });
      });
  }

  for (const c of [
    ...(atRoot('ps') ? [program.command('ps').description('List containers')] : []),
    ...(under('ls', 'list') ? [container.command('ls').alias('list').description('List containers')] : []),
  ]) {
    c.option('-a, --all', 'Show all containers (default shows just running)')
      .option('-q, --quiet', 'Only display container IDs')
      .option('-l, --latest', 'Show the latest created container (includes all states)')
      .option('-n, --last <int>', 'Show n last created containers (includes all states)')
      .option('--no-trunc', "Don't truncate output")
      .option('-s, --size', 'Display total file sizes')
      .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
      .option('--format <string>', 'Format output using a custom template')
      .action((o: { all?: boolean; quiet?: boolean; latest?: boolean; last?: string; trunc?: boolean; filter?: string[]; format?: string }) => {
        const e = containers();
        const n = o.latest ? 1 : o.last !== undefined ? Number(o.last) : -1;
        const list = e.list({ all: !!o.all, last: n, filters: o.filter ?? [] });
        const noTrunc = o.trunc === false;
        if (o.quiet) { for (const c of list) out(noTrunc ? c.id : c.id.slice(0, 12)); return; }
        printRows(list.map((c) => psView(e, c, noTrunc)),
          'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}', CONTAINER_HEADERS, o.format);
      });
  }

  for (const c of both('logs', 'Fetch the logs of a container')) {
    c.argument('<container>').option('-f, --follow', 'Follow log output').option('-t, --timestamps', 'Show timestamps')
      .option('-n, --tail <string>', 'Number of lines to show from the end of the logs', 'all')
      .option('--since <string>', 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)')
      .option('--until <string>', 'Show logs before a timestamp or relative')
      .action(async (ref: string, o: { follow?: boolean; timestamps?: boolean; tail: string; since?: string; until?: string }) => {
        const tail = o.tail === 'all' ? 'all' : Number(o.tail);
        if (tail !== 'all' && !Number.isInteger(tail)) throw invalidArgument(`invalid value for "tail": ${o.tail}`);
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        const opts: Parameters<Containers['logs']>[1] = { tail: tail as number | 'all', signal: ac.signal, follow: !!o.follow };
        if (o.since) opts.since = timeArg(o.since);
        if (o.until) opts.until = timeArg(o.until);
        for await (const entry of containers().logs(ref, opts)) {
          const line = formatLogEntry(entry, { timestamps: !!o.timestamps });
          writeOut(line, entry.stream === 'stderr' ? 2 : 1);
        }
      });
  }

  for (const c of both('wait', 'Block until one or more containers stop, then print their exit codes')) {
    c.argument('<container...>').action(async (refs: string[]) => {
      await eachRef(refs, async (r) => { out(String(await containers().wait(r))); });
    });
  }

  for (const c of both('exec', 'Execute a command in a running container')) {
    c.option('-d, --detach', 'Detached mode: run command in the background')
      .option('-e, --env <list>', 'Set environment variables', collect)
      .option('-i, --interactive', 'Keep STDIN open even if not attached')
      .option('-t, --tty', 'Allocate a pseudo-TTY')
      .option('-u, --user <string>', 'Username or UID (format: "<name|uid>[:<group|gid>]")')
      .option('-w, --workdir <string>', 'Working directory inside the container')
      .option('--privileged', 'Give extended privileges to the command')
      .argument('<container>').argument('<command...>').passThroughOptions()
      .action(async (ref: string, cmd: string[], o: { detach?: boolean; env?: string[]; interactive?: boolean; tty?: boolean; user?: string; workdir?: string; privileged?: boolean }) => {
        const code = await runExec(ref, cmd, o);
        if (code !== 0) throw new ExitError(code);
      });
  }

  {
    const c = container.command('inspect').description('Display detailed information on one or more containers');
    c.argument('<container...>').option('-f, --format <string>', 'Format output using a custom template')
      .option('-s, --size', 'Display total file sizes')
      .action((refs: string[], o: { format?: string }) => printInspect(refs, o.format, (n) => containers().inspect(n)));
  }

  for (const c of both('top', 'Display the running processes of a container')) {
    c.argument('<container>').argument('[ps options...]').action(async (ref: string, psArgs: string[]) => {
      const t = await containers().top(ref, psArgs.length ? psArgs : undefined);
      const rows = t.processes.map((p) => Object.fromEntries(t.titles.map((h, i) => [`c${i}`, p[i] ?? ''])));
      const fmt = 'table ' + t.titles.map((_, i) => `{{.c${i}}}`).join('\t');
      printRows(rows, fmt, Object.fromEntries(t.titles.map((h, i) => [`c${i}`, h])));
    });
  }

  for (const c of both('rename', 'Rename a container')) {
    c.argument('<container>').argument('<new-name>').action((ref: string, name: string) => containers().rename(ref, name));
  }
  for (const c of both('pause', 'Pause all processes within one or more containers')) {
    c.argument('<container...>').action(async (refs: string[]) => { await eachRef(refs, async (r) => { await containers().pause(r); out(r); }); });
  }
  for (const c of both('unpause', 'Unpause all processes within one or more containers')) {
    c.argument('<container...>').action(async (refs: string[]) => { await eachRef(refs, async (r) => { await containers().unpause(r); out(r); }); });
  }

  for (const c of both('port', 'List port mappings or a specific mapping for the container')) {
    c.argument('<container>').argument('[private port]').action((ref: string, priv?: string) => {
      const ct = containers().get(ref);
      const want = priv ? (priv.includes('/') ? priv : `${priv}/tcp`) : undefined;
      const lines: string[] = [];
      if (ct.row.state === 'running' || ct.row.state === 'paused') {
        for (const p of ct.network.ports ?? []) {
          const host = `${p.HostIp.includes(':') ? `[${p.HostIp}]` : p.HostIp || '0.0.0.0'}:${p.HostPort}`;
          if (want && p.ContainerPort !== want) continue;
          lines.push(want ? host : `${p.ContainerPort} -> ${host}`);
        }
      }
      if (want && !lines.length) throw invalidArgument(`No public port '${want}' published for ${ref}`);
      for (const l of lines) out(l);
    });
  }

  for (const c of both('cp', "Copy files/folders between a container and the local filesystem")) {
    c.argument('<src>').argument('<dest>').option('-a, --archive', 'Archive mode (copy all uid/gid information)').option('-L, --follow-link', 'Always follow symbol link in SRC_PATH')
      .action(async (src: string, dest: string) => {
        const split = (s: string): [string, string] | undefined => {
          const i = s.indexOf(':');
          return i > 0 && !s.startsWith('/') && !s.startsWith('.') ? [s.slice(0, i), s.slice(i + 1)] : undefined;
        };
        const from = split(src);
        const to = split(dest);
        if (from && to) throw invalidArgument('copying between containers is not supported');
        if (!from && !to) throw invalidArgument('must specify at least one container source');
        if (from) await engine().files.copyFrom(from[0], from[1], dest, process.stdout);
        else await engine().files.copyTo(to![0], src === '-' ? process.stdin : src, to![1]);
      });
  }

  for (const c of both('export', "Export a container's filesystem as a tar archive")) {
    c.argument('<container>').option('-o, --output <file>', 'Write to a file, instead of STDOUT')
      .action(async (ref: string, o: { output?: string }) => {
        if (!o.output) {
          if (process.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
          await engine().files.export(ref, process.stdout);
          return;
        }
        await writeFileAtomicStream(o.output, (ws) => engine().files.export(ref, ws));
      });
  }

  container.command('prune').description('Remove all stopped containers')
    .option('-f, --force', 'Do not prompt for confirmation').option('--filter <filter>', 'Provide filter values', collect)
    .action(async (o: { filter?: string[] }) => {
      const r = await containers().prune(o.filter ?? []);
      if (r.deleted.length) { out('Deleted Containers:'); for (const d of r.deleted) out(d); out(''); }
      out(`Total reclaimed space: ${size3(r.reclaimed)}`);
    });
}

async function runExec(ref: string, cmd: string[], o: { detach?: boolean; env?: string[]; interactive?: boolean; tty?: boolean; user?: string; workdir?: string; privileged?: boolean }): Promise<number> {
  const e = containers();
  const tty = !!o.tty && !o.detach;
  const opts: Parameters<Containers['exec']>[1] = { args: cmd, tty, detach: !!o.detach, stdin: !!o.interactive };
  if (o.env) opts.env = o.env;
  if (o.user) opts.user = o.user;
  if (o.workdir) opts.workdir = o.workdir;
  if (o.privileged) opts.privileged = true;
  if (tty && process.stdout.isTTY) { opts.rows = process.stdout.rows; opts.cols = process.stdout.columns; }
  if (!tty && !o.detach) {
    opts.inheritStdio = true;
    // strata-exec may take this process's place: Node's exit hooks (the launcher's code cache) run first
    opts.replace = () => { process.emit('exit', 0); };
  }
  let h: Awaited<ReturnType<Containers['exec']>>;
  try {
    h = await e.exec(ref, opts);
  } catch (err) {
    if (err instanceof RuntimeError) throw new ExitError(err.exitCode === 125 ? 126 : err.exitCode, `Error: ${err.message}`);
    throw err;
  }
  if (o.detach) { await h.wait(); return 0; }
  if (tty) {
    const raw = !!o.interactive && process.stdin.isTTY;
    if (raw) process.stdin.setRawMode(true);
    h.stdout?.pipe(process.stdout, { end: false });
    if (o.interactive && h.stdin) process.stdin.pipe(h.stdin);
    const onResize = () => h.resize(process.stdout.rows, process.stdout.columns);
    process.stdout.on('resize', onResize);
    try {
      return await h.wait();
    } finally {
      process.stdout.off('resize', onResize);
      if (raw) process.stdin.setRawMode(false);
      process.stdin.unpipe();
      process.stdin.pause();
    }
  }
  if (h.stdin && o.interactive && !opts.inheritStdio) process.stdin.pipe(h.stdin);
  h.stdout?.pipe(process.stdout, { end: false });
  h.stderr?.pipe(process.stderr, { end: false });
  return h.wait();
}

function timeArg(s: string): string | number | Date {
  if (/^\d+(\.\d+)?$/.test(s)) return new Date(Number(s) * 1000);
  if (/^\d+(\.\d+)?(ns|us|\u00b5s|ms|s|m|h)/.test(s)) return new Date(Date.now() - parseDuration(s));
  return s;
}

/** Apply to each reference; errors print one line each, and the command fails at the end (Docker). */
async function eachRef(refs: string[], fn: (r: string) => Promise<void>, prefix = ''): Promise<void> {
  let failed = false;
  for (const r of refs) {
    try { await fn(r); } catch (e) {
      failed = true;
      process.stderr.write(`${prefix || 'Error: '}${(e as Error).message}\n`);
    }
  }
  if (failed) throw new ExitError(1);
}
