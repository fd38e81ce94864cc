/**
 * One statement as the observers see it after its response ended (STYLE.md: "After its
 * response ends: one statement record ... handed to the observers"). A session owns one
 * record and refills it for every statement: nothing here is allocated per statement, and
 * the strings are references the session already holds.
 */
import type { StatementKind } from '../sql/classifier.js';

export type Route = 'primary' | 'replica' | 'hint';

export class StatementRecord {
  /** Between begin (statement received) and its end. */
  active = false;
  /** performance.now() when the statement was received (pool waits count: the client waits too). */
  startMs = 0;
  durationMs = 0;
  /** Wall clock at the end (ms since epoch). */
  endedAt = 0;
  /** The statement's text: COM_QUERY's, or the prepared statement's for an execute. */
  sql = '';
  /** The fingerprint when already known (a prepared statement computes it once), else null. */
  fingerprint: string | null = null;
  kind: StatementKind = 'other';
  prepared = false;
  sessionId = 0;
  user = '';
  /** The user's cluster (backend ids are unique within a cluster only). */
  cluster = '';
  schema: string | null = null;
  client = '';
  inTransaction = false;
  // Filled at the end.
  backend = '';
  route: Route = 'primary';
  rowsSent = 0;
  rowsAffected = 0;
  /** 0 when the statement succeeded, else the error number the client got. */
  errno = 0;
  /** The firewall rule that blocked the statement ("guard:tautology") or let it through marked (a log rule, "allowlist" in detect mode), or null. */
  firewall: string | null = null;
}

/** The statement kinds in a fixed order (metric arrays are indexed by it). */
export const KINDS: readonly StatementKind[] = ['read', 'write', 'ddl', 'transaction-begin', 'transaction-begin-read-only',
  'transaction-end', 'session-set', 'lock', 'call', 'show', 'use', 'other'];
export const KIND_INDEX = Object.fromEntries(KINDS.map((k, i) => [k, i])) as Readonly<Record<StatementKind, number>>;
export const ROUTES: readonly Route[] = ['primary', 'replica', 'hint'];
export const ROUTE_INDEX: Readonly<Record<Route, number>> = { primary: 0, replica: 1, hint: 2 };
