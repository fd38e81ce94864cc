/** `dbmesh status [--json] --config FILE`: the running master, its workers and alerts. */
import { Command } from 'commander';
import type { MasterStatus, WorkerStatus } from '../../master/control.js';
import type { HealthView } from '../../monitor/health-view.js';
import { CONFIG_OPTION_HELP, adminAction, adminFetch, readJson, unexpected } from '../admin-client.js';

const MIB = 1024 * 1024;

export function statusCommand(): Command {
  return new Command('status')
    .description('show the running master: version, uptime, config version, workers, alerts')
    .requiredOption('-c, --config <file>', CONFIG_OPTION_HELP)
    .option('--json', 'print the status as JSON (as the admin API returns it)')
    .action(
      adminAction<{ config: string; json?: boolean }>(async (target, opts) => {
        const res = await adminFetch(target, 'GET', '/api/status');
        if (res.status !== 200) throw await unexpected(res);
        const status = await readJson<MasterStatus>(res);
        process.stdout.write(opts.json === true ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status));
      }),
    );
}

/** The human view: a few master lines, a table of workers, then alerts. */
export function formatStatus(s: MasterStatus): string {
  const lines = [
    `master pid      ${s.pid}`,
    `version         ${s.version}`,
    `uptime          ${formatDuration(s.uptimeSeconds)}`,
    `config version  ${s.configVersion}${s.configPath ? ` (${s.configPath})` : ''}`,
    `watchdog        soft ${mib(s.watchdog.softLimitBytes)} MiB, hard ${mib(s.watchdog.hardLimitBytes)} MiB; ` +
      `${s.watchdog.softReplacements} replaced, ${s.watchdog.hardKills} killed`,
    '',
    ...workerTable(s.workers),
    '',
    ...backendTable(s.backends),
    ...poolLines(s.workers),
    ...pinLines(s.workers),
    ...(s.alerts.length === 0 ? ['alerts: none'] : ['alerts:', ...s.alerts.map((a) => `  ${a}`)]),
  ];
  return lines.join('\n') + '\n';
}

/** Every backend as the monitor sees it: role, state (and why), lag, version, probe time, last error. */
function backendTable(view: HealthView | undefined): string[] {
  if (view === undefined) return [];
  const header = ['CLUSTER', 'BACKEND', 'ADDRESS', 'ROLE', 'STATE', 'SINCE', 'LAG s', 'VERSION', 'PROBE ms', 'LAST ERROR'];
  const rows: string[][] = [];
  for (const [cluster, c] of Object.entries(view.clusters)) {
    for (const b of c.backends) {
      const role = b.id === c.primary ? 'primary' : b.role === 'primary' ? 'writable' : b.role;
      const lastError = b.lastError === null ? '' : `${b.lastError} (${new Date(b.lastErrorAt).toISOString()})`;
      rows.push([
        cluster, b.id, `${b.host}:${b.port}`, role, b.state === 'up' ? 'up' : `${b.state}: ${b.reason}`,
        b.since > 0 ? new Date(b.since).toISOString() : '-', b.lagSeconds === null ? '-' : b.lagSeconds < 0 ? 'stopped' : String(b.lagSeconds),
        b.version ?? '-', b.checkedAt > 0 ? String(b.probeMs) : '-', lastError,
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const table = [header, ...rows].map((cells) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  return [...table, ...(view.misconfigured !== null ? [`monitor: MISCONFIGURED: ${view.misconfigured}`] : []), ''];
}

function workerTable(workers: readonly WorkerStatus[]): string[] {
  if (workers.length === 0) return ['workers: none'];
  const header = ['WORKER', 'PID', 'VERSION', 'STATE', 'CONNECTIONS', 'RSS MiB', 'RESTARTS'];
  const rows = workers.map((w) => [
    String(w.id),
    String(w.pid),
    w.version,
    w.bootPhase === undefined ? w.state : `${w.state} (${w.bootPhase})`,
    String(w.connections),
    mib(w.rssBytes),
    String(w.restarts),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((cells) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

/** Backend connections summed over workers: "pool main/db1: 12 open, 4 idle, 0 waiting". */
function poolLines(workers: readonly WorkerStatus[]): string[] {
  const sums = new Map<string, { open: number; idle: number; waiting: number }>();
  for (const w of workers) {
    for (const [cluster, pools] of Object.entries(w.pools ?? {})) {
      for (const p of pools) {
        const key = `${cluster}/${p.backend}`;
        const t = sums.get(key) ?? { open: 0, idle: 0, waiting: 0 };
        t.open += p.open;
        t.idle += p.idle;
        t.waiting += p.waiting;
        sums.set(key, t);
      }
    }
  }
  if (sums.size === 0) return [];
  return [...[...sums].map(([k, t]) => `pool ${k}: ${t.open} open, ${t.idle} idle, ${t.waiting} waiting`), ''];
}

/** "pinned sessions: user variable 3, temporary table 1" (why sessions keep a connection). */
function pinLines(workers: readonly WorkerStatus[]): string[] {
  const sums = new Map<string, number>();
  for (const w of workers) for (const [r, n] of Object.entries(w.pinned ?? {})) sums.set(r, (sums.get(r) ?? 0) + n);
  if (sums.size === 0) return ['pinned sessions: none', ''];
  return [`pinned sessions: ${[...sums].map(([r, n]) => `${r} ${n}`).join(', ')}`, ''];
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}

/** 93784 -> "1d 2h 3m 4s"; leading zero units are left out. */
export function formatDuration(totalSeconds: number): string {
  let rest = Math.max(0, Math.floor(totalSeconds));
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
  }
  parts.push(`${rest}s`);
  return parts.join(' ');
}
