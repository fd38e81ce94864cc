/**
 * What a finished command changed, for the session and for the backend connection that ran
 * it: pins, schema, replayed variables, LAST_INSERT_ID()/ROW_COUNT(), GTIDs, cursors, and what
 * the server reported in session-tracking data (read from OK packets as they pass, in
 * trackedOk). The rule (issue 8): a connection's state is what the server says it is; where
 * the server reports a change the statement's text does not account for, the session keeps
 * its connection and the connection is reset before anyone else gets it.
 *
 * Kept out of session.ts so the session reads as protocol handling. These are the session's
 * own steps: each takes the session and uses its internal members (see ClientSession).
 */
import {
  CLIENT_SESSION_TRACK, SERVER_SESSION_STATE_CHANGED, SERVER_STATUS_CURSOR_EXISTS, SESSION_TRACK_GTIDS,
  SESSION_TRACK_STATE_CHANGE, SESSION_TRACK_SYSTEM_VARIABLES,
} from '../protocol/constants.js';
import { NO_ENTRIES, okForClient, readReportedState, trackedOkLayout, variableNameIs, type EntryFilter } from '../protocol/session-track.js';
import type { StatementFacts } from '../sql/classifier.js';
import { PIN_CURSOR, PIN_FOUND_ROWS, PIN_LONG_DATA, PIN_SERVER_STATE, PIN_TRACKING_SETTINGS } from '../sql/pins.js';
import type { BackendConn } from '../pool/backend-conn.js';
import { After, type ClientSession } from './session.js';

/**
 * An OK with session state (or info, for a client without session tracking): what the
 * server says changed is what the connection and the session now are. Returns the OK the
 * client gets (the entries it would have got directly), or null for the server's bytes.
 */
export function trackedOk(s: ClientSession, payload: Buffer): Buffer | null {
  const layout = trackedOkLayout(payload);
  if (layout === null) {
    s.reportedStateChange = true; // unreadable: assume the worst
    return null;
  }
  if ((layout.statusFlags & SERVER_SESSION_STATE_CHANGED) !== 0) {
    const r = readReportedState(payload, layout);
    if (r === null) s.reportedStateChange = true;
    else {
      if (r.schema !== undefined) {
        const db = r.schema === '' ? null : r.schema;
        s.state.schema = db;
        if (s.lease !== null) {
          s.lease.schema = db;
          s.lease.schemaStale = false;
        }
      }
      if (r.stateChanged) s.reportedStateChange = true;
      if (r.gtid !== null) s.reportedGtid = r.gtid;
    }
  }
  const clientTracks = (s.capabilities & CLIENT_SESSION_TRACK) !== 0;
  return okForClient(payload, layout, clientTracks ? clientEntries(s) : NO_ENTRIES, !clientTracks && !s.mariadb);
}

const filters = new WeakMap<ClientSession, EntryFilter>();

/** The state entries a tracking client gets: all but those dbmesh asked the server for. */
function clientEntries(s: ClientSession): EntryFilter {
  let f = filters.get(s);
  if (f === undefined) {
    f = (type, p, start, end) => {
      // dbmesh turned state-change reports on; the client sees them if it did so itself.
      if (type === SESSION_TRACK_STATE_CHANGE) return s.state.clientTracksStateChange;
      // The client set session_track_* itself: the server reports what it asked for.
      if (((s.state.pins | (s.afterFacts?.pins ?? 0)) & PIN_TRACKING_SETTINGS) !== 0) return true;
      const gtidsAdded = s.lease?.gtidTracking === true; // causal reads
      if (type === SESSION_TRACK_SYSTEM_VARIABLES) return !gtidsAdded || !variableNameIs(p, start, end, 'last_gtid');
      if (type === SESSION_TRACK_GTIDS) return !gtidsAdded;
      return true;
    };
    filters.set(s, f);
  }
  return f;
}

/**
 * The server (or, on a connection that cannot report, the kind of statement) says session
 * state changed in a way the statement's text does not account for.
 */
function stateUnaccounted(s: ClientSession, facts: StatementFacts, conn: BackendConn): boolean {
  // A text SET whose assignments were parsed is replayed; USE is reported (schema); a
  // statement that pins already keeps its connection. Anything else (a procedure, a block,
  // a prepared SET whose values dbmesh never saw) leaves state only the server knows.
  if (facts.pins !== 0 || facts.kind === 'use') return false;
  if (facts.kind === 'session-set' && s.afterAssign !== null) return false;
  if ((conn.capabilities & CLIENT_SESSION_TRACK) !== 0) return s.reportedStateChange || s.scanner.eofStateChanged;
  return facts.kind === 'call' || facts.kind === 'other' || facts.kind === 'ddl' || facts.kind === 'session-set';
}

/**
 * What the finished command changed in the session (and on its connection). Returns true
 * when the session must ask the server for the GTID of the write (causal reads on a
 * connection without session tracking).
 */
export function applyEffects(s: ClientSession, conn: BackendConn): boolean {
  const st = s.state;
  const sc = s.scanner;
  let fetchGtid = false;
  conn.lastSession = s.id;
  s.lastConn = conn;
  s.lastConnCommands = conn.commands;
  if (!s.inTransaction) s.readOnlyTransaction = false;
  switch (s.after) {
    case After.Statement:
    case After.Execute: {
      const facts = s.afterFacts!;
      // SQL_CALC_FOUND_ROWS pins for one more statement (the one reading FOUND_ROWS()).
      if ((st.pins & PIN_FOUND_ROWS) !== 0 && (facts.pins & PIN_FOUND_ROWS) === 0) st.pins &= ~PIN_FOUND_ROWS;
      // A statement that failed on its own changed nothing to pin for (a refused SET
      // sql_log_bin, a LOCK TABLES that could not lock); one of several may have run its
      // earlier parts, so a failed multi-statement keeps its pins.
      const pins = sc.failed && sc.results <= 1 ? 0 : facts.pins;
      st.pins = (st.pins & ~facts.unpins) | pins; // UNLOCK TABLES, BACKUP STAGE END ...
      if (stateUnaccounted(s, facts, conn)) st.pins |= PIN_SERVER_STATE;
      if (!sc.failed) {
        if (s.afterAssign !== null) {
          st.assign(s.afterAssign);
          conn.stateKey = st.stateKey;
        }
        if (s.afterSchema !== null) {
          st.schema = conn.schema = s.afterSchema;
          conn.schemaStale = false;
        }
      }
      if (sc.insertId > 0) {
        st.lastInsertId = sc.insertId;
        conn.insertIdSession = s.id;
      }
      if (s.reportedGtid !== null) st.noteGtid(s.reportedGtid);
      st.rowCount = sc.failed || sc.resultSet ? -1 : sc.affectedRows;
      if (facts.kind !== 'read' && facts.kind !== 'show' && facts.kind !== 'transaction-begin-read-only' && facts.mustUsePrimary) {
        const ms = s.clusterConfig?.readYourWritesMs ?? 0;
        // Causal reads replace the time window where the GTID can be known.
        if (s.causal && (conn.capabilities & CLIENT_SESSION_TRACK) === 0) fetchGtid = true;
        else if (!s.causal && ms > 0) st.readYourWritesUntil = Date.now() + ms;
      }
      if (s.after === After.Execute) {
        st.pins &= ~PIN_LONG_DATA;
        if (s.afterCursor && sc.statusFlags >= 0 && (sc.statusFlags & SERVER_STATUS_CURSOR_EXISTS) !== 0) {
          st.pins |= PIN_CURSOR;
          st.cursorStatement = s.afterStatement!.id;
        }
      }
      break;
    }
    case After.InitDb:
      if (!sc.failed) {
        st.schema = conn.schema = s.afterSchema;
        conn.schemaStale = false;
      }
      break;
    case After.Reset:
      if (!sc.failed) conn.afterReset();
      break;
    default:
      break;
  }
  s.after = After.Nothing;
  s.afterFacts = null;
  s.afterAssign = null;
  s.afterStatement = null;
  return fetchGtid;
}
