/**
 * The master's side of statement insight: it adds every worker's shipments (digests and
 * counters, see worker-insight.ts) to totals that outlive workers, serves them to the admin
 * API (/api/digests) and to Prometheus (/metrics), and rotates the slow log and capture files
 * by size (renaming them, then telling every worker to reopen).
 *
 * Shipments come from workers of any release: every field is checked before use, and a
 * malformed one is dropped, never thrown on.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ObservabilityConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { CumulativeHistogram } from './cumulative-histogram.js';
import type { DigestDelta } from './digest-wire.js';
import { DigestStore } from './digest-store.js';
import { rotateIfLarger } from './rotate.js';
import { DURATION_BUCKETS, type MetricsDelta } from './statement-metrics.js';

const ROTATE_CHECK_MS = 1000;

export class MasterInsight {
  readonly digests: DigestStore;
  private config: ObservabilityConfig;
  private readonly statements: Counter<'kind' | 'route' | 'cluster' | 'backend' | 'user'>;
  private readonly errors: Counter<'errno'>;
  private readonly rowsSent: Counter;
  private readonly rowsAffected: Counter;
  private readonly logLines: Counter<'log' | 'outcome'>;
  private readonly verdicts: Counter<'rule' | 'action'>;
  private readonly durations: CumulativeHistogram;
  private rotateTimer: NodeJS.Timeout | null = null;
  private rotating = false;
  /** Tells every worker to reopen its log files (set by the master). */
  reopenWorkers: () => void = () => {};

  constructor(config: ObservabilityConfig, registry: Registry, private readonly log: Logger) {
    this.config = config;
    this.digests = new DigestStore(config.digests.max);
    const registers = [registry];
    this.statements = new Counter({ name: 'dbmesh_statements_total', help: 'Statements that ended (COM_QUERY and prepared executes), by kind, route, cluster, backend and user, over all workers since the master started.', labelNames: ['kind', 'route', 'cluster', 'backend', 'user'], registers });
    this.errors = new Counter({ name: 'dbmesh_statement_errors_total', help: 'Statements answered with an error, by error number (the server\'s or dbmesh\'s).', labelNames: ['errno'], registers });
    this.rowsSent = new Counter({ name: 'dbmesh_statement_rows_sent_total', help: 'Rows of result sets sent to clients.', registers });
    this.rowsAffected = new Counter({ name: 'dbmesh_statement_rows_affected_total', help: 'Rows the servers reported as affected.', registers });
    this.verdicts = new Counter({ name: 'dbmesh_firewall_verdicts_total', help: 'Statements the firewall stopped (action block) or let through while logging them (action log), by rule ("guard:<name>" for the built-in guards, "allowlist" for an account allowlist in protect or detect mode).', labelNames: ['rule', 'action'], registers });
    this.logLines = new Counter({ name: 'dbmesh_capture_lines_total', help: 'Lines of the SQL capture and slow query log, by log (capture, slow) and outcome (written, dropped: the disk or reader was slower than the traffic, or the file could not be written).', labelNames: ['log', 'outcome'], registers });
    this.durations = new CumulativeHistogram('dbmesh_statement_duration_seconds', 'Statement latency as dbmesh saw it (received to response end, pool waits included), by kind.', 'kind', DURATION_BUCKETS, registry);
    const store = this.digests;
    new Gauge({
      name: 'dbmesh_digests_rows', help: 'Rows in the master\'s digest table (bounded by observability.digests.max; the overflow row not counted).', registers,
      collect() {
        this.set(store.size);
      },
    });
  }

  configure(config: ObservabilityConfig): void {
    this.config = config;
    this.digests.configure(config.digests.max);
    this.scheduleRotation();
  }

  start(): void {
    this.scheduleRotation();
  }

  stop(): void {
    if (this.rotateTimer !== null) clearInterval(this.rotateTimer);
    this.rotateTimer = null;
  }

  /** One worker shipment (any release). */
  merge(raw: unknown): void {
    if (raw === null || typeof raw !== 'object') return;
    const d = raw as { digests?: unknown; metrics?: unknown; logs?: unknown; firewall?: unknown };
    try {
      if (Array.isArray(d.digests) && this.config.digests.enabled) this.digests.merge(d.digests.filter(isDigestDelta));
      if (d.metrics !== null && typeof d.metrics === 'object') this.addMetrics(d.metrics as MetricsDelta);
      if (d.logs !== null && typeof d.logs === 'object') this.addLogCounts(d.logs as Record<string, { written?: unknown; dropped?: unknown }>);
      if (d.firewall !== null && typeof d.firewall === 'object') this.addVerdicts(d.firewall as Record<string, unknown>);
    } catch (err) {
      this.log.warn('a worker\'s statement statistics could not be merged; that shipment is dropped', { error: (err as Error).message });
    }
  }

  /** Firewall verdicts by rule: [blocked, logged]. */
  private addVerdicts(v: Record<string, unknown>): void {
    for (const [rule, pair] of Object.entries(v)) {
      if (!Array.isArray(pair)) continue;
      const blocked = Number(pair[0]);
      const logged = Number(pair[1]);
      if (blocked > 0) this.verdicts.inc({ rule, action: 'block' }, blocked);
      if (logged > 0) this.verdicts.inc({ rule, action: 'log' }, logged);
    }
  }

  private addMetrics(m: MetricsDelta): void {
    if (Array.isArray(m.statements)) {
      for (const row of m.statements) {
        if (!Array.isArray(row) || row.length < 5) continue;
        const n = Number(row[4]);
        if (n > 0) this.statements.inc({ user: String(row[0]), cluster: String(row[5] ?? ''), backend: String(row[1]), kind: String(row[2]), route: String(row[3]) }, n);
      }
    }
    if (Array.isArray(m.errors)) {
      for (const row of m.errors) {
        if (Array.isArray(row) && Number(row[1]) > 0) this.errors.inc({ errno: String(row[0]) }, Number(row[1]));
      }
    }
    if (Array.isArray(m.durations)) {
      for (const h of m.durations) if (h !== null && typeof h === 'object' && Array.isArray(h.buckets)) this.durations.add(String(h.kind), h.buckets, Number(h.sumSeconds));
    }
    if (Number(m.rowsSent) > 0) this.rowsSent.inc(Number(m.rowsSent));
    if (Number(m.rowsAffected) > 0) this.rowsAffected.inc(Number(m.rowsAffected));
  }

  private addLogCounts(logs: Record<string, { written?: unknown; dropped?: unknown }>): void {
    for (const log of ['capture', 'slow']) {
      const c = logs[log];
      if (c === null || typeof c !== 'object') continue;
      if (Number(c.written) > 0) this.logLines.inc({ log, outcome: 'written' }, Number(c.written));
      if (Number(c.dropped) > 0) this.logLines.inc({ log, outcome: 'dropped' }, Number(c.dropped));
    }
  }

  /** Check the log files' sizes every second while a size limit is set. */
  private scheduleRotation(): void {
    const wanted = this.config.capture.maxFileBytes > 0 || this.config.slowLog.maxFileBytes > 0;
    if (!wanted && this.rotateTimer !== null) this.stop();
    if (wanted && this.rotateTimer === null) this.rotateTimer = setInterval(() => void this.rotate(), ROTATE_CHECK_MS).unref();
  }

  private async rotate(): Promise<void> {
    if (this.rotating) return;
    this.rotating = true;
    try {
      const { capture, slowLog } = this.config;
      let rotated = false;
      if (capture.file !== '' && capture.maxFileBytes > 0) rotated = await rotateIfLarger(capture.file, capture.maxFileBytes, capture.keepFiles) || rotated;
      if (slowLog.file !== '' && slowLog.maxFileBytes > 0) rotated = await rotateIfLarger(slowLog.file, slowLog.maxFileBytes, slowLog.keepFiles) || rotated;
      if (rotated) this.reopenWorkers();
    } finally {
      this.rotating = false;
    }
  }
}

function isDigestDelta(x: unknown): x is DigestDelta {
  if (x === null || typeof x !== 'object') return false;
  const d = x as Record<string, unknown>;
  return typeof d.digest === 'string' && typeof d.text === 'string' && typeof d.user === 'string' &&
    (d.schema === null || typeof d.schema === 'string') && typeof d.count === 'number' && Array.isArray(d.sketch) &&
    Array.isArray(d.backends) && typeof d.totalMs === 'number';
}
