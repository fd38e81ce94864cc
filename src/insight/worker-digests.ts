/**
 * A worker's statement digests since its last shipment to the master (about a second): per
 * (user, schema, fingerprint) the counts, times, rows, a latency sketch and the slowest
 * statement. drain() hands the rows over and starts afresh, so the table only ever holds one
 * interval's distinct statements, and at most `max` of them: past that the oldest row of the
 * interval is folded into one overflow row that still counts it (the master then keeps the
 * least recently seen order across intervals, see digest-store.ts).
 *
 * add() is on the statement path: two map lookups by strings the session already holds
 * (user, schema) and one by the fingerprint; nothing is allocated for a statement shape
 * already seen in the interval.
 */
import { digestId, maskPasswords } from '../sql/fingerprint.js';
import type { DigestDelta } from './digest-wire.js';
import { OVERFLOW_DIGEST, OVERFLOW_TEXT } from './digest-wire.js';
import { DigestTotals } from './digest-totals.js';
import type { StatementRecord } from './statement-record.js';

/** The schema key of "no schema" (a schema name cannot contain NUL). */
const NO_SCHEMA = '\0';

class Row extends DigestTotals {
  constructor(readonly text: string, readonly user: string, readonly schema: string | null, readonly scope: Map<string, Row> | null) {
    super();
  }

  addStatement(rec: StatementRecord, sampleChars: number): void {
    const ms = rec.durationMs;
    if (this.count === 0) this.firstSeen = rec.endedAt;
    this.count++;
    if (rec.errno !== 0) this.errors++;
    this.rowsSent += rec.rowsSent;
    this.rowsAffected += rec.rowsAffected;
    this.totalMs += ms;
    if (ms < this.minMs) this.minMs = ms;
    if (ms > this.maxMs) this.maxMs = ms;
    this.lastSeen = rec.endedAt;
    this.sketch.add(ms);
    this.noteBackend(rec.backend);
    if (ms > this.sampleMs) {
      this.sampleMs = ms;
      // Masked before it is cut (a cut could hide a password's end from the masking), and a
      // long text is copied when cut: a slice would keep the whole statement alive.
      const masked = maskPasswords(rec.sql);
      this.sample = masked.length > sampleChars ? Buffer.from(masked.slice(0, sampleChars), 'utf8').toString('utf8') : masked;
    }
  }

  toDelta(digest: string): DigestDelta {
    return {
      digest, text: this.text, user: this.user, schema: this.schema,
      count: this.count, errors: this.errors, rowsSent: this.rowsSent, rowsAffected: this.rowsAffected,
      totalMs: this.totalMs, minMs: this.count > 0 ? this.minMs : 0, maxMs: this.maxMs,
      firstSeen: this.firstSeen, lastSeen: this.lastSeen, backends: this.backends,
      sample: this.sample, sampleMs: Math.max(0, this.sampleMs), sketch: this.sketch.toWire(),
    };
  }
}

export class WorkerDigests {
  /** user -> schema (NO_SCHEMA for none) -> fingerprint -> row */
  private readonly scopes = new Map<string, Map<string, Map<string, Row>>>();
  /** Every row of the interval, oldest first (the one folded when the table is full). */
  private readonly rows = new Set<Row>();
  private overflow: Row | null = null;

  constructor(private max: number, private sampleChars: number) {}

  /** A reload changed the bounds: they apply from the next row on. */
  configure(max: number, sampleChars: number): void {
    this.max = max;
    this.sampleChars = sampleChars;
  }

  get size(): number {
    return this.rows.size;
  }

  add(rec: StatementRecord, fingerprint: string): void {
    let bySchema = this.scopes.get(rec.user);
    if (bySchema === undefined) this.scopes.set(rec.user, bySchema = new Map());
    const schemaKey = rec.schema ?? NO_SCHEMA;
    let byText = bySchema.get(schemaKey);
    if (byText === undefined) bySchema.set(schemaKey, byText = new Map());
    let row = byText.get(fingerprint);
    if (row === undefined) {
      if (this.max <= 0) return this.overflowRow().addStatement(rec, this.sampleChars);
      if (this.rows.size >= this.max) this.foldOldest();
      row = new Row(fingerprint, rec.user, rec.schema, byText);
      byText.set(fingerprint, row);
      this.rows.add(row);
    }
    row.addStatement(rec, this.sampleChars);
  }

  /** The interval's rows (and the overflow row, if any), then an empty table. */
  drain(): DigestDelta[] {
    const out: DigestDelta[] = [];
    for (const row of this.rows) out.push(row.toDelta(digestId(row.text)));
    if (this.overflow !== null) out.push(this.overflow.toDelta(OVERFLOW_DIGEST));
    this.rows.clear();
    this.scopes.clear();
    this.overflow = null;
    return out;
  }

  private overflowRow(): Row {
    return this.overflow ??= new Row(OVERFLOW_TEXT, '', null, null);
  }

  private foldOldest(): void {
    const oldest = this.rows.values().next().value as Row | undefined;
    if (oldest === undefined) return;
    this.rows.delete(oldest);
    oldest.scope?.delete(oldest.text);
    this.overflowRow().addPart(oldest, oldest.sketch.toWire());
  }
}
