/**
 * What the admin API and the signal handlers may ask of the master. The supervisor
 * implements it; the admin API (HTTP) and signals only translate requests into these calls.
 */

import type { BackendFigures, PoolFigures } from '../ipc/messages.js';
import type { DigestQuery, DigestRow } from '../insight/digest-store.js';
import type { BackendHealth, HealthView } from '../monitor/health-view.js';
import type { AccountList, AllowlistMode } from '../allowlist/accounts.js';

export type AccountAllowlist = { account: string } & AccountList;

export type BackendAction = 'drain' | 'disable' | 'enable';
export type WorkerState = 'spawning' | 'ready' | 'draining' | 'dead';

export interface WorkerStatus {
  readonly id: number; // cluster worker id
  readonly pid: number;
  readonly version: string;
  readonly state: WorkerState;
  /** While spawning: the boot phase it is in (e.g. "probing backends"). */
  readonly bootPhase?: string;
  readonly connections: number;
  readonly rssBytes: number;
  readonly startedAt: string; // ISO time
  readonly restarts: number; // crashes replaced in this slot
  /** Sessions pinned to a backend connection, by reason (from the worker's last report). */
  readonly pinned: Record<string, number>;
  /** Backend connection pools per cluster (from the worker's last report). */
  readonly pools: Record<string, readonly PoolFigures[]>;
  /** Backends as the worker's monitor last saw them, per cluster (from its last report). */
  readonly backends?: Record<string, readonly BackendFigures[]>;
}

export interface MasterStatus {
  readonly pid: number;
  readonly version: string; // the version new workers start with
  readonly uptimeSeconds: number;
  readonly configVersion: number; // increments on each applied reload
  readonly configPath: string;
  readonly workers: readonly WorkerStatus[];
  /** e.g. "crash loop in slot 1: 5 crashes in 60 s; backing off 8 s" */
  readonly alerts: readonly string[];
  readonly watchdog: { readonly softLimitBytes: number; readonly hardLimitBytes: number; readonly softReplacements: number; readonly hardKills: number };
  /** Since the master started: workers that exited unasked, upgrades and rollbacks by outcome. */
  readonly counts?: { readonly workerCrashes: number; readonly upgradesOk: number; readonly upgradesFailed: number };
  /** The backend monitor's view: every backend's state, role, lag, version, last error, probe time. */
  readonly backends?: HealthView;
}

export interface ReloadResult {
  readonly ok: boolean;
  readonly configVersion: number;
  /** Every problem, by path, when the new config is invalid (nothing changed then). */
  readonly problems: readonly string[];
}

/** One step of an upgrade or rollback, streamed to `dbmesh upgrade` as it happens. */
export interface ProgressEvent {
  readonly phase: 'start' | 'spawned' | 'ready' | 'draining' | 'moved' | 'retired' | 'done' | 'rollback' | 'failed';
  readonly message: string;
  readonly workerPid?: number;
  readonly sessionsMoved?: number;
}

export interface UpgradeResult {
  readonly ok: boolean;
  readonly fromVersion: string;
  readonly toVersion: string;
  readonly sessionsMoved: number;
  readonly sessionsClosed: number;
  /** Why the upgrade was refused or rolled back. */
  readonly error?: string;
}

export interface MasterControl {
  status(): MasterStatus;
  reload(): Promise<ReloadResult>;
  upgrade(version: string, onProgress: (e: ProgressEvent) => void): Promise<UpgradeResult>;
  rollback(onProgress: (e: ProgressEvent) => void): Promise<UpgradeResult>;
  /** Graceful stop (drain); resolves when the master is about to exit. */
  stop(): Promise<void>;
  /** Prometheus text exposition of all metrics. */
  metrics(): Promise<string>;
  /** Statement digests merged over all workers (GET /api/digests). */
  digests(q: DigestQuery): DigestRow[];
  /** Forget every digest (POST /api/digests/reset). */
  resetDigests(): void;
  /**
   * Operator action on a backend: drain (no new statements; sessions leave at their next
   * boundary), disable (the same, and it stays out until enabled), enable. Null: unknown backend.
   */
  backendAction(cluster: string, backendId: string, action: BackendAction): BackendHealth | null;
  /** Backend connections the workers hold there, reported after `since`; null until every worker reported. */
  backendConnections(cluster: string, backendId: string, since: number): number | null;
  /** The firewall allowlist file. */
  allowlistFile(): string;
  /** Every account with an allowlist: mode and digest count. */
  allowlists(): { account: string; mode: AllowlistMode; digests: number }[];
  /** One account's allowlist (digest id → fingerprint), or null. */
  allowlist(account: string): AccountAllowlist | null;
  /** Set an account's mode; resolves once written to the file and sent to the workers. */
  setAllowlistMode(account: string, mode: AllowlistMode): Promise<AccountAllowlist>;
  /** Replace an account's digests (and mode, when given); resolves once written and sent. */
  putAllowlist(account: string, digests: Record<string, string>, mode: AllowlistMode | null): Promise<AccountAllowlist>;
  /** Test hook (DBMESH_DEBUG_HOOKS=1 only): make worker `pid` allocate `mib` MiB. */
  debugAlloc?(pid: number, mib: number): Promise<boolean>;
}
