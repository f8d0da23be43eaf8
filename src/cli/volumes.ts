import type { Command } from 'commander';
import { collect, engine, out, ExitError } from './util.js';
import { printRows, size3 } from './output.js';
import { printInspect } from './images.js';

const volumes = () => engine().volumes;

export function registerVolumeCommands(volume: Command): void {
  volume.command('create').description('Create a volume').argument('[volume]')
    .option('-d, --driver <string>', 'Specify volume driver name', 'local')
    .option('--label <list>', 'Set metadata for a volume', collect)
    .option('--name <string>', 'Specify volume name')
    .action((name: string | undefined, o: { label?: string[]; name?: string }) => {
      const labels = Object.fromEntries((o.label ?? []).map((l) => { const i = l.indexOf('='); return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)]; }));
      out(volumes().create(name ?? o.name, { labels }).name);
    });
  volume.command('ls').alias('list').description('List volumes')
    .option('-q, --quiet', 'Only display volume names').option('-f, --filter <filter>', 'Provide filter values', collect)
    .option('--format <string>', 'Format output using a custom template')
    .action((o: { quiet?: boolean; filter?: string[]; format?: string }) => {
      const list = volumes().query(o.filter ?? []);
      if (o.quiet) { for (const v of list) out(v.name); return; }
      printRows(list.map((v) => ({ Driver: 'local', Name: v.name, Mountpoint: volumes().dataDir(v.name), Scope: 'local', Labels: Object.entries(JSON.parse(v.labels || '{}') as Record<string, string>).map(([k, x]) => `${k}=${x}`).join(',') })),
        'table {{.Driver}}\t{{.Name}}', { Driver: 'DRIVER', Name: 'VOLUME NAME', Mountpoint: 'MOUNTPOINT', Scope: 'SCOPE', Labels: 'LABELS' }, o.format);
    });
  volume.command('inspect').description('Display detailed information on one or more volumes').argument('<volume...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action((names: string[], o: { format?: string }) => printInspect(names, o.format, (n) => volumes().inspect(n)));
  volume.command('rm').alias('remove').description('Remove one or more volumes').argument('<volume...>')
    .option('-f, --force', 'Force the removal of one or more volumes')
    .action((names: string[], o: { force?: boolean }) => {
      let failed = false;
      for (const n of names) {
        try { volumes().remove(n, !!o.force); out(n); } catch (e) { failed = true; process.stderr.write(`Error: ${(e as Error).message}\n`); }
      }
      if (failed) throw new ExitError(1);
    });
  volume.command('prune').description('Remove unused local volumes')
    .option('-a, --all', 'Remove all unused volumes, not just anonymous ones').option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values', collect)
    .action((o: { all?: boolean; filter?: string[] }) => {
      const r = volumes().prune(!!o.all, o.filter ?? []);
      if (r.deleted.length) { out('Deleted Volumes:'); for (const d of r.deleted) out(d); out(''); }
      out(`Total reclaimed space: ${size3(r.reclaimed)}`);
    });
}
