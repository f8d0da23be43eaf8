/**
 * Dockerfile nodes -> stages of typed instructions, with BuildKit's checks and words
 * (frontend/dockerfile/instructions). Nothing is expanded here: expansion happens at
 * dispatch, with the state the instruction sees.
 */
import { ParseError, parseDockerfile, type Node } from './parser.js';

export class BuildError extends Error {}

/** BuildKit 0.8's wrapping of frontend errors, as Docker 20.10 prints them. */
export function llbError(msg: string): BuildError {
  return new BuildError(`failed to solve with frontend dockerfile.v0: failed to create LLB definition: ${msg}`);
}

interface Flags {
  [name: string]: string | boolean | string[] | undefined;
}

export interface Instruction {
  node: Node;
  kind: string;
  flags: Flags;
}

export interface Stage {
  index: number;
  /** `AS name`, lower-cased; '' when unnamed */
  name: string;
  baseName: string;
  platform: string;
  from: Instruction;
  commands: Instruction[];
}

interface ParsedDockerfile {
  metaArgs: Instruction[];
  stages: Stage[];
  escape: string;
  warnings: string[];
}

const KNOWN = new Set(['add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label', 'maintainer', 'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir']);

/** Flags each instruction accepts: name -> kind ('string' | 'bool' | 'list'). */
const FLAGS: Record<string, Record<string, 'string' | 'bool' | 'list'>> = {
  from: { platform: 'string' },
  run: { mount: 'list', network: 'string', security: 'string' },
  copy: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list' },
  add: { chown: 'string', chmod: 'string', link: 'bool', checksum: 'string', 'keep-git-dir': 'bool', exclude: 'list' },
  healthcheck: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

function parseFlags(node: Node): Flags {
  const allowed = FLAGS[node.cmd] ?? {};
  const out: Flags = {};
  for (const raw of node.flags) {
    const m = /^--([^=]+)(?:=([\s\S]*))?$/.exec(raw);
    if (!m) throw new Error(`Unknown flag: ${raw}`);
    const name = m[1]!;
    const kind = allowed[name];
    if (!kind) throw new Error(`unknown flag: ${name}`);
    const v = m[2];
    if (kind === 'bool') {
      if (v === undefined || v === '' || v === 'true') out[name] = true;
      else if (v === 'false') out[name] = false;
      else throw new Error(`expecting boolean value for flag ${name}, not: ${v}`);
    } else if (kind === 'list') {
      if (v === undefined) throw new Error(`missing a value on flag: ${name}`);
      out[name] = [...((out[name] as string[] | undefined) ?? []), v];
    } else {
      if (v === undefined) throw new Error(`missing a value on flag: ${name}`);
      if (out[name] !== undefined) throw new Error(`Duplicate flag specified: ${name}`);
      out[name] = v;
    }
  }
  return out;
}

function check(node: Node): void {
  const n = node.args.length;
  const up = node.cmd.toUpperCase();
  switch (node.cmd) {
    case 'from':
      if (n !== 1 && !(n === 3 && node.args[1]!.toLowerCase() === 'as')) throw new Error('FROM requires either one or three arguments');
      break;
    case 'run':
      if (n === 0 && node.heredocs.length === 0) throw new Error('RUN requires at least one argument');
      break;
    case 'copy': case 'add':
      if (n + (node.heredocs.length ? 1 : 0) < 2) throw new Error(`${up} requires at least two arguments`);
      break;
    case 'env': case 'label':
      if (n === 0) throw new Error(`${up} requires at least one argument`);
      for (let i = 0; i < n; i += 2) if (node.args[i] === '') throw new Error(`${up} names can not be blank`);
      break;
    case 'arg':
      if (n === 0) throw new Error('ARG requires at least one argument');
      break;
    case 'workdir': case 'user': case 'stopsignal': case 'maintainer':
      if (n !== 1) throw new Error(`${up} requires exactly one argument`);
      break;
    case 'expose': case 'volume':
      if (n === 0) throw new Error(`${up} requires at least one argument`);
      break;
    case 'shell':
      if (!node.json) throw new Error('SHELL requires the arguments to be in JSON form');
      if (n === 0) throw new Error('SHELL requires at least one argument');
      break;
    case 'healthcheck':
      if (n === 0) throw new Error('HEALTHCHECK requires an argument');
      break;
    case 'onbuild': {
      if (!node.sub) throw new Error('ONBUILD requires at least one argument');
      const t = node.sub.cmd;
      if (t === 'onbuild') throw new Error('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (t === 'from' || t === 'maintainer') throw new Error(`${t.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      break;
    }
    default:
  }
}

export function toInstruction(node: Node): Instruction {
  if (!KNOWN.has(node.cmd)) throw new Error(`unknown instruction: ${node.original.trim().split(/\s+/)[0]!.toUpperCase()}`);
  check(node);
  return { node, kind: node.cmd, flags: parseFlags(node) };
}

/** Parse a Dockerfile into global ARGs and stages. Throws BuildError in BuildKit's words. */
export function parseStages(text: string): ParsedDockerfile {
  let parsed;
  try {
    parsed = parseDockerfile(text);
  } catch (e) {
    if (e instanceof ParseError) throw llbError(`dockerfile parse error line ${e.line}: ${e.message}`);
    throw e;
  }
  const metaArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const node of parsed.nodes) {
    let ins: Instruction;
    try {
      ins = toInstruction(node);
    } catch (e) {
      throw llbError(`dockerfile parse error line ${node.startLine}: ${(e as Error).message}`);
    }
    if (ins.kind === 'from') {
      const name = node.args.length === 3 ? node.args[2]!.toLowerCase() : '';
      if (name && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw llbError(`dockerfile parse error line ${node.startLine}: invalid name for build stage: "${node.args[2]}", name can't start with a number or contain symbols`);
      if (name && stages.some((s) => s.name === name)) throw llbError(`dockerfile parse error line ${node.startLine}: duplicate stage name "${name}"`);
      stages.push({ index: stages.length, name, baseName: node.args[0]!, platform: (ins.flags.platform as string | undefined) ?? '', from: ins, commands: [] });
      continue;
    }
    const cur = stages[stages.length - 1];
    if (!cur) {
      if (ins.kind !== 'arg') throw llbError('no build stage in current context');
      metaArgs.push(ins);
      continue;
    }
    cur.commands.push(ins);
  }
  if (stages.length === 0) throw llbError('dockerfile contains no stages to build');
  return { metaArgs, stages, escape: parsed.escape, warnings: parsed.warnings };
}
