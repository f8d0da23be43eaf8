/**
 * Parser for Go text/template, producing a small AST. Structure and error
 * texts follow Go's text/template/parse/parse.go; `define`, `template` and
 * `block` are not supported.
 */

import { type Item, type ItemType, itemString, lex } from './lex.js';
import { makeNumber, unquote } from './literal.js';
import {
  nodeString, type ArgNode, type BranchNode, type BreakNode, type CommandNode, type ContinueNode, type ElseNode, type EndNode,
  type ListNode, type Node, type PipeNode,
} from './node.js';

/** Thrown for parse errors; `message` is Go's text, e.g. `template: :1: function "x" not defined`. */
export class ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParseError';
  }
}

// ---------------------------------------------------------------------------

interface ParseOptions {
  /** Names of functions that may be called (builtins included). */
  hasFunction: (name: string) => boolean;
}

class Parser {
  private items: Item[];
  private index = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  private actionLine = 0;
  private lastLine = 1;

  constructor(
    src: string,
    private readonly opts: ParseOptions,
  ) {
    this.items = lex(src);
  }

  // token access ---------------------------------------------------------
  private next(): Item {
    const it = this.items[Math.min(this.index, this.items.length - 1)]!;
    if (this.index < this.items.length) this.index++;
    this.lastLine = it.line;
    return it;
  }
  private backup(n = 1): void {
    this.index -= n;
  }
  private peek(): Item {
    return this.items[Math.min(this.index, this.items.length - 1)]!;
  }
  private nextNonSpace(): Item {
    let t: Item;
    do t = this.next();
    while (t.typ === 'space');
    return t;
  }
  private peekNonSpace(): Item {
    const t = this.nextNonSpace();
    this.backup();
    return t;
  }
  private expect(typ: ItemType, context: string): Item {
    const t = this.nextNonSpace();
    if (t.typ !== typ) this.unexpected(t, context);
    return t;
  }

  // errors ---------------------------------------------------------------
  private errorf(msg: string): never {
    throw new ParseError(`template: :${this.lastLine}: ${msg}`);
  }
  private unexpected(t: Item, context: string): never {
    if (t.typ === 'error') {
      let extra = '';
      if (this.actionLine !== 0 && this.actionLine !== t.line) {
        extra = ` in action started at :${this.actionLine}`;
        if (t.val.endsWith(' action')) extra = extra.slice(' in action'.length);
      }
      this.lastLine = t.line;
      this.errorf(t.val + extra);
    }
    this.errorf(`unexpected ${itemString(t)} in ${context}`);
  }

  // grammar --------------------------------------------------------------
  parse(): ListNode {
    const root: ListNode = { type: 'list', pos: 0, line: 1, nodes: [] };
    while (this.peek().typ !== 'eof') {
      if (this.peek().typ === 'error') this.unexpected(this.next(), 'input');
      const n = this.textOrAction();
      if (n.type === 'end' || n.type === 'else') this.errorf(`unexpected ${nodeString(n)}`);
      root.nodes.push(n);
    }
    return root;
  }

  private itemList(): { list: ListNode; next: EndNode | ElseNode } {
    const list: ListNode = { type: 'list', pos: this.peekNonSpace().pos, line: this.peek().line, nodes: [] };
    while (this.peekNonSpace().typ !== 'eof') {
      const n = this.textOrAction();
      if (n.type === 'end' || n.type === 'else') return { list, next: n };
      list.nodes.push(n);
    }
    this.errorf('unexpected EOF');
  }

  private textOrAction(): Node | EndNode | ElseNode {
    const t = this.nextNonSpace();
    switch (t.typ) {
      case 'text':
        return { type: 'text', pos: t.pos, line: t.line, text: t.val };
      case 'leftDelim': {
        this.actionLine = t.line;
        try {
          return this.action();
        } finally {
          this.actionLine = 0;
        }
      }
      default:
        this.unexpected(t, 'input');
    }
  }

  private action(): Node | EndNode | ElseNode {
    const t = this.nextNonSpace();
    switch (t.typ) {
      case 'block':
      case 'define':
      case 'template':
        this.errorf(`{{${t.val}}} is not supported`);
      // eslint-disable-next-line no-fallthrough
      case 'break':
        return this.breakControl(t, 'break');
      case 'continue':
        return this.breakControl(t, 'continue');
      case 'else':
        return this.elseControl(t);
      case 'end':
        return { type: 'end', pos: this.expect('rightDelim', 'end').pos, line: t.line };
      case 'if':
        return this.control('if', t);
      case 'range':
        return this.control('range', t);
      case 'with':
        return this.control('with', t);
    }
    this.backup();
    const first = this.peek();
    return { type: 'action', pos: first.pos, line: first.line, pipe: this.pipeline('command', 'rightDelim') };
  }

  private breakControl(t: Item, kind: 'break' | 'continue'): BreakNode | ContinueNode {
    const n = this.nextNonSpace();
    if (n.typ !== 'rightDelim') this.unexpected(n, `{{${kind}}}`);
    if (this.rangeDepth === 0) this.errorf(`{{${kind}}} outside {{range}}`);
    return { type: kind, pos: t.pos, line: t.line };
  }

  private elseControl(t: Item): ElseNode {
    const p = this.peekNonSpace();
    if (p.typ === 'if' || p.typ === 'with') return { type: 'else', pos: p.pos, line: p.line };
    const r = this.expect('rightDelim', 'else');
    return { type: 'else', pos: r.pos, line: t.line };
  }

  private control(kind: 'if' | 'range' | 'with', t: Item): BranchNode {
    const mark = this.vars.length;
    try {
      const pipe = this.pipeline(kind, 'rightDelim');
      if (kind === 'range') this.rangeDepth++;
      let r: { list: ListNode; next: EndNode | ElseNode };
      try {
        r = this.itemList();
      } finally {
        if (kind === 'range') this.rangeDepth--;
      }
      let elseList: ListNode | null = null;
      if (r.next.type === 'else') {
        const p = this.peek();
        if ((kind === 'if' && p.typ === 'if') || (kind === 'with' && p.typ === 'with')) {
          // {{else if ...}} / {{else with ...}}: shorthand for a nested branch; one {{end}} closes both.
          const t2 = this.next();
          elseList = { type: 'list', pos: r.next.pos, line: r.next.line, nodes: [this.control(kind, t2)] };
        } else {
          const e = this.itemList();
          if (e.next.type !== 'end') this.errorf(`expected end; found ${nodeString(e.next)}`);
          elseList = e.list;
        }
      }
      return { type: kind, pos: pipe.pos, line: t.line, pipe, list: r.list, elseList };
    } finally {
      this.vars.length = mark;
    }
  }

  private pipeline(context: string, end: 'rightDelim' | 'rightParen'): PipeNode {
    const first = this.peekNonSpace();
    const pipe: PipeNode = { type: 'pipe', pos: first.pos, line: first.line, isAssign: false, decl: [], cmds: [] };
    // Declarations: $x := / $x = / $i, $v :=
    decls: for (;;) {
      const v = this.peekNonSpace();
      if (v.typ !== 'variable') break;
      const vIndex = this.index;
      this.next();
      const nxt = this.peekNonSpace();
      if (nxt.typ === 'assign' || nxt.typ === 'declare') {
        pipe.isAssign = nxt.typ === 'assign';
        this.nextNonSpace();
        pipe.decl.push({ type: 'variable', pos: v.pos, line: v.line, ident: [v.val] });
        this.vars.push(v.val);
        break;
      }
      if (nxt.typ === 'char' && nxt.val === ',') {
        this.nextNonSpace();
        pipe.decl.push({ type: 'variable', pos: v.pos, line: v.line, ident: [v.val] });
        this.vars.push(v.val);
        if (context === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace().typ;
          if (p === 'variable' || p === 'rightDelim' || p === 'rightParen') continue decls;
          this.errorf('range can only initialize variables');
        }
        this.errorf(`too many declarations in ${context}`);
      }
      // Not a declaration: put the variable (and any space) back.
      this.index = vIndex;
      break;
    }
    for (;;) {
      const t = this.nextNonSpace();
      if (t.typ === end) {
        this.checkPipeline(pipe, context);
        return pipe;
      }
      switch (t.typ) {
        case 'bool':
        case 'charConstant':
        case 'dot':
        case 'field':
        case 'identifier':
        case 'number':
        case 'nil':
        case 'rawString':
        case 'string':
        case 'variable':
        case 'leftParen':
          this.backup();
          pipe.cmds.push(this.command());
          break;
        default:
          this.unexpected(t, context);
      }
    }
  }

  private checkPipeline(pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`);
    pipe.cmds.slice(1).forEach((c, i) => {
      const t = c.args[0]!.type;
      if (t === 'bool' || t === 'dot' || t === 'nil' || t === 'number' || t === 'string') {
        this.errorf(`non executable command in pipeline stage ${i + 2}`);
      }
    });
  }

  private command(): CommandNode {
    const first = this.peekNonSpace();
    const cmd: CommandNode = { type: 'command', pos: first.pos, line: first.line, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) cmd.args.push(operand);
      const t = this.next();
      if (t.typ === 'space') continue;
      if (t.typ === 'rightDelim' || t.typ === 'rightParen') this.backup();
      else if (t.typ !== 'pipe') this.unexpected(t, 'operand');
      break;
    }
    if (cmd.args.length === 0) this.errorf('empty command');
    return cmd;
  }

  private operand(): ArgNode | null {
    const node = this.term();
    if (!node) return null;
    if (this.peek().typ === 'field') {
      const chainPos = this.peek().pos;
      const fields: string[] = [];
      while (this.peek().typ === 'field') fields.push(this.next().val.slice(1));
      switch (node.type) {
        case 'field':
          return { type: 'field', pos: chainPos, line: node.line, ident: [...node.ident, ...fields] };
        case 'variable':
          return { type: 'variable', pos: chainPos, line: node.line, ident: [...node.ident, ...fields] };
        case 'bool':
        case 'string':
        case 'number':
        case 'nil':
        case 'dot':
          this.errorf(`unexpected . after term ${JSON.stringify(nodeString(node))}`);
        // eslint-disable-next-line no-fallthrough
        default:
          return { type: 'chain', pos: chainPos, line: node.line, node, field: fields };
      }
    }
    return node;
  }

  private term(): ArgNode | null {
    const t = this.nextNonSpace();
    const base = { pos: t.pos, line: t.line };
    switch (t.typ) {
      case 'identifier':
        if (!this.opts.hasFunction(t.val)) this.errorf(`function ${JSON.stringify(t.val)} not defined`);
        return { type: 'identifier', ...base, name: t.val };
      case 'dot':
        return { type: 'dot', ...base };
      case 'nil':
        return { type: 'nil', ...base };
      case 'variable': {
        const ident = t.val.split('.');
        if (!this.vars.includes(ident[0]!)) this.errorf(`undefined variable ${JSON.stringify(ident[0])}`);
        return { type: 'variable', ...base, ident };
      }
      case 'field':
        return { type: 'field', ...base, ident: [t.val.slice(1)] };
      case 'bool':
        return { type: 'bool', ...base, value: t.val === 'true' };
      case 'charConstant':
      case 'number':
        try {
          return { type: 'number', ...base, text: t.val, value: makeNumber(t.val, t.typ === 'charConstant') };
        } catch (e) {
          this.errorf((e as Error).message);
        }
      // eslint-disable-next-line no-fallthrough
      case 'leftParen':
        return this.pipeline('parenthesized pipeline', 'rightParen');
      case 'string':
      case 'rawString':
        try {
          return { type: 'string', ...base, quoted: t.val, text: unquote(t.val) };
        } catch {
          this.errorf('invalid syntax');
        }
    }
    this.backup();
    return null;
  }
}

/** Parses template source into an AST; throws `ParseError` with Go's message. */
export function parse(src: string, opts: ParseOptions): ListNode {
  return new Parser(src, opts).parse();
}
