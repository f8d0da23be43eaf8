/**
 * `strata image analyze IMAGE`: per-layer sizes and commands, wasted bytes,
 * the most wasted paths, efficiency and noise; `--format json` in dive's
 * export shape; `--ci` applies dive's rules and exits 1 when one fails.
 */
import type { Command } from 'commander';
import { invalidArgument } from '../base/errors.js';
import { type Analysis, type GateResult, type RuleConfig, diveExport, evaluateGate, loadRules } from '../engine/index.js';
import { tabwrite } from '../format/index.js';
import { size3 } from './output.js';
import { ExitError, engine, out } from './util.js';

const TOP_PATHS = 10;

function percent(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN %' : '+Inf %';
  return `${(n * 100).toFixed(4)} %`;
}

function oneLine(s: string, max = 60): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? t.slice(0, max - 1) + '…' : t;
}

function analysisText(a: Analysis): string[] {
  const lines: string[] = [];
  lines.push(`Image: ${a.image.name} (${a.image.id})`);
  lines.push(`Size: ${size3(a.sizeBytes)} in ${a.layers.length} ${a.layers.length === 1 ? 'layer' : 'layers'}`);
  lines.push('');
  lines.push('Layers (bottom to top):');
  const rows = ['  INDEX\tSIZE\tADDED\tCHANGED\tREMOVED\tWASTED\tCOMMAND'];
  for (const l of a.layers) {
    const info = a.image.layers[l.index];
    const cmd = info?.dockerfile[0] ?? info?.createdBy ?? '';
    rows.push(`  ${l.index}\t${size3(info?.size ?? l.bytes)}\t${l.added}\t${l.changed}\t${l.removed}\t${size3(l.wastedBytes)}\t${oneLine(cmd || info?.comment || '')}`);
  }
  lines.push(...tabwrite(rows.join('\n') + '\n', { minwidth: 0, padding: 2 }).replace(/\s+$/, '').split('\n').map((s) => s.replace(/\s+$/, '')));
  lines.push('');
  lines.push(`Efficiency: ${percent(a.efficiencyScore)}`);
  lines.push(`Wasted bytes: ${a.inefficientBytes} (${size3(a.inefficientBytes)})`);
  lines.push(`User wasted percent: ${percent(a.userWastedPercent)}`);
  lines.push('');
  if (a.references.length === 0) lines.push('Wasted paths: none');
  else {
    lines.push(`Wasted paths (${Math.min(TOP_PATHS, a.references.length)} of ${a.references.length}, most bytes first):`);
    const r = ['  COUNT\tWASTED\tPATH'];
    for (const f of a.references.slice(0, TOP_PATHS)) r.push(`  ${f.count}\t${size3(f.sizeBytes)}\t${f.file}`);
    lines.push(...tabwrite(r.join('\n') + '\n', { minwidth: 0, padding: 2 }).replace(/\s+$/, '').split('\n').map((s) => s.replace(/\s+$/, '')));
  }
  const noisy = a.layers.filter((l) => l.noise.length > 0);
  if (noisy.length) {
    lines.push('');
    lines.push('Noise:');
    for (const l of noisy) {
      for (const n of l.noise) {
        const more = n.count > n.paths.length ? ` and ${n.count - n.paths.length} more` : '';
        lines.push(`  layer ${l.index}: ${n.label}: ${n.count} ${n.count === 1 ? 'file' : 'files'}, ${size3(n.bytes)} (${n.paths.join(', ')}${more})`);
      }
    }
  }
  return lines;
}

function gateText(g: GateResult): string[] {
  const lines = ['Results:'];
  for (const r of g.results) lines.push(`  ${r.status}: ${r.key}${r.message ? `: ${r.message}` : ''}`);
  if (g.misconfigured) lines.push('CI Misconfigured');
  else lines.push(`Result:${g.pass ? 'PASS' : 'FAIL'} [Total:${g.tally.total}] [Passed:${g.tally.pass}] [Failed:${g.tally.fail}] [Warn:${g.tally.warn}] [Skipped:${g.tally.skip}]`);
  return lines;
}

interface AnalyzeFlags {
  format?: string;
  ci?: boolean;
  ciConfig?: string;
  lowestEfficiency?: string;
  highestWastedBytes?: string;
  highestUserWastedPercent?: string;
}

export function registerAnalyzeCommand(image: Command): void {
  image.command('analyze').description('Show per-layer sizes, wasted space and efficiency of an image; with --ci, fail when a rule fails')
    .argument('<image>')
    .option('--format <format>', 'json: the analysis in dive\'s export shape')
    .option('--ci', 'Apply the efficiency rules and exit 1 when one fails')
    .option('--ci-config <file>', 'Rules file (dive\'s .dive-ci shape; default: .strata-ci when present)')
    .option('--lowest-efficiency <ratio>', 'Fail when the efficiency is below this (0..1, or "disabled"; default 0.9)')
    .option('--highest-wasted-bytes <size>', 'Fail when more bytes than this are wasted (e.g. 20MB, or "disabled"; the default)')
    .option('--highest-user-wasted-percent <ratio>', 'Fail when wasted bytes / bytes above the first layer exceed this (0..1, or "disabled"; default 0.1)')
    .action(async (ref: string, o: AnalyzeFlags) => {
      if (o.format !== undefined && o.format !== 'json') throw invalidArgument(`unknown format ${o.format}: use json`);
      await engine().explore.ready([ref]);
      const a = engine().explore.analyze(ref);
      let gate: GateResult | undefined;
      if (o.ci) {
        const flags: Partial<RuleConfig> = {};
        if (o.lowestEfficiency !== undefined) flags.lowestEfficiency = o.lowestEfficiency;
        if (o.highestWastedBytes !== undefined) flags.highestWastedBytes = o.highestWastedBytes;
        if (o.highestUserWastedPercent !== undefined) flags.highestUserWastedPercent = o.highestUserWastedPercent;
        const opts: { file?: string; flags: Partial<RuleConfig> } = { flags };
        if (o.ciConfig !== undefined) opts.file = o.ciConfig;
        gate = evaluateGate(a, loadRules(opts));
      } else if (o.lowestEfficiency !== undefined || o.highestWastedBytes !== undefined || o.highestUserWastedPercent !== undefined || o.ciConfig !== undefined) {
        throw invalidArgument('rules apply with --ci only');
      }
      if (o.format === 'json') {
        out(JSON.stringify(diveExport(a), null, 2));
        if (gate) for (const l of gateText(gate)) process.stderr.write(l + '\n');
      } else {
        for (const l of analysisText(a)) out(l);
        if (gate) { out(''); for (const l of gateText(gate)) out(l); }
      }
      if (gate && !gate.pass) throw new ExitError(1);
    });
}
