/**
 * The backend monitor: one per dbmesh instance (it runs in the master), one connection per
 * backend endpoint whatever the number of workers. Each endpoint is probed on its own clock
 * (every `monitor.intervalMs`; sooner after a failure, to confirm it), so a hung server delays
 * nobody else's probes. After every probe the cluster views are rebuilt; when something that
 * routing depends on changed (state, role, primary, greeting) the new view is published to
 * the listeners (the supervisor sends it to every worker) and each change is logged with its
 * reason.
 */
import type { Config, UserConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { afterProbe, UNPROBED, type EndpointHealth } from './backend-health.js';
import { clusterHealth, endpointOf } from './cluster-health.js';
import type { BackendHealth, ClusterHealth, HealthView, OperatorState } from './health-view.js';
import { MonitorLink, type Account } from './monitor-link.js';

/** After a failed probe the next comes this fraction of the interval later (at least 100 ms). */
const CONFIRM_FRACTION = 0.25;
/** A worker's report of a failing backend probes it at most this often. */
const SUSPECT_MIN_GAP_MS = 200;

interface Target {
  readonly wantLag: boolean;
  /** Only tidb clusters name the endpoint: `SELECT 1` is the whole probe. */
  readonly tidb: boolean;
  readonly fallback: Account | null;
}

class EndpointProbe {
  health: EndpointHealth = UNPROBED;
  accountError: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private lastStart = 0;
  stopped = false;

  constructor(readonly key: string, readonly link: MonitorLink, public target: Target, private readonly monitor: Monitor) {}

  /** Probe now unless one runs; the next is scheduled when it ends. */
  probeNow(): Promise<void> {
    if (this.running !== null) return this.running;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.lastStart = Date.now();
    this.running = this.once().finally(() => {
      this.running = null;
      this.schedule();
    });
    return this.running;
  }

  suspect(): void {
    if (this.running === null && Date.now() - this.lastStart >= SUSPECT_MIN_GAP_MS) void this.probeNow();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.link.close();
  }

  private schedule(): void {
    if (this.stopped || !this.monitor.running) return;
    const m = this.monitor.config.monitor;
    const failing = this.health.failures > 0 || this.health.status === 'recovering';
    const delay = failing ? Math.max(100, m.intervalMs * CONFIRM_FRACTION) : m.intervalMs;
    this.timer = setTimeout(() => void this.probeNow(), delay).unref();
  }

  private async once(): Promise<void> {
    const m = this.monitor.config.monitor;
    const t0 = performance.now();
    const { result, accountError } = await this.link.probe(m.timeoutMs, this.target.wantLag, this.target.tidb);
    if (this.stopped) return;
    const ms = Math.round(performance.now() - t0);
    this.health = afterProbe(this.health, result, m, Date.now(), ms);
    this.accountError = accountError;
    this.monitor.probed();
  }
}

export class Monitor {
  running = false;
  private readonly probes = new Map<string, EndpointProbe>();
  private readonly operator = new Map<string, { state: OperatorState; since: number }>();
  private readonly primaries = new Map<string, string | null>();
  private readonly listeners: ((view: HealthView) => void)[] = [];
  private readonly probeListeners: (() => void)[] = [];
  private current: HealthView;
  private signature = '';
  private seq = 0;
  private misconfigured: string | null = null;
  private loggedMisconfigured: string | null = null;
  private readonly changeCounts = new Map<string, number>();
  /** Clusters whose first full probe round was logged. */
  private readonly announced = new Set<string>();

  constructor(public config: Config, private readonly log: Logger) {
    this.syncTargets();
    this.current = this.build();
  }

  view(): HealthView {
    return this.current;
  }

  onChange(listener: (view: HealthView) => void): void {
    this.listeners.push(listener);
  }

  /** Called after every probe, changed or not (tests wait on figures such as lag with it). */
  onProbe(listener: () => void): void {
    this.probeListeners.push(listener);
  }

  /** Start probing every endpoint; resolves when each was probed once (each bounded by the timeouts). */
  async start(): Promise<void> {
    this.running = true;
    await Promise.all([...this.probes.values()].map((p) => p.probeNow()));
  }

  stop(): void {
    this.running = false;
    for (const p of this.probes.values()) p.stop();
  }

  /** A reload: new endpoints are probed at once, removed ones closed, operator states of removed backends forgotten. */
  async setConfig(config: Config): Promise<void> {
    this.config = config;
    const added = this.syncTargets();
    const ids = new Set(config.clusters.flatMap((c) => c.backends.map((b) => `${c.name}/${b.id}`)));
    for (const k of this.operator.keys()) if (!ids.has(k)) this.operator.delete(k);
    this.probed();
    if (this.running) await Promise.all(added.map((p) => p.probeNow()));
  }

  /** A worker saw a backend fail (connection lost, login timed out): probe it now. */
  suspect(cluster: string, backendId: string): void {
    const b = this.config.clusters.find((c) => c.name === cluster)?.backends.find((x) => x.id === backendId);
    if (b !== undefined) this.probes.get(endpointOf(b))?.suspect();
  }

  /** Probe every endpoint now; resolves when done (tests, `dbmesh status --probe`). */
  async probeAll(): Promise<void> {
    await Promise.all([...this.probes.values()].map((p) => p.probeNow()));
  }

  /** Operator action; returns the backend's health after it, or null when the backend is unknown. */
  setOperatorState(cluster: string, backendId: string, state: OperatorState): BackendHealth | null {
    const c = this.config.clusters.find((x) => x.name === cluster);
    if (c === undefined || !c.backends.some((b) => b.id === backendId)) return null;
    const key = `${cluster}/${backendId}`;
    if (state === 'none') this.operator.delete(key);
    else if (this.operator.get(key)?.state !== state) this.operator.set(key, { state, since: Date.now() });
    this.log.warn('backend operator state set', { cluster, backend: backendId, state: state === 'none' ? 'enabled' : state });
    this.probed();
    return this.current.clusters[cluster]?.backends.find((b) => b.id === backendId) ?? null;
  }

  /** Rebuild the views after a probe or an operator action; publish when routing would change. */
  probed(): void {
    const before = this.current;
    const next = this.build();
    this.noteMisconfigured();
    this.announceFirstRound(next);
    const sig = signatureOf(next);
    if (sig === this.signature) {
      // Same routing: keep the published seq, refresh figures (lag, probe times) for status.
      this.current = { ...next, seq: before.seq, changes: before.changes };
      for (const l of this.probeListeners) l();
      return;
    }
    this.signature = sig;
    this.current = { ...next, seq: ++this.seq };
    this.logChanges(before, this.current);
    this.current = { ...this.current, changes: Object.fromEntries(this.changeCounts) };
    for (const l of this.listeners) {
      try {
        l(this.current);
      } catch (err) {
        this.log.error('health listener failed', { error: (err as Error).message });
      }
    }
    for (const l of this.probeListeners) l();
  }

  private build(): HealthView {
    const clusters: Record<string, ClusterHealth> = {};
    const alerts: string[] = [];
    const endpoint = (k: string): EndpointHealth => this.probes.get(k)?.health ?? UNPROBED;
    for (const c of this.config.clusters) {
      const op = (id: string): { state: OperatorState; since: number } => this.operator.get(`${c.name}/${id}`) ?? { state: 'none', since: 0 };
      const out = clusterHealth(c, endpoint, op, this.primaries.get(c.name) ?? null);
      clusters[c.name] = out.health;
      if (out.health.primary !== null) this.primaries.set(c.name, out.health.primary);
      alerts.push(...out.alerts);
    }
    const refused = [...this.probes.values()].find((p) => p.accountError !== null);
    const blind = [...this.probes.values()].find((p) => p.health.facts?.lagError != null);
    this.misconfigured = refused !== undefined
      ? `monitor account '${this.config.monitor.user}' refused by ${refused.key}: ${refused.accountError}; roles are probed with a configured user's login until monitor.user/password are fixed`
      : blind !== undefined
        ? `monitor account '${this.config.monitor.user}' cannot read replication status on ${blind.key}: ${blind.health.facts!.lagError}; replicas serve reads with their lag unknown (grant it REPLICATION CLIENT or SLAVE MONITOR)`
        : null;
    if (this.misconfigured !== null) alerts.unshift(this.misconfigured);
    const complete = [...this.probes.values()].every((p) => p.health.checkedAt > 0);
    return { seq: this.seq, clusters, alerts, misconfigured: this.misconfigured, complete, changes: Object.fromEntries(this.changeCounts) };
  }

  /** Once per cluster: every backend probed for the first time (roles known). */
  private announceFirstRound(v: HealthView): void {
    for (const [name, c] of Object.entries(v.clusters)) {
      if (this.announced.has(name) || !c.backends.every((b) => b.checkedAt > 0)) continue;
      this.announced.add(name);
      this.log.info('backend roles probed', {
        cluster: name, primary: c.primary, up: c.backends.filter((b) => b.state === 'up').map((b) => b.id),
        down: c.backends.filter((b) => b.state === 'down').map((b) => b.id),
      });
    }
  }

  private noteMisconfigured(): void {
    if (this.misconfigured === this.loggedMisconfigured) return;
    if (this.misconfigured !== null) this.log.error('monitor misconfigured: its account cannot log in; backends count as up, roles come from a fallback login', { monitor_user: this.config.monitor.user, error: this.misconfigured });
    else this.log.info('monitor account works again', { monitor_user: this.config.monitor.user });
    this.loggedMisconfigured = this.misconfigured;
  }

  /** Make the probes match the config; returns the ones added. */
  private syncTargets(): EndpointProbe[] {
    const targets = new Map<string, { host: string; port: number; target: Target }>();
    for (const c of this.config.clusters) {
      const fallbackUser = this.config.users.find((u) => u.cluster === c.name);
      for (const b of c.backends) {
        const k = endpointOf(b);
        const prev = targets.get(k)?.target;
        targets.set(k, { host: b.host, port: b.port, target: {
          wantLag: (prev?.wantLag ?? false) || c.type === 'replication',
          tidb: (prev?.tidb ?? true) && c.type === 'tidb',
          fallback: prev?.fallback ?? accountOf(fallbackUser),
        } });
      }
    }
    const { user, password } = this.config.monitor;
    for (const [k, p] of this.probes) {
      if (targets.has(k) && p.link.account.user === user && p.link.account.password === password) continue;
      p.stop();
      this.probes.delete(k);
    }
    const added: EndpointProbe[] = [];
    for (const [k, t] of targets) {
      const existing = this.probes.get(k);
      if (existing !== undefined) {
        existing.target = t.target;
        existing.link.setFallback(t.target.fallback);
        continue;
      }
      const p = new EndpointProbe(k, new MonitorLink(t.host, t.port, { user, password }, t.target.fallback), t.target, this);
      this.probes.set(k, p);
      added.push(p);
    }
    return added;
  }

  private logChanges(before: HealthView, after: HealthView): void {
    for (const [name, c] of Object.entries(after.clusters)) {
      const old = before.clusters[name];
      if (old !== undefined && old.primary !== c.primary && (old.backends.some((b) => b.checkedAt > 0))) {
        this.log.warn('primary changed', { cluster: name, from: old.primary, to: c.primary });
      }
      for (const b of c.backends) {
        const o = old?.backends.find((x) => x.id === b.id);
        if (b.checkedAt === 0 || (o !== undefined && o.state === b.state && o.role === b.role)) continue;
        const level = b.state === 'up' ? 'info' : 'warn';
        this.log.log(level, 'backend state changed', {
          cluster: name, backend: b.id, from: o === undefined || o.checkedAt === 0 ? null : o.state, to: b.state, role: b.role, reason: b.reason,
          lag_seconds: b.lagSeconds, last_error: b.lastError,
        });
        const k = `${name}/${b.id}`;
        this.changeCounts.set(k, (this.changeCounts.get(k) ?? 0) + 1);
      }
    }
  }

}

function accountOf(u: UserConfig | undefined): Account | null {
  return u === undefined ? null : { user: u.backendUser, password: u.backendPassword };
}

/** What routing depends on: a change here is published to the workers. */
function signatureOf(v: HealthView): string {
  const parts: string[] = [];
  for (const [name, c] of Object.entries(v.clusters)) {
    parts.push(`${name}>${c.primary ?? '-'}>${c.greeting?.serverVersion ?? ''}`);
    for (const b of c.backends) parts.push(`${b.id}:${b.state}:${b.role}:${b.failing ? 'f' : ''}:${b.maxConnections ?? ''}`);
  }
  return parts.join('|');
}
