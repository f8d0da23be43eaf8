import type { Command } from 'commander';
import { diskUsage, pruneImages, checkStore, gcUnreferenced } from '../engine/system.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getStore, out, ExitError, closeStore } from './util.js';
import { runtimeDirFor } from '../runtime/index.js';
import { printRows, since, size3, size4 } from './output.js';
import { imageHooks } from './images.js';
import * as readline from 'node:readline/promises';

function pct(part: number, whole: number): string {
  return whole > 0 ? ` (${Math.round((part * 100) / whole)}%)` : '';
}

export function registerSystemCommands(system: Command): void {
  system.command('df').description('Show disk usage')
    .option('-v, --verbose', 'Show detailed information on space usage')
    .option('--format <string>', 'Format output using a custom template')
    .action((o: { verbose?: boolean; format?: string }) => {
      const du = diskUsage(getStore(), (id) => imageHooks().containersUsing?.(id).length ?? 0);
      const extra = extraDf();
      if (!o.verbose) {
        const rows = [
          { Type: 'Images', TotalCount: String(du.images.length ? new Set(du.images.map((i) => i.id)).size : 0), Active: String(du.activeImages), Size: size4(du.layersSize), Reclaimable: `${size4(du.reclaimable)}${pct(du.reclaimable, du.layersSize)}` },
          ...extra.summary,
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
      for (const section of extra.verbose) { out(''); section(); }
    });

  system.command('prune').description('Remove unused data')
    .option('-a, --all', 'Remove all unused images not just dangling ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--volumes', 'Prune anonymous volumes')
    .action(async (o: { all?: boolean; force?: boolean }) => {
      if (!o.force) {
        const what = ['all stopped containers', o.all ? 'all images without at least one container associated to them' : 'all dangling images', 'unused data left by interrupted operations'];
        process.stdout.write(`WARNING! This will remove:\n${what.map((w) => `  - ${w}`).join('\n')}\n\nAre you sure you want to continue? [y/N] `);
        const rl = readline.createInterface({ input: process.stdin });
        const answer = await rl.question('');
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) return;
      }
      let reclaimed = 0;
      for (const step of extraPrune) reclaimed += await step();
      const res = pruneImages(getStore(), { all: !!o.all, imageInUse: imageHooks().imageInUse });
      if (res.untagged.length || res.deleted.length) {
        out('Deleted Images:');
        for (const u of res.untagged) out(`untagged: ${u}`);
        for (const d of res.deleted) out(`deleted: ${d}`);
        out('');
      }
      reclaimed += res.reclaimed;
      out(`Total reclaimed space: ${size3(reclaimed)}`);
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
      for (const step of resetSteps) await step();
      const store = getStore();
      const root = store.root;
      closeStore();
      for (const name of fs.readdirSync(root)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
      fs.rmSync(runtimeDirFor(root), { recursive: true, force: true }); // runc state and sockets under /run
    });

  system.command('check').description("Verify the store: every blob's digest, every layer's presence")
    .option('--repair', 'Remove unreferenced blobs, layer directories and temporary files')
    .action(async (o: { repair?: boolean }) => {
      const store = getStore();
      if (o.repair) gcUnreferenced(store);
      const r = await checkStore(store);
      for (const p of r.problems) out(p);
      for (const g of r.garbage) out(`garbage: ${g}`);
      if (r.garbage.length) out(`${r.garbage.length} unreferenced item${r.garbage.length > 1 ? 's' : ''}: 'strata system prune' or 'strata system check --repair' removes them`);
      out(`checked ${r.images} images, ${r.layers} layers, ${r.blobs} blobs: ${r.problems.length ? `${r.problems.length} problem${r.problems.length > 1 ? 's' : ''}` : 'no problems'}`);
      if (r.problems.length) throw new ExitError(1);
    });
}

/** Other parts (containers, volumes) add their rows and prune steps here. */
export const extraDf = (): { summary: Record<string, string>[]; verbose: (() => void)[] } => ({ summary: dfRows.map((f) => f()), verbose: dfVerbose });
const dfRows: (() => Record<string, string>)[] = [];
const dfVerbose: (() => void)[] = [];
const extraPrune: (() => Promise<number>)[] = [];
export function addDfRow(row: () => Record<string, string>, verbose?: () => void): void { dfRows.push(row); if (verbose) dfVerbose.push(verbose); }
export function addPruneStep(step: () => Promise<number>): void { extraPrune.push(step); }
const resetSteps: (() => Promise<void>)[] = [];
/** Parts that hold host resources (containers, networks) release them on `system reset`. */
export function addResetStep(step: () => Promise<void>): void { resetSteps.push(step); }
