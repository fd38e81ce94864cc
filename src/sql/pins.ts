/**
 * Reasons a client session must keep its backend connection (a bitmask). The one place these
 * bits are defined; the classifier sets them and the session keeps their union.
 */
export const PIN_TEMP_TABLE = 1 << 0;
export const PIN_USER_LOCK = 1 << 1;
export const PIN_LOCK_TABLES = 1 << 2;
export const PIN_FOUND_ROWS = 1 << 3;
export const PIN_USER_VARIABLE = 1 << 4;
export const PIN_TEXT_PREPARE = 1 << 5;
export const PIN_SQL_LOG_BIN = 1 << 6;
export const PIN_UNTRACKED_SET = 1 << 7;
/** Set by the session, not the classifier: a binary-protocol cursor is open. */
export const PIN_CURSOR = 1 << 8;
/** COM_STMT_SEND_LONG_DATA sent; the execute must run on the same connection. */
export const PIN_LONG_DATA = 1 << 9;
/** COM_SET_OPTION changed the connection's multi-statement option. */
export const PIN_SET_OPTION = 1 << 10;
/** The client changed session_track_* itself: the server reports what it asked for, not what dbmesh needs. */
export const PIN_TRACKING_SETTINGS = 1 << 11;
/** `HANDLER ... OPEN`: an open table handler lives on the connection. */
export const PIN_HANDLER = 1 << 12;
/**
 * Set by the session, not the classifier: the server reported a change of session state
 * that the statement's text does not account for (a procedure or block setting variables,
 * creating temporary tables...), or the connection cannot report changes and the statement
 * may have made some.
 */
export const PIN_SERVER_STATE = 1 << 13;
/** Set by the session: a statement prepared from a packet over 16 MiB lives only on its connection. */
export const PIN_BIG_STATEMENT = 1 << 14;
/** BACKUP STAGE (until BACKUP STAGE END) or BACKUP LOCK (until BACKUP UNLOCK). */
export const PIN_BACKUP = 1 << 15;

/** Reason names, as status and metrics show them, by bit position. */
export const PIN_NAMES: readonly string[] = [
  'temporary table', 'user lock', 'LOCK TABLES', 'SQL_CALC_FOUND_ROWS', 'user variable',
  'text PREPARE', 'sql_log_bin=0', 'untracked variable', 'open cursor', 'long data', 'set option',
  'session tracking settings', 'HANDLER', 'server-reported state', 'statement over 16 MiB', 'BACKUP STAGE / BACKUP LOCK',
];

/** The reasons set in a pin mask, by name. */
export function pinReasons(mask: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < PIN_NAMES.length; i++) if (mask & (1 << i)) out.push(PIN_NAMES[i]!);
  return out;
}
