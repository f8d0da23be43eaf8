import { test } from 'node:test';
import assert from 'node:assert/strict';

import { TabFlags, TabWriter, tabwrite, type TabWriterOptions } from '../../src/format/index.js';

const { AlignRight, Debug, DiscardEmptyColumns } = TabFlags;

// [name, minwidth, tabwidth, padding, padchar, flags, input, expected]:
// cases from Go's text/tabwriter tests (those not using escapes or HTML filtering).
type Case = [string, number, number, number, string, number, string, string];
const goCases: Case[] = [
  ['empty', 8, 0, 1, '.', 0, '', ''],
  ['newlines only', 8, 0, 1, '.', 0, '\n\n\n', '\n\n\n'],
  ['no tabs', 8, 0, 1, '.', 0, 'a\nb\nc', 'a\nb\nc'],
  ['lone tab on last line', 8, 0, 1, '.', 0, '\t', ''],
  ['lone tab, right aligned', 8, 0, 1, '.', AlignRight, '\t', ''],
  ['one column', 8, 0, 1, '.', 0, '*\t*', '*.......*'],
  ['one column + newline', 8, 0, 1, '.', 0, '*\t*\n', '*.......*\n'],
  ['trailing tab', 8, 0, 1, '.', 0, '*\t*\t', '*.......*'],
  ['trailing tab, debug', 8, 0, 1, '.', Debug, '*\t*\t', '*.......|*'],
  ['trailing tab, right aligned', 8, 0, 1, '.', AlignRight, '*\t*\t', '.......**'],
  ['empty cell then newline', 8, 0, 1, '.', 0, '\t\n', '........\n'],
  ['7a', 8, 0, 1, '.', 0, 'a) foo', 'a) foo'],
  ['7b', 8, 0, 1, ' ', 0, 'b) foo\tbar', 'b) foo  bar'],
  ['7c', 8, 0, 1, '.', 0, 'c) foo\tbar\t', 'c) foo..bar'],
  ['7d', 8, 0, 1, '.', 0, 'd) foo\tbar\n', 'd) foo..bar\n'],
  ['7e', 8, 0, 1, '.', 0, 'e) foo\tbar\t\n', 'e) foo..bar.....\n'],
  ['8', 8, 0, 1, '*', 0, 'Hello, world!\n', 'Hello, world!\n'],
  ['9a', 1, 0, 0, '.', 0, '1\t2\t3\t4\n11\t222\t3333\t44444\n', '1.2..3...4\n11222333344444\n'],
  ['9c formfeed flushes', 1, 0, 0, '.', 0, '1\t2\t3\t4\f11\t222\t3333\t44444\n', '1234\n11222333344444\n'],
  ['9c debug', 1, 0, 0, '.', Debug, '1\t2\t3\t4\f11\t222\t3333\t44444\n', '1|2|3|4\n---\n11|222|3333|44444\n'],
  ['10a', 5, 0, 0, '.', 0, '1\t2\t3\t4\n', '1....2....3....4\n'],
  ['10b', 5, 0, 0, '.', 0, '1\t2\t3\t4\t\n', '1....2....3....4....\n'],
  [
    '11 runes',
    8, 0, 1, '.', 0,
    '本\tb\tc\naa\t本本本\tcccc\tddddd\naaa\tbbbb\n',
    '本.......b.......c\naa......本本本.....cccc....ddddd\naaa.....bbbb\n',
  ],
  [
    '12a right aligned',
    8, 0, 1, ' ', AlignRight,
    'a\tè\tc\t\naa\tèèè\tcccc\tddddd\t\naaa\tèèèè\t\n',
    '       a       è       c\n      aa     èèè    cccc   ddddd\n     aaa    èèèè\n',
  ],
  ['12b', 2, 0, 0, ' ', 0, 'a\tb\tc\naa\tbbb\tcccc\naaa\tbbbb\n', 'a  b  c\naa bbbcccc\naaabbbb\n'],
  [
    '12c',
    8, 0, 1, '_', 0,
    'a\tb\tc\naa\tbbb\tcccc\naaa\tbbbb\n',
    'a_______b_______c\naa______bbb_____cccc\naaa_____bbbb\n',
  ],
  [
    '13a column blocks',
    4, 0, 1, '-', 0,
    '4444\t日本語\t22\t1\t333\n999999999\t22\n7\t22\n\t\t\t88888888\n\n666666\t666666\t666666\t4444\n1\t1\t999999999\t0000000000\n',
    '4444------日本語-22--1---333\n999999999-22\n7---------22\n------------------88888888\n\n666666-666666-666666----4444\n1------1------999999999-0000000000\n',
  ],
  [
    '13b',
    4, 0, 3, '.', 0,
    '4444\t333\t22\t1\t333\n999999999\t22\n7\t22\n\t\t\t88888888\n\n666666\t666666\t666666\t4444\n1\t1\t999999999\t0000000000\n',
    '4444........333...22...1...333\n999999999...22\n7...........22\n....................88888888\n\n666666...666666...666666......4444\n1........1........999999999...0000000000\n',
  ],
  [
    '14 numbers right aligned',
    1, 0, 2, ' ', AlignRight,
    '.0\t.3\t2.4\t-5.1\t\n23.0\t12345678.9\t2.4\t-989.4\t\n5.1\t12.0\t2.4\t-7.0\t\n.0\t0.0\t332.0\t8908.0\t\n.0\t-.3\t456.4\t22.1\t\n.0\t1.2\t44.4\t-13.3\t\t',
    '    .0          .3    2.4    -5.1\n  23.0  12345678.9    2.4  -989.4\n   5.1        12.0    2.4    -7.0\n    .0         0.0  332.0  8908.0\n    .0         -.3  456.4    22.1\n    .0         1.2   44.4   -13.3',
  ],
  ['15a', 4, 0, 0, '.', 0, 'a\t\tb', 'a.......b'],
  ['15b hard tabs are kept', 4, 0, 0, '.', DiscardEmptyColumns, 'a\t\tb', 'a.......b'],
  ['15c soft tabs discarded', 4, 0, 0, '.', DiscardEmptyColumns, 'a\v\vb', 'a...b'],
  ['15d', 4, 0, 0, '.', AlignRight | DiscardEmptyColumns, 'a\v\vb', '...ab'],
  [
    '16a tab padding',
    100, 100, 0, '\t', 0,
    'a\tb\t\td\na\tb\t\td\te\na\na\tb\tc\td\na\tb\tc\td\te\n',
    'a\tb\t\td\na\tb\t\td\te\na\na\tb\tc\td\na\tb\tc\td\te\n',
  ],
  [
    '16b discard soft',
    100, 100, 0, '\t', DiscardEmptyColumns,
    'a\vb\v\vd\na\vb\v\vd\ve\na\na\vb\vc\vd\na\vb\vc\vd\ve\n',
    'a\tb\td\na\tb\td\te\na\na\tb\tc\td\na\tb\tc\td\te\n',
  ],
  [
    '16c debug',
    100, 100, 0, '\t', DiscardEmptyColumns | Debug,
    'a\tb\t\td\na\tb\t\td\te\na\na\tb\tc\td\na\tb\tc\td\te\n',
    'a\t|b\t|\t|d\na\t|b\t|\t|d\t|e\na\na\t|b\t|c\t|d\na\t|b\t|c\t|d\t|e\n',
  ],
];

for (const [name, minwidth, tabwidth, padding, padchar, flags, input, expected] of goCases) {
  const opts: TabWriterOptions = { minwidth, tabwidth, padding, padchar, flags, width: 'runes' };
  test(`tabwriter (Go case ${name}): all at once`, () => {
    assert.equal(tabwrite(input, opts), expected);
  });
  test(`tabwriter (Go case ${name}): one character at a time, streamed`, () => {
    let out = '';
    const w = new TabWriter(opts, (s) => (out += s));
    for (const ch of input) w.write(ch);
    w.flush();
    assert.equal(out, expected);
  });
}

test('tabwriter: docker table defaults (min width 10, padding 3)', () => {
  const out = tabwrite('REPOSITORY\tTAG\tIMAGE ID\nbusybox\tlatest\t2327773b64dd\nsem-committed\tv1\tc23f089fb5f9\n');
  assert.equal(
    out,
    'REPOSITORY      TAG       IMAGE ID\n' +
      'busybox         latest    2327773b64dd\n' +
      'sem-committed   v1        c23f089fb5f9\n',
  );
});

test('tabwriter: empty last column leaves trailing padding', () => {
  const out = tabwrite('SIZE\tCOMMENT\n6B\tchild commit\n73B\t\n');
  assert.equal(out, 'SIZE      COMMENT\n6B        child commit\n73B       \n');
});

test('tabwriter: display width counts East Asian wide characters as 2 (docker CLI fork)', () => {
  const out = tabwrite('A\tB\n世界\tx\nabcd\ty\n', { minwidth: 0, padding: 1 });
  assert.equal(out, 'A    B\n世界 x\nabcd y\n');
  const runes = tabwrite('A\tB\n世界\tx\nabcd\ty\n', { minwidth: 0, padding: 1, width: 'runes' });
  assert.equal(runes, 'A    B\n世界   x\nabcd y\n');
});

test('tabwriter: output arrives early when a line has no tabs', () => {
  const chunks: string[] = [];
  const w = new TabWriter({}, (s) => chunks.push(s));
  w.write('a\tb\n');
  assert.deepEqual(chunks, []);
  w.write('plain line\n');
  assert.equal(chunks.join(''), 'a         b\nplain line\n');
  w.write('x\ty\n');
  w.flush();
  assert.equal(chunks.join(''), 'a         b\nplain line\nx         y\n');
});
