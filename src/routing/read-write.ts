/**
 * Read/write split: where one statement runs, from the classifier's facts, a read-only
 * snapshot of the session and the user's read policy. Pure; the session keeps the state
 * (from server status flags) and the balancer picks the concrete replica.
 */
import type { StatementFacts } from '../sql/classifier.js';

export interface RouteSession {
  readonly inTransaction: boolean;
  readonly autocommit: boolean;
  /** The open transaction is a START TRANSACTION READ ONLY that was started on a replica. */
  readonly readOnlyTransaction: boolean;
  /** Reads go to the primary until this time (ms) after the session's last write. */
  readonly readYourWritesUntil: number;
  readonly now: number;
}

export interface RouteUser {
  readonly readFrom: 'primary' | 'replica' | 'any';
}

export interface RouteDecision {
  readonly role: 'primary' | 'replica' | 'backend';
  readonly backendId?: string;
  readonly reason: string;
}

const HINT_PRIMARY: RouteDecision = { role: 'primary', reason: 'hint' };
const HINT_REPLICA: RouteDecision = { role: 'replica', reason: 'hint' };
const IN_TXN: RouteDecision = { role: 'primary', reason: 'transaction' };
const IN_RO_TXN: RouteDecision = { role: 'replica', reason: 'read-only transaction' };
const NO_AUTOCOMMIT: RouteDecision = { role: 'primary', reason: 'autocommit off' };
const RYW: RouteDecision = { role: 'primary', reason: 'read your writes' };
const USER_PRIMARY: RouteDecision = { role: 'primary', reason: 'user reads from primary' };
const READ: RouteDecision = { role: 'replica', reason: 'read' };
const RO_BEGIN: RouteDecision = { role: 'replica', reason: 'read-only transaction' };

/** Hints win; then transaction state; then the statement; then session and user policy. */
export function decideRoute(facts: StatementFacts, session: RouteSession, user: RouteUser): RouteDecision {
  const hint = facts.hint;
  if (hint !== null) {
    if (hint.target === 'backend') return { role: 'backend', backendId: hint.id, reason: 'hint' };
    return hint.target === 'primary' ? HINT_PRIMARY : HINT_REPLICA;
  }
  if (session.inTransaction) return session.readOnlyTransaction ? IN_RO_TXN : IN_TXN;
  if (!session.autocommit) return NO_AUTOCOMMIT;
  if (facts.mustUsePrimary) return primaryFor(facts.primaryReason);
  if (session.readYourWritesUntil > session.now) return RYW;
  if (user.readFrom === 'primary') return USER_PRIMARY;
  return facts.kind === 'transaction-begin-read-only' ? RO_BEGIN : READ;
}

/** Classifier reasons are a small fixed set of literals: build each decision once. */
const BY_REASON = new Map<string, RouteDecision>();

function primaryFor(reason: string): RouteDecision {
  let d = BY_REASON.get(reason);
  if (d === undefined) {
    d = Object.freeze({ role: 'primary', reason });
    if (BY_REASON.size < 256) BY_REASON.set(reason, d);
  }
  return d;
}
