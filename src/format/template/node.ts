/** The template AST (Go's text/template/parse node.go) and its printed form. */

interface NodeBase {
  pos: number;
  line: number;
}

interface TextNode extends NodeBase {
  type: 'text';
  text: string;
}
export interface FieldNode extends NodeBase {
  type: 'field';
  ident: string[];
}
export interface VariableNode extends NodeBase {
  type: 'variable';
  ident: string[];
}
export interface ChainNode extends NodeBase {
  type: 'chain';
  node: ArgNode;
  field: string[];
}
export interface IdentifierNode extends NodeBase {
  type: 'identifier';
  name: string;
}
interface DotNode extends NodeBase {
  type: 'dot';
}
interface NilNode extends NodeBase {
  type: 'nil';
}
interface BoolNode extends NodeBase {
  type: 'bool';
  value: boolean;
}
interface NumberNode extends NodeBase {
  type: 'number';
  text: string;
  value: number | bigint;
}
interface StringNode extends NodeBase {
  type: 'string';
  quoted: string;
  text: string;
}
export interface CommandNode extends NodeBase {
  type: 'command';
  args: ArgNode[];
}
export interface PipeNode extends NodeBase {
  type: 'pipe';
  isAssign: boolean;
  decl: VariableNode[];
  cmds: CommandNode[];
}
interface ActionNode extends NodeBase {
  type: 'action';
  pipe: PipeNode;
}
export interface BranchNode extends NodeBase {
  type: 'if' | 'range' | 'with';
  pipe: PipeNode;
  list: ListNode;
  elseList: ListNode | null;
}
export interface BreakNode extends NodeBase {
  type: 'break';
}
export interface ContinueNode extends NodeBase {
  type: 'continue';
}
export interface ListNode extends NodeBase {
  type: 'list';
  nodes: Node[];
}
export interface EndNode extends NodeBase {
  type: 'end';
}
export interface ElseNode extends NodeBase {
  type: 'else';
}

export type ArgNode =
  | FieldNode
  | VariableNode
  | ChainNode
  | IdentifierNode
  | DotNode
  | NilNode
  | BoolNode
  | NumberNode
  | StringNode
  | PipeNode;

export type Node =
  | TextNode
  | ActionNode
  | BranchNode
  | BreakNode
  | ContinueNode
  | ListNode
  | CommandNode
  | ArgNode;

/** Go's `Node.String()`: the node printed back as template source. */
export function nodeString(n: Node | EndNode | ElseNode): string {
  switch (n.type) {
    case 'text':
      return JSON.stringify(n.text);
    case 'field':
      return '.' + n.ident.join('.');
    case 'variable':
      return n.ident.join('.');
    case 'chain': {
      const inner = n.node.type === 'pipe' ? '(' + nodeString(n.node) + ')' : nodeString(n.node);
      return inner + '.' + n.field.join('.');
    }
    case 'identifier':
      return n.name;
    case 'dot':
      return '.';
    case 'nil':
      return 'nil';
    case 'bool':
      return String(n.value);
    case 'number':
      return n.text;
    case 'string':
      return n.quoted;
    case 'command':
      return n.args.map((a) => (a.type === 'pipe' ? '(' + nodeString(a) + ')' : nodeString(a))).join(' ');
    case 'pipe': {
      let s = '';
      if (n.decl.length > 0) {
        s = n.decl.map((v) => nodeString(v)).join(', ') + (n.isAssign ? ' = ' : ' := ');
      }
      return s + n.cmds.map((c) => nodeString(c)).join(' | ');
    }
    case 'action':
      return '{{' + nodeString(n.pipe) + '}}';
    case 'if':
    case 'range':
    case 'with': {
      let s = `{{${n.type} ${nodeString(n.pipe)}}}${nodeString(n.list)}`;
      if (n.elseList) s += '{{else}}' + nodeString(n.elseList);
      return s + '{{end}}';
    }
    case 'break':
      return '{{break}}';
    case 'continue':
      return '{{continue}}';
    case 'list':
      return n.nodes.map((c) => nodeString(c)).join('');
    case 'end':
      return '{{end}}';
    case 'else':
      return '{{else}}';
  }
}
