import type { Command } from 'commander';
import { invalidArgument } from '../base/errors.js';
import type { CreateNetworkOptions } from '../engine/index.js';
import { collect, engine, out, ExitError } from './util.js';
import { printRows } from './output.js';
import { printInspect } from './images.js';

const networks = () => engine().networks;

export function registerNetworkCommands(network: Command): void {
  network.command('create').description('Create a network').argument('<network>')
    .option('-d, --driver <string>', 'Driver to manage the Network', 'bridge')
    .option('--subnet <string>', 'Subnet in CIDR format that represents a network segment')
    .option('--gateway <string>', 'IPv4 Gateway for the master subnet')
    .option('--internal', 'Restrict external access to the network')
    .option('--label <list>', 'Set metadata on a network', collect)
    .action(async (name: string, o: { driver: string; subnet?: string; gateway?: string; internal?: boolean; label?: string[] }) => {
      if (o.driver !== 'bridge') throw invalidArgument(`plugin "${o.driver}" not found`);
      const opts: CreateNetworkOptions = { internal: !!o.internal };
      if (o.subnet) opts.subnet = o.subnet;
      if (o.gateway) opts.gateway = o.gateway;
      if (o.label) opts.labels = Object.fromEntries(o.label.map((l) => { const i = l.indexOf('='); return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)]; }));
      await networks().ensureDefault();
      out((await networks().create(name, opts)).id);
    });

  network.command('ls').alias('list').description('List networks')
    .option('-q, --quiet', 'Only display network IDs').option('--no-trunc', "Do not truncate the output")
    .option('-f, --filter <filter>', 'Provide filter values', collect).option('--format <string>', 'Pretty-print networks using a Go template')
    .action(async (o: { quiet?: boolean; trunc?: boolean; format?: string; filter?: string[] }) => {
      const rows = (await networks().query(o.filter ?? [])).map((n) => ({ ID: o.trunc === false ? n.id : n.id.slice(0, 12), Name: n.name, Driver: n.driver, Scope: n.scope, Internal: String(n.internal), CreatedAt: n.created }));
      if (o.quiet) { for (const r of rows) out(r.ID); return; }
      printRows(rows, 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', Internal: 'INTERNAL', CreatedAt: 'CREATED' }, o.format);
    });

  network.command('inspect').description('Display detailed information on one or more networks').argument('<network...>')
    .option('-f, --format <string>', 'Format the output using the given Go template')
    .action(async (refs: string[], o: { format?: string }) => {
      await networks().ensureDefault();
      printInspect(refs, o.format, (r) => networks().inspect(r));
    });

  network.command('rm').alias('remove').description('Remove one or more networks').argument('<network...>')
    .action(async (refs: string[]) => {
      let failed = false;
      for (const r of refs) {
        try { await networks().remove(r); out(r); } catch (e) { failed = true; process.stderr.write(`Error: ${(e as Error).message}\n`); }
      }
      if (failed) throw new ExitError(1);
    });

  network.command('connect').description('Connect a container to a network').argument('<network>').argument('<container>')
    .option('--alias <list>', 'Add network-scoped alias for the container', collect)
    .option('--ip <string>', 'IPv4 address (e.g., "172.30.100.104")')
    .option('--link <list>', 'Add link to another container', collect)
    .action(async (net: string, ref: string, o: { alias?: string[]; ip?: string; link?: string[] }) => {
      await networks().connect(ref, net, { Aliases: o.alias ?? [], ...(o.ip ? { IPAMConfig: { IPv4Address: o.ip } } : {}), ...(o.link?.length ? { Links: o.link } : {}) });
    });

  network.command('disconnect').description('Disconnect a container from a network').argument('<network>').argument('<container>')
    .option('-f, --force', 'Force the container to disconnect from a network')
    .action(async (net: string, ref: string, o: { force?: boolean }) => {
      await networks().disconnect(ref, net, !!o.force);
    });

  network.command('prune').description('Remove all unused networks')
    .option('-f, --force', 'Do not prompt for confirmation').option('--filter <filter>', 'Provide filter values', collect)
    .action(async (o: { filter?: string[] }) => {
      const removed = await networks().prune(o.filter ?? []);
      if (removed.length) { out('Deleted Networks:'); for (const r of removed) out(r); }
    });
}
