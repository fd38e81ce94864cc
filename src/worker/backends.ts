/**
 * Where sessions find their backend, and the role and lag source the router reads until the
 * health monitor lands (it will implement `BackendDirectory` instead).
 *
 * A probe round asks every backend, as the monitor user, `SELECT @@read_only` and, when a
 * member of a replication cluster is read-only, its replica status (Seconds_Behind_Master).
 * Rounds run every `monitor.intervalMs` between start() and stop(), and on demand (refresh())
 * when a session finds no usable primary; callers during a round share it, so rounds never
 * overlap. While the loop runs each backend keeps one monitor connection across rounds;
 * without the loop, connections are closed after each round.
 *
 * Each round is compiled once into an immutable view per cluster (primary, replicas, index by
 * id) and swapped in by reference: the per-statement calls only read it and allocate nothing.
 *
 * The directory also remembers each backend's greeting (server version, capabilities,
 * charset), so dbmesh can greet clients exactly as the server would without first opening a
 * backend connection.
 */
import type { BackendConfig, ClusterConfig, Config } from '../config/types.js';
import { connectBackend, type BackendSession } from '../pool/backend-connect.js';
import { QueryError, simpleQuery, simpleQueryResult, type QueryResult } from '../pool/simple-query.js';
import type { Greeting } from '../protocol/handshake.js';
import {
  CLIENT_LONG_PASSWORD, CLIENT_PLUGIN_AUTH, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION,
  CLIENT_TRANSACTIONS, COM_QUIT, UTF8MB4_GENERAL_CI,
} from '../protocol/constants.js';
import { frame } from '../protocol/framing.js';
import { logger } from '../observability/logger.js';

export interface BackendStatus {
  readonly config: BackendConfig;
  readonly up: boolean;
  readonly writable: boolean;
  /**
   * Replication lag in seconds; Infinity when replication is stopped (unusable). null: not a
   * replica (writable, or read-only without replication) or unknown. tidb backends: 0.
   */
  readonly lagSeconds: number | null;
  /** When this state was probed (ms since epoch); 0: never probed. */
  readonly checkedAt: number;
}

export interface BackendDirectory {
  /** The backend that takes this cluster's writes, or null when none is known to be up. */
  primary(cluster: string): BackendConfig | null;
  /** Backends up and not the primary (tidb: every up backend). Same array until the next round. */
  replicas(cluster: string): readonly BackendStatus[];
  /** replicas() whose lag is known and at most `maxLagSeconds`. Same array until the next round. */
  usableReplicas(cluster: string, maxLagSeconds: number): readonly BackendStatus[];
  /** A backend by id (the `dbmesh:backend=<id>` hint); null when unknown or down. */
  backend(cluster: string, id: string): BackendStatus | null;
  /** Every configured backend of the cluster with its last probed state (admin, status). */
  status(cluster: string): readonly BackendStatus[];
  /** Called after every probe round (and after a reload changed the backend list). */
  onChange(listener: () => void): void;
  /** What the cluster's servers said in their greeting (for greeting clients). */
  greeting(cluster: string): Greeting | null;
  /** Remember a greeting seen on a fresh backend connection (keeps the version current). */
  noteGreeting(cluster: string, g: Greeting): void;
  /** Probe now (after a session failed to reach the primary); shares a round in flight. */
  refresh(): Promise<void>;
}

const PROBE_CAPS = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_TRANSACTIONS;
const EMPTY: readonly BackendStatus[] = Object.freeze([]);
/** MariaDB lists every replication source; MySQL 8.0.22+ says REPLICA, older ones SLAVE. */
const MARIADB_STATUS_SQL = ['SHOW ALL SLAVES STATUS'];
const MYSQL_STATUS_SQL = ['SHOW REPLICA STATUS', 'SHOW SLAVE STATUS'];

interface Probe {
  readonly writable: boolean;
  readonly lagSeconds: number | null;
  /** Why the lag could not be read although the server answered (privileges, syntax). */
  readonly lagError: string | null;
  readonly greeting: Greeting;
}

interface Outcome {
  readonly probe: Probe | null;
  readonly error: string | null;
  readonly at: number;
}

/** Max Seconds_Behind_Master over the replication sources; a NULL (thread stopped) is Infinity. */
function lagOf(r: QueryResult): number | null {
  let col = r.columns.indexOf('Seconds_Behind_Master');
  if (col < 0) col = r.columns.indexOf('Seconds_Behind_Source');
  if (col < 0 || r.rows.length === 0) return null;
  let lag = 0;
  for (const row of r.rows) {
    const v = row[col];
    lag = Math.max(lag, v === null || v === undefined ? Infinity : Number(v));
  }
  return lag;
}

/** One monitor connection to one backend, kept across rounds and reopened after a failure. */
class MonitorLink {
  private session: BackendSession | null = null;
  /** The replica-status statement this server understood, once known. */
  private statusSql: string | null = null;

  constructor(readonly host: string, readonly port: number, readonly user: string, readonly password: string) {}

  async probe(timeoutMs: number, wantLag: boolean): Promise<Probe> {
    if (this.session !== null) {
      try {
        return await this.ask(this.session, timeoutMs, wantLag);
      } catch {
        // A kept connection can die between rounds (restart, wait_timeout) before its close
        // event is seen: try once more on a new one before calling the backend down.
        this.close();
      }
    }
    const s = await this.connect(timeoutMs);
    try {
      return await this.ask(s, timeoutMs, wantLag);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  close(): void {
    const s = this.session;
    this.session = null;
    if (s !== null && !s.socket.destroyed) s.socket.end(frame(Buffer.from([COM_QUIT]), 0).bytes);
  }

  private async connect(timeoutMs: number): Promise<BackendSession> {
    const s = await connectBackend({
      host: this.host, port: this.port, user: this.user, password: this.password,
      database: null, capabilities: PROBE_CAPS, charset: UTF8MB4_GENERAL_CI, connectAttrs: null, timeoutMs,
    });
    s.socket.on('error', () => {}); // the close that follows is what counts
    s.socket.once('close', () => { if (this.session === s) this.session = null; });
    s.socket.unref(); // a monitor connection never keeps a process alive
    this.session = s;
    return s;
  }

  private async ask(s: BackendSession, timeoutMs: number, wantLag: boolean): Promise<Probe> {
    const rows = await simpleQuery(s, 'SELECT @@read_only', timeoutMs);
    const writable = rows[0]?.[0] === '0';
    if (writable || !wantLag) return { writable, lagSeconds: null, lagError: null, greeting: s.greeting };
    const { lag, error } = await this.lag(s, timeoutMs);
    return { writable, lagSeconds: lag, lagError: error, greeting: s.greeting };
  }

  private async lag(s: BackendSession, timeoutMs: number): Promise<{ lag: number | null; error: string | null }> {
    const candidates = this.statusSql !== null ? [this.statusSql]
      : s.greeting.serverVersion.includes('MariaDB') ? MARIADB_STATUS_SQL : MYSQL_STATUS_SQL;
    let error = '';
    for (const sql of candidates) {
      try {
        const lag = lagOf(await simpleQueryResult(s, sql, timeoutMs));
        this.statusSql = sql;
        return { lag, error: null };
      } catch (err) {
        if (!(err instanceof QueryError)) throw err; // network: the backend is down
        error = `${sql}: ${err.errno} ${err.message}`;
      }
    }
    return { lag: null, error };
  }
}

interface ClusterView {
  readonly statuses: readonly BackendStatus[];
  readonly primary: BackendStatus | null;
  readonly replicas: readonly BackendStatus[];
  readonly byId: ReadonlyMap<string, BackendStatus>;
  /** usableReplicas() answers by lag bound, filled on first use in this round. */
  readonly usable: Map<number, readonly BackendStatus[]>;
}

const endpoint = (b: BackendConfig): string => `${b.host}:${b.port}`;

function statusOf(b: BackendConfig, o: Outcome | undefined, tidb: boolean): BackendStatus {
  const p = o?.probe ?? null;
  return Object.freeze({
    config: b, up: p !== null, writable: p?.writable ?? false,
    lagSeconds: p === null ? null : tidb ? 0 : p.lagSeconds, checkedAt: o?.at ?? 0,
  });
}

function buildView(cluster: ClusterConfig, outcomes: ReadonlyMap<string, Outcome>): ClusterView {
  const tidb = cluster.type === 'tidb';
  const statuses = Object.freeze(cluster.backends.map((b) => statusOf(b, outcomes.get(endpoint(b)), tidb)));
  const up = statuses.filter((s) => s.up);
  // tidb clusters: every backend takes writes. replication: the one with read_only=0.
  const primary = (tidb ? up[0] : up.find((s) => s.writable)) ?? null;
  const replicas = Object.freeze(tidb ? up : up.filter((s) => s !== primary));
  return { statuses, primary, replicas, byId: new Map(statuses.map((s) => [s.config.id, s])), usable: new Map() };
}

export class ReadOnlyProbeDirectory implements BackendDirectory {
  private views = new Map<string, ClusterView>();
  private readonly outcomes = new Map<string, Outcome>();
  private readonly links = new Map<string, MonitorLink>();
  private greetings = new Map<string, Greeting>();
  private readonly listeners: (() => void)[] = [];
  private refreshing: Promise<void> | null = null;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly log = logger('backends');

  constructor(private config: Config) {
    for (const c of config.clusters) this.views.set(c.name, buildView(c, this.outcomes));
  }

  primary(cluster: string): BackendConfig | null {
    return this.views.get(cluster)?.primary?.config ?? null;
  }

  replicas(cluster: string): readonly BackendStatus[] {
    return this.views.get(cluster)?.replicas ?? EMPTY;
  }

  usableReplicas(cluster: string, maxLagSeconds: number): readonly BackendStatus[] {
    const v = this.views.get(cluster);
    if (v === undefined) return EMPTY;
    let list = v.usable.get(maxLagSeconds);
    if (list === undefined) {
      list = Object.freeze(v.replicas.filter((s) => s.lagSeconds !== null && s.lagSeconds <= maxLagSeconds));
      if (v.usable.size < 16) v.usable.set(maxLagSeconds, list);
    }
    return list;
  }

  backend(cluster: string, id: string): BackendStatus | null {
    const s = this.views.get(cluster)?.byId.get(id);
    return s !== undefined && s.up ? s : null;
  }

  status(cluster: string): readonly BackendStatus[] {
    return this.views.get(cluster)?.statuses ?? EMPTY;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  greeting(cluster: string): Greeting | null {
    return this.greetings.get(cluster) ?? null;
  }

  noteGreeting(cluster: string, g: Greeting): void {
    this.greetings.set(cluster, g);
  }

  /** Probe now, then every `monitor.intervalMs` (after each round ends) until stop(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.timer === null) this.tick();
  }

  /** Stop the loop, let a round in flight finish, close the monitor connections. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.refreshing;
    this.closeLinks(() => true);
  }

  /** Swap in a new config snapshot (reload) and re-probe. */
  async setConfig(config: Config): Promise<void> {
    this.config = config;
    this.publish(); // removed backends stop being offered at once; new ones wait for a probe
    await this.refreshing; // a round in flight probes the old backend list
    await this.refresh();
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.round().finally(() => { this.refreshing = null; });
    return this.refreshing;
  }

  private readonly tick = (): void => {
    this.timer = null;
    void this.refresh()
      .catch((err: Error) => this.log.error('backend probe round failed', { error: err.message }))
      .then(() => {
        if (this.running && this.timer === null) this.timer = setTimeout(this.tick, this.config.monitor.intervalMs).unref();
      });
  };

  private async round(): Promise<void> {
    const config = this.config;
    // An endpoint named by several clusters is probed once; lag matters if any replicates.
    const targets = new Map<string, { b: BackendConfig; wantLag: boolean }>();
    for (const c of config.clusters) {
      for (const b of c.backends) {
        const k = endpoint(b);
        targets.set(k, { b, wantLag: (targets.get(k)?.wantLag ?? false) || c.type === 'replication' });
      }
    }
    const { user, password } = config.monitor;
    this.closeLinks((k, l) => !targets.has(k) || l.user !== user || l.password !== password);
    for (const k of this.outcomes.keys()) if (!targets.has(k)) this.outcomes.delete(k);
    await Promise.all([...targets].map(async ([k, t]) => {
      let link = this.links.get(k);
      if (link === undefined) this.links.set(k, link = new MonitorLink(t.b.host, t.b.port, user, password));
      this.outcomes.set(k, await this.probeOne(k, link, t.wantLag, config.limits.connectTimeoutMs));
    }));
    if (!this.running) this.closeLinks(() => true);
    this.publish();
  }

  private async probeOne(k: string, link: MonitorLink, wantLag: boolean, timeoutMs: number): Promise<Outcome> {
    try {
      const probe = await link.probe(timeoutMs, wantLag);
      const before = this.outcomes.get(k)?.probe?.lagError ?? null;
      if (probe.lagError !== null && probe.lagError !== before) this.log.warn('replica lag unreadable', { endpoint: k, error: probe.lagError });
      return { probe, error: null, at: Date.now() };
    } catch (err) {
      return { probe: null, error: (err as Error).message, at: Date.now() };
    }
  }

  private closeLinks(which: (k: string, l: MonitorLink) => boolean): void {
    for (const [k, l] of this.links) {
      if (!which(k, l)) continue;
      l.close();
      this.links.delete(k);
    }
  }

  /** Compile the views from the latest outcomes, swap them in, log what changed, notify. */
  private publish(): void {
    const next = new Map<string, ClusterView>();
    for (const c of this.config.clusters) {
      const v = buildView(c, this.outcomes);
      next.set(c.name, v);
      this.logChanges(c.name, this.views.get(c.name), v);
      const shown = v.primary ?? v.replicas[0];
      const g = shown === undefined ? undefined : this.outcomes.get(endpoint(shown.config))?.probe?.greeting;
      if (g !== undefined) this.greetings.set(c.name, g);
    }
    this.views = next;
    for (const l of this.listeners) {
      try {
        l();
      } catch (err) {
        this.log.error('backend change listener failed', { error: (err as Error).message });
      }
    }
  }

  /** Role changes only: primary moved, backend down or up, replication stopped or resumed. */
  private logChanges(cluster: string, before: ClusterView | undefined, after: ClusterView): void {
    const probedBefore = before !== undefined && before.statuses.some((s) => s.checkedAt > 0);
    const primaryBefore = before?.primary?.config.id ?? null;
    const primaryAfter = after.primary?.config.id ?? null;
    if (!probedBefore && after.statuses.some((s) => s.checkedAt > 0)) {
      this.log.info('backend roles probed', {
        cluster, primary: primaryAfter, up: after.statuses.filter((s) => s.up).map((s) => s.config.id),
        down: after.statuses.filter((s) => !s.up).map((s) => s.config.id),
      });
    } else if (probedBefore && primaryBefore !== primaryAfter) {
      this.log.warn('primary changed', { cluster, from: primaryBefore, to: primaryAfter });
    }
    for (const s of after.statuses) {
      if (s.checkedAt === 0) continue;
      const old = before?.byId.get(s.config.id);
      const known = old !== undefined && old.checkedAt > 0;
      const backend = s.config.id;
      if (!s.up && (!known || old.up)) {
        this.log.warn('backend down', { cluster, backend, error: this.outcomes.get(endpoint(s.config))?.error ?? null });
      } else if (s.up && known && !old.up) {
        this.log.info('backend up', { cluster, backend, writable: s.writable });
      }
      const stopped = s.lagSeconds === Infinity;
      const wasStopped = known && old.lagSeconds === Infinity;
      if (stopped && !wasStopped) this.log.warn('replica not replicating', { cluster, backend });
      else if (!stopped && wasStopped && s.up) this.log.info('replica replicating again', { cluster, backend, lag_seconds: s.lagSeconds });
    }
  }
}
