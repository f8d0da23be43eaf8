/**
 * The efficiency gate for CI, with dive's rules and their semantics
 * (wagoodman/dive runtime/ci): three rules, each a value or `disabled`;
 * a rule whose value does not parse makes the whole run misconfigured (and
 * failed) before anything is evaluated.
 *
 *   lowestEfficiency          fails when efficiency < value        (0..1)
 *   highestWastedBytes        fails when wasted bytes > value      (20MB, 1.5 GiB, 1000)
 *   highestUserWastedPercent  fails when wasted/user bytes > value (0..1)
 *
 * Defaults are dive's: 0.9, disabled, 0.1. A rules file (`.strata-ci`, the
 * shape of dive's `.dive-ci`) sets them; flags given on the command line win.
 */
import * as fs from 'node:fs';
import { invalidArgument } from '../base/errors.js';
import type { WasteReport } from '../changes/index.js';

type RuleKey = 'lowestEfficiency' | 'highestWastedBytes' | 'highestUserWastedPercent';
const RULE_KEYS: readonly RuleKey[] = ['highestUserWastedPercent', 'highestWastedBytes', 'lowestEfficiency'];
export type RuleConfig = Record<RuleKey, string>;
export const DEFAULT_RULES: Readonly<RuleConfig> = { lowestEfficiency: '0.9', highestWastedBytes: 'disabled', highestUserWastedPercent: '0.1' };

type RuleStatus = 'PASS' | 'FAIL' | 'SKIP' | 'MISCONFIGURED';
interface RuleResult { key: RuleKey; status: RuleStatus; message: string }
export interface GateResult {
  pass: boolean;
  misconfigured: boolean;
  results: RuleResult[];
  tally: { total: number; pass: number; fail: number; warn: number; skip: number };
}

const SI: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, p: 1e15, pb: 1e15, e: 1e18, eb: 1e18 };
const IEC: Record<string, number> = { ki: 2 ** 10, kib: 2 ** 10, mi: 2 ** 20, mib: 2 ** 20, gi: 2 ** 30, gib: 2 ** 30, ti: 2 ** 40, tib: 2 ** 40, pi: 2 ** 50, pib: 2 ** 50, ei: 2 ** 60, eib: 2 ** 60 };

/** go-humanize's ParseBytes: `20MB` = 20,000,000, `20MiB` = 20,971,520, `1.5 GB`, `42`. */
export function parseBytes(s: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(s.replace(/,/g, ''));
  if (!m) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(s)}: invalid syntax`);
  const unit = m[2]!.toLowerCase();
  const mul = SI[unit] ?? IEC[unit];
  if (mul === undefined) throw new Error(`unhandled size name: ${unit}`);
  return Math.trunc(Number(m[1]) * mul);
}

function parseRatio(key: RuleKey, v: string): number {
  const n = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/.test(v) ? Number(v) : NaN;
  if (Number.isNaN(n)) throw new Error(`invalid config value ('${v}'): strconv.ParseFloat: parsing ${JSON.stringify(v)}: invalid syntax`);
  if (n < 0 || n > 1) throw new Error(`${key} config value is outside allowed range (0-1), given '${v}'`);
  return n;
}

function validate(key: RuleKey, v: string): void {
  if (key === 'highestWastedBytes') {
    try { parseBytes(v); } catch (e) { throw new Error(`invalid config value ('${v}'): ${(e as Error).message}`); }
  } else parseRatio(key, v);
}

/** Go's %v of a float64 (shortest representation, as JavaScript prints it, with +Inf/NaN). */
function goFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  return String(n);
}

function evaluate(key: RuleKey, v: string, a: WasteReport): RuleResult {
  switch (key) {
    case 'lowestEfficiency': {
      const t = parseRatio(key, v);
      return t > a.efficiencyScore
        ? { key, status: 'FAIL', message: `image efficiency is too low (efficiency=${goFloat(a.efficiencyScore)} < threshold=${goFloat(t)})` }
        : { key, status: 'PASS', message: '' };
    }
    case 'highestWastedBytes': {
      const t = parseBytes(v);
      return a.inefficientBytes > t
        ? { key, status: 'FAIL', message: `too many bytes wasted (wasted-bytes=${a.inefficientBytes} > threshold=${t})` }
        : { key, status: 'PASS', message: '' };
    }
    case 'highestUserWastedPercent': {
      const t = parseRatio(key, v);
      return t < a.userWastedPercent
        ? { key, status: 'FAIL', message: `too many bytes wasted, relative to the user bytes added (%-user-wasted-bytes=${goFloat(a.userWastedPercent)} > threshold=${goFloat(t)})` }
        : { key, status: 'PASS', message: '' };
    }
  }
}

/** Apply the rules to an analysis. */
export function evaluateGate(a: WasteReport, rules: RuleConfig): GateResult {
  const results: RuleResult[] = [];
  let misconfigured = false;
  for (const key of RULE_KEYS) {
    const v = rules[key].trim();
    if (v === 'disabled') { results.push({ key, status: 'SKIP', message: 'rule disabled' }); continue; }
    try { validate(key, v); results.push({ key, status: 'PASS', message: '' }); } catch (e) {
      misconfigured = true;
      results.push({ key, status: 'MISCONFIGURED', message: (e as Error).message });
    }
  }
  if (!misconfigured) {
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (r.status !== 'SKIP') results[i] = evaluate(r.key, rules[r.key].trim(), a);
    }
  }
  const tally = { total: results.length, pass: 0, fail: 0, warn: 0, skip: 0 };
  for (const r of results) {
    if (r.status === 'PASS') tally.pass++;
    else if (r.status === 'FAIL') tally.fail++;
    else if (r.status === 'SKIP') tally.skip++;
  }
  return { pass: !misconfigured && tally.fail === 0, misconfigured, results, tally };
}

/**
 * A rules file in the shape of dive's `.dive-ci`:
 *
 *   rules:
 *     lowestEfficiency: 0.95
 *     highestWastedBytes: 20MB
 *     highestUserWastedPercent: disabled
 *
 * Other keys are ignored (as dive does); a line that is not `key: value` is an error.
 */
export function parseRulesFile(text: string, file: string): Partial<RuleConfig> {
  const out: Partial<RuleConfig> = {};
  let inRules = false;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/\s+#.*$/, '').replace(/^#.*$/, '');
    if (line.trim() === '') return;
    const m = /^(\s*)([A-Za-z0-9_.-]+)\s*:\s*(.*?)\s*$/.exec(line);
    if (!m) throw invalidArgument(`${file}:${i + 1}: cannot parse ${JSON.stringify(raw.trim())}: expected "key: value"`);
    const indented = m[1]!.length > 0;
    if (!indented) { inRules = m[2] === 'rules' && m[3] === ''; return; }
    if (!inRules) return;
    const key = m[2] as RuleKey;
    if (!(RULE_KEYS as readonly string[]).includes(key)) return;
    out[key] = m[3]!.replace(/^(['"])(.*)\1$/, '$2');
  });
  return out;
}

/** Rules from defaults, then a rules file (when given or when `.strata-ci` exists in cwd), then flags. */
export function loadRules(opts: { file?: string; flags?: Partial<RuleConfig> }): RuleConfig {
  const rules: RuleConfig = { ...DEFAULT_RULES };
  const file = opts.file ?? (fs.existsSync('.strata-ci') ? '.strata-ci' : undefined);
  if (file !== undefined) Object.assign(rules, parseRulesFile(fs.readFileSync(file, 'utf8'), file));
  for (const [k, v] of Object.entries(opts.flags ?? {})) if (v !== undefined) rules[k as RuleKey] = v;
  return rules;
}
