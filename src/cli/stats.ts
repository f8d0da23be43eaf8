/** `stats [-a] [--no-stream] [--no-trunc] [--format] [CONTAINER...]`: Docker's columns from engine/stats.ts. */
import type { Command } from 'commander';
import { statsRow, STATS_FORMAT, STATS_HEADERS, type StatsJson } from '../engine/index.js';
import { engine as openedEngine } from './util.js';
import { printRows } from './output.js';

interface StatsOptions { all?: boolean; stream?: boolean; trunc?: boolean; format?: string }

export function registerStatsCommand(program: Command, container: Command): void {
  for (const c of [program.command('stats'), container.command('stats')]) {
    c.description('Display a live stream of container(s) resource usage statistics').argument('[container...]')
      .option('-a, --all', 'Show all containers (default shows just running)')
      .option('--format <string>', 'Pretty-print images using a Go template')
      .option('--no-stream', 'Disable streaming stats and only pull the first result')
      .option('--no-trunc', 'Do not truncate output')
      .action(async (refs: string[], o: StatsOptions) => { await stats(refs, o); });
  }
}

async function stats(refs: string[], o: StatsOptions): Promise<void> {
  const eng = openedEngine();
  const engine = eng.containers;
  const named = refs.length > 0;
  const list = named ? refs.map((r) => engine.get(r)) : engine.list({ all: !!o.all });
  const show = (samples: { s: StatsJson; ref: string }[]) => {
    const rows = samples.map(({ s, ref }) => {
      const r = statsRow(s, ref);
      return o.trunc === false ? { ...r, ID: s.id } : r;
    });
    printRows(rows, STATS_FORMAT, STATS_HEADERS, o.format);
  };
  if (o.stream === false) {
    const samples = await Promise.all(list.map(async (c, i) => {
      let last: StatsJson | undefined;
      for await (const s of eng.stats.stream(c.id, { stream: false })) last = s;
      return { s: last!, ref: named ? refs[i]! : c.id.slice(0, 12) };
    }));
    show(samples);
    return;
  }
  const pre = new Map<string, StatsJson>();
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  while (!ac.signal.aborted) {
    const current = named ? list.map((c) => engine.find(c.id) ?? c) : engine.list({ all: !!o.all });
    const samples = current.map((c, i) => {
      const s = eng.stats.sample(c.id, pre.get(c.id));
      pre.set(c.id, s);
      return { s, ref: named ? refs[i]! : c.id.slice(0, 12) };
    });
    if (process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
    show(samples);
    await new Promise<void>((resolve) => { const t = setTimeout(resolve, 1000); ac.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true }); });
  }
}
