/**
 * Executes a parsed template over JavaScript data, with Go's text/template
 * semantics (see govalue.ts for how JS values map onto Go values) and Go's
 * error texts: `template: :1:2: executing "" at <.Foo>: ...`.
 */

import { formatValue, goTimeString } from '../gofmt.js';
import {
  GoStructView,
  goStruct,
  goTypeName,
  isTrue,
  kindOf,
  mapGet,
  sortedEntries,
} from '../govalue.js';
import { builtinFuncs, FuncError, type FuncMap, type TemplateFunc } from './funcs.js';
import {
  type ArgNode,
  type BranchNode,
  type ChainNode,
  type CommandNode,
  type FieldNode,
  type IdentifierNode,
  type ListNode,
  type Node,
  type PipeNode,
  type VariableNode,
  nodeString,
} from './node.js';

/** Marks "no final argument" in a pipeline, distinct from `undefined` (Go's invalid value). */
const MISSING: unique symbol = Symbol('missing');
type Final = unknown | typeof MISSING;

class BreakSignal {}
class ContinueSignal {}

/** An execution error; `message` is Go's full text. */
class ExecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecError';
  }
}

export interface ExecContext {
  src: string;
  funcs: FuncMap;
  /** Names whose implementation is Go's builtin (for and/or short-circuit). */
  builtinAndOr: { and: boolean; or: boolean };
}

class State {
  private vars: Array<{ name: string; value: unknown }>;
  private node: Node | null = null;
  out = '';

  constructor(
    private readonly ctx: ExecContext,
    data: unknown,
  ) {
    this.vars = [{ name: '$', value: data }];
  }

  // --- errors -------------------------------------------------------------
  private at(n: Node): void {
    this.node = n;
  }

  errorf(msg: string): never {
    if (!this.node) throw new ExecError(`template: : ${msg}`);
    const src = this.ctx.src;
    const pos = this.node.pos;
    const before = src.slice(0, pos);
    const nl = before.lastIndexOf('\n');
    const line = 1 + (before.match(/\n/g)?.length ?? 0);
    const col = Buffer.byteLength(nl < 0 ? before : before.slice(nl + 1), 'utf8');
    const context = nodeString(this.node);
    throw new ExecError(`template: :${line}:${col}: executing "" at <${context}>: ${msg}`);
  }

  // --- variables ----------------------------------------------------------
  private mark(): number {
    return this.vars.length;
  }
  private pop(mark: number): void {
    this.vars.length = mark;
  }
  private push(name: string, value: unknown): void {
    this.vars.push({ name, value });
  }
  private setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }
  private setTopVar(n: number, value: unknown): void {
    this.vars[this.vars.length - n]!.value = value;
  }
  private varValue(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) return this.vars[i]!.value;
    }
    this.errorf(`undefined variable: ${name}`);
  }

  // --- walking ------------------------------------------------------------
  walk(dot: unknown, node: Node): void {
    switch (node.type) {
      case 'action': {
        const val = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.printValue(node, val);
        return;
      }
      case 'break':
        throw new BreakSignal();
      case 'continue':
        throw new ContinueSignal();
      case 'if':
      case 'with':
        this.walkIfOrWith(dot, node);
        return;
      case 'list':
        for (const n of node.nodes) this.walk(dot, n);
        return;
      case 'range':
        this.walkRange(dot, node);
        return;
      case 'text':
        this.out += node.text;
        return;
      default:
        this.at(node);
        this.errorf(`unknown node: ${nodeString(node)}`);
    }
  }

  private walkIfOrWith(dot: unknown, node: BranchNode): void {
    const mark = this.mark();
    try {
      const val = this.evalPipeline(dot, node.pipe);
      if (isTrue(val)) {
        this.walk(node.type === 'with' ? val : dot, node.list);
      } else if (node.elseList) {
        this.walk(dot, node.elseList);
      }
    } finally {
      this.pop(mark);
    }
  }

  private walkRange(dot: unknown, r: BranchNode): void {
    this.at(r);
    const outer = this.mark();
    try {
      const val = this.evalPipeline(dot, r.pipe);
      const mark = this.mark();
      const decl = r.pipe.decl;
      const one = (index: unknown, elem: unknown): boolean => {
        if (decl.length > 0) {
          if (r.pipe.isAssign) this.setVar(decl[0]!.ident[0]!, decl.length > 1 ? index : elem);
          else this.setTopVar(1, elem);
        }
        if (decl.length > 1) {
          if (r.pipe.isAssign) this.setVar(decl[1]!.ident[0]!, elem);
          else this.setTopVar(2, index);
        }
        try {
          this.walk(elem, r.list);
        } catch (e) {
          if (!(e instanceof ContinueSignal)) throw e;
        } finally {
          this.pop(mark);
        }
        return true;
      };
      let ran = false;
      try {
        switch (kindOf(val)) {
          case 'slice': {
            const arr = val as ArrayLike<unknown>;
            for (let i = 0; i < arr.length; i++) ran = one(i, arr[i]);
            break;
          }
          case 'map':
            for (const [k, v] of sortedEntries(val as object)) ran = one(k, v);
            break;
          case 'int': {
            if (decl.length > 1) this.errorf(`can't use ${formatValue(val)} to iterate over more than one variable`);
            const n = Number(val);
            for (let i = 0; i < n; i++) ran = one(i, i);
            break;
          }
          case 'invalid':
          case 'nil':
            break;
          case 'func': {
            const fn = val as () => unknown;
            const it = fn();
            if (it && typeof (it as Iterable<unknown>)[Symbol.iterator] === 'function') {
              let i = 0;
              for (const v of it as Iterable<unknown>) ran = one(i++, v);
              break;
            }
            this.errorf(`range can't iterate over ${formatValue(val)}`);
          }
          // eslint-disable-next-line no-fallthrough
          default:
            this.errorf(`range can't iterate over ${formatValue(val)}`);
        }
      } catch (e) {
        if (!(e instanceof BreakSignal)) throw e;
        ran = true;
      }
      if (!ran && r.elseList) this.walk(dot, r.elseList);
    } finally {
      this.pop(outer);
    }
  }

  private printValue(n: Node, v: unknown): void {
    this.at(n);
    if (v === undefined) {
      this.out += '<no value>';
      return;
    }
    if (typeof v === 'function') this.errorf(`can't print ${nodeString(n)} of type ${goTypeName(v)}`);
    this.out += formatValue(v);
  }

  // --- evaluation -----------------------------------------------------------
  evalPipeline(dot: unknown, pipe: PipeNode): unknown {
    this.at(pipe);
    let value: Final = MISSING;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value);
    for (const v of pipe.decl) {
      if (pipe.isAssign) this.setVar(v.ident[0]!, value);
      else this.push(v.ident[0]!, value);
    }
    return value;
  }

  private notAFunction(args: ArgNode[], final: Final): void {
    if (args.length > 1 || final !== MISSING) {
      this.errorf(`can't give argument to non-function ${nodeString(args[0]!)}`);
    }
  }

  private evalCommand(dot: unknown, cmd: CommandNode, final: Final): unknown {
    const first = cmd.args[0]!;
    switch (first.type) {
      case 'field':
        return this.evalFieldNode(dot, first, cmd.args, final);
      case 'chain':
        return this.evalChainNode(dot, first, cmd.args, final);
      case 'identifier':
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariableNode(dot, first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case 'bool':
        return first.value;
      case 'dot':
        return dot;
      case 'nil':
        this.errorf('nil is not a command');
      // eslint-disable-next-line no-fallthrough
      case 'number':
        return first.value;
      case 'string':
        return first.text;
    }
  }

  private evalFieldNode(dot: unknown, field: FieldNode, args: ArgNode[], final: Final): unknown {
    this.at(field);
    return this.evalFieldChain(dot, dot, field, field.ident, args, final);
  }

  private evalChainNode(dot: unknown, chain: ChainNode, args: ArgNode[], final: Final): unknown {
    if (chain.node.type === 'nil') this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const pipe = this.evalArg(dot, chain.node);
    return this.evalFieldChain(dot, pipe, chain, chain.field, args, final);
  }

  private evalVariableNode(dot: unknown, v: VariableNode, args: ArgNode[], final: Final): unknown {
    this.at(v);
    const value = this.varValue(v.ident[0]!);
    if (v.ident.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, v, v.ident.slice(1), args, final);
  }

  private evalFieldChain(
    dot: unknown,
    receiver: unknown,
    node: Node,
    ident: string[],
    args: ArgNode[],
    final: Final,
  ): unknown {
    const n = ident.length;
    for (let i = 0; i < n - 1; i++) receiver = this.evalField(dot, ident[i]!, node, [], MISSING, receiver);
    return this.evalField(dot, ident[n - 1]!, node, args, final, receiver);
  }

  private evalField(
    dot: unknown,
    name: string,
    node: Node,
    args: ArgNode[],
    final: Final,
    receiver: unknown,
  ): unknown {
    if (receiver === undefined) return undefined;
    if (receiver === null) this.errorf(`nil pointer evaluating interface {}.${name}`);
    const hasArgs = args.length > 1 || final !== MISSING;
    const kind = kindOf(receiver);
    if (kind === 'time') receiver = timeMethods(receiver as Date);
    if (kind === 'struct' || kind === 'time') {
      const obj = (receiver instanceof GoStructView ? receiver.target : receiver) as Record<string, unknown>;
      if (isOwnOrClassMember(obj, name)) {
        const v = obj[name];
        if (typeof v === 'function') return this.evalCall(dot, v as TemplateFunc, obj, node, name, args, final);
        if (hasArgs) this.errorf(`${name} has arguments but cannot be invoked as function`);
        return v;
      }
      this.errorf(`can't evaluate field ${name} in type ${goTypeName(receiver)}`);
    }
    if (kind === 'map') {
      const m = receiver as object;
      const v = mapGet(m, name);
      if (typeof v === 'function') return this.evalCall(dot, v as TemplateFunc, m, node, name, args, final);
      if (hasArgs) this.errorf(`${name} is not a method but has arguments`);
      return v;
    }
    this.errorf(`can't evaluate field ${name} in type ${goTypeName(receiver)}`);
  }

  private evalFunction(dot: unknown, node: IdentifierNode, cmd: Node, args: ArgNode[], final: Final): unknown {
    this.at(node);
    const name = node.name;
    const fn = this.ctx.funcs[name];
    if (!fn) this.errorf(`${JSON.stringify(name)} is not a defined function`);
    if ((name === 'and' || name === 'or') && this.ctx.builtinAndOr[name]) {
      const operands = args.slice(1);
      if (operands.length === 0 && final === MISSING) {
        this.errorf(`wrong number of args for ${name}: want at least 1 got 0`);
      }
      let v: unknown;
      for (const a of operands) {
        v = this.evalArg(dot, a);
        if (isTrue(v) === (name === 'or')) return v;
      }
      if (final !== MISSING) v = final;
      return v;
    }
    return this.evalCall(dot, fn, undefined, cmd, name, args, final, node);
  }

  private evalCall(
    dot: unknown,
    fn: TemplateFunc,
    thisArg: unknown,
    node: Node,
    name: string,
    args: ArgNode[],
    final: Final,
    nameNode: Node = node,
  ): unknown {
    const argv: unknown[] = [];
    // `call`'s first argument is the function itself: don't invoke it as a method.
    const rawFirst = fn === builtinFuncs.call;
    args.slice(1).forEach((a, i) => argv.push(this.evalArg(dot, a, rawFirst && i === 0)));
    if (final !== MISSING) argv.push(final);
    this.at(node);
    if (rawFirst && argv.length > 0 && typeof argv[0] !== 'function') {
      if (argv[0] === null || argv[0] === undefined) this.errorf('error calling call: call of nil');
      const what = args[1] ? nodeString(args[1]) : 'value';
      this.errorf(`error calling call: non-function ${what} of type ${goTypeName(argv[0])}`);
    }
    try {
      return fn.apply(thisArg, argv);
    } catch (e) {
      if (e instanceof ExecError || e instanceof BreakSignal || e instanceof ContinueSignal) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      if (e instanceof FuncError) {
        // Argument problems are reported at the argument (Go checks them while
        // evaluating it); argument-count problems at the function name.
        const argNode = e.argIndex !== undefined ? args[e.argIndex + 1] : undefined;
        this.at(argNode ?? (e.argIndex !== undefined ? node : nameNode));
        if (argNode && e.expected) {
          if (argNode.type === 'nil') this.errorf(`cannot assign nil to ${e.expected}`);
          if (argNode.type === 'number' || argNode.type === 'bool' || argNode.type === 'string') {
            if (e.expected.startsWith('[]')) {
              this.errorf(`can't handle ${nodeString(argNode)} for arg of type ${e.expected}`);
            }
            this.errorf(`expected ${e.expected}; found ${nodeString(argNode)}`);
          }
        }
        this.errorf(msg);
      }
      this.at(node);
      this.errorf(`error calling ${name}: ${msg}`);
    }
  }

  private evalArg(dot: unknown, n: ArgNode, raw = false): unknown {
    this.at(n);
    if (raw && (n.type === 'field' || (n.type === 'variable' && n.ident.length > 1))) {
      // The value of the last field, without calling it.
      const ident = n.type === 'field' ? n.ident : n.ident.slice(1);
      const recv0 = n.type === 'field' ? dot : this.varValue(n.ident[0]!);
      const recv = ident.slice(0, -1).reduce((r, name) => this.evalField(dot, name, n, [], MISSING, r), recv0);
      const last = ident[ident.length - 1]!;
      const holder = recv instanceof GoStructView ? recv.target : recv;
      if (holder !== null && typeof holder === 'object' && typeof (holder as Record<string, unknown>)[last] === 'function') {
        const f = (holder as Record<string, unknown>)[last] as TemplateFunc;
        return f.bind(holder);
      }
      return this.evalField(dot, last, n, [], MISSING, recv);
    }
    switch (n.type) {
      case 'dot':
        return dot;
      case 'nil':
        return null;
      case 'field':
        return this.evalFieldNode(dot, n, [n], MISSING);
      case 'variable':
        return this.evalVariableNode(dot, n, [], MISSING);
      case 'pipe':
        return this.evalPipeline(dot, n);
      case 'identifier':
        return this.evalFunction(dot, n, n, [n], MISSING);
      case 'chain':
        return this.evalChainNode(dot, n, [], MISSING);
      case 'bool':
        return n.value;
      case 'number':
        return n.value;
      case 'string':
        return n.text;
    }
  }
}

/** True if `name` is an own property or defined by a class (not inherited from Object.prototype). */
function isOwnOrClassMember(obj: object, name: string): boolean {
  for (let p: object | null = obj; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (Object.prototype.hasOwnProperty.call(p, name)) return true;
  }
  return false;
}

/** The methods of Go's time.Time that templates commonly use. */
function timeMethods(d: Date): Record<string, unknown> {
  const ms = d.getTime();
  return goStruct(
    {
      Unix: () => Math.floor(ms / 1000),
      UnixMilli: () => ms,
      UnixNano: () => BigInt(ms) * 1_000_000n,
      Year: () => d.getUTCFullYear(),
      YearDay: () => Math.floor((ms - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1,
      Day: () => d.getUTCDate(),
      Hour: () => d.getUTCHours(),
      Minute: () => d.getUTCMinutes(),
      Second: () => d.getUTCSeconds(),
      IsZero: () => ms === -62_135_596_800_000, // 0001-01-01T00:00:00Z
      String: () => goTimeString(d),
    },
    'time.Time',
  );
}

export function execute(ctx: ExecContext, root: ListNode, data: unknown): { output: string; error?: ExecError } {
  const s = new State(ctx, data);
  try {
    s.walk(data, root);
    return { output: s.out };
  } catch (e) {
    if (e instanceof ExecError) return { output: s.out, error: e };
    if (e instanceof BreakSignal || e instanceof ContinueSignal) return { output: s.out };
    throw e;
  }
}
