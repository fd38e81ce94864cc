/**
 * One backend endpoint's health from its probes: a pure state machine, so thresholds and
 * transitions are unit-tested without servers. `monitor.failures` failed probes in a row make
 * it down; once it answers again it is recovering until `monitor.successes` good probes in a
 * row. A server that refused the monitor's login answered: it is alive (the monitor account
 * is wrong, not the server).
 */
import type { GreetingSummary } from './health-view.js';

/** What a good probe learnt. */
export interface ProbeFacts {
  readonly writable: boolean;
  /** Seconds behind; Infinity: replication stopped; null: not a replica, or unreadable (see lagError). */
  readonly lagSeconds: number | null;
  /** Why the lag could not be read although the server answered (privileges, syntax). */
  readonly lagError: string | null;
  readonly greeting: GreetingSummary;
  /** The server's max_connections (null: unknown). */
  readonly maxConnections: number | null;
}

export type ProbeResult =
  | { readonly ok: true; readonly facts: ProbeFacts }
  /** `answered`: the server replied (e.g. refused the login), so it is alive; facts stay as last known. */
  | { readonly ok: false; readonly answered: boolean; readonly error: string };

export type EndpointStatus = 'unknown' | 'up' | 'down' | 'recovering';

export interface EndpointHealth {
  readonly status: EndpointStatus;
  /** Failed / good probes in a row. */
  readonly failures: number;
  readonly successes: number;
  readonly since: number;
  readonly reason: string;
  /** From the last probe that read them; null until one did. */
  readonly facts: ProbeFacts | null;
  readonly lastError: string | null;
  readonly lastErrorAt: number;
  readonly checkedAt: number;
  readonly probeMs: number;
}

export interface Thresholds {
  readonly failures: number;
  readonly successes: number;
}

export const UNPROBED: EndpointHealth = Object.freeze({
  status: 'unknown', failures: 0, successes: 0, since: 0, reason: 'not probed yet', facts: null,
  lastError: null, lastErrorAt: 0, checkedAt: 0, probeMs: 0,
});

/** The health after one more probe that ended at `now` and took `probeMs`. */
export function afterProbe(h: EndpointHealth, r: ProbeResult, t: Thresholds, now: number, probeMs: number): EndpointHealth {
  const alive = r.ok || r.answered;
  const facts = r.ok ? r.facts : h.facts;
  const lastError = r.ok ? h.lastError : r.error;
  const lastErrorAt = r.ok ? h.lastErrorAt : now;
  const base = { facts, lastError, lastErrorAt, checkedAt: now, probeMs };
  if (alive) {
    const successes = h.successes + 1;
    const reason = r.ok ? 'answering' : `answering (${r.error})`;
    if (h.status === 'up') return { ...h, ...base, failures: 0, successes, reason: h.reason === reason ? h.reason : reason };
    // A backend never seen before serves at its first answer; one that was down earns it back.
    if (h.status === 'unknown' || successes >= t.successes) return { ...base, status: 'up', failures: 0, successes, since: now, reason };
    const status = 'recovering';
    return { ...base, status, failures: 0, successes, since: h.status === status ? h.since : now, reason: `answering again: ${successes} of ${t.successes} good probes` };
  }
  const failures = h.failures + 1;
  const error = r.error;
  if (h.status === 'up' && failures < t.failures) return { ...h, ...base, failures, successes: 0 };
  if (h.status === 'down') return { ...h, ...base, failures, successes: 0, reason: error };
  return { ...base, status: 'down', failures, successes: 0, since: now, reason: error };
}
