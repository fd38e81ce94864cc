/**
 * `dbmesh digests [--json] [--sort K] [--limit N] [--user U] [--schema S] [--reset] --config FILE`:
 * the master's statement digests (counts and latencies per statement shape, merged over all
 * workers, since the master started or the last reset) as a table, or as the API's JSON.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DIGEST_SORTS, type DigestRow, type DigestSort } from '../../insight/digest-store.js';
import { CONFIG_OPTION_HELP, CliFailure, adminAction, adminFetch, readJson, unexpected, type AdminTarget } from '../admin-client.js';
import { formatMs, tableLines, userAtSchema, type Column } from '../text-table.js';

export interface DigestFilter {
  readonly sort: DigestSort;
  readonly limit: number;
  readonly user?: string;
  readonly schema?: string;
}

interface DigestsOptions extends DigestFilter {
  readonly config: string;
  readonly json?: boolean;
  readonly reset?: boolean;
}

/** Width of a table that is not printed to a terminal. */
export const DEFAULT_COLUMNS = 120;
/** Under this many columns left for the text, it goes on its own line. */
const MIN_TEXT_COLUMNS = 24;
/** Digest ids are shown as prefixes of at least this length, longer where needed to tell them apart. */
const MIN_ID_CHARS = 8;

export function digestsCommand(): Command {
  const command = new Command('digests')
    .description('show statement digests: count, errors, latency and rows per statement shape, over all workers')
    .requiredOption('-c, --config <file>', CONFIG_OPTION_HELP)
    .option('--json', 'print the digests as JSON (as the admin API returns them)')
    .addOption(new Option('-s, --sort <key>', 'order by').choices(DIGEST_SORTS).default('total'))
    .option('-n, --limit <n>', 'show at most this many digests (1..10000)', positiveInt, 100);
  return filterOptions(command)
    .option('--reset', 'forget every digest (counts start again from zero) instead of showing them')
    .action(
      adminAction<DigestsOptions>(async (target, opts) => {
        if (opts.reset === true) return resetDigests(target, opts.json === true);
        const rows = await fetchDigests(target, opts);
        const width = process.stdout.columns || DEFAULT_COLUMNS;
        process.stdout.write(opts.json === true ? JSON.stringify({ digests: rows }, null, 2) + '\n' : formatDigests(rows, width));
      }),
    );
}

/** The options that choose whose statements (shared with `dbmesh top`). */
export function filterOptions(command: Command): Command {
  return command
    .option('--user <name>', "only this user's statements")
    .option('--schema <name>', 'only statements run in this default schema');
}

/** Commander parser for counts: a whole number from 1. */
export function positiveInt(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number from 1');
  return n;
}

/** GET /api/digests with the filter; anything but a list of rows is a failure. */
export async function fetchDigests(
  target: AdminTarget,
  f: DigestFilter,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<DigestRow[]> {
  const query = new URLSearchParams({ sort: f.sort, limit: String(f.limit) });
  if (f.user !== undefined) query.set('user', f.user);
  if (f.schema !== undefined) query.set('schema', f.schema);
  const res = await adminFetch(target, 'GET', `/api/digests?${query.toString()}`, opts);
  if (res.status !== 200) throw await unexpected(res);
  const body = await readJson<{ digests?: unknown } | null>(res);
  if (!Array.isArray(body?.digests)) throw new CliFailure('the master answered /api/digests without a list of digests: is it a dbmesh master that keeps them?');
  return body.digests as DigestRow[];
}

async function resetDigests(target: AdminTarget, json: boolean): Promise<void> {
  const res = await adminFetch(target, 'POST', '/api/digests/reset');
  if (res.status !== 200) throw await unexpected(res);
  const body = await readJson<unknown>(res);
  process.stdout.write(json ? JSON.stringify(body, null, 2) + '\n' : 'digests reset: every count starts again from zero\n');
}

const COLUMNS: readonly Column[] = [
  { title: 'DIGEST', align: 'left' },
  { title: 'COUNT', align: 'right' },
  { title: 'ERR', align: 'right' },
  { title: 'TOTAL MS', align: 'right' },
  { title: 'AVG MS', align: 'right' },
  { title: 'P50', align: 'right' },
  { title: 'P95', align: 'right' },
  { title: 'P99', align: 'right' },
  { title: 'MAX MS', align: 'right' },
  { title: 'ROWS', align: 'right' },
  { title: 'USER@SCHEMA', align: 'left', max: 24 },
  { title: 'TEXT', align: 'left' },
];

/**
 * The human view: one line per digest within `width` columns (times in ms; ROWS = rows sent),
 * the text below its row when the terminal is too narrow for it beside the numbers.
 */
export function formatDigests(rows: readonly DigestRow[], width: number): string {
  if (rows.length === 0) return 'no statement digests yet (workers send theirs every second or so)\n';
  const ids = shortIds(rows.map((r) => r.digest));
  const cells = rows.map((r, i) => [
    ids[i]!,
    String(r.count),
    String(r.errors),
    formatMs(r.totalMs),
    formatMs(r.count > 0 ? r.totalMs / r.count : 0),
    formatMs(r.p50Ms),
    formatMs(r.p95Ms),
    formatMs(r.p99Ms),
    formatMs(r.maxMs),
    String(r.rowsSent),
    userAtSchema(r.user, r.schema),
    r.text,
  ]);
  return tableLines(COLUMNS, cells, width, MIN_TEXT_COLUMNS).join('\n') + '\n';
}

/** The shortest prefixes (from MIN_ID_CHARS on) that still tell the ids apart, as git shows commits. */
export function shortIds(ids: readonly string[]): string[] {
  const longest = Math.max(0, ...ids.map((id) => id.length));
  let n = MIN_ID_CHARS;
  while (n < longest && new Set(ids.map((id) => id.slice(0, n))).size < new Set(ids).size) n++;
  return ids.map((id) => id.slice(0, n));
}
