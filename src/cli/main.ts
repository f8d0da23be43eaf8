import { Command, CommanderError, Option } from 'commander';
import { registerImageCommands, printInspect } from './images.js';
import { registerSystemCommands } from './system.js';
import { registerRegistryCommands } from './registry.js';
import { closeEngine, engine, errorLine, ExitError, out } from './util.js';
import { registerContainerCommands } from './containers.js';
import { registerNetworkCommands } from './network.js';
import { registerServeCommand } from './serve.js';
import { registerVolumeCommands } from './volumes.js';
import { registerStatsCommand } from './stats.js';
import { registerChangeCommands } from './changes.js';
import { registerBuildCommands } from './build.js';
import { registerAnalyzeCommand } from './analyze.js';
import { registerExploreCommand } from './explore.js';

export { VERSION } from '../base/version.js';
import { VERSION } from '../base/version.js';


function buildProgram(): Command {
  const program = new Command('strata');
  program
    .description('A Docker-compatible container engine: content-addressed layers, overlayfs, runc')
    .version(VERSION, '-v, --version', 'Print version information and quit')
    .enablePositionalOptions()
    .showSuggestionAfterError(false)
    .configureOutput({ outputError: () => { /* printed by main() in Docker's words */ } })
    .exitOverride();

  const image = program.command('image').description('Manage images');
  const container = program.command('container').description('Manage containers');
  const system = program.command('system').description('Manage Strata');
  registerImageCommands(program, image);
  registerRegistryCommands(program, image);
  registerAnalyzeCommand(image);
  registerContainerCommands(program, container);
  registerNetworkCommands(program.command('network').description('Manage networks'));
  registerVolumeCommands(program.command('volume').description('Manage volumes'));
  registerChangeCommands(program, container);
  registerBuildCommands(program, image);
  registerStatsCommand(program, container);
  registerSystemCommands(system);
  registerServeCommand(program);
  registerExploreCommand(program);

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

  // every command exits through main()'s error path; mark them all
  const walk = (c: Command): void => { c.exitOverride(); c.configureOutput({ outputError: () => {} }); c.commands.forEach(walk); };
  walk(program);
  return program;
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
  const program = buildProgram();
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
