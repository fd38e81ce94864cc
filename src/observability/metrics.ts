/**
 * The one metrics registry (prom-client). Metric names: dbmesh_<subsystem>_<name>_<unit>.
 * Master-side gauges are filled at scrape time from the supervisor's state, so nothing is
 * computed unless Prometheus asks.
 */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
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
    name: 'dbmesh_config_version', help: 'Config version (increments on each applied reload).', registers: [registry],
    collect() {
      this.set(status().configVersion);
    },
  });
  return registry;
}
