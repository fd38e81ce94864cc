/**
 * Where sessions find their backends: the monitor's view (monitor/health-view.ts) as the
 * router reads it. Under the master, the view arrives over IPC (one monitor per instance);
 * a worker started by a master that predates it, or a standalone proxy, runs a monitor of its
 * own (LocalMonitor below) and reads the same view.
 *
 * Each view is compiled once into per-cluster lists (primary, read candidates, index by id)
 * and swapped in by reference: the per-statement calls only read them and allocate nothing.
 * A backend a session saw fail (login timed out, connection refused) is left out of new
 * statements here at once, until the monitor's next word on it or a short while, so new
 * statements avoid it before the monitor has confirmed it down.
 */
import type { BackendConfig, ClusterConfig, Config } from '../config/types.js';
import type { Greeting } from '../protocol/handshake.js';
import type { Logger } from '../observability/logger.js';
import { isServing, type BackendHealth, type BackendState, type HealthView } from '../monitor/health-view.js';
import { Monitor } from '../monitor/monitor.js';

export interface BackendStatus {
  readonly config: BackendConfig;
  readonly state: BackendState;
  /** Takes new statements for its role (up, or lagging: then no reads). */
  readonly up: boolean;
  readonly writable: boolean;
  /** Seconds behind; null when not a replica or unknown; -1 when replication is stopped. */
  readonly lagSeconds: number | null;
  readonly checkedAt: number;
  /** The server's max_connections; null: unknown. */
  readonly maxConnections: number | null;
}

export interface BackendDirectory {
  /** The backend that takes this cluster's writes, or null when none is serving. */
  primary(cluster: string): BackendConfig | null;
  /** Where reads may go besides the primary: serving replicas within the lag bound (tidb: serving members). Same array until the next view. */
  readable(cluster: string): readonly BackendStatus[];
  /** A serving backend by id (the `dbmesh:backend=<id>` hint); null when unknown, down or drained. */
  backend(cluster: string, id: string): BackendStatus | null;
  /** Every configured backend of the cluster with its state (status). */
  status(cluster: string): readonly BackendStatus[];
  /** Called after every new view (and after a reload changed the backend list). */
  onChange(listener: () => void): void;
  /** Resolves at the next new view, or after `ms` (writes waiting for a primary). */
  nextChange(ms: number): Promise<void>;
  /** Calls `listener` at every new view until the returned function is called (cheap to cancel). */
  watch(listener: () => void): () => void;
  /**
   * A session saw this backend fail: ask the monitor to look now, and with `exclude` (it could
   * not be reached at all) leave it out of new statements until the monitor's word.
   */
  suspect(cluster: string, backendId: string, exclude?: boolean): void;
  /** Whether the backend is being drained or disabled (sessions leave it at their next boundary). */
  leaving(cluster: string, backendId: string): boolean;
  /** When no backend of the cluster can serve (all down or disabled): why, per backend; else null. */
  outage(cluster: string): string | null;
  /** What the cluster's servers said in their greeting (for greeting clients). */
  greeting(cluster: string): Greeting | null;
  /** Remember a greeting seen on a fresh backend connection (keeps the version current). */
  noteGreeting(cluster: string, g: Greeting): void;
}

const EMPTY: readonly BackendStatus[] = Object.freeze([]);
/** A suspected backend stays out of new statements this long at most without the monitor's word. */
const SUSPECT_MS = 3000;

interface ClusterLists {
  readonly statuses: readonly BackendStatus[];
  readonly primary: BackendStatus | null;
  readonly readable: readonly BackendStatus[];
  readonly byId: ReadonlyMap<string, BackendStatus>;
  readonly leaving: ReadonlySet<string>;
  readonly outage: string | null;
}

function statusOf(b: BackendConfig, h: BackendHealth | undefined): BackendStatus {
  return Object.freeze({
    config: b, state: h?.state ?? 'down', up: h !== undefined && isServing(h.state), writable: h?.writable ?? false,
    lagSeconds: h?.lagSeconds ?? null, checkedAt: h?.checkedAt ?? 0, maxConnections: h?.maxConnections ?? null,
  });
}

function compile(c: ClusterConfig, view: HealthView | null, suspects: ReadonlyMap<string, number>, now: number): ClusterLists {
  const health = view?.clusters[c.name];
  const byHealth = new Map((health?.backends ?? []).map((h) => [h.id, h]));
  const statuses = Object.freeze(c.backends.map((b) => statusOf(b, byHealth.get(b.id))));
  const ok = (s: BackendStatus): boolean => (suspects.get(`${c.name}/${s.config.id}`) ?? 0) <= now;
  // A failing probe (not yet down) costs a replica its reads at once; a primary keeps writes until down.
  const steady = (s: BackendStatus): boolean => ok(s) && byHealth.get(s.config.id)?.failing !== true;
  const primaryId = c.type === 'tidb' ? null : health?.primary ?? null;
  const primary = statuses.find((s) => s.config.id === primaryId && ok(s)) ?? null;
  const readable = Object.freeze(statuses.filter((s) => s.state === 'up' && s !== primary && steady(s) && (c.type === 'tidb' || !s.writable)));
  const leaving = new Set(statuses.filter((s) => s.state === 'draining' || s.state === 'disabled').map((s) => s.config.id));
  // Known down (probed, not merely suspected): waiting for a failover would be in vain.
  const dead = health !== undefined && health.backends.length > 0 &&
    health.backends.every((h) => h.checkedAt > 0 && (h.state === 'down' || h.state === 'disabled'));
  const outage = dead ? `every backend is down (${health.backends.map((h) => `${h.id}: ${h.state === 'disabled' ? 'disabled' : h.reason}`).join('; ')})` : null;
  return { statuses, primary, readable, byId: new Map(statuses.map((s) => [s.config.id, s])), leaving, outage };
}

export class HealthDirectory implements BackendDirectory {
  private lists = new Map<string, ClusterLists>();
  private view: HealthView | null = null;
  private greetings = new Map<string, Greeting>();
  private readonly listeners: (() => void)[] = [];
  private waiters: (() => void)[] = [];
  /** Sessions waiting for a login, watching whether its backend leaves the rotation. */
  private readonly watchers = new Set<() => void>();
  private readonly suspects = new Map<string, number>();
  private suspectTimer: NodeJS.Timeout | null = null;
  /** Tells the monitor (the master's, or the local one) that a backend failed for a session. */
  onSuspect: ((cluster: string, backendId: string) => void) | null = null;

  constructor(private config: Config) {
    this.compileAll();
  }

  /** A new view from the monitor. */
  apply(view: HealthView): void {
    this.view = view;
    // The monitor has spoken since: its word replaces the sessions' suspicion.
    this.suspects.clear();
    for (const [name, c] of Object.entries(view.clusters)) {
      if (c.greeting !== null && !this.greetings.has(name)) this.greetings.set(name, greetingOf(c.greeting));
      else if (c.greeting !== null && this.greetings.get(name)!.serverVersion !== c.greeting.serverVersion) this.greetings.set(name, greetingOf(c.greeting));
    }
    this.changed();
  }

  setConfig(config: Config): void {
    this.config = config;
    this.changed();
  }

  get viewSeq(): number {
    return this.view?.seq ?? -1;
  }

  currentView(): HealthView | null {
    return this.view;
  }

  primary(cluster: string): BackendConfig | null {
    return this.lists.get(cluster)?.primary?.config ?? null;
  }

  readable(cluster: string): readonly BackendStatus[] {
    return this.lists.get(cluster)?.readable ?? EMPTY;
  }

  backend(cluster: string, id: string): BackendStatus | null {
    const s = this.lists.get(cluster)?.byId.get(id);
    return s !== undefined && s.up ? s : null;
  }

  status(cluster: string): readonly BackendStatus[] {
    return this.lists.get(cluster)?.statuses ?? EMPTY;
  }

  leaving(cluster: string, backendId: string): boolean {
    return this.lists.get(cluster)?.leaving.has(backendId) ?? false;
  }

  outage(cluster: string): string | null {
    return this.lists.get(cluster)?.outage ?? null;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  watch(listener: () => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      }, Math.max(0, ms));
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
    });
  }

  suspect(cluster: string, backendId: string, exclude = true): void {
    if (!exclude) {
      this.onSuspect?.(cluster, backendId);
      return;
    }
    const key = `${cluster}/${backendId}`;
    const now = Date.now();
    if ((this.suspects.get(key) ?? 0) > now) return;
    this.suspects.set(key, now + SUSPECT_MS);
    this.onSuspect?.(cluster, backendId);
    if (this.suspectTimer === null) {
      this.suspectTimer = setTimeout(() => {
        this.suspectTimer = null;
        const t = Date.now();
        for (const [k, until] of this.suspects) if (until <= t) this.suspects.delete(k);
        this.changed();
      }, SUSPECT_MS + 10).unref();
    }
    this.changed();
  }

  greeting(cluster: string): Greeting | null {
    return this.greetings.get(cluster) ?? null;
  }

  noteGreeting(cluster: string, g: Greeting): void {
    this.greetings.set(cluster, g);
  }

  private compileAll(): void {
    const now = Date.now();
    const next = new Map<string, ClusterLists>();
    for (const c of this.config.clusters) next.set(c.name, compile(c, this.view, this.suspects, now));
    this.lists = next;
  }

  private changed(): void {
    this.compileAll();
    for (const l of this.listeners) l();
    for (const w of this.waiters.splice(0)) w();
    for (const w of [...this.watchers]) w();
  }
}

function greetingOf(g: { serverVersion: string; capabilities: number; charset: number; mariadbCapabilities: number }): Greeting {
  return {
    protocolVersion: 10, serverVersion: g.serverVersion, connectionId: 0, scramble: Buffer.alloc(0), capabilities: g.capabilities,
    charset: g.charset, statusFlags: 0, authPlugin: 'mysql_native_password', mariadbCapabilities: g.mariadbCapabilities,
  };
}

/** A monitor inside this process (standalone proxy, or a master that sends no view): feeds `dir`. */
export class LocalMonitor {
  private readonly monitor: Monitor;

  constructor(config: Config, private readonly dir: HealthDirectory, log: Logger) {
    this.monitor = new Monitor(config, log);
    this.monitor.onChange((v) => dir.apply(v));
    dir.onSuspect = (cluster, id) => this.monitor.suspect(cluster, id);
  }

  async start(): Promise<void> {
    await this.monitor.start();
    this.dir.apply(this.monitor.view());
  }

  setConfig(config: Config): Promise<void> {
    return this.monitor.setConfig(config);
  }

  setOperatorState(...args: Parameters<Monitor['setOperatorState']>): ReturnType<Monitor['setOperatorState']> {
    return this.monitor.setOperatorState(...args);
  }

  stop(): void {
    this.monitor.stop();
  }
}
