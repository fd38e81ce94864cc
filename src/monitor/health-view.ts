/**
 * What the monitor publishes: every backend's state, role and lag, per cluster. The master
 * builds it (monitor.ts) and sends it to every worker over IPC; workers route by it
 * (worker/backends.ts). Plain JSON: it crosses process and release boundaries, so readers
 * ignore fields they do not know.
 */

/**
 * `up`: serves its role. `lagging`: a replica behind `maxReplicationLagSeconds` or not
 * replicating (no reads). `down`: `monitor.failures` probes in a row failed. `recovering`:
 * answering again, `monitor.successes` good probes needed before it serves. `draining`,
 * `disabled`: set by an operator; no new statements.
 */
export type BackendState = 'up' | 'lagging' | 'down' | 'recovering' | 'draining' | 'disabled';
export const BACKEND_STATES: readonly BackendState[] = ['up', 'lagging', 'down', 'recovering', 'draining', 'disabled'];
/** `member`: a tidb cluster's server (takes reads and writes). */
export type BackendRole = 'primary' | 'replica' | 'member' | 'unknown';
/** What an operator asked for a backend (`dbmesh backend drain|disable|enable`). */
export type OperatorState = 'none' | 'draining' | 'disabled';

/** The parts of a server greeting dbmesh repeats to its clients. */
export interface GreetingSummary {
  readonly serverVersion: string;
  readonly capabilities: number;
  readonly charset: number;
  readonly mariadbCapabilities: number;
}

export interface BackendHealth {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly state: BackendState;
  /** Why it is in this state (the probe error, the lag, the operator's action). */
  readonly reason: string;
  /** Since when (ms since epoch). */
  readonly since: number;
  readonly role: BackendRole;
  /**
   * Up, but its last probe failed (not yet `monitor.failures` in a row): it takes no new
   * reads meanwhile, so a hung server loses its reads within one probe, not N.
   */
  readonly failing: boolean;
  /** read_only=0 at the last good probe. */
  readonly writable: boolean;
  /** Seconds behind its primary; null when not a replica or unknown; -1 when replication is stopped. */
  readonly lagSeconds: number | null;
  /** The server's max_connections (null: unknown): pools without a configured maxConnections stay under it. */
  readonly maxConnections: number | null;
  /** Server version from its greeting; null until it answered once. */
  readonly version: string | null;
  readonly lastError: string | null;
  /** When lastError happened (ms since epoch), 0 when none. */
  readonly lastErrorAt: number;
  /** Last probe: when it ended (0: never) and how long it took. */
  readonly checkedAt: number;
  readonly probeMs: number;
}

export interface ClusterHealth {
  /** Where writes go; null when no writable backend is serving (writes wait for one). */
  readonly primary: string | null;
  readonly backends: readonly BackendHealth[];
  readonly greeting: GreetingSummary | null;
}

export interface HealthView {
  /** Increments with every published change. */
  readonly seq: number;
  readonly clusters: Readonly<Record<string, ClusterHealth>>;
  /** Backend-side alerts: no primary, two writable servers, a backend down, lag, a misconfigured monitor. */
  readonly alerts: readonly string[];
  /** Why the monitor account cannot do its job (wrong password, missing privilege); null when it can. */
  readonly misconfigured: string | null;
  /** True once every backend was probed at least once (or timed out). */
  readonly complete: boolean;
  /** State changes since the monitor started, by "cluster/backend" (for /metrics). */
  readonly changes: Readonly<Record<string, number>>;
}

/** A backend takes new statements for its role in these states (lagging ones no reads: the pools filter by lag). */
export function isServing(state: BackendState): boolean {
  return state === 'up' || state === 'lagging';
}
