/**
 * Per worker: one BackendPool per configured backend, and the choice of a pool for a route
 * (primary, a replica chosen by the cluster's balancer, or a named backend). Candidate lists
 * are rebuilt when the directory reports a probe round or the config changes, never per
 * statement.
 */
import type { ClusterConfig, Config } from '../config/types.js';
import { BackendPool, type PoolStats } from '../pool/backend-pool.js';
import { BackendLoad, createBalancer, type Balancer } from '../routing/balancer.js';
import type { BackendDirectory } from './backends.js';
import type { Logger } from '../observability/logger.js';
import type { WarmShape } from '../ipc/messages.js';
import { loginShape } from '../pool/backend-conn.js';

interface ClusterEntry {
  config: ClusterConfig;
  readonly pools: Map<string, BackendPool>;
  readonly loads: Map<string, BackendLoad>;
  /** One balancer per candidate list: round robin keeps exact shares only over a stable set. */
  replicaBalancer: Balancer;
  anyBalancer: Balancer;
  primary: BackendPool | null;
  /** Serving replicas within the lag limit (replication), or every serving member (tidb). */
  replicaLoads: BackendLoad[];
  /** Replicas and the primary (readFrom: any). */
  anyLoads: BackendLoad[];
  /** Statement cache key -> client statements of this worker's sessions using it. */
  readonly statementUsers: Map<string, number>;
}

/** Share of a server's max_connections the pools of all workers together may use (the rest: other clients, the monitor, admins). */
const SERVER_SHARE = 0.8;

/** One worker's pool limit for a backend whose config sets none: its share of the server's max_connections. */
export function autoLimit(serverMax: number | null, workers: number): number {
  if (serverMax === null) return 0;
  return Math.max(1, Math.floor((serverMax * SERVER_SHARE) / Math.max(1, workers)));
}

export class ClusterPools {
  private readonly clusters = new Map<string, ClusterEntry>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private config: Config, private readonly directory: BackendDirectory, private readonly log: Logger) {
    this.apply(config);
    directory.onChange(() => this.refreshCandidates());
  }

  start(): void {
    this.timer ??= setInterval(() => {
      const now = Date.now();
      for (const c of this.clusters.values()) for (const p of c.pools.values()) p.maintain(now);
    }, 1000).unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const c of this.clusters.values()) for (const p of c.pools.values()) p.close();
  }

  /** Reload: weights, limits and pool settings change live; removed backends are closed. */
  setConfig(config: Config): void {
    this.config = config;
    this.apply(config);
  }

  cluster(name: string): ClusterConfig | undefined {
    return this.clusters.get(name)?.config;
  }

  pool(cluster: string, backendId: string): BackendPool | null {
    return this.clusters.get(cluster)?.pools.get(backendId) ?? null;
  }

  load(cluster: string, backendId: string): BackendLoad | null {
    return this.clusters.get(cluster)?.loads.get(backendId) ?? null;
  }

  /** Where writes go: the primary (replication) or a balanced backend (tidb). */
  primary(cluster: string): BackendPool | null {
    const c = this.clusters.get(cluster);
    if (c === undefined) return null;
    if (c.config.type === 'tidb') return this.balanced(c, c.replicaBalancer, c.replicaLoads);
    return c.primary;
  }

  /** Whether `pool` is where the cluster's writes go (every backend of a tidb cluster is). No side effects. */
  isPrimary(cluster: string, pool: BackendPool): boolean {
    const c = this.clusters.get(cluster);
    return c !== undefined && (c.config.type === 'tidb' || c.primary === pool);
  }

  /** Where a read goes; null when no replica is usable (the caller then uses the primary). */
  read(cluster: string, includePrimary: boolean): BackendPool | null {
    const c = this.clusters.get(cluster);
    if (c === undefined) return null;
    return includePrimary ? this.balanced(c, c.anyBalancer, c.anyLoads) : this.balanced(c, c.replicaBalancer, c.replicaLoads);
  }

  /** A backend by id (routing hint), when it is up. */
  named(cluster: string, backendId: string): BackendPool | null {
    const c = this.clusters.get(cluster);
    if (c === undefined || this.directory.backend(cluster, backendId) === null) return null;
    return c.pools.get(backendId) ?? null;
  }

  /** A session of this worker holds a prepared statement with this cache key. */
  useStatement(cluster: string, key: string): void {
    const users = this.clusters.get(cluster)?.statementUsers;
    if (users !== undefined) users.set(key, (users.get(key) ?? 0) + 1);
  }

  /**
   * A session closed its statement (COM_STMT_CLOSE, reset, change user, session end or
   * hand-off). The last one out closes it on every backend connection that has it, so
   * nothing dbmesh prepared outlives its clients on the server.
   */
  unuseStatement(cluster: string, key: string): void {
    const c = this.clusters.get(cluster);
    if (c === undefined) return;
    const n = (c.statementUsers.get(key) ?? 0) - 1;
    if (n > 0) {
      c.statementUsers.set(key, n);
      return;
    }
    c.statementUsers.delete(key);
    for (const p of c.pools.values()) p.dropStatement(key);
  }

  /** Whether a session of this worker holds a statement with this cache key. */
  statementInUse(cluster: string, key: string): boolean {
    return this.clusters.get(cluster)?.statementUsers.has(key) ?? false;
  }

  /** The login shapes in use, per backend, with their connection counts (for a successor). */
  warmList(): WarmShape[] {
    const out: WarmShape[] = [];
    for (const [cluster, c] of this.clusters) {
      for (const p of c.pools.values()) {
        for (const u of p.shapesInUse()) {
          out.push({
            cluster, backend: p.id, backendUser: u.shape.user, capabilities: u.shape.capabilities,
            mariadbCapabilities: u.shape.mariadbCapabilities, charset: u.shape.charset, schema: u.schema, open: u.open,
          });
        }
      }
    }
    return out;
  }

  /** Open the connections a predecessor reported, before taking its sessions. */
  async warm(list: readonly WarmShape[]): Promise<void> {
    await Promise.all(list.map((w) => {
      const pool = this.pool(w.cluster, w.backend);
      const user = this.config.users.find((u) => u.backendUser === w.backendUser && u.cluster === w.cluster);
      if (pool === null || user === undefined) return Promise.resolve();
      return pool.warmTo(loginShape(user, w.capabilities, w.mariadbCapabilities, w.charset, null), w.schema, w.open);
    }));
  }

  stats(): Record<string, PoolStats[]> {
    const out: Record<string, PoolStats[]> = {};
    for (const [name, c] of this.clusters) out[name] = [...c.pools.values()].map((p) => p.stats());
    return out;
  }

  private balanced(c: ClusterEntry, balancer: Balancer, loads: BackendLoad[]): BackendPool | null {
    if (loads.length === 0) return null;
    const picked = loads.length === 1 ? loads[0]! : balancer.pick(loads);
    return picked === null ? null : c.pools.get(picked.id) ?? null;
  }

  private apply(config: Config): void {
    const seen = new Set<string>();
    for (const cc of config.clusters) {
      seen.add(cc.name);
      let c = this.clusters.get(cc.name);
      if (c === undefined) {
        c = {
          config: cc, pools: new Map(), loads: new Map(), replicaBalancer: createBalancer(cc.balancer),
          anyBalancer: createBalancer(cc.balancer), primary: null, replicaLoads: [], anyLoads: [],
          statementUsers: new Map(),
        };
        this.clusters.set(cc.name, c);
      } else if (c.config.balancer !== cc.balancer) {
        c.replicaBalancer = createBalancer(cc.balancer);
        c.anyBalancer = createBalancer(cc.balancer);
      }
      c.config = cc;
      const ids = new Set<string>();
      for (const b of cc.backends) {
        ids.add(b.id);
        const existing = c.pools.get(b.id);
        if (existing !== undefined) {
          existing.backend = b;
          existing.settings = cc.pool;
          c.loads.get(b.id)!.weight = b.weight;
        } else {
          c.pools.set(b.id, new BackendPool(b, cc.pool, config.limits.connectTimeoutMs, (msg, fields) => this.log.warn(msg, { cluster: cc.name, ...fields })));
          c.loads.set(b.id, new BackendLoad(b.id, b.weight));
        }
      }
      for (const [id, p] of c.pools) if (!ids.has(id)) {
        p.close();
        c.pools.delete(id);
        c.loads.delete(id);
      }
    }
    for (const [name, c] of this.clusters) if (!seen.has(name)) {
      for (const p of c.pools.values()) p.close();
      this.clusters.delete(name);
    }
    this.refreshCandidates();
  }

  private refreshCandidates(): void {
    for (const [name, c] of this.clusters) {
      const primaryId = this.directory.primary(name)?.id ?? null;
      c.primary = primaryId === null ? null : c.pools.get(primaryId) ?? null;
      c.replicaLoads = this.directory.readable(name).map((s) => c.loads.get(s.config.id)).filter((l): l is BackendLoad => l !== undefined);
      c.anyLoads = c.primary === null ? c.replicaLoads : [...c.replicaLoads, c.loads.get(c.primary.id)!];
      for (const [id, p] of c.pools) p.setLeaving(this.directory.leaving(name, id));
      for (const st of this.directory.status(name)) c.pools.get(st.config.id)?.setAutoLimit(autoLimit(st.maxConnections, this.config.workers));
    }
  }
}
