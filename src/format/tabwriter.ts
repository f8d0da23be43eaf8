/**
 * Elastic tabstops, as Go's text/tabwriter implements them (and the docker
 * CLI's fork of it, which measures cells in display columns instead of runes).
 *
 * Input is text whose cells are terminated by `\t` (or `\v`); lines end with
 * `\n` (or `\f`, which also ends all columns). Tab-terminated cells in
 * contiguous lines form a column; the text after the last tab of a line is not
 * part of any column. A column is as wide as its widest cell plus `padding`,
 * and at least `minwidth`. Cells are padded with `padchar`, including empty
 * cells; the last cell of a line is never padded.
 *
 * The docker CLI prints tables with minwidth 10, tabwidth 1, padding 3,
 * padchar ' ' and no flags — `DOCKER_TABLE` below.
 */

import { runeCount, stringWidth } from './width.js';

// Go's FilterHTML (1) and StripEscape (2) are not offered: nothing Docker prints uses them.
export const TabFlags = {
  /** Right-align cell content. */
  AlignRight: 4,
  /** Treat columns made only of empty `\v`-terminated cells as absent. */
  DiscardEmptyColumns: 8,
  /** Always pad leading empty cells with tabs. */
  TabIndent: 16,
  /** Print a `|` between columns. */
  Debug: 32,
} as const;

export interface TabWriterOptions {
  /** Minimal cell width including padding. Default 10 (docker's). */
  minwidth?: number;
  /** Width of a tab when padding with tabs. Default 1. */
  tabwidth?: number;
  /** Padding added to a cell's width. Default 3. */
  padding?: number;
  /** Padding character. Default ' '. */
  padchar?: string;
  /** Bitwise OR of TabFlags. Default 0. */
  flags?: number;
  /**
   * How cell widths are measured: 'display' (the docker CLI's fork: East
   * Asian wide characters count 2, combining marks 0) or 'runes' (Go's
   * text/tabwriter). Default 'display'.
   */
  width?: 'display' | 'runes';
}

/** The docker CLI's table settings: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`. */
const DOCKER_TABLE: Required<Omit<TabWriterOptions, 'width'>> = {
  minwidth: 10,
  tabwidth: 1,
  padding: 3,
  padchar: ' ',
  flags: 0,
};

interface Cell {
  text: string;
  width: number;
  htab: boolean;
}

export class TabWriter {
  private readonly minwidth: number;
  private readonly tabwidth: number;
  private readonly padding: number;
  private readonly padchar: string;
  private readonly flags: number;
  private readonly measure: (s: string) => number;

  private lines: Cell[][] = [[]];
  private cell = '';
  private widths: number[] = [];
  private out = '';

  /** `sink` receives output as it becomes final; without it, output accumulates for `flush()`/`take()`. */
  constructor(
    opts: TabWriterOptions = {},
    private readonly sink?: (chunk: string) => void,
  ) {
    this.minwidth = opts.minwidth ?? DOCKER_TABLE.minwidth;
    this.tabwidth = opts.tabwidth ?? DOCKER_TABLE.tabwidth;
    this.padding = opts.padding ?? DOCKER_TABLE.padding;
    this.padchar = (opts.padchar ?? DOCKER_TABLE.padchar)[0] ?? ' ';
    let flags = opts.flags ?? 0;
    if (this.padchar === '\t') flags &= ~TabFlags.AlignRight; // tab padding enforces left-alignment
    this.flags = flags;
    this.measure = opts.width === 'runes' ? runeCount : stringWidth;
    if (this.minwidth < 0 || this.tabwidth < 0 || this.padding < 0) {
      throw new RangeError('negative minwidth, tabwidth, or padding');
    }
  }

  /** Adds text. Lines are buffered until their column block is complete. */
  write(text: string): this {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 9 || ch === 11 || ch === 10 || ch === 12) {
        this.cell += text.slice(start, i);
        start = i + 1;
        const ncells = this.terminateCell(ch === 9);
        if (ch === 10 || ch === 12) {
          this.lines.push([]);
          // A line with one cell cannot affect later lines' columns, so
          // everything so far can be formatted; '\f' always flushes.
          if (ch === 12 || ncells === 1) this.flushInternal();
          if (ch === 12 && this.flags & TabFlags.Debug) this.emit('---\n');
        }
      }
    }
    this.cell += text.slice(start);
    return this;
  }

  /** Formats everything buffered. Returns the output accumulated since the last take (without a sink). */
  flush(): string {
    this.flushInternal();
    return this.take();
  }

  /** Returns and clears the output accumulated so far (when no sink was given). */
  take(): string {
    const s = this.out;
    this.out = '';
    return s;
  }

  private emit(s: string): void {
    if (s === '') return;
    if (this.sink) this.sink(s);
    else this.out += s;
  }

  private terminateCell(htab: boolean): number {
    const line = this.lines[this.lines.length - 1]!;
    line.push({ text: this.cell, width: this.measure(this.cell), htab });
    this.cell = '';
    return line.length;
  }

  private flushInternal(): void {
    if (this.cell.length > 0) this.terminateCell(false);
    this.format(0, this.lines.length);
    this.lines = [[]];
    this.widths = [];
    this.cell = '';
  }

  private padding_(textw: number, cellw: number, useTabs: boolean): string {
    if (this.padchar === '\t' || useTabs) {
      if (this.tabwidth === 0) return '';
      cellw = Math.ceil(cellw / this.tabwidth) * this.tabwidth;
      const n = cellw - textw;
      return '\t'.repeat(Math.ceil(n / this.tabwidth));
    }
    return this.padchar.repeat(Math.max(cellw - textw, 0));
  }

  private writeLines(line0: number, line1: number): void {
    for (let i = line0; i < line1; i++) {
      const line = this.lines[i]!;
      let useTabs = (this.flags & TabFlags.TabIndent) !== 0;
      let s = '';
      line.forEach((c, j) => {
        if (j > 0 && this.flags & TabFlags.Debug) s += '|';
        if (c.text.length === 0) {
          if (j < this.widths.length) s += this.padding_(c.width, this.widths[j]!, useTabs);
        } else {
          useTabs = false;
          if ((this.flags & TabFlags.AlignRight) === 0) {
            s += c.text;
            if (j < this.widths.length) s += this.padding_(c.width, this.widths[j]!, false);
          } else {
            if (j < this.widths.length) s += this.padding_(c.width, this.widths[j]!, false);
            s += c.text;
          }
        }
      });
      // The last buffered line has no newline yet (its text, if any, was
      // terminated as a cell by flush).
      if (i + 1 < this.lines.length) s += '\n';
      this.emit(s);
    }
  }

  private format(line0: number, line1: number): void {
    const column = this.widths.length;
    for (let t = line0; t < line1; t++) {
      if (column >= this.lines[t]!.length - 1) continue;
      // This line has a cell in this column: a column block starts here.
      this.writeLines(line0, t);
      line0 = t;
      let width = this.minwidth;
      let discardable = true;
      for (; t < line1; t++) {
        const line = this.lines[t]!;
        if (column >= line.length - 1) break;
        const c = line[column]!;
        const w = c.width + this.padding;
        if (w > width) width = w;
        if (c.width > 0 || c.htab) discardable = false;
      }
      if (discardable && this.flags & TabFlags.DiscardEmptyColumns) width = 0;
      this.widths.push(width);
      this.format(line0, t);
      this.widths.pop();
      line0 = t;
    }
    this.writeLines(line0, line1);
  }
}

/** Formats `text` through a tabwriter in one go (docker's table settings unless overridden). */
export function tabwrite(text: string, opts: TabWriterOptions = {}): string {
  return new TabWriter(opts).write(text).flush();
}
