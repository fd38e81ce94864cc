/**
 * What a multiplexed session carries from one backend connection to the next: its schema,
 * the session variables it set (replayed in order where a connection differs), the reasons it
 * is pinned, its prepared statements (text and shape; server ids live per connection), and
 * LAST_INSERT_ID()/ROW_COUNT() as the server reported them to this session.
 */
import type { StatementFacts } from '../sql/classifier.js';
import type { ExportedState } from '../ipc/messages.js';
import { applyAssignments, replayStatements, type SessionAssignment } from '../sql/session-assignments.js';
import { parseKill, type KillStatement } from '../sql/kill.js';

/** A client's prepared statement: dbmesh's id for it and what re-preparing it needs. */
export interface SessionStatement {
  readonly id: number;
  readonly sql: string;
  /** Default schema when it was prepared (names in it resolve against it). */
  readonly schema: string | null;
  /** Cache key on a connection: schema and text. */
  readonly key: string;
  readonly params: number;
  readonly columns: number;
  readonly facts: StatementFacts;
  /** The parameter types the client last bound (kept for executes that do not resend them). */
  types: Buffer | null;
  /** A prepared `KILL <id>`: dbmesh runs it (the id is dbmesh's); it is never prepared on a server. */
  readonly kill: KillStatement | null;
  /** Its fingerprint (statement digests), computed at its first execute. */
  fingerprint?: string | null;
}

/** MySQL's default max_prepared_stmt_count: a client that never closes statements stops here. */
export const MAX_SESSION_STATEMENTS = 16382;

/** The KILL a prepared statement is, when it is a lone KILL of a literal id (run by dbmesh). */
export function localKill(sql: string, facts: StatementFacts): KillStatement | null {
  return facts.kill ? parseKill(sql) : null;
}

export function statementKey(schema: string | null, sql: string): string {
  return (schema ?? '') + '\0' + sql;
}

export class SessionState {
  schema: string | null = null;
  /** Replayed session variables in assignment order (key -> SET text). */
  private readonly vars = new Map<string, string>();
  /** The replay statements joined: equal keys mean equal variable state. */
  stateKey = '';
  pins = 0;
  /** The client turned session_track_state_change on itself (it then sees those entries). */
  clientTracksStateChange = false;
  /** Statement id whose cursor is open (PIN_CURSOR). */
  cursorStatement = 0;
  readonly statements = new Map<number, SessionStatement>();
  private nextStatementId = 1;
  /** A bigint past 2^53 (exact). */
  lastInsertId: number | bigint = 0;
  rowCount = -1;
  /** Reads go to the primary until then (ms since epoch). */
  readYourWritesUntil = 0;
  /** Causal reads: the GTID of the session's last write, and replicas known to have applied it. */
  lastGtid: string | null = null;
  readonly gtidReached = new Set<string>();

  noteGtid(gtid: string): void {
    if (gtid === this.lastGtid || !/^[0-9A-Fa-f:,-]+$/.test(gtid)) return; // goes into SQL text
    this.lastGtid = gtid;
    this.gtidReached.clear();
  }

  assign(list: readonly SessionAssignment[]): void {
    applyAssignments(this.vars, list as SessionAssignment[]);
    this.stateKey = replayStatements(this.vars).join(';\n');
  }

  replay(): string[] {
    return replayStatements(this.vars);
  }

  addStatement(sql: string, params: number, columns: number, facts: StatementFacts): SessionStatement {
    const id = this.nextStatementId++;
    const st: SessionStatement = { id, sql, schema: this.schema, key: statementKey(this.schema, sql), params, columns, facts, types: null, kill: localKill(sql, facts) };
    this.statements.set(id, st);
    return st;
  }

  /** COM_RESET_CONNECTION / COM_CHANGE_USER: back to a fresh login (schema stays unless given). */
  reset(): void {
    this.clientTracksStateChange = false;
    this.vars.clear();
    this.stateKey = '';
    this.pins = 0;
    this.cursorStatement = 0;
    this.statements.clear();
    this.nextStatementId = 1;
    this.lastInsertId = 0;
    this.rowCount = -1;
  }

  /** For hand-off. */
  export(): ExportedState {
    return {
      schema: this.schema, vars: [...this.vars], pins: this.pins, cursorStatement: this.cursorStatement,
      statements: [...this.statements.values()].map((s) => ({ id: s.id, sql: s.sql, schema: s.schema, params: s.params, columns: s.columns, types: s.types?.toString('base64') ?? null })),
      nextStatementId: this.nextStatementId, lastInsertId: typeof this.lastInsertId === 'bigint' ? String(this.lastInsertId) : this.lastInsertId, rowCount: this.rowCount,
      readYourWritesUntil: this.readYourWritesUntil, lastGtid: this.lastGtid,
    };
  }

  import(e: ExportedState, classify: (sql: string) => StatementFacts): void {
    this.schema = e.schema;
    this.vars.clear();
    for (const [k, v] of e.vars) this.vars.set(k, v);
    this.stateKey = replayStatements(this.vars).join(';\n');
    this.pins = e.pins;
    this.cursorStatement = e.cursorStatement;
    this.statements.clear();
    for (const s of e.statements) {
      const facts = classify(s.sql);
      this.statements.set(s.id, {
        id: s.id, sql: s.sql, schema: s.schema, key: statementKey(s.schema, s.sql), params: s.params, columns: s.columns,
        facts, types: s.types === null ? null : Buffer.from(s.types, 'base64'), kill: localKill(s.sql, facts),
      });
    }
    this.nextStatementId = e.nextStatementId;
    this.lastInsertId = typeof e.lastInsertId === 'string' ? BigInt(e.lastInsertId) : e.lastInsertId;
    this.rowCount = e.rowCount;
    this.readYourWritesUntil = e.readYourWritesUntil;
    this.lastGtid = e.lastGtid ?? null;
  }
}
