/**
 * What a worker ships to the master about statement digests: one row per (user, schema,
 * fingerprint) that ran since the last shipment, with what changed. The master adds the rows
 * to its table (digest-store.ts); every field is a delta except min/max (of the interval)
 * and the first/last-seen times.
 */
import type { SketchWire } from './latency-sketch.js';
import type { DigestPart } from './digest-totals.js';

/** Which statements a row is about. */
export interface DigestKey {
  readonly digest: string;
  readonly text: string;
  readonly user: string;
  readonly schema: string | null;
}

export interface DigestDelta extends DigestKey, DigestPart {
  readonly backends: string[];
  readonly sketch: SketchWire;
}

/** The row that counts every statement folded out of a full table. */
export const OVERFLOW_DIGEST = 'overflow';
export const OVERFLOW_TEXT = '(statements folded out of the digest table: observability.digests.max reached)';
