/**
 * The one error registry. Each dbmesh error maps to the MySQL errno and SQLSTATE a client
 * would get from the server in the same situation, so drivers react as they would
 * (e.g. 1045 -> authentication failure, 1153 -> reconnect with a bigger packet limit).
 * Messages are printf-like templates with `%s` slots; they never carry stack traces or
 * internal paths.
 */
export interface ErrorSpec {
  readonly errno: number;
  readonly sqlState: string;
  readonly template: string;
}

export const DBM_ERR = {
  ACCESS_DENIED: { errno: 1045, sqlState: '28000', template: "Access denied for user '%s'@'%s' (using password: %s)" },
  TOO_MANY_CONNECTIONS: { errno: 1040, sqlState: '08004', template: 'Too many connections' },
  PACKET_TOO_LARGE: { errno: 1153, sqlState: '08S01', template: "Got a packet bigger than 'max_allowed_packet' bytes" },
  PACKETS_OUT_OF_ORDER: { errno: 1156, sqlState: '08S01', template: 'Got packets out of order' },
  UNKNOWN_COM: { errno: 1047, sqlState: '08S01', template: 'Unknown command' },
  HANDSHAKE: { errno: 1043, sqlState: '08S01', template: 'Bad handshake' },
  NOT_SUPPORTED_AUTH: { errno: 1251, sqlState: '08004', template: 'Client does not support authentication protocol requested by server; consider upgrading MySQL client' },
  NO_SUCH_THREAD: { errno: 1094, sqlState: 'HY000', template: 'Unknown thread id: %s' },
  KILL_DENIED: { errno: 1095, sqlState: 'HY000', template: 'You are not owner of thread %s' },
  FIREWALL_BLOCKED: { errno: 1148, sqlState: '42000', template: 'dbmesh firewall: %s' },
  USER_CONNECTIONS: { errno: 1203, sqlState: '42000', template: "User %s already has more than 'max_user_connections' active connections (dbmesh: users[].limits.maxConnections = %s over all workers)" },
  USER_LIMIT: { errno: 1226, sqlState: '42000', template: "User '%s' has exceeded the '%s' resource (current value: %s)%s" },
  STATEMENT_TIMEOUT: { errno: 3024, sqlState: 'HY000', template: 'Query execution was interrupted, maximum statement execution time exceeded (dbmesh: users[].limits.statementTimeoutMs = %s; the statement was stopped on its backend)' },
  QUERY_TIMEOUT: { errno: 3024, sqlState: 'HY000', template: 'Query execution was interrupted, maximum statement execution time exceeded' },
  NO_BACKEND: { errno: 1105, sqlState: 'HY000', template: "dbmesh: no backend available for cluster '%s': %s" },
  BACKEND_LOST: { errno: 2013, sqlState: 'HY000', template: 'Lost connection to MySQL server during query (dbmesh: backend %s closed: %s)' },
  SHUTDOWN: { errno: 1053, sqlState: '08S01', template: 'Server shutdown in progress' },
  INTERNAL: { errno: 1105, sqlState: 'HY000', template: 'dbmesh internal error: %s' },
  POOL_EXHAUSTED: { errno: 1040, sqlState: '08004', template: "Too many connections (dbmesh: cluster '%s', backend %s is at maxConnections=%s per worker; waited %s ms for a free connection: raise maxConnections or pool.acquireTimeoutMs)" },
  MALFORMED_PACKET: { errno: 1835, sqlState: 'HY000', template: 'Malformed communication packet' },
  UNKNOWN_STMT_HANDLER: { errno: 1243, sqlState: 'HY000', template: 'Unknown prepared statement handler (%s) given to %s' },
  TOO_MANY_STATEMENTS: { errno: 1461, sqlState: '42000', template: "Can't create more than max_prepared_stmt_count statements (current value: %s)" },
  STATEMENT_CHANGED: { errno: 1615, sqlState: 'HY000', template: 'Prepared statement needs to be re-prepared (dbmesh: statement %s changed shape on the server)' },
  NO_OPEN_CURSOR: { errno: 1421, sqlState: 'HY000', template: 'The statement (%s) has no open cursor.' },
  KILL_ACROSS_BACKENDS: { errno: 1235, sqlState: '42000', template: "This version of dbmesh doesn't yet support 'KILL of sessions on different backends in one multi-statement': send them separately" },
  KILL_NOT_LITERAL: { errno: 1235, sqlState: '42000', template: "This version of dbmesh doesn't yet support 'KILL with an expression or inside an executable comment': use KILL [CONNECTION|QUERY] <connection id>" },
} as const satisfies Record<string, ErrorSpec>;

export type DbmErrorCode = keyof typeof DBM_ERR;

/** Fill a template's `%s` slots in order. */
export function formatMessage(spec: ErrorSpec, args: readonly (string | number)[]): string {
  let i = 0;
  return spec.template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : ''));
}

/** An error that carries a registry entry, for paths where throwing is the clean exit. */
export class DbmError extends Error {
  readonly spec: ErrorSpec;
  constructor(code: DbmErrorCode, ...args: (string | number)[]) {
    const spec = DBM_ERR[code];
    super(formatMessage(spec, args));
    this.spec = spec;
  }
}
