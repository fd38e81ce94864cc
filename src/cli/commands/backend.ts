/**
 * `dbmesh backend drain|disable|enable <cluster>/<id> --config FILE [--timeout S] [--no-wait] [--json]`:
 * take a backend out of rotation for maintenance, or put it back. Drain and disable wait (up
 * to --timeout) until no worker holds a connection there, printing progress, and exit 0 only
 * when it is empty (3 when the wait ran out, so scripts do not stop a server still in use).
 */
import { Command, InvalidArgumentError } from 'commander';
import type { BackendHealth } from '../../monitor/health-view.js';
import { CONFIG_OPTION_HELP, CliFailure, adminAction, adminFetch, readJson, unexpected } from '../admin-client.js';

interface BackendOptions {
  readonly config: string;
  readonly timeout: number;
  readonly wait: boolean;
  readonly json?: boolean;
}

interface ActionAnswer {
  readonly backend?: BackendHealth;
  readonly connections?: number | null;
  readonly drained?: boolean;
  readonly waitedMs?: number;
}

/** Exit code when the backend still had connections at the end of the wait. */
const EXIT_NOT_DRAINED = 3;
/** Each request waits at most this long, so progress shows between them. */
const STEP_MS = 2000;

function target(text: string): { cluster: string; id: string } {
  const m = /^([^/]+)\/([^/]+)$/.exec(text);
  if (m === null) throw new InvalidArgumentError('expected <cluster>/<backend id>, e.g. main/db3');
  return { cluster: m[1]!, id: m[2]! };
}

function seconds(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > 600) throw new InvalidArgumentError('expected seconds from 0 to 600');
  return n;
}

export function backendCommand(): Command {
  const command = new Command('backend').description('take a backend out of rotation (drain, disable) or put it back (enable)');
  for (const [action, text] of [
    ['drain', 'no new statements there; sessions leave it at their next boundary; waits until nothing runs there'],
    ['disable', 'like drain, and it stays out of rotation (even when healthy) until enabled'],
    ['enable', 'put a drained or disabled backend back into rotation'],
  ] as const) {
    command.addCommand(new Command(action)
      .description(text)
      .argument('<cluster/id>', 'the backend, as cluster/id (e.g. main/db3)', target)
      .requiredOption('-c, --config <file>', CONFIG_OPTION_HELP)
      .option('--timeout <seconds>', 'how long drain/disable wait for the backend to empty', seconds, 60)
      .option('--no-wait', 'return at once instead of waiting for the backend to empty')
      .option('--json', 'print the final answer as JSON')
      .action((t: { cluster: string; id: string }, opts: BackendOptions) => adminAction<BackendOptions>(async (admin, o) => {
        const path = `/api/backends/${encodeURIComponent(t.cluster)}/${encodeURIComponent(t.id)}/${action}`;
        const deadline = Date.now() + o.timeout * 1000;
        const waits = action !== 'enable' && o.wait;
        let answer: ActionAnswer;
        for (;;) {
          const left = Math.max(0, deadline - Date.now());
          const res = await adminFetch(admin, 'POST', `${path}?wait=${waits ? Math.min(STEP_MS, left) : 0}`, { timeoutMs: STEP_MS + 10_000 });
          if (res.status === 404) throw new CliFailure((await readJson<{ error?: string }>(res)).error ?? 'unknown backend');
          if (res.status !== 200) throw await unexpected(res);
          answer = await readJson<ActionAnswer>(res);
          if (!waits || answer.drained === true || Date.now() >= deadline) break;
          if (o.json !== true) process.stdout.write(`${t.cluster}/${t.id}: ${answer.backend?.state ?? action}, ${answer.connections ?? '?'} connections still open\n`);
        }
        if (o.json === true) process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
        else process.stdout.write(summary(t, action, answer) + '\n');
        if (waits && answer.drained !== true) process.exitCode = EXIT_NOT_DRAINED;
      })(opts)));
  }
  return command;
}

function summary(t: { cluster: string; id: string }, action: string, a: ActionAnswer): string {
  const name = `${t.cluster}/${t.id}`;
  const state = a.backend?.state ?? '?';
  if (action === 'enable') return `${name}: enabled (state ${state})`;
  if (a.drained === true) return `${name}: ${state}, empty: no connection left (${a.waitedMs ?? 0} ms)`;
  if (a.drained === false) return `${name}: ${state}, still ${a.connections ?? '?'} connections open after the wait (sessions pinned there end or move at their next boundary); run it again to keep waiting`;
  return `${name}: ${state}`;
}
