/**
 * `strata explore [--port N] [IMAGE|CONTAINER]`: the explorer page on a local
 * port until interrupted. It prints the URL and opens nothing by itself.
 */
import type { Command } from 'commander';
import { invalidArgument } from '../base/errors.js';
import type { Engine } from '../engine/index.js';
import { ExploreServer } from '../explore/server.js';
import { engine } from './util.js';
import { isLoopback } from '../base/net.js';

export function parsePort(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw invalidArgument(`invalid port ${JSON.stringify(v)}: expected 0-65535`);
  return Number(v);
}

/** Start the explorer beside whatever else the process serves; the caller closes it. */
export async function startExplorer(e: Engine, o: { host?: string; port?: number; start?: string; allowRemote?: boolean }): Promise<ExploreServer> {
  const host = o.host ?? '127.0.0.1';
  if (!isLoopback(host) && !o.allowRemote) {
    throw invalidArgument(`refusing to serve the explorer on ${host}: not a loopback address. Pass --allow-remote to do it anyway.`);
  }
  if (o.start !== undefined) e.explore.resolveTarget(o.start);
  const srv = new ExploreServer({ engine: e, ...(o.start !== undefined ? { start: o.start } : {}) });
  await srv.listen(host, o.port ?? 0);
  return srv;
}

export function registerExploreCommand(program: Command): void {
  program.command('explore').description('Browse images, layers, wasted space and pending changes in a local web page (read-only)')
    .argument('[image|container]', 'What the page opens on')
    .option('-p, --port <port>', 'Port on 127.0.0.1 (default: a free one)', parsePort)
    .option('--host <address>', 'Address to listen on (default 127.0.0.1)')
    .option('--allow-remote', 'Allow an address other than loopback (no authentication: whoever reaches it sees your images)')
    .action(async (start: string | undefined, o: { port?: number; host?: string; allowRemote?: boolean }) => {
      const stopped = new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      const srv = await startExplorer(engine(), { ...o, ...(start !== undefined ? { start } : {}) });
      process.stdout.write(`${srv.address}\n`);
      process.stderr.write(`strata explore: serving ${srv.address} (read-only; Ctrl-C to stop)\n`);
      await stopped;
      await srv.close();
    });
}
