/**
 * What an open transaction has run, so it can be replayed on another connection when its own
 * dies (clusters[].transactionReplay): each statement's packet and a SHA-1 of the server's
 * whole response to it, as it came from the backend. A replay re-runs the statements on a new
 * connection and goes on only if every response is byte for byte the same; so a transaction
 * that read something another session has changed since, or got other auto-increment ids,
 * fails instead of silently going on.
 *
 * Bounded: past MAX_STATEMENTS statements or MAX_BYTES of statement text, or after anything it
 * cannot replay (a binary-protocol command, a pin), the journal is broken for the rest of the
 * transaction and an interruption ends it with an error, as without replay.
 */
import { createHash, type Hash } from 'node:crypto';

const MAX_STATEMENTS = 1000;
const MAX_BYTES = 1024 * 1024;
/**
 * Statement text all journals of this worker may hold together: past it, a transaction that
 * needs more is not replayable (rather than thousands of sessions in long transactions each
 * holding a megabyte).
 */
export const WORKER_JOURNAL_BUDGET = 64 * 1024 * 1024;
/** Bytes the journals of this worker hold now. */
let workerBytes = 0;

/** What every journal of this worker holds (tests, status). */
export function journalBytesInUse(): number {
  return workerBytes;
}

export interface JournalEntry {
  /** The client's packet (header and payload), copied. */
  readonly raw: Buffer;
  /** SHA-1 of the response; null while it is still coming. */
  digest: Buffer | null;
}

export class TxJournal {
  readonly entries: JournalEntry[] = [];
  /** Why this transaction cannot be replayed; null while it can. */
  broken: string | null = null;
  private bytes = 0;
  private hash: Hash | null = null;

  /** A statement is sent (before its response). */
  begin(raw: Buffer): void {
    if (this.broken !== null) return;
    if (this.entries.length >= MAX_STATEMENTS || this.bytes + raw.length > MAX_BYTES) return this.breakOff('too many statements to replay');
    if (workerBytes + raw.length > WORKER_JOURNAL_BUDGET) return this.breakOff("the worker's journal budget is spent");
    this.entries.push({ raw: Buffer.from(raw), digest: null });
    this.bytes += raw.length;
    workerBytes += raw.length;
    this.hash = createHash('sha1');
  }

  /** Response bytes of the statement in flight, as they come from the backend. */
  feed(chunk: Buffer): void {
    this.hash?.update(chunk);
  }

  /** The statement's response is complete. */
  end(): void {
    const h = this.hash;
    if (h === null) return;
    this.hash = null;
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined) last.digest = h.digest();
  }

  /** The statement in flight, taken out (its response will never come), or null. */
  takeInFlight(): JournalEntry | null {
    const last = this.entries[this.entries.length - 1];
    if (last === undefined || last.digest !== null) return null;
    this.hash = null;
    this.entries.pop();
    this.bytes -= last.raw.length;
    workerBytes -= last.raw.length;
    return last;
  }

  /** Forget entries whose response never completed (none, normally: the one in flight was taken out). */
  dropIncomplete(): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.digest !== null) continue;
      this.entries.splice(i, 1);
      this.bytes -= e.raw.length;
      workerBytes -= e.raw.length;
    }
  }

  breakOff(why: string): void {
    if (this.broken !== null) return;
    this.broken = why;
    this.release();
  }

  /** Give the text held back to the worker's budget. */
  private release(): void {
    this.entries.length = 0;
    workerBytes -= this.bytes;
    this.bytes = 0;
    this.hash = null;
  }

  /** The transaction ended (or none was open), or the session ends or moves: start afresh. */
  clear(): void {
    this.release();
    this.broken = null;
  }

  get recording(): boolean {
    return this.hash !== null;
  }
}

export function sha1(parts: readonly Buffer[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}
