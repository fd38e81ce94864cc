/**
 * Session variables dbmesh tracks and replays on whichever backend connection a session
 * uses; setting any other session variable pins the session to its connection.
 */

const TRACKED = new Set([
  'AUTOCOMMIT', 'COLLATION_CONNECTION', 'SQL_MODE', 'TIME_ZONE', 'TRANSACTION_ISOLATION',
  'TX_ISOLATION', 'TRANSACTION_READ_ONLY', 'TX_READ_ONLY',
]);

/** `name` is the variable name uppercased, without `@@` and scope prefixes. */
export function isTrackedVariable(name: string): boolean {
  return TRACKED.has(name) || name.startsWith('CHARACTER_SET_');
}

/** session_track_*: dbmesh sets these on its connections to learn state changes from the server. */
export function isTrackingVariable(name: string): boolean {
  return name.startsWith('SESSION_TRACK_');
}

/** Strips `@@`, `SESSION.`/`LOCAL.` prefixes; returns '' for `@@GLOBAL.` names. */
export function sessionVariableName(upper: string): string {
  let name = upper.startsWith('@@') ? upper.slice(2) : upper;
  if (name.startsWith('SESSION.')) name = name.slice(8);
  else if (name.startsWith('LOCAL.')) name = name.slice(6);
  else if (name.startsWith('GLOBAL.') || name.startsWith('PERSIST.') || name.startsWith('PERSIST_ONLY.')) return '';
  return name;
}
