/**
 * Go text/template for docker's `--format`, with the docker CLI's extra
 * functions (json, join, split, lower, upper, title, pad, truncate).
 *
 * Supported: text and actions, `{{- -}}` trim markers, comments, field chains
 * (`.A.B`, `$x.A`, `(pipeline).A`), map keys as fields, variables (`$`,
 * `$x := …`, `$x = …`), pipelines, parenthesized pipelines,
 * `if/else if/else/end`, `range` (slices, maps in key order, ints; `$i, $v :=`;
 * `else`; `break`/`continue`), `with/else with/else`, literals (strings, raw
 * strings, chars, numbers, booleans, nil), function-valued fields called like
 * methods (with arguments: `{{.Label "com.x"}}`), and Go's builtins
 * (and or not len index slice eq ne lt le gt ge print printf println html js
 * urlquery call). `define`, `template` and `block` are not supported.
 *
 * Errors carry Go's texts behind docker's `template parsing error: ` prefix,
 * e.g. `template parsing error: template: :1: function "nosuch" not defined`
 * or `template parsing error: template: :1:2: executing "" at <.Nosuch>:
 * can't evaluate field Nosuch in type *formatter.imageContext`.
 */

import { StrataError } from '../base/errors.js';
import { execute, type ExecContext } from './template/exec.js';
import { builtinFuncs, dockerFuncs, type FuncMap } from './template/funcs.js';
import { ParseError, parse } from './template/parse.js';
import type { ListNode } from './template/node.js';

/** A template error. `message` is what docker prints; `detail` is Go's own text. */
export class TemplateError extends StrataError {
  readonly detail: string;
  constructor(detail: string) {
    super('invalid_argument', `template parsing error: ${detail}`);
    this.name = 'TemplateError';
    this.detail = detail;
  }
}

interface ParseTemplateOptions {
  /** Extra functions (they may also override the builtins or docker's functions). */
  funcs?: FuncMap;
}

interface ExecuteResult {
  output: string;
  /** Set when execution stopped early; `output` then holds what was written before. */
  error?: TemplateError;
}

class Template {
  private readonly funcs: FuncMap;

  /** @internal use parseTemplate */
  constructor(
    readonly source: string,
    private readonly root: ListNode,
    funcs: FuncMap,
  ) {
    this.funcs = funcs;
  }

  /**
   * Runs the template over `data`. `funcs` adds or overrides functions for this
   * run (names must already have been known when parsing). Throws TemplateError.
   */
  execute(data: unknown, funcs?: FuncMap): string {
    const r = this.tryExecute(data, funcs);
    if (r.error) throw r.error;
    return r.output;
  }

  /** Like `execute`, but returns partial output together with the error instead of throwing. */
  tryExecute(data: unknown, funcs?: FuncMap): ExecuteResult {
    const all = funcs ? { ...this.funcs, ...funcs } : this.funcs;
    const ctx: ExecContext = {
      src: this.source,
      funcs: all,
      builtinAndOr: { and: all.and === builtinFuncs.and, or: all.or === builtinFuncs.or },
    };
    const r = execute(ctx, this.root, data);
    return r.error ? { output: r.output, error: new TemplateError(r.error.message) } : { output: r.output };
  }
}

/** Parses a Go template. Throws TemplateError (`invalid_argument`) on syntax errors. */
export function parseTemplate(src: string, opts: ParseTemplateOptions = {}): Template {
  const funcs: FuncMap = { ...builtinFuncs, ...dockerFuncs, ...(opts.funcs ?? {}) };
  try {
    const root = parse(src, { hasFunction: (name) => Object.prototype.hasOwnProperty.call(funcs, name) });
    return new Template(src, root, funcs);
  } catch (e) {
    if (e instanceof ParseError) throw new TemplateError(e.message);
    throw e;
  }
}

/** Parses and runs a template in one step. */
export function renderTemplate(src: string, data: unknown, opts: ParseTemplateOptions = {}): string {
  return parseTemplate(src, opts).execute(data);
}
