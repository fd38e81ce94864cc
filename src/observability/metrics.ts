/**
 * The one metrics registry (prom-client). Metric names: dbmesh_<subsystem>_<name>_<unit>.
 * Master-side gauges are filled at scrape time from the supervisor's state, so nothing is
 * computed unless Prometheus asks.
 */
import { BACKEND_STATES } from '../monitor/health-view.js';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { MasterStatus } from '../master/control.js';

export function createMasterMetrics(status: () => MasterStatus): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dbmesh_master_' });
  new Gauge({
    name: 'dbmesh_supervisor_workers', help: 'Worker processes by state and version.', labelNames: ['state', 'version'], registers: [registry],
    collect() {
      this.reset();
      for (const w of status().workers) this.inc({ state: w.state, version: w.version });
    },
  });
  new Gauge({
    name: 'dbmesh_worker_connections', help: 'Client connections held by each worker.', labelNames: ['pid', 'version'], registers: [registry],
    collect() {
      this.reset();
      for (const w of status().workers) this.set({ pid: String(w.pid), version: w.version }, w.connections);
    },
  });
  new Gauge({
    name: 'dbmesh_worker_rss_bytes', help: 'Resident memory of each worker, as the watchdog last sampled it.', labelNames: ['pid', 'version'], registers: [registry],
    collect() {
      this.reset();
      for (const w of status().workers) this.set({ pid: String(w.pid), version: w.version }, w.rssBytes);
    },
  });
  new Gauge({
    name: 'dbmesh_watchdog_replacements', help: 'Workers replaced by the memory watchdog since the master started.', labelNames: ['limit'], registers: [registry],
    collect() {
      const s = status().watchdog;
      this.set({ limit: 'soft' }, s.softReplacements);
      this.set({ limit: 'hard' }, s.hardKills);
    },
  });
  new Gauge({
    name: 'dbmesh_sessions_pinned', help: 'Client sessions pinned to their backend connection, by reason (summed over workers).', labelNames: ['reason'], registers: [registry],
    collect() {
      this.reset();
      for (const w of status().workers) for (const [reason, n] of Object.entries(w.pinned)) this.inc({ reason }, n);
    },
  });
  new Gauge({
    name: 'dbmesh_pool_connections', help: 'Backend connections in the pools, by cluster, backend and state (open includes idle; waiting counts statements queued for one).', labelNames: ['cluster', 'backend', 'state'], registers: [registry],
    collect() {
      this.reset();
      for (const w of status().workers) {
        for (const [cluster, pools] of Object.entries(w.pools)) {
          for (const p of pools) {
            this.inc({ cluster, backend: p.backend, state: 'open' }, p.open);
            this.inc({ cluster, backend: p.backend, state: 'idle' }, p.idle);
            this.inc({ cluster, backend: p.backend, state: 'busy' }, Math.max(0, p.open - p.idle));
            this.inc({ cluster, backend: p.backend, state: 'waiting' }, p.waiting);
          }
        }
      }
    },
  });
  new Gauge({
    name: 'dbmesh_pool_acquire_timeouts', help: 'Statements refused because no backend connection came free in time, by cluster and backend (live workers, since each started).', labelNames: ['cluster', 'backend'], registers: [registry],
    collect() {
      this.reset();
      for (const w of status().workers) {
        for (const [cluster, pools] of Object.entries(w.pools)) for (const p of pools) this.inc({ cluster, backend: p.backend }, p.acquireTimeouts);
      }
    },
  });
  new Gauge({
    name: 'dbmesh_sessions_active', help: 'Client sessions open, over all workers.', registers: [registry],
    collect() {
      this.set(status().workers.reduce((n, w) => n + w.connections, 0));
    },
  });
  // Pool waits are counted by each worker since it started; the master folds them into
  // counters that never go back, every second (a worker that exits takes at most its last
  // second of waits with it).
  const lastWait = new Map<string, { waits: number; waitMs: number }>();
  const waits = new Counter({ name: 'dbmesh_pool_waits_total', help: 'Statements that waited for a backend connection (the pool was at its limit), by cluster and backend.', labelNames: ['cluster', 'backend'], registers: [registry] });
  const waitSeconds = new Counter({ name: 'dbmesh_pool_wait_seconds_total', help: 'Time statements spent waiting for a backend connection, by cluster and backend.', labelNames: ['cluster', 'backend'], registers: [registry] });
  const foldWaits = (): void => {
    const seen = new Set<string>();
    for (const w of status().workers) {
      for (const [cluster, pools] of Object.entries(w.pools)) {
        for (const p of pools) {
          const key = `${w.pid}\0${cluster}\0${p.backend}`;
          seen.add(key);
          const now = { waits: p.waits ?? 0, waitMs: p.waitMs ?? 0 };
          const before = lastWait.get(key) ?? { waits: 0, waitMs: 0 };
          if (now.waits > before.waits) waits.inc({ cluster, backend: p.backend }, now.waits - before.waits);
          if (now.waitMs > before.waitMs) waitSeconds.inc({ cluster, backend: p.backend }, (now.waitMs - before.waitMs) / 1000);
          lastWait.set(key, now);
        }
      }
    }
    for (const key of lastWait.keys()) if (!seen.has(key)) lastWait.delete(key);
  };
  setInterval(foldWaits, 1000).unref();
  new Gauge({
    name: 'dbmesh_backend_up', help: 'Whether a backend takes statements for its role (1: up or lagging) or not (0: down, recovering, draining, disabled), by cluster, backend and role, as the monitor sees it.', labelNames: ['cluster', 'backend', 'role'], registers: [registry],
    collect() {
      this.reset();
      const view = status().backends;
      if (view !== undefined) {
        for (const [cluster, c] of Object.entries(view.clusters)) {
          for (const b of c.backends) this.set({ cluster, backend: b.id, role: b.id === c.primary ? 'primary' : b.role === 'primary' ? 'replica' : b.role }, b.state === 'up' || b.state === 'lagging' ? 1 : 0);
        }
        return;
      }
      const w = status().workers.find((x) => x.state === 'ready' && x.backends !== undefined);
      for (const [cluster, list] of Object.entries(w?.backends ?? {})) {
        for (const b of list) this.set({ cluster, backend: b.id, role: b.writable ? 'primary' : 'replica' }, b.up ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'dbmesh_backend_state', help: "Each backend's monitor state: 1 for the state it is in (up, lagging, down, recovering, draining, disabled), 0 for the others.", labelNames: ['cluster', 'backend', 'state'], registers: [registry],
    collect() {
      this.reset();
      for (const [cluster, c] of Object.entries(status().backends?.clusters ?? {})) {
        for (const b of c.backends) for (const st of BACKEND_STATES) this.set({ cluster, backend: b.id, state: st }, b.state === st ? 1 : 0);
      }
    },
  });
  const lastChanges = new Map<string, number>();
  new Counter({
    name: 'dbmesh_backend_state_changes_total', help: 'Backend state changes the monitor saw (each is logged with its reason), by cluster and backend.', labelNames: ['cluster', 'backend'], registers: [registry],
    collect() {
      for (const [key, n] of Object.entries(status().backends?.changes ?? {})) {
        const slash = key.indexOf('/');
        const before = lastChanges.get(key) ?? 0;
        if (n > before) this.inc({ cluster: key.slice(0, slash), backend: key.slice(slash + 1) }, n - before);
        lastChanges.set(key, n);
      }
    },
  });
  new Gauge({
    name: 'dbmesh_backend_lag_seconds', help: 'Replication lag of each replica (seconds behind its primary; -1 when replication is stopped), as the monitor last read it.', labelNames: ['cluster', 'backend'], registers: [registry],
    collect() {
      this.reset();
      const view = status().backends;
      if (view !== undefined) {
        for (const [cluster, c] of Object.entries(view.clusters)) for (const b of c.backends) if (b.lagSeconds !== null) this.set({ cluster, backend: b.id }, b.lagSeconds);
        return;
      }
      const w = status().workers.find((x) => x.state === 'ready' && x.backends !== undefined);
      for (const [cluster, list] of Object.entries(w?.backends ?? {})) {
        for (const b of list) if (b.up && b.lagSeconds !== null) this.set({ cluster, backend: b.id }, b.lagSeconds);
      }
    },
  });
  new Gauge({
    name: 'dbmesh_backend_probe_seconds', help: "How long each backend's last monitor probe took (connect when needed, read_only, replica status).", labelNames: ['cluster', 'backend'], registers: [registry],
    collect() {
      this.reset();
      for (const [cluster, c] of Object.entries(status().backends?.clusters ?? {})) {
        for (const b of c.backends) if (b.checkedAt > 0) this.set({ cluster, backend: b.id }, b.probeMs / 1000);
      }
    },
  });
  new Gauge({
    name: 'dbmesh_cluster_writable', help: 'Whether a cluster has a writable backend serving (1) or writes are waiting for one (0); tidb clusters: a member serving.', labelNames: ['cluster'], registers: [registry],
    collect() {
      this.reset();
      for (const [cluster, c] of Object.entries(status().backends?.clusters ?? {})) {
        this.set({ cluster }, c.primary !== null || c.backends.some((b) => b.role === 'member' && b.state === 'up') ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'dbmesh_monitor_misconfigured', help: 'Whether the monitor account is refused by some backend (1: roles come from a fallback login; fix monitor.user/password).', registers: [registry],
    collect() {
      const view = status().backends;
      this.set(view?.misconfigured ? 1 : 0);
    },
  });
  // Counts the supervisor keeps since the master started, exposed as counters (they only grow).
  const grow = (c: Counter<string>, labels: Record<string, string>, now: number, key: string, last: Map<string, number>): void => {
    const before = last.get(key) ?? 0;
    if (now > before) c.inc(labels, now - before);
    last.set(key, now);
  };
  const lastCounts = new Map<string, number>();
  new Counter({
    name: 'dbmesh_supervisor_worker_crashes_total', help: 'Workers that exited unasked (and were restarted) since the master started.', registers: [registry],
    collect() {
      grow(this, {}, status().counts?.workerCrashes ?? 0, 'crashes', lastCounts);
    },
  });
  new Counter({
    name: 'dbmesh_supervisor_upgrades_total', help: 'Upgrades and rollbacks since the master started, by result (ok, failed).', labelNames: ['result'], registers: [registry],
    collect() {
      const c = status().counts;
      grow(this, { result: 'ok' }, c?.upgradesOk ?? 0, 'ok', lastCounts);
      grow(this, { result: 'failed' }, c?.upgradesFailed ?? 0, 'failed', lastCounts);
    },
  });
  new Gauge({
    name: 'dbmesh_watchdog_limit_bytes', help: 'The memory watchdog\'s limits on each worker\'s RSS (soft: replaced gracefully; hard: killed).', labelNames: ['limit'], registers: [registry],
    collect() {
      const w = status().watchdog;
      this.set({ limit: 'soft' }, w.softLimitBytes);
      this.set({ limit: 'hard' }, w.hardLimitBytes);
    },
  });
  new Gauge({
    name: 'dbmesh_config_version', help: 'Config version (increments on each applied reload).', registers: [registry],
    collect() {
      this.set(status().configVersion);
    },
  });
  return registry;
}
