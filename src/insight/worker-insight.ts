/**
 * The after-statement observers of one worker, composed once per config snapshot: digests,
 * metrics, the slow query log and the SQL capture. A session hands its statement record to
 * record() when the response has ended; an observer that is off costs a boolean test, and
 * nothing here blocks or awaits (the log files are written by LineWriter's bounded queue).
 *
 * Every second or so the worker ships drain() to the master, which owns the totals: digests
 * and counters survive a worker's exit or replacement.
 */
import type { ObservabilityConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { digestId, fingerprint, maskPasswords } from '../sql/fingerprint.js';
import type { DigestDelta } from './digest-wire.js';
import { LineWriter } from './line-writer.js';
import { captureLine, lineText, slowLine } from './statement-lines.js';
import { StatementMetrics, type MetricsDelta } from './statement-metrics.js';
import type { StatementRecord } from './statement-record.js';
import { WorkerDigests } from './worker-digests.js';

/** What a worker ships each interval. */
export interface InsightDelta {
  readonly digests: DigestDelta[];
  readonly metrics: MetricsDelta | null;
  /** Lines written / dropped since the last shipment, per log. */
  readonly logs: { capture: { written: number; dropped: number }; slow: { written: number; dropped: number } };
}

/** Digest ids of recent fingerprints (a log line needs one per statement; hashing each is avoidable). */
const ID_CACHE_MAX = 4096;

class LogCounts {
  private lastWritten = 0;
  private lastDropped = 0;
  /** Counts of writers already closed (a reload replaced them) that were not shipped yet. */
  private pendingWritten = 0;
  private pendingDropped = 0;

  retire(w: LineWriter | null): void {
    if (w === null) return;
    this.pendingWritten += w.written - this.lastWritten;
    this.pendingDropped += w.dropped - this.lastDropped;
    this.lastWritten = 0;
    this.lastDropped = 0;
  }

  take(w: LineWriter | null): { written: number; dropped: number } {
    let written = this.pendingWritten;
    let dropped = this.pendingDropped;
    this.pendingWritten = this.pendingDropped = 0;
    if (w !== null) {
      written += w.written - this.lastWritten;
      dropped += w.dropped - this.lastDropped;
      this.lastWritten = w.written;
      this.lastDropped = w.dropped;
    }
    return { written, dropped };
  }
}

export class WorkerInsight {
  private config: ObservabilityConfig;
  private readonly digests: WorkerDigests;
  private readonly metrics = new StatementMetrics();
  private digestsOn: boolean;
  private slow: LineWriter | null = null;
  private slowThresholdMs = Infinity;
  private capture: LineWriter | null = null;
  private captureWrites = false;
  private captureUsers: ReadonlySet<string> | null = null;
  private readonly slowCounts = new LogCounts();
  private readonly captureCounts = new LogCounts();
  private readonly ids = new Map<string, string>();

  constructor(config: ObservabilityConfig, private readonly log: Logger) {
    this.config = config;
    this.digests = new WorkerDigests(config.digests.max, config.digests.sampleChars);
    this.digestsOn = config.digests.enabled;
    this.apply(config, true);
  }

  /** Whether record() needs the statement's fingerprint (a prepared statement keeps its own). */
  get wantsFingerprint(): boolean {
    return this.digestsOn || this.slow !== null || this.capture !== null;
  }

  /** A new config snapshot: open, reopen or close the log files; new bounds apply from now. */
  apply(config: ObservabilityConfig, first = false): void {
    const before = this.config;
    this.config = config;
    this.digestsOn = config.digests.enabled;
    this.digests.configure(config.digests.max, config.digests.sampleChars);
    const slowFile = config.slowLog.file;
    if (first || slowFile !== before.slowLog.file) {
      this.slowCounts.retire(this.slow);
      void this.slow?.close();
      this.slow = slowFile !== '' ? this.openWriter(slowFile, config.capture.maxQueueBytes, 'slow query log') : null;
    }
    this.slowThresholdMs = this.slow !== null ? config.slowLog.thresholdMs : Infinity;
    const c = config.capture;
    const captureFile = c.statements !== 'off' ? c.file : '';
    if (first || captureFile !== (before.capture.statements !== 'off' ? before.capture.file : '')) {
      this.captureCounts.retire(this.capture);
      void this.capture?.close();
      this.capture = captureFile !== '' ? this.openWriter(captureFile, c.maxQueueBytes, 'SQL capture') : null;
    }
    this.captureWrites = c.statements === 'writes';
    this.captureUsers = c.users.length > 0 ? new Set(c.users) : null;
  }

  private openWriter(file: string, maxQueueBytes: number, what: string): LineWriter {
    return new LineWriter({
      file, maxQueueBytes,
      onProblem: (message, err) => this.log.warn(`${what}: ${message}`, { file, code: err?.code ?? null, hint: 'lines are dropped (counted in /metrics) until the file can be written' }),
    });
  }

  /** One statement ended (the record is the session's, reused: read it now, keep nothing of it). */
  record(rec: StatementRecord): void {
    this.metrics.add(rec);
    if (!this.digestsOn && this.slow === null && this.capture === null) return;
    const fp = rec.fingerprint ?? fingerprint(rec.sql);
    if (this.digestsOn) this.digests.add(rec, fp);
    const slow = this.slow !== null && rec.durationMs >= this.slowThresholdMs;
    const capture = this.capture !== null && this.captures(rec);
    if (!slow && !capture) return;
    const id = this.idOf(fp);
    const masked = maskPasswords(rec.sql);
    if (slow) this.slow!.write(slowLine(rec, id, lineText(masked, this.config.slowLog.maxTextBytes)));
    if (capture) this.capture!.write(captureLine(rec, id, lineText(masked, this.config.capture.maxTextBytes)));
  }

  private captures(rec: StatementRecord): boolean {
    if (this.captureWrites && rec.kind !== 'write' && rec.kind !== 'ddl' && rec.kind !== 'call') return false;
    if (this.captureUsers !== null && !this.captureUsers.has(rec.user)) return false;
    const rate = this.config.capture.sampleRate;
    return rate >= 1 || Math.random() < rate;
  }

  private idOf(fp: string): string {
    let id = this.ids.get(fp);
    if (id === undefined) {
      if (this.ids.size >= ID_CACHE_MAX) this.ids.clear();
      id = digestId(fp);
      this.ids.set(fp, id);
    }
    return id;
  }

  /** The interval's deltas (digests, counters, log line counts), then empty. */
  drain(): InsightDelta {
    return {
      digests: this.digests.drain(),
      metrics: this.metrics.drain(),
      logs: { capture: this.captureCounts.take(this.capture), slow: this.slowCounts.take(this.slow) },
    };
  }

  /** logrotate moved the files (SIGUSR1 through the master), or the master rotated them. */
  reopen(): void {
    this.slow?.reopen();
    this.capture?.reopen();
  }

  /** The worker is leaving: write what is queued (bounded), then close. */
  async close(timeoutMs: number): Promise<void> {
    await Promise.all([this.slow?.close(timeoutMs), this.capture?.close(timeoutMs)]);
  }
}
