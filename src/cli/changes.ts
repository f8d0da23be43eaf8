import type { Command } from 'commander';
import { invalidArgument } from '../base/errors.js';
import { formatChanges, summarize, formatSummary, changesToJson, noiseReport, formatNoiseReport, type CommitOptions } from '../engine/index.js';
import { goJson } from '../format/index.js';
import { collect, engine, out } from './util.js';
import { size3 } from './output.js';

export function registerChangeCommands(program: Command, container: Command): void {
  for (const c of [program.command('diff'), container.command('diff')]) {
    c.description("Inspect changes to files or directories on a container's filesystem, or between images and containers")
      .argument('<container|image>').argument('[container|image]')
      .option('--summary', 'Counts and bytes per kind of change, and the noise a commit would capture')
      .option('--format <format>', 'json for machine-readable output')
      .action(async (a: string, b: string | undefined, o: { summary?: boolean; format?: string }) => {
        const { changes, newerDir: newer } = await engine().changes.diff(a, b);
        if (o.format === 'json') { out(goJson(newer ? changesToJson(changes, newer) : changes.map((c) => ({ Kind: c.kind, Path: c.path })))); return; }
        if (o.format) throw invalidArgument(`unknown format ${o.format}: use json`);
        if (o.summary) {
          for (const l of formatSummary(summarize(changes, newer), size3)) out(l);
          if (b === undefined) {
            const noise = formatNoiseReport(noiseReport(newer, changes), size3);
            if (noise.length) { out('noise a commit would capture:'); for (const l of noise) out(`  ${l}`); }
          }
          return;
        }
        if (changes.length) out(formatChanges(changes));
      });
  }

  for (const c of [program.command('commit'), container.command('commit')]) {
    c.description("Create a new image from a container's changes")
      .argument('<container>').argument('[repository[:tag]]')
      .option('-a, --author <string>', 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
      .option('-m, --message <string>', 'Commit message')
      .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect)
      .option('-p, --pause [bool]', 'Pause container during commit', (v: string) => !/^=?(false|0)$/i.test(v), true)
      .option('--exclude <pattern>', 'Leave paths matching PATTERN out of the new layer (repeatable; ** matches across /)', collect)
      .option('--exclude-noise', 'Leave shell histories, pid files, caches, logs and temp files out of the new layer')
      .option('--timestamp <time>', 'Reproducible commit: created time and layer mtimes clamped to this (unix seconds or RFC 3339); SOURCE_DATE_EPOCH works too')
      .option('--dockerfile', 'Print a Dockerfile that reproduces the change (from the recorded execs) instead of committing')
      .action(async (ref: string, repo: string | undefined, o: { author?: string; message?: string; change?: string[]; pause: boolean; exclude?: string[]; excludeNoise?: boolean; timestamp?: string; dockerfile?: boolean }) => {
        if (o.dockerfile) {
          process.stdout.write(engine().changes.dockerfile(ref));
          return;
        }
        const opts: CommitOptions = { pause: o.pause };
        if (o.author) opts.author = o.author;
        if (o.message) opts.message = o.message;
        if (o.change) opts.changes = o.change;
        if (repo) opts.reference = repo;
        if (o.exclude) opts.exclude = o.exclude;
        if (o.excludeNoise) opts.excludeNoise = true;
        if (o.timestamp) {
          const t = /^\d+$/.test(o.timestamp) ? Number(o.timestamp) : Date.parse(o.timestamp);
          if (!Number.isFinite(t)) throw invalidArgument(`invalid --timestamp ${o.timestamp}`);
          opts.timestamp = /^\d+$/.test(o.timestamp) ? t : new Date(t);
        }
        const r = await engine().changes.commit(ref, opts);
        // the noise report goes to stderr, so `$(strata commit …)` is still just the ID
        const lines = formatNoiseReport(r.noise, size3);
        if (lines.length) {
          process.stderr.write(`noise in this layer${o.excludeNoise || o.exclude ? '' : ' (leave it out with --exclude-noise or --exclude PATTERN)'}:\n`);
          for (const l of lines) process.stderr.write(`  ${l}\n`);
        }
        out(r.id);
      });
  }
}
