/**
 * Plain-text tables for the terminal, shared by `dbmesh digests` and `dbmesh top`: cells padded
 * to columns, the last column (statement text) given whatever width is left, every line cut to
 * the terminal's width. Widths count terminal columns, not UTF-16 units: East Asian wide
 * characters take two, combining marks none. Statement text comes from clients, so control
 * characters are blanked before it reaches a terminal (an ESC in a literal or comment must not
 * become an escape sequence).
 */

export interface Column {
  readonly title: string;
  readonly align: 'left' | 'right';
  /** At least this wide (keeps a refreshing view from jittering). */
  readonly min?: number;
  /** At most this wide; longer cells are cut. */
  readonly max?: number;
}

/** Marks a cut cell or line. ASCII: terminals with a non-UTF-8 locale are common on servers. */
const ELLIPSIS = '...';
const GAP = '  ';

/** C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a reader sees. */
const UNSAFE_RE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g;

/** One line of text safe to print: controls become spaces, runs of blanks one space. */
export function cleanText(text: string): string {
  return text.replace(UNSAFE_RE, ' ').replace(/ {2,}/g, ' ').trim();
}

/** Terminal columns one code point takes (wcwidth, simplified to the common ranges). */
export function charWidth(cp: number): number {
  if (cp === 0x200b || (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd)
  ) return 2;
  return 1;
}

export function textWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += charWidth(ch.codePointAt(0)!);
  return w;
}

/** `text` in at most `width` columns; a cut one ends with "..." when there is room for it. */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  if (textWidth(text) <= width) return text;
  const room = width > ELLIPSIS.length ? width - ELLIPSIS.length : width;
  let out = '';
  let w = 0;
  for (const ch of text) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (w + cw > room) break;
    out += ch;
    w += cw;
  }
  return room < width ? out + ELLIPSIS : out;
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - textWidth(text)));
  return align === 'right' ? fill + text : text + fill;
}

/**
 * Header and rows in columns within `width`. The last column takes the width left after the
 * others; when that is under `wrapBelow` columns the last cell goes on a line of its own
 * below its row, indented (a narrow terminal still shows the statement text). Cells are
 * cleaned (cleanText) here, so callers may pass text exactly as the master sent it.
 */
export function tableLines(columns: readonly Column[], rows: readonly (readonly string[])[], width: number, wrapBelow = 0): string[] {
  const fixed = columns.slice(0, -1);
  const last = columns[columns.length - 1]!;
  const cells = rows.map((r) => r.map((c, i) => fit(cleanText(c), columns[i]?.max ?? Infinity)));
  const widths = fixed.map((col, i) => Math.max(col.min ?? 0, textWidth(col.title), ...cells.map((r) => textWidth(r[i] ?? ''))));
  const lead = widths.reduce((sum, w) => sum + w + GAP.length, 0);
  const room = width - lead;
  const below = room < wrapBelow;
  const line = (r: readonly string[], lastCell: string): string =>
    fit([...fixed.map((col, i) => pad(r[i] ?? '', widths[i]!, col.align)), lastCell].join(GAP).trimEnd(), width);
  const out = [line(columns.map((c) => c.title), below ? '' : last.title)];
  for (const r of cells) {
    const text = r[columns.length - 1] ?? '';
    out.push(line(r, below ? '' : fit(text, room)));
    if (below) out.push(fit(GAP + text, width));
  }
  return out;
}

/** Milliseconds with as many decimals as help: 0.123, 4.56, 78.9, 1234. */
export function formatMs(ms: number): string {
  if (ms >= 1000) return String(Math.round(ms));
  if (ms >= 100) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

/** A per-second rate: 0, 0.25, 12.5, 1234; millions as 1.23M. */
export function formatRate(n: number): string {
  if (n === 0) return '0';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 100) return String(Math.round(n));
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** "user@schema", "user" without a schema, "-" for the overflow row (no user). */
export function userAtSchema(user: string, schema: string | null): string {
  if (user === '') return '-';
  return schema === null ? user : `${user}@${schema}`;
}
