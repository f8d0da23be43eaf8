/**
 * `build`, `image build`, `builder prune`: Dockerfile builds with BuildKit's semantics,
 * progress in BuildKit's plain format on stderr, the image ID on stdout with -q.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import { StrataError } from '../base/errors.js';
import { BuildError, type BuildOptions } from '../engine/index.js';
import { collect, engine, ExitError, out, writeFileAtomicStream } from './util.js';
import { size3 } from './output.js';

interface BuildFlags {
  tag?: string[]; file?: string; buildArg?: string[]; target?: string; cache?: boolean; pull?: boolean;
  label?: string[]; iidfile?: string; progress?: string; quiet?: boolean; network?: string; secret?: string[];
  platform?: string; addHost?: string[]; excludeNoise?: boolean; timestamp?: string; rm?: boolean; forceRm?: boolean;
}

function keyValues(list: readonly string[] | undefined, fromEnv: boolean): Record<string, string | undefined> {
  const outMap: Record<string, string | undefined> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i < 0) outMap[kv] = fromEnv ? process.env[kv] : '';
    else outMap[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return outMap;
}

function parseSecrets(list: readonly string[] | undefined): Record<string, string> {
  const res: Record<string, string> = {};
  for (const s of list ?? []) {
    const f: Record<string, string> = {};
    for (const part of s.split(',')) { const i = part.indexOf('='); if (i > 0) f[part.slice(0, i)] = part.slice(i + 1); }
    const id = f.id;
    const src = f.src ?? f.source ?? (f.env ? undefined : undefined);
    if (!id) throw new StrataError('invalid_argument', `invalid secret spec "${s}": id is required`);
    if (f.env) {
      const tmp = path.join(engine().root, 'tmp', `${process.pid}-secret-${id.replace(/[^\w.-]/g, '_')}`);
      fs.writeFileSync(tmp, process.env[f.env] ?? '', { mode: 0o600 });
      process.once('exit', () => fs.rmSync(tmp, { force: true }));
      res[id] = tmp;
      continue;
    }
    if (!src) throw new StrataError('invalid_argument', `invalid secret spec "${s}": src is required`);
    if (!fs.existsSync(src)) throw new StrataError('invalid_argument', `failed to stat ${src}: stat ${src}: no such file or directory`);
    res[id] = path.resolve(src);
  }
  return res;
}

async function buildAction(context: string, o: BuildFlags): Promise<void> {
  const progress = o.progress ?? 'auto';
  if (!['auto', 'plain', 'tty', 'quiet'].includes(progress)) throw new StrataError('invalid_argument', `invalid progress mode "${progress}"`);
  const quiet = !!o.quiet || progress === 'quiet';
  const network = o.network ?? 'default';
  if (!['default', 'none', 'host', 'bridge'].includes(network)) throw new StrataError('invalid_argument', `network mode "${network}" not supported by buildkit`);
  let epoch: number | undefined;
  const ts = o.timestamp ?? process.env.SOURCE_DATE_EPOCH;
  if (ts !== undefined && ts !== '') {
    epoch = Number(ts);
    if (!Number.isInteger(epoch) || epoch < 0) throw new StrataError('invalid_argument', `invalid SOURCE_DATE_EPOCH: ${ts}`);
  }
  if (o.platform && !/^linux(\/(amd64|x86_64))?$/.test(o.platform)) throw new StrataError('invalid_argument', `platform ${o.platform} is not supported: the only platform is linux/amd64`);
  let ctxDir: string;
  let made: string | undefined;
  let dockerfileText: string | undefined;
  if (context === '-') {
    if (process.stdin.isTTY) throw new StrataError('invalid_argument', 'unable to prepare context: the context from stdin is empty');
    const c = await engine().build.contextFromStream(process.stdin);
    ctxDir = c.dir;
    made = c.dir;
    dockerfileText = c.dockerfileText;
  } else {
    ctxDir = path.resolve(context);
    let st: fs.Stats | undefined;
    try { st = fs.statSync(ctxDir); } catch { st = undefined; }
    if (!st) throw new ExitError(1, `unable to prepare context: path "${context}" not found`);
    if (!st.isDirectory()) throw new ExitError(1, `unable to prepare context: context must be a directory: ${ctxDir}`);
  }
  const persistHashes = made === undefined;
  if (o.file === '-') {
    dockerfileText = fs.readFileSync(0, 'utf8');
  }
  const opts: BuildOptions = {
    contextDir: ctxDir,
    tags: o.tag ?? [],
    buildArgs: keyValues(o.buildArg, true),
    noCache: o.cache === false,
    pull: !!o.pull,
    labels: keyValues(o.label, false) as Record<string, string>,
    network: network === 'bridge' ? 'default' : network as 'default' | 'none' | 'host',
    secrets: parseSecrets(o.secret),
    extraHosts: o.addHost ?? [],
    excludeNoise: !!o.excludeNoise,
    quiet,
    persistHashes,
    log: (l) => process.stderr.write(l + '\n'),
  };
  if (o.file && o.file !== '-') opts.dockerfile = path.isAbsolute(o.file) ? o.file : path.resolve(o.file);
  if (dockerfileText !== undefined) opts.dockerfileText = dockerfileText;
  if (o.target) opts.target = o.target;
  if (epoch !== undefined) opts.epoch = epoch;
  if (o.platform) opts.platform = o.platform;
  try {
    const r = await engine().build.build(opts);
    if (o.iidfile) await writeFileAtomicStream(o.iidfile, async (ws) => { ws.write(r.id); });
    if (quiet) out(r.id);
    else if (r.noise.length) {
      process.stderr.write('\nNoise captured in the image\'s layers' + (opts.excludeNoise ? ' (left out with --exclude-noise)' : ' (--exclude-noise leaves it out)') + ':\n');
      for (const n of r.noise) {
        const more = n.count > n.paths.length ? ` and ${n.count - n.paths.length} more` : '';
        process.stderr.write(`  line ${n.line} ${n.step}\n    ${n.label}: ${n.count} ${n.count === 1 ? 'file' : 'files'}, ${size3(n.bytes)}${n.excluded ? ' (excluded)' : ''} (${n.paths.join(', ')}${more})\n`);
      }
    }
  } catch (e) {
    if (e instanceof BuildError) throw new ExitError(1, e.message);
    throw e;
  } finally {
    if (made) engine().build.releaseContext(made);
  }
}

function addBuild(c: Command): Command {
  return c
    .argument('<PATH|->')
    .option('-t, --tag <name>', 'Name and optionally a tag in the "name:tag" format', collect)
    .option('-f, --file <file>', "Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    .option('--build-arg <arg>', 'Set build-time variables', collect)
    .option('--target <stage>', 'Set the target build stage to build.')
    .option('--no-cache', 'Do not use cache when building the image')
    .option('--pull', 'Always attempt to pull a newer version of the image')
    .option('--label <label>', 'Set metadata for an image', collect)
    .option('--iidfile <file>', 'Write the image ID to the file')
    .option('--progress <type>', 'Set type of progress output (auto, plain, tty, quiet)')
    .option('-q, --quiet', 'Suppress the build output and print image ID on success')
    .option('--network <mode>', 'Set the networking mode for the RUN instructions during build')
    .option('--secret <spec>', 'Secret file to expose to the build: id=mysecret,src=/local/secret', collect)
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .option('--add-host <host:ip>', 'Add a custom host-to-IP mapping (host:ip)', collect)
    .option('--exclude-noise', 'Leave runtime noise (caches, logs, pid files, temp files) out of RUN layers')
    .option('--timestamp <epoch>', 'Clamp times to this Unix time, for reproducible images (default: $SOURCE_DATE_EPOCH)')
    .addOption(new Option('--rm', 'Remove intermediate containers after a successful build').hideHelp())
    .addOption(new Option('--force-rm', 'Always remove intermediate containers').hideHelp())
    .action(buildAction);
}

async function confirm(text: string): Promise<boolean> {
  process.stdout.write(`${text} [y/N] `);
  const rl = readline.createInterface({ input: process.stdin });
  const answer = await rl.question('');
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

export function registerBuildCommands(program: Command, image: Command): void {
  addBuild(program.command('build').description('Build an image from a Dockerfile'));
  addBuild(image.command('build').description('Build an image from a Dockerfile'));
  const builder = program.command('builder').description('Manage builds');
  addBuild(builder.command('build').description('Build an image from a Dockerfile'));
  builder.command('prune').description('Remove build cache')
    .option('-a, --all', 'Remove all unused build cache, not just dangling ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', "Provide filter values (e.g. 'until=24h')", collect)
    .action(async (o: { all?: boolean; force?: boolean; filter?: string[] }) => {
      if (!o.force && !(await confirm(o.all ? 'WARNING! This will remove all build cache.\nAre you sure you want to continue?' : 'WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?'))) return;
      const r = engine().build.prune({ filters: o.filter ?? [] });
      if (r.deleted.length) {
        out('Deleted build cache objects:');
        for (const d of r.deleted) out(d);
        out('');
      }
      out(`Total reclaimed space: ${size3(r.reclaimed)}`);
    });

}
