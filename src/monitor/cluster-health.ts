/**
 * A cluster's view from its backends' endpoint health, the operator's actions and the
 * primary it had: states, roles, which backend takes writes, and what deserves an alert.
 * Pure. Two writable servers are never resolved by guessing: the last known primary keeps
 * the writes if it is one of them; otherwise writes wait until only one is writable.
 */
import type { ClusterConfig } from '../config/types.js';
import type { EndpointHealth } from './backend-health.js';
import type { BackendHealth, BackendRole, BackendState, ClusterHealth, GreetingSummary, OperatorState } from './health-view.js';

export interface ClusterOutcome {
  readonly health: ClusterHealth;
  readonly alerts: readonly string[];
}

export const endpointOf = (b: { host: string; port: number }): string => `${b.host}:${b.port}`;

function stateOf(e: EndpointHealth, op: OperatorState, replicaLag: { lagging: boolean; why: string }): { state: BackendState; reason: string; since: number } {
  if (op === 'disabled') return { state: 'disabled', reason: 'disabled by an operator', since: 0 };
  if (op === 'draining') return { state: 'draining', reason: 'drained by an operator', since: 0 };
  if (e.status === 'unknown' || e.status === 'down') return { state: 'down', reason: e.reason, since: e.since };
  if (e.status === 'recovering') return { state: 'recovering', reason: e.reason, since: e.since };
  if (replicaLag.lagging) return { state: 'lagging', reason: replicaLag.why, since: e.since };
  return { state: 'up', reason: e.reason, since: e.since };
}

function lagState(cluster: ClusterConfig, e: EndpointHealth): { lagging: boolean; why: string } {
  const f = e.facts;
  if (cluster.type === 'tidb' || f === null || f.writable) return { lagging: false, why: '' };
  if (f.lagSeconds === Infinity) return { lagging: true, why: 'replication stopped' };
  // Unreadable (the account lacks a privilege): the monitor reports itself misconfigured and
  // the replica keeps its reads, rather than one missing grant moving every read to the primary.
  if (f.lagSeconds === null && f.lagError === null) return { lagging: true, why: 'read-only and not replicating' };
  if (f.lagSeconds === null) return { lagging: false, why: '' };
  if (f.lagSeconds > cluster.maxReplicationLagSeconds) {
    return { lagging: true, why: `${f.lagSeconds} s behind (max ${cluster.maxReplicationLagSeconds} s)` };
  }
  return { lagging: false, why: '' };
}

/**
 * `operatorSince`: when each operator state was set (for `since`). `now` stamps nothing: the
 * view carries the times the inputs carry, so an unchanged input gives an equal view.
 */
export function clusterHealth(
  cluster: ClusterConfig,
  endpoint: (key: string) => EndpointHealth,
  operator: (id: string) => { state: OperatorState; since: number },
  previousPrimary: string | null,
): ClusterOutcome {
  const tidb = cluster.type === 'tidb';
  const alerts: string[] = [];
  const backends: BackendHealth[] = [];
  const writableServing: string[] = [];
  const writableAll: string[] = [];
  let greeting: GreetingSummary | null = null;
  for (const b of cluster.backends) {
    const e = endpoint(endpointOf(b));
    const op = operator(b.id);
    const s = stateOf(e, op.state, lagState(cluster, e));
    const f = e.facts;
    const alive = e.status === 'up';
    const writable = f?.writable ?? false;
    if (!tidb && writable && alive) {
      writableAll.push(b.id);
      if (op.state === 'none') writableServing.push(b.id);
    }
    const role: BackendRole = tidb ? 'member' : f === null ? 'unknown' : writable ? 'primary' : 'replica';
    const lag = f === null || tidb || writable ? (tidb && f !== null ? 0 : null) : f.lagSeconds === Infinity ? -1 : f.lagSeconds;
    backends.push({
      id: b.id, host: b.host, port: b.port, state: s.state, reason: s.reason, since: s.since || op.since, role, writable,
      failing: e.status === 'up' && e.failures > 0, maxConnections: f?.maxConnections ?? null,
      lagSeconds: lag, version: f?.greeting.serverVersion ?? null, lastError: e.lastError, lastErrorAt: e.lastErrorAt,
      checkedAt: e.checkedAt, probeMs: e.probeMs,
    });
    if (greeting === null && f !== null && alive) greeting = f.greeting;
    if (e.checkedAt === 0) continue;
    if (s.state === 'down') alerts.push(`cluster ${cluster.name}: backend ${b.id} down since ${iso(s.since)}: ${s.reason}`);
    else if (s.state === 'lagging') alerts.push(`cluster ${cluster.name}: replica ${b.id} lagging: ${s.reason}`);
  }
  // With nothing serving, the first backend to answer again serves at once: waiting for its
  // `monitor.successes` probes would only prolong an outage.
  if (backends.every((h) => h.state !== 'up' && h.state !== 'lagging')) {
    for (let i = 0; i < backends.length; i++) {
      const h = backends[i]!;
      if (h.state !== 'recovering') continue;
      const b = cluster.backends[i]!;
      const e = endpoint(endpointOf(b));
      // It skips the good probes it still owes, not the lag rule.
      const lag = lagState(cluster, e);
      backends[i] = lag.lagging ? { ...h, state: 'lagging', reason: lag.why } : { ...h, state: 'up', reason: 'answering again; serving at once: every other backend is down' };
      if (greeting === null && e.facts !== null) greeting = e.facts.greeting;
      if (!tidb && h.writable && operator(b.id).state === 'none') {
        writableAll.push(b.id);
        writableServing.push(b.id);
      }
    }
  }
  let primary: string | null = null;
  if (tidb) {
    // Every member takes writes: the workers balance them; there is no single primary.
  } else if (writableAll.length > 1) {
    primary = previousPrimary !== null && writableServing.includes(previousPrimary) ? previousPrimary : null;
    alerts.push(`cluster ${cluster.name}: ${writableAll.length} writable servers (${writableAll.join(', ')}); ` +
      (primary !== null ? `writes stay on ${primary}, the last known primary` : 'none was the last known primary: writes wait') +
      '; set read_only=1 on the stale one');
  } else {
    primary = writableServing[0] ?? null;
  }
  if (!tidb && primary === null && writableAll.length <= 1 && backends.some((h) => h.checkedAt > 0)) {
    const was = previousPrimary === null ? '' : ` (was ${previousPrimary}: ${backends.find((h) => h.id === previousPrimary)?.state ?? 'removed'})`;
    alerts.push(`cluster ${cluster.name}: no writable backend is serving${was}; writes wait failover.holdMs, then fail`);
  }
  if (tidb && backends.every((h) => h.state !== 'up') && backends.some((h) => h.checkedAt > 0)) {
    alerts.push(`cluster ${cluster.name}: no member is serving`);
  }
  return { health: { primary, backends, greeting }, alerts };
}

const iso = (ms: number): string => (ms > 0 ? new Date(ms).toISOString() : 'start');
