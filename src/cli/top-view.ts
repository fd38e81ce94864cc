/**
 * What `dbmesh top` shows, as pure functions of the master's digest snapshots. The master keeps
 * cumulative counts; rates over the last interval are the difference between two snapshots
 * divided by the time between them, and the COUNT column is the difference from the view's
 * baseline (taken when top starts and on `r`). No I/O here: top-live.ts draws the lines.
 *
 * A row missing from the earlier snapshot is new only when that snapshot held every digest
 * (fewer rows than the limit); otherwise it may just have been outside the top N, and its
 * rates are unknown ("-") for one interval. A row whose count went down, or whose first-seen
 * time moved later, was reset or recreated in between: its whole count is the difference.
 */
import type { DigestRow } from '../insight/digest-store.js';
import { cleanText, fit, formatMs, formatRate, tableLines, userAtSchema, type Column } from './text-table.js';

export type TopSort = 'total' | 'count' | 'p99' | 'errors';
export const TOP_SORTS: readonly TopSort[] = ['total', 'count', 'p99', 'errors'];
/** Keys of the live view that choose the order. */
export const SORT_KEYS: Readonly<Record<string, TopSort>> = { t: 'total', c: 'count', p: 'p99', e: 'errors' };
const SORT_LABELS: Readonly<Record<TopSort, string>> = { total: 'total time', count: 'count (QPS)', p99: 'p99', errors: 'errors' };

export interface Snapshot {
  /** When it was taken, in ms of a monotonic clock. */
  readonly at: number;
  readonly rows: ReadonlyMap<string, DigestRow>;
  /** It held fewer rows than asked for, so every digest: a row missing from it is new. */
  readonly complete: boolean;
}

export interface TopRow {
  readonly key: string;
  readonly row: DigestRow;
  /** null: no earlier value to subtract from (see the top of the file). */
  readonly qps: number | null;
  readonly errorsPerSec: number | null;
  /** Time spent in the interval by this digest's statements. */
  readonly intervalMs: number | null;
  /** Of the time spent in the interval by every row shown, 0..1. */
  readonly share: number | null;
  /** Mean latency over the interval; null when none ran. */
  readonly avgMs: number | null;
  /** Statements since the view's baseline. */
  readonly count: number | null;
}

export interface TopFrame {
  /** Wall-clock time shown in the header. */
  readonly now: Date;
  readonly width: number;
  /** Lines available; Infinity when printing once to a pipe. */
  readonly height: number;
  /** Live view: show key help. */
  readonly interactive: boolean;
  readonly sort: TopSort;
  readonly intervalS: number;
  /** When the COUNT column's baseline was taken. */
  readonly since: Date;
  /** null until two snapshots exist. */
  readonly rows: readonly TopRow[] | null;
  /** Rows in the latest snapshot, and whether the limit cut it. */
  readonly digests: number;
  readonly more: boolean;
  /** The last fetch failed: why (the view keeps retrying). */
  readonly error: string | null;
}

interface Delta {
  readonly count: number;
  readonly errors: number;
  readonly totalMs: number;
}

function rowKey(r: DigestRow): string {
  return `${r.user}\0${r.schema ?? '\0'}\0${r.digest}`;
}

export function snapshot(rows: readonly DigestRow[], at: number, limit: number): Snapshot {
  return { at, rows: new Map(rows.map((r) => [rowKey(r), r])), complete: rows.length < limit };
}

/** What `row` added since `before` was taken; null when that cannot be known. */
function deltaSince(before: Snapshot, key: string, row: DigestRow): Delta | null {
  const b = before.rows.get(key);
  if (b === undefined) return before.complete ? row : null;
  if (row.count < b.count || row.firstSeen > b.firstSeen) return row;
  return { count: row.count - b.count, errors: Math.max(0, row.errors - b.errors), totalMs: Math.max(0, row.totalMs - b.totalMs) };
}

/** The rows of `cur` with their rates since `prev` and their counts since `base`. */
export function topRows(prev: Snapshot, cur: Snapshot, base: Snapshot): TopRow[] {
  const seconds = Math.max(cur.at - prev.at, 1) / 1000;
  const out: { key: string; row: DigestRow; d: Delta | null; count: number | null }[] = [];
  let totalMs = 0;
  for (const [key, row] of cur.rows) {
    const d = deltaSince(prev, key, row);
    if (d !== null) totalMs += d.totalMs;
    out.push({ key, row, d, count: deltaSince(base, key, row)?.count ?? null });
  }
  return out.map(({ key, row, d, count }) => ({
    key,
    row,
    qps: d === null ? null : d.count / seconds,
    errorsPerSec: d === null ? null : d.errors / seconds,
    intervalMs: d === null ? null : d.totalMs,
    share: d === null ? null : totalMs > 0 ? d.totalMs / totalMs : 0,
    avgMs: d === null || d.count === 0 ? null : d.totalMs / d.count,
    count,
  }));
}

function metric(r: TopRow, sort: TopSort): number {
  switch (sort) {
    case 'count': return r.qps ?? -1;
    case 'p99': return r.row.p99Ms;
    case 'errors': return r.errorsPerSec ?? -1;
    default: return r.intervalMs ?? -1;
  }
}

/** Largest first; ties by time in the interval, then by key, so rows do not swap at random. */
export function sortTopRows(rows: readonly TopRow[], sort: TopSort): TopRow[] {
  return [...rows].sort((a, b) =>
    metric(b, sort) - metric(a, sort) || (b.intervalMs ?? -1) - (a.intervalMs ?? -1) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

const COLUMNS: readonly Column[] = [
  { title: 'QPS', align: 'right', min: 7 },
  { title: 'ERR/S', align: 'right', min: 6 },
  { title: 'P99 MS', align: 'right', min: 7 },
  { title: 'AVG MS', align: 'right', min: 7 },
  { title: 'TIME%', align: 'right', min: 6 },
  { title: 'COUNT', align: 'right', min: 8 },
  { title: 'USER@SCHEMA', align: 'left', max: 20 },
  { title: 'TEXT', align: 'left' },
];

const KEY_HELP = 'keys: t total time  c count  p p99  e errors  r reset counts  q quit';

function clock(d: Date): string {
  return d.toTimeString().slice(0, 8);
}

function headerLines(f: TopFrame): string[] {
  const rows = f.rows ?? [];
  const qps = rows.reduce((s, r) => s + (r.qps ?? 0), 0);
  const errors = rows.reduce((s, r) => s + (r.errorsPerSec ?? 0), 0);
  const rates = f.rows === null ? 'QPS -  errors/s -' : `QPS ${formatRate(qps)}  errors/s ${formatRate(errors)}`;
  const first = `dbmesh top  ${clock(f.now)}  ${rates}  digests ${f.digests}${f.more ? '+' : ''}  sort: ${SORT_LABELS[f.sort]}  every ${f.intervalS} s`;
  const status = f.error !== null
    ? `error: ${cleanText(f.error)} (retrying every ${f.intervalS} s)`
    : `counts since ${clock(f.since)}${f.rows === null ? '; rates after the first interval' : ''}`;
  return f.interactive ? [first, KEY_HELP, status] : [first, status];
}

function rowCells(r: TopRow): string[] {
  const opt = (n: number | null, format: (n: number) => string): string => (n === null ? '-' : format(n));
  return [
    opt(r.qps, formatRate),
    opt(r.errorsPerSec, formatRate),
    formatMs(r.row.p99Ms),
    opt(r.avgMs, formatMs),
    opt(r.share, (s) => (s * 100).toFixed(1)),
    opt(r.count, String),
    userAtSchema(r.row.user, r.row.schema),
    r.row.text,
  ];
}

/** The screen: header, then the table sorted by the frame's key; at most width x height. */
export function renderTop(f: TopFrame): string[] {
  const header = headerLines(f).map((l) => fit(l, f.width));
  const room = f.height - header.length - 1; // the table's title line
  const rows = f.rows === null ? [] : sortTopRows(f.rows, f.sort).slice(0, Math.max(0, room));
  return [...header, ...tableLines(COLUMNS, rows.map(rowCells), f.width)].slice(0, Math.max(0, f.height));
}
