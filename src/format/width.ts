/**
 * Character display widths, as the docker CLI measures them.
 *
 * Two slightly different measures are in use there, and we keep both:
 *
 * - `stringWidth` follows mattn/go-runewidth, which the CLI's forked tabwriter
 *   uses to size table cells: control and combining characters are 0 columns,
 *   East Asian Wide/Fullwidth characters and emoji are 2, everything else 1.
 *   Grapheme clusters count once (the width of their first non-zero rune).
 * - `charWidthEA` follows golang.org/x/text/width as used by the CLI's
 *   `Ellipsis` helper: Wide/Fullwidth is 2, everything else (even combining
 *   marks) is 1.
 *
 * The East Asian table below is the list of W/F blocks, simplified into ranges;
 * emoji are caught by the Emoji_Presentation property instead of a table.
 */

// [start, end] inclusive, sorted.
const WIDE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x23f0, 0x23f0],
  [0x23f3, 0x23f3],
  [0x25fd, 0x25fe],
  [0x2614, 0x2615],
  [0x2648, 0x2653],
  [0x267f, 0x267f],
  [0x2693, 0x2693],
  [0x26a1, 0x26a1],
  [0x26aa, 0x26ab],
  [0x26bd, 0x26be],
  [0x26c4, 0x26c5],
  [0x26ce, 0x26ce],
  [0x26d4, 0x26d4],
  [0x26ea, 0x26ea],
  [0x26f2, 0x26f3],
  [0x26f5, 0x26f5],
  [0x26fa, 0x26fa],
  [0x26fd, 0x26fd],
  [0x2705, 0x2705],
  [0x270a, 0x270b],
  [0x2728, 0x2728],
  [0x274c, 0x274c],
  [0x274e, 0x274e],
  [0x2753, 0x2755],
  [0x2757, 0x2757],
  [0x2795, 0x2797],
  [0x27b0, 0x27b0],
  [0x27bf, 0x27bf],
  [0x2b1b, 0x2b1c],
  [0x2b50, 0x2b50],
  [0x2b55, 0x2b55],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff],
  [0x1b000, 0x1b2ff],
  [0x1f004, 0x1f004],
  [0x1f0cf, 0x1f0cf],
  [0x1f18e, 0x1f18e],
  [0x1f191, 0x1f19a],
  [0x1f200, 0x1f202],
  [0x1f210, 0x1f23b],
  [0x1f240, 0x1f248],
  [0x1f250, 0x1f251],
  [0x1f260, 0x1f265],
  [0x1f300, 0x1f320],
  [0x1f32d, 0x1f335],
  [0x1f337, 0x1f37c],
  [0x1f37e, 0x1f393],
  [0x1f3a0, 0x1f3ca],
  [0x1f3cf, 0x1f3d3],
  [0x1f3e0, 0x1f3f0],
  [0x1f3f4, 0x1f3f4],
  [0x1f3f8, 0x1f43e],
  [0x1f440, 0x1f440],
  [0x1f442, 0x1f4fc],
  [0x1f4ff, 0x1f53d],
  [0x1f54b, 0x1f54e],
  [0x1f550, 0x1f567],
  [0x1f57a, 0x1f57a],
  [0x1f595, 0x1f596],
  [0x1f5a4, 0x1f5a4],
  [0x1f5fb, 0x1f64f],
  [0x1f680, 0x1f6c5],
  [0x1f6cc, 0x1f6cc],
  [0x1f6d0, 0x1f6d2],
  [0x1f6d5, 0x1f6d7],
  [0x1f6dc, 0x1f6df],
  [0x1f6eb, 0x1f6ec],
  [0x1f6f4, 0x1f6fc],
  [0x1f7e0, 0x1f7eb],
  [0x1f7f0, 0x1f7f0],
  [0x1f90c, 0x1f93a],
  [0x1f93c, 0x1f945],
  [0x1f947, 0x1f9ff],
  [0x1fa70, 0x1faff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

// built on first use: esbuild writes this one as `new RegExp(...)`, which compiles its Unicode set at start-up (~0.7 ms)
let emojiPresentation: RegExp | undefined;
let zeroWidth: RegExp | undefined; // (made on first use, as emojiPresentation)

function inWideTable(cp: number): boolean {
  let lo = 0;
  let hi = WIDE_RANGES.length - 1;
  if (cp < WIDE_RANGES[0]![0] || cp > WIDE_RANGES[hi]![1]) return false;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [s, e] = WIDE_RANGES[mid]!;
    if (cp < s) hi = mid - 1;
    else if (cp > e) lo = mid + 1;
    else return true;
  }
  return false;
}

/** True for East Asian Wide/Fullwidth code points (including emoji presentation). */
function isWide(cp: number): boolean {
  if (cp < 0x1100) return false;
  if (inWideTable(cp)) return true;
  return cp >= 0x2000 && (emojiPresentation ??= /\p{Emoji_Presentation}/u).test(String.fromCodePoint(cp));
}

/** Width of one code point in the go-runewidth sense (0, 1 or 2). */
function runeWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (cp < 0x300) return 1;
  if (isWide(cp)) return 2;
  // Hangul medial vowels / final consonants combine with the preceding syllable.
  if (cp >= 0x1160 && cp <= 0x11ff) return 0;
  if ((zeroWidth ??= /[\p{Mn}\p{Me}\p{Cf}]/u).test(String.fromCodePoint(cp))) return 0;
  return 1;
}

/** Width of one code point as golang.org/x/text/width sees it: 2 for W/F, else 1. */
function charWidthEA(cp: number): number {
  return isWide(cp) ? 2 : 1;
}

// made on first use: building a Segmenter loads ICU data (~50 ms), which most commands never need
let segmenter: Intl.Segmenter | undefined;

// eslint-disable-next-line no-control-regex
const ASCII_PRINTABLE = /^[\x20-\x7e]*$/;
// Latin-1 and Latin Extended (below the combining marks at U+0300) and the general punctuation of
// width 1 (dashes, quotes, the ellipsis `ps` truncates with): text the Segmenter is not needed for
// eslint-disable-next-line no-control-regex
const ONE_RUNE_CLUSTERS = /^[\x00-\u02ff\u2010-\u2027\u2030-\u205e]*$/;

/**
 * Display width of a string as go-runewidth's StringWidth computes it: each
 * grapheme cluster counts as the width of its first non-zero-width rune.
 */
export function stringWidth(s: string): number {
  if (ASCII_PRINTABLE.test(s)) return s.length;
  let width = 0;
  if (ONE_RUNE_CLUSTERS.test(s)) {
    // no rune here joins a cluster with a wider one: the clusters' widths are the runes' widths
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      width += c >= 0x2010 ? 1 : runeWidth(c);
    }
    return width;
  }
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  for (const { segment } of segmenter.segment(s)) {
    for (const ch of segment) {
      const w = runeWidth(ch.codePointAt(0)!);
      if (w > 0) {
        width += w;
        break;
      }
    }
  }
  return width;
}

/** Number of Unicode code points (Go runes) in a string. */
export function runeCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/**
 * The CLI's `Ellipsis`: if `s` is wider than `maxDisplayWidth` columns, keep
 * as many characters as fit in `maxDisplayWidth - 1` columns and append `…`.
 * Wide characters count 2 (x/text/width). A limit of 1 returns the first
 * character; 0 or less returns "".
 */
export function ellipsis(s: string, maxDisplayWidth: number): string {
  if (maxDisplayWidth <= 0) return '';
  const runes = Array.from(s);
  if (maxDisplayWidth === 1) return runes[0] ?? '';
  let total = 0;
  const ends: number[] = [];
  for (const r of runes) {
    total += charWidthEA(r.codePointAt(0)!);
    ends.push(total);
  }
  if (total <= maxDisplayWidth) return s;
  const limit = maxDisplayWidth - 1;
  let keep = 0;
  while (keep < ends.length && ends[keep]! <= limit) keep++;
  // Go's loop finds no cut point when the first character alone is too wide,
  // and then returns the string unchanged.
  if (keep === 0) return s;
  return runes.slice(0, keep).join('') + '…';
}
