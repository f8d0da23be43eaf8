import type { Command } from 'commander';
import { collect, engine, out, ExitError } from './util.js';
import { printRows, since, size3, size4 } from './output.js';
import * as readline from 'node:readline/promises';
import type { BuildCacheEntry } from '../engine/index.js';

function pct(part: number, whole: number): string {
  return whole > 0 ? ` (${Math.round((part * 100) / whole)}%)` : '';
}

export function registerSystemCommands(system: Command): void {
  system.command('df').description('Show disk usage')
    .option('-v, --verbose', 'Show detailed information on space usage')
    .option('--format <string>', 'Format output using a custom template')
    .action((o: { verbose?: boolean; format?: string }) => {
      const du = engine().system.df();
      if (!o.verbose) {
        const cSizes = du.containers.map((c) => c.SizeRw ?? 0);
        const cTotal = cSizes.reduce((a, b) => a + b, 0);
        const cLive = du.containers.filter((c) => c.State === 'running' || c.State === 'paused');
        const cReclaim = du.containers.reduce((a, c, i) => a + (cLive.includes(c) ? 0 : cSizes[i]!), 0);
        const vTotal = du.volumes.reduce((a, v) => a + v.size, 0);
        const vUsed = du.volumes.filter((v) => v.refCount > 0);
        const vReclaim = du.volumes.reduce((a, v) => a + (v.refCount > 0 ? 0 : v.size), 0);
        const rows = [
          { Type: 'Images', TotalCount: String(du.images.length ? new Set(du.images.map((i) => i.id)).size : 0), Active: String(du.activeImages), Size: size4(du.layersSize), Reclaimable: `${size4(du.reclaimable)}${pct(du.reclaimable, du.layersSize)}` },
          { Type: 'Containers', TotalCount: String(du.containers.length), Active: String(cLive.length), Size: size4(cTotal), Reclaimable: `${size4(cReclaim)}${pct(cReclaim, cTotal)}` },
          { Type: 'Local Volumes', TotalCount: String(du.volumes.length), Active: String(vUsed.length), Size: size4(vTotal), Reclaimable: `${size4(vReclaim)}${pct(vReclaim, vTotal)}` },
          buildCacheRow(du.buildCache),
        ];
        printRows(rows, 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}', { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' }, o.format);
        return;
      }
      out('Images space usage:\n');
      printRows(du.images.map((i) => ({
        Repository: i.repository, Tag: i.tag, ID: i.id.slice(7, 19), CreatedSince: since(i.created),
        Size: size4(i.size), SharedSize: size4(i.sharedSize), UniqueSize: size4(i.uniqueSize), Containers: String(i.containers),
      })), 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
      { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', CreatedSince: 'CREATED', Size: 'SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS' });
      out('');
      printBuildCache(du.buildCache);
    });

  system.command('prune').description('Remove unused data')
    .option('-a, --all', 'Remove all unused images not just dangling ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--volumes', 'Prune volumes')
    .option('--filter <filter>', "Provide filter values (e.g. 'label=<key>=<value>')", collect)
    .action(async (o: { all?: boolean; force?: boolean; volumes?: boolean; filter?: string[] }) => {
      if (!o.force) {
        const what = ['all stopped containers', 'all networks not used by at least one container', ...(o.volumes ? ['all volumes not used by at least one container'] : []), o.all ? 'all images without at least one container associated to them' : 'all dangling images', 'unused data left by interrupted operations'];
        process.stdout.write(`WARNING! This will remove:\n${what.map((w) => `  - ${w}`).join('\n')}\n\nAre you sure you want to continue? [y/N] `);
        const rl = readline.createInterface({ input: process.stdin });
        const answer = await rl.question('');
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) return;
      }
      const r = await engine().system.prune({ all: !!o.all, volumes: !!o.volumes, filters: o.filter ?? [] });
      if (r.containers.deleted.length) { out('Deleted Containers:'); for (const d of r.containers.deleted) out(d); out(''); }
      if (r.networks.length) { out('Deleted Networks:'); for (const d of r.networks) out(d); out(''); }
      if (r.volumes?.deleted.length) { out('Deleted Volumes:'); for (const d of r.volumes.deleted) out(d); out(''); }
      const res = r.images;
      if (res.untagged.length || res.deleted.length) {
        out('Deleted Images:');
        for (const u of res.untagged) out(`untagged: ${u}`);
        for (const d of res.deleted) out(`deleted: ${d}`);
        out('');
      }
      if (r.buildCache.deleted.length) { out('Deleted build cache objects:'); for (const d of r.buildCache.deleted) out(d); out(''); }
      out(`Total reclaimed space: ${size3(r.reclaimed)}`);
    });

  system.command('reset').description('Remove all containers, networks, volumes and images, and the store itself')
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (o: { force?: boolean }) => {
      if (!o.force) {
        process.stdout.write('WARNING! This will remove all containers, networks, volumes, images and everything under the store.\nAre you sure you want to continue? [y/N] ');
        const rl = readline.createInterface({ input: process.stdin });
        const answer = await rl.question('');
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) return;
      }
      await engine().system.reset();
    });

  system.command('boot').description('Reconcile the store after a restart of the host and start the containers a restart policy brings back (always; unless-stopped unless stopped; on-failure after a failure)')
    .action(async () => {
      const r = await engine().system.boot();
      for (const c of r.started) out(c.name);
      for (const f of r.failed) process.stderr.write(`Error: starting ${f.name}: ${f.error}\n`);
      if (r.failed.length) throw new ExitError(1);
    });

  system.command('check').description("Verify the store: every blob's digest, every layer's presence")
    .option('--repair', 'Remove unreferenced blobs, layer directories and temporary files')
    .action(async (o: { repair?: boolean }) => {
      const r = await engine().system.check({ repair: !!o.repair });
      for (const p of r.problems) out(p);
      for (const g of r.garbage) out(`garbage: ${g}`);
      if (r.garbage.length) out(`${r.garbage.length} unreferenced item${r.garbage.length > 1 ? 's' : ''}: 'strata system prune' or 'strata system check --repair' removes them`);
      out(`checked ${r.images} images, ${r.layers} layers, ${r.blobs} blobs: ${r.problems.length ? `${r.problems.length} problem${r.problems.length > 1 ? 's' : ''}` : 'no problems'}`);
      if (r.problems.length) throw new ExitError(1);
    });
}

/** Docker's "Build Cache" row of `system df`. */
function buildCacheRow(e: readonly BuildCacheEntry[]): Record<string, string> {
  const size = e.reduce((a, x) => a + x.size, 0);
  const reclaim = e.filter((x) => !x.inUse && !x.shared).reduce((a, x) => a + x.size, 0);
  return { Type: 'Build Cache', TotalCount: String(e.length), Active: String(e.filter((x) => x.inUse).length), Size: size4(size), Reclaimable: size4(reclaim) };
}

/** `system df -v`: the build cache section. */
function printBuildCache(e: readonly BuildCacheEntry[]): void {
  out(`Build cache usage: ${size4(e.reduce((a, x) => a + x.size, 0))}\n`);
  printRows(e.map((x) => ({
    ID: x.id, CacheType: x.type, Size: size4(x.size), CreatedSince: since(Math.floor(x.created / 1000)),
    LastUsedSince: since(Math.floor(x.lastUsed / 1000)), UsageCount: String(x.usageCount), Shared: String(x.shared),
  })), 'table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}',
  { ID: 'CACHE ID', CacheType: 'CACHE TYPE', Size: 'SIZE', CreatedSince: 'CREATED', LastUsedSince: 'LAST USED', UsageCount: 'USAGE', Shared: 'SHARED' });
}
