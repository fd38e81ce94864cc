/**
 * `dbmesh upgrade --version V --config FILE` (and, through runProgress, `dbmesh rollback`):
 * print each progress event as the master streams it, then the outcome.
 */
import { Command } from 'commander';
import type { ProgressEvent, UpgradeResult } from '../../master/control.js';
import { CONFIG_OPTION_HELP, CliFailure, adminAction, adminFetch, readNdjson, unexpected, type AdminTarget } from '../admin-client.js';

export function upgradeCommand(): Command {
  return new Command('upgrade')
    .description('hot-upgrade the running master to release V: new workers start, sessions move over without dropping')
    .requiredOption('--version <version>', 'release to upgrade to (a directory under releases.dir)')
    .requiredOption('-c, --config <file>', CONFIG_OPTION_HELP)
    .action(
      adminAction<{ config: string; version: string }>((target, opts) =>
        runProgress(target, '/api/upgrade', { version: opts.version }, { done: 'upgraded', failed: 'upgrade failed' }),
      ),
    );
}

export interface ProgressWords {
  readonly done: string; // "upgraded" in "upgraded A -> B: ..."
  readonly failed: string; // "upgrade failed" in "upgrade failed: <error>"
}

/** POST to a streaming route, echo progress lines as they arrive, report the result line. */
export async function runProgress(target: AdminTarget, path: string, body: unknown, words: ProgressWords): Promise<void> {
  const res = await adminFetch(target, 'POST', path, { body, stream: true });
  if (res.status !== 200) throw await unexpected(res);
  let result: UpgradeResult | undefined;
  try {
    await readNdjson(res, (value) => {
      const line = value as { result?: UpgradeResult } & Partial<ProgressEvent>;
      if (line.result !== undefined) result = line.result;
      else process.stdout.write(formatProgress(line));
    });
  } catch (err) {
    if (err instanceof CliFailure) throw err;
    // Race window: the master may have finished (or may still finish) what it started.
    return fail(`${words.failed}: lost the connection to the master before the outcome arrived; check \`dbmesh status\``);
  }
  if (result === undefined) return fail(`${words.failed}: the master ended the stream without an outcome; check \`dbmesh status\``);
  if (!result.ok) return fail(`${words.failed}: ${result.error ?? 'no reason given'}`);
  process.stdout.write(
    `${words.done} ${result.fromVersion} -> ${result.toVersion}: ` +
      `${plural(result.sessionsMoved, 'session')} moved, ${result.sessionsClosed} closed\n`,
  );
}

/** The outcome line of a failed upgrade or rollback: said as is, exit 1. */
function fail(line: string): void {
  process.stderr.write(line + '\n');
  process.exitCode = 1;
}

function formatProgress(e: Partial<ProgressEvent>): string {
  return `${String(e.phase ?? '?').padEnd(8)}  ${e.message ?? ''}\n`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
