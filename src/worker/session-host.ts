/**
 * What a session needs from the worker that owns it. Kept as an interface so sessions can be
 * tested and so the worker server, not the session, owns registries and counters.
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { CloseReason } from '../observability/close-reasons.js';
import type { Greeting } from '../protocol/handshake.js';
import type { BackendDirectory } from './backends.js';
import type { ClientSession } from './session.js';
import type { ClusterPools } from './cluster-pools.js';
import type { WorkerInsight } from '../insight/worker-insight.js';
import type { Firewall } from './firewall.js';
import type { UserLimits } from './user-limits.js';

export interface SessionHost {
  readonly config: Config;
  readonly directory: BackendDirectory;
  readonly pools: ClusterPools;
  readonly log: Logger;
  /** The after-statement observers (digests, metrics, slow log, capture). */
  readonly insight: WorkerInsight;
  /** The SQL firewall: checked on every statement text before it is routed. */
  readonly firewall: Firewall;
  /** users[].limits: statement slots and rates per user in this worker. */
  readonly limits: UserLimits;
  /** Count a connection of a user with limits (over all workers); false: over maxConnections. */
  admitConnection(s: ClientSession): Promise<boolean>;
  /** The connection no longer counts for the user it was admitted as (closed, moved, changed user). */
  connectionEnded(s: ClientSession): void;
  /** Cluster whose greeting is shown before the user is known. */
  defaultCluster(): string;
  offeredCapabilities(greeting: Greeting | null): number;
  findSession(id: number): ClientSession | undefined;
  sessionClosed(s: ClientSession, reason: CloseReason): void;
  /** The client authenticated: its handshake no longer counts against limits.maxPendingHandshakes. */
  sessionAuthenticated(s: ClientSession): void;
  /** The session just finished a command (or its handshake): a safe point to move or close it. */
  sessionAtBoundary(s: ClientSession): void;
  /**
   * Find a session in another worker (KILL of an id this worker does not hold). `kill`: the
   * server allowed the KILL, so the other worker ends the session (now if idle, else when its
   * statement ends); without it the lookup changes nothing.
   */
  lookupRemoteSession(id: number, kill: boolean): Promise<RemoteSession | null>;
  /** The session left this worker (handed off); not a close. */
  sessionMoved(s: ClientSession): void;
}

/** Where a session in another worker runs now (for KILL): its backend thread and backend, and its user. */
export interface RemoteSession {
  readonly threadId: number;
  readonly backendId: string;
  /** Its configured user name (absent from older releases). */
  readonly user?: string;
}
