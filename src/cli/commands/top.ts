/**
 * `dbmesh top [--interval S] [--sort K] [--limit N] [--user U] [--schema S] --config FILE`: the
 * statement digests as a live, refreshing view (top-live.ts): rates over the last interval,
 * p99, mean latency and share of the time. With stdout not a terminal it prints one view as
 * plain text (two fetches one interval apart, for the rates) and exits.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CONFIG_OPTION_HELP, adminAction, type AdminTarget } from '../admin-client.js';
import { runLive } from '../top-live.js';
import { TOP_SORTS, renderTop, snapshot, topRows, type TopSort } from '../top-view.js';
import { DEFAULT_COLUMNS, fetchDigests, filterOptions, positiveInt } from './digests.js';

interface TopOptions {
  readonly config: string;
  readonly interval: number;
  readonly sort: TopSort;
  readonly limit: number;
  readonly user?: string;
  readonly schema?: string;
}

const MIN_INTERVAL_S = 0.2;
const MAX_INTERVAL_S = 3600;

export function topCommand(): Command {
  const command = new Command('top')
    .description('live view of statement digests: QPS, errors/s, p99, mean latency and time share per statement shape')
    .requiredOption('-c, --config <file>', CONFIG_OPTION_HELP)
    .option('-i, --interval <seconds>', `seconds between refreshes (${MIN_INTERVAL_S}..${MAX_INTERVAL_S})`, intervalSeconds, 1)
    .addOption(new Option('-s, --sort <key>', 'order by, over the last interval (keys t, c, p, e change it)').choices(TOP_SORTS).default('total'))
    .option('-n, --limit <n>', "digests fetched per refresh: the master's top N by the sort key", positiveInt, 500);
  return filterOptions(command)
    .action(
      adminAction<TopOptions>(async (target, opts) => {
        const fetch = fetcher(target, opts);
        if (process.stdout.isTTY === true) {
          await runLive({ intervalS: opts.interval, sort: opts.sort, limit: opts.limit, fetch, input: process.stdin, output: process.stdout });
        } else {
          await printOnce(opts, fetch);
        }
      }),
    );
}

function intervalSeconds(text: string): number {
  const s = Number(text);
  if (text.trim() === '' || !Number.isFinite(s) || s < MIN_INTERVAL_S || s > MAX_INTERVAL_S) {
    throw new InvalidArgumentError(`expected seconds from ${MIN_INTERVAL_S} to ${MAX_INTERVAL_S}`);
  }
  return s;
}

type Fetch = (sort: TopSort, signal?: AbortSignal) => ReturnType<typeof fetchDigests>;

/** A fetch that gives up well before a refresh would wait on it for long. */
function fetcher(target: AdminTarget, opts: TopOptions): Fetch {
  const timeoutMs = Math.min(30_000, Math.max(2_000, 2 * opts.interval * 1000));
  const filter = { limit: opts.limit, ...(opts.user !== undefined ? { user: opts.user } : {}), ...(opts.schema !== undefined ? { schema: opts.schema } : {}) };
  return (sort, signal) => fetchDigests(target, { ...filter, sort }, { timeoutMs, ...(signal !== undefined ? { signal } : {}) });
}

/** Not a terminal: one view as text, the rates from two fetches one interval apart. */
async function printOnce(opts: TopOptions, fetch: Fetch): Promise<void> {
  const since = new Date();
  const first = snapshot(await fetch(opts.sort), performance.now(), opts.limit);
  await delay(opts.interval * 1000);
  const second = snapshot(await fetch(opts.sort), performance.now(), opts.limit);
  const lines = renderTop({
    now: new Date(), width: process.stdout.columns || DEFAULT_COLUMNS, height: Infinity, interactive: false,
    sort: opts.sort, intervalS: opts.interval, since, rows: topRows(first, second, first),
    digests: second.rows.size, more: !second.complete, error: null,
  });
  process.stdout.write(lines.join('\n') + '\n');
}
