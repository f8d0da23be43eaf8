import { Command, CommanderError, Option } from 'commander';
import { registerImageCommands, printInspect } from './images.js';
import { registerSystemCommands } from './system.js';
import { registerRegistryCommands } from './registry.js';
import { closeEngine, engine, errorLine, ExitError, out } from './util.js';
import { registerContainerCommands, type CommandWord } from './containers.js';
import { registerNetworkCommands } from './network.js';
import { registerServeCommand } from './serve.js';
import { registerVolumeCommands } from './volumes.js';
import { registerStatsCommand } from './stats.js';
import { registerChangeCommands } from './changes.js';
import { registerBuildCommands } from './build.js';
import { registerAnalyzeCommand } from './analyze.js';
import { registerExploreCommand } from './explore.js';
import { VERSION } from '../base/version.js';


/** Which registration defines each command word; `strata WORD ...` registers only that part. */
type Part = 'images' | 'registry' | 'analyze' | 'containers' | 'changes' | 'build' | 'network' | 'volume' | 'system' | 'serve' | 'explore' | 'root';
const PARTS_OF: Record<string, Part[]> = {
  image: ['images', 'registry', 'analyze', 'build'], container: ['containers', 'changes'], network: ['network'], volume: ['volume'], system: ['system'],
  serve: ['serve'], build: ['build'], builder: ['build'], explore: ['explore'], inspect: ['root'], version: ['root'],
};
for (const w of ['images', 'import', 'load', 'save', 'tag', 'rmi', 'history']) PARTS_OF[w] = ['images'];
for (const w of ['pull', 'push', 'login', 'logout']) PARTS_OF[w] = ['registry'];
for (const w of ['create', 'run', 'start', 'stop', 'restart', 'kill', 'rm', 'ps', 'logs', 'wait', 'exec', 'top', 'rename', 'pause', 'unpause', 'port', 'cp', 'export', 'stats']) PARTS_OF[w] = ['containers'];
for (const w of ['diff', 'commit']) PARTS_OF[w] = ['changes'];

/** The parts a command line needs: one command's, or all of them (help, an unknown word). */
export function partsFor(argv: readonly string[]): Part[] | undefined {
  const w = argv[0];
  return w !== undefined && Object.hasOwn(PARTS_OF, w) ? PARTS_OF[w] : undefined;
}

/** The container command a command line names, when it names one (`ps`, `container ls`). */
export function containerWordFor(argv: readonly string[]): CommandWord | undefined {
  const [w, sub] = argv;
  if (w === 'container') return sub && !sub.startsWith('-') && sub !== 'help' ? { sub } : undefined;
  return w !== undefined && Object.hasOwn(PARTS_OF, w) && PARTS_OF[w][0] === 'containers' ? { root: w } : undefined;
}

export function buildProgram(parts?: readonly Part[], only?: CommandWord): Command {
  const program = new Command('strata');
  program
    .description('A Docker-compatible container engine: content-addressed layers, overlayfs, runc')
    .version(VERSION, '-v, --version', 'Print version information and quit')
    .enablePositionalOptions()
    .showSuggestionAfterError(false)
    .configureOutput({ outputError: () => { /* printed by main() in Docker's words */ } })
    .exitOverride();

  const want = (p: Part): boolean => parts === undefined || parts.includes(p);
  let image: Command | undefined;
  let container: Command | undefined;
  const imageGroup = (): Command => (image ??= program.command('image').description('Manage images'));
  const containerGroup = (): Command => (container ??= program.command('container').description('Manage containers'));
  if (parts === undefined) {
    // the full program, in the order help lists the groups
    imageGroup();
    containerGroup();
  }
  const system = want('system') ? program.command('system').description('Manage Strata') : undefined;
  if (want('images')) registerImageCommands(program, imageGroup());
  if (want('registry')) registerRegistryCommands(program, imageGroup());
  if (want('analyze')) registerAnalyzeCommand(imageGroup());
  if (want('containers')) registerContainerCommands(program, containerGroup(), only);
  if (want('network')) registerNetworkCommands(program.command('network').description('Manage networks'));
  if (want('volume')) registerVolumeCommands(program.command('volume').description('Manage volumes'));
  if (want('changes')) registerChangeCommands(program, containerGroup());
  if (want('containers')) registerStatsCommand(program, containerGroup());
  if (want('build')) registerBuildCommands(program, imageGroup());
  if (system) registerSystemCommands(system);
  if (want('serve')) registerServeCommand(program);
  if (want('explore')) registerExploreCommand(program);
  if (!want('root')) {
    finishProgram(program);
    return program;
  }

  program.command('inspect').description('Return low-level information on Strata objects')
    .argument('<name...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .addOption(new Option('--type <type>', 'Return JSON for specified type').choices(['image', 'container']))
    .action((names: string[], o: { format?: string; type?: 'image' | 'container' }) => {
      printInspect(names, o.format, (n) => engine().inspect(n, o.type));
    });

  program.command('version').description('Show the Strata version information')
    .action(() => {
      out(`Strata version ${VERSION}`);
      out(`Node.js ${process.version}`);
      out(`Root: ${engine().root}`);
    });

  finishProgram(program);
  return program;
}

/** Every command exits through main()'s error path; mark them all. */
function finishProgram(program: Command): void {
  const walk = (c: Command): void => { c.exitOverride(); c.configureOutput({ outputError: () => {} }); c.commands.forEach(walk); };
  walk(program);
}

/** `error: unknown option '--foo'` -> Docker's `unknown flag: --foo`. */
function usageLine(e: CommanderError, argv: string[]): string {
  const cmd = argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ');
  const see = `See 'strata ${cmd ? cmd + ' ' : ''}--help'.`;
  let m = /unknown option '([^']+)'/.exec(e.message);
  if (m) return `unknown flag: ${m[1]}\n${see}`;
  m = /unknown command '([^']+)'/.exec(e.message);
  if (m) return `strata: '${m[1]}' is not a strata command.\nSee 'strata --help'`;
  m = /missing required argument '([^']+)'/.exec(e.message);
  if (m) return `"strata ${cmd}" requires at least 1 argument.\n${see}`;
  return `${e.message.replace(/^error: /, '')}\n${see}`;
}

export async function main(argv: string[]): Promise<number> {
  // only the command's own part of the program: building all of it costs more than most commands
  const program = buildProgram(partsFor(argv), containerWordFor(argv));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (e.code === 'commander.executeSubCommandAsync') return 0;
      process.stderr.write(usageLine(e, argv) + '\n');
      return 125;
    }
    if (e instanceof ExitError) {
      if (e.message) process.stderr.write(e.message + '\n');
      return e.exitCode;
    }
    process.stderr.write(errorLine(e) + '\n');
    if (process.env.STRATA_DEBUG && e instanceof Error) process.stderr.write((e.stack ?? '') + '\n');
    return 1;
  } finally {
    await closeEngine();
  }
}
