/**
 * Master <-> worker messages. Every message carries the protocol version `v`, an action
 * `act` and a sequence number `seq`; requests are answered by `{ act: 'ack', ack: seq }`.
 * A master drives workers of older or newer releases, so receivers ignore unknown fields and
 * count (never crash on) unknown actions. Bump IPC_VERSION only for incompatible changes.
 */
import type { PoolStats } from '../pool/backend-pool.js';
import type { Config } from '../config/types.js';
import type { InsightDelta } from '../insight/worker-insight.js';
import type { HealthView } from '../monitor/health-view.js';
import type { AllowlistWire } from '../allowlist/accounts.js';

export const IPC_VERSION = 1;

/** Session state that travels with a moved client (the backend connection moves too). */
export interface SessionSnapshot {
  readonly id: number;
  readonly user: string;
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  readonly charset: number;
  readonly statusFlags: number;
  readonly scramble: string; // base64
  readonly connectAttrs: string | null; // base64
  readonly backendThreadId: number;
  readonly backendId: string;
  /** Client bytes read but not yet processed (a partial or pipelined command), base64. */
  readonly pending: string;
  readonly startedAt: number;
  /** When the old worker froze the session (ms since epoch), to measure hand-off time. */
  readonly frozenAt: number;
  /** Schema, replayed variables, pins, prepared statements, LAST_INSERT_ID()... */
  readonly state: ExportedState;
  readonly readOnlyTransaction: boolean;
  /** The backend connection moving with the session (pinned or in a transaction), or null. */
  readonly conn: MovedConn | null;
}

/** A session's portable state (schema, replayed variables, pins, prepared statements...), as it travels in a hand-off. */
export interface ExportedState {
  readonly schema: string | null;
  readonly vars: [string, string][];
  readonly pins: number;
  readonly cursorStatement: number;
  readonly statements: { id: number; sql: string; schema: string | null; params: number; columns: number; types: string | null }[];
  readonly nextStatementId: number;
  /** A decimal string when past 2^53. */
  readonly lastInsertId: number | string;
  readonly rowCount: number;
  readonly readYourWritesUntil: number;
  readonly lastGtid?: string | null;
}

export interface MovedConn {
  readonly schema: string | null;
  readonly stateKey: string;
  readonly needsReset: boolean;
  readonly statusFlags: number;
  readonly capabilities: number;
  /** [cache key, server statement id, params, columns] */
  readonly statements: [string, number, number, number][];
  /** dbmesh's session_track settings are on (absent from older releases: set them again). */
  readonly tracking?: boolean;
}

// ---- master -> worker
/** `health`: the master monitor's current view (absent from older masters: the worker then monitors by itself). */
export interface ConfigMsg { v: number; act: 'config'; seq: number; config: Config; configVersion: number; slot: number; warm?: WarmShape[]; health?: HealthView; allowlist?: AllowlistWire }
/** The master monitor's view changed (state, role, primary): sent to every worker, not acknowledged. */
export interface HealthMsg { v: number; act: 'health'; seq: number; view: HealthView }
/** `allowlist`: the firewall allowlists, whole (the master sends them on every change). */
export interface AllowlistMsg { v: number; act: 'allowlist'; seq: number; wire: AllowlistWire }
export interface DrainMsg { v: number; act: 'drain'; seq: number; timeoutMs: number }
export interface StopMsg { v: number; act: 'stop'; seq: number; timeoutMs: number }
export interface AdoptMsg { v: number; act: 'adopt'; seq: number; token: string; part: 'backend' | 'client'; snapshot: SessionSnapshot | null }
export interface FindSessionMsg { v: number; act: 'find-session'; seq: number; connId: number; kill: boolean }
/** Reopen the slow log and capture files (logrotate moved them: SIGUSR1, or the master rotated them by size). */
export interface ReopenLogsMsg { v: number; act: 'reopen-logs'; seq: number }
export interface DebugAllocMsg { v: number; act: 'debug-alloc'; seq: number; mib: number }

// ---- worker -> master
/**
 * What a starting worker is doing, in order. The master starts in 'loading modules' (until
 * the worker's hello), and the worker reports each later phase as it begins ('boot'), so the
 * master judges readiness by progress, not by a wall-clock guess.
 */
export const BOOT_PHASES = ['loading modules', 'waiting for config', 'applying config', 'probing backends', 'warming pools', 'warming up code', 'listening'] as const;
export type BootPhase = typeof BOOT_PHASES[number];
export interface BootMsg { v: number; act: 'boot'; seq: number; phase: BootPhase }
/** Data of a worker's failed ack to its first config: where it failed, and the errno code. */
export interface BootFailureData { readonly phase: BootPhase; readonly code: string | null }
export interface ReadyMsg { v: number; act: 'ready'; seq: number; version: string; pid: number }
export interface AckMsg { v: number; act: 'ack'; seq: number; ack: number; ok: boolean; error?: string; data?: unknown }
export interface HandoffMsg { v: number; act: 'handoff'; seq: number; token: string; part: 'backend' | 'client'; snapshot: SessionSnapshot | null }
export interface AdoptedMsg { v: number; act: 'adopted'; seq: number; token: string; ok: boolean; error?: string }
export interface StatsMsg {
  v: number; act: 'stats'; seq: number; connections: number; draining: boolean;
  /** Sessions pinned to their backend connection, by reason (a session may count under several). */
  pinned?: Record<string, number>;
  /** Pool figures per cluster and backend. */
  pools?: Record<string, PoolFigures[]>;
  warm?: WarmShape[];
  /** What the worker's backend monitor last saw, per cluster. */
  backends?: Record<string, BackendFigures[]>;
}

/** One backend as the worker routes by it. */
export interface BackendFigures {
  readonly id: string;
  readonly up: boolean;
  readonly writable: boolean;
  /** Seconds behind its primary; null when not a replica or unknown, -1 when replication is stopped. */
  readonly lagSeconds: number | null;
  /** The monitor's state for it (absent from older workers). */
  readonly state?: string;
}

/**
 * Backend connections a worker holds for one login shape: a worker that takes over (upgrade,
 * replacement) opens as many before it reports ready, so moved sessions find them warm.
 */
export interface WarmShape {
  readonly cluster: string;
  readonly backend: string;
  readonly backendUser: string;
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  readonly charset: number;
  readonly schema: string | null;
  readonly open: number;
}

/** One backend pool's figures, as the worker's pool reports them. */
export type PoolFigures = PoolStats;
/** Statement digests and counters since the worker's last shipment (about every second, and once more as it exits). */
export interface InsightMsg { v: number; act: 'insight'; seq: number; delta: InsightDelta }
/** A session saw a backend fail (login timed out or refused, connection lost): the monitor should look now. */
export interface SuspectMsg { v: number; act: 'suspect'; seq: number; cluster: string; backend: string }
/** A session asks which backend thread serves dbmesh connection `connId` (KILL across workers). */
export interface LookupSessionMsg { v: number; act: 'lookup-session'; seq: number; connId: number; kill: boolean }

export type ToWorker = ConfigMsg | HealthMsg | AllowlistMsg | DrainMsg | StopMsg | AdoptMsg | FindSessionMsg | ReopenLogsMsg | DebugAllocMsg | AckMsg;
export type ToMaster = BootMsg | ReadyMsg | AckMsg | HandoffMsg | AdoptedMsg | StatsMsg | InsightMsg | LookupSessionMsg | SuspectMsg;

export function isIpcMessage(m: unknown): m is { v: number; act: string; seq: number } {
  return typeof m === 'object' && m !== null && typeof (m as { act?: unknown }).act === 'string' && typeof (m as { seq?: unknown }).seq === 'number';
}
