/**
 * MySQL/MariaDB wire constants, spelled as the server source spells them.
 * Reference: MySQL "Client/Server Protocol" (dev.mysql.com/doc/dev/mysql-server/latest/)
 * and MariaDB KB "Clients & Connectors / Client/Server Protocol".
 * This is the only place these numbers are defined.
 */

// --- Commands (first payload byte of a command packet) ---
export const COM_SLEEP = 0x00;
export const COM_QUIT = 0x01;
export const COM_INIT_DB = 0x02;
export const COM_QUERY = 0x03;
export const COM_FIELD_LIST = 0x04;
export const COM_CREATE_DB = 0x05;
export const COM_DROP_DB = 0x06;
export const COM_REFRESH = 0x07;
export const COM_SHUTDOWN = 0x08;
export const COM_STATISTICS = 0x09;
export const COM_PROCESS_INFO = 0x0a;
export const COM_CONNECT = 0x0b;
export const COM_PROCESS_KILL = 0x0c;
export const COM_DEBUG = 0x0d;
export const COM_PING = 0x0e;
export const COM_CHANGE_USER = 0x11;
export const COM_BINLOG_DUMP = 0x12;
export const COM_STMT_PREPARE = 0x16;
export const COM_STMT_EXECUTE = 0x17;
export const COM_STMT_SEND_LONG_DATA = 0x18;
export const COM_STMT_CLOSE = 0x19;
export const COM_STMT_RESET = 0x1a;
export const COM_SET_OPTION = 0x1b;
export const COM_STMT_FETCH = 0x1c;
export const COM_RESET_CONNECTION = 0x1f;

// --- Capability flags ---
export const CLIENT_LONG_PASSWORD = 1 << 0; // also "CLIENT_MYSQL" in MariaDB
export const CLIENT_FOUND_ROWS = 1 << 1;
export const CLIENT_LONG_FLAG = 1 << 2;
export const CLIENT_CONNECT_WITH_DB = 1 << 3;
export const CLIENT_NO_SCHEMA = 1 << 4;
export const CLIENT_COMPRESS = 1 << 5;
export const CLIENT_ODBC = 1 << 6;
export const CLIENT_LOCAL_FILES = 1 << 7;
export const CLIENT_IGNORE_SPACE = 1 << 8;
export const CLIENT_PROTOCOL_41 = 1 << 9;
export const CLIENT_INTERACTIVE = 1 << 10;
export const CLIENT_SSL = 1 << 11;
export const CLIENT_IGNORE_SIGPIPE = 1 << 12;
export const CLIENT_TRANSACTIONS = 1 << 13;
export const CLIENT_RESERVED = 1 << 14;
export const CLIENT_SECURE_CONNECTION = 1 << 15;
export const CLIENT_MULTI_STATEMENTS = 1 << 16;
export const CLIENT_MULTI_RESULTS = 1 << 17;
export const CLIENT_PS_MULTI_RESULTS = 1 << 18;
export const CLIENT_PLUGIN_AUTH = 1 << 19;
export const CLIENT_CONNECT_ATTRS = 1 << 20;
export const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21;
export const CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS = 1 << 22;
export const CLIENT_SESSION_TRACK = 1 << 23;
export const CLIENT_DEPRECATE_EOF = 1 << 24;
export const CLIENT_OPTIONAL_RESULTSET_METADATA = 1 << 25;
export const CLIENT_QUERY_ATTRIBUTES = 1 << 27;
// Bits 30-31 are used with different meanings by MySQL and MariaDB; dbmesh never sets them.

/**
 * Capabilities dbmesh can relay unchanged. The backend connection is opened with exactly
 * the client's negotiated set, so response bytes need no translation. Not here: SSL and
 * COMPRESS (dbmesh terminates neither yet), QUERY_ATTRIBUTES and OPTIONAL_RESULTSET_METADATA
 * (change packet layouts dbmesh scans), MariaDB extended capabilities (not advertised).
 */
export const DBMESH_CAPABILITIES =
  CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB |
  CLIENT_NO_SCHEMA | CLIENT_ODBC | CLIENT_LOCAL_FILES | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 |
  CLIENT_INTERACTIVE | CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS | CLIENT_RESERVED |
  CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS |
  CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS |
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS |
  CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF;

// --- MariaDB extended capabilities (greeting reserved bytes 6..9 / handshake response filler
// bytes 19..22), present when the server clears CLIENT_LONG_PASSWORD ("CLIENT_MYSQL").
export const MARIADB_CLIENT_PROGRESS = 1 << 0;
export const MARIADB_CLIENT_COM_MULTI = 1 << 1;
export const MARIADB_CLIENT_STMT_BULK_OPERATIONS = 1 << 2;
export const MARIADB_CLIENT_EXTENDED_TYPE_INFO = 1 << 3;
export const MARIADB_CLIENT_CACHE_METADATA = 1 << 4;
/**
 * MariaDB extensions dbmesh relays: extended type info only adds fields inside column
 * definitions (which dbmesh never decodes), so drivers see JSON/UUID types as they would
 * directly. Progress reports (ERR-headed packets mid-result), bulk execute and cached
 * metadata change framing and are not offered.
 */
export const DBMESH_MARIADB_CAPABILITIES = MARIADB_CLIENT_EXTENDED_TYPE_INFO;

// --- Server status flags (OK / EOF packets) ---
export const SERVER_STATUS_IN_TRANS = 0x0001;
export const SERVER_STATUS_AUTOCOMMIT = 0x0002;
export const SERVER_MORE_RESULTS_EXISTS = 0x0008;
export const SERVER_STATUS_NO_GOOD_INDEX_USED = 0x0010;
export const SERVER_STATUS_NO_INDEX_USED = 0x0020;
export const SERVER_STATUS_CURSOR_EXISTS = 0x0040;
export const SERVER_STATUS_LAST_ROW_SENT = 0x0080;
export const SERVER_STATUS_DB_DROPPED = 0x0100;
export const SERVER_STATUS_NO_BACKSLASH_ESCAPES = 0x0200;
export const SERVER_STATUS_METADATA_CHANGED = 0x0400;
export const SERVER_QUERY_WAS_SLOW = 0x0800;
export const SERVER_PS_OUT_PARAMS = 0x1000;
export const SERVER_STATUS_IN_TRANS_READONLY = 0x2000;
export const SERVER_SESSION_STATE_CHANGED = 0x4000;
/**
 * The status flags that describe the session (transaction, autocommit, SQL mode), as opposed
 * to one response (more results, cursor, slow query, state changed...): only these may be
 * remembered past the response and repeated in an OK dbmesh writes itself.
 */
export const SESSION_STATUS_FLAGS = SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_NO_BACKSLASH_ESCAPES | SERVER_STATUS_IN_TRANS_READONLY;

// --- Session state tracking (CLIENT_SESSION_TRACK) ---
export const SESSION_TRACK_SYSTEM_VARIABLES = 0x00;
export const SESSION_TRACK_SCHEMA = 0x01;
export const SESSION_TRACK_STATE_CHANGE = 0x02;
export const SESSION_TRACK_GTIDS = 0x03;
export const SESSION_TRACK_TRANSACTION_CHARACTERISTICS = 0x04;
export const SESSION_TRACK_TRANSACTION_STATE = 0x05;

// --- Packet headers (first payload byte) ---
export const OK_HEADER = 0x00;
export const EOF_HEADER = 0xfe;
export const ERR_HEADER = 0xff;
export const LOCAL_INFILE_HEADER = 0xfb;
export const AUTH_SWITCH_HEADER = 0xfe;
export const AUTH_MORE_DATA_HEADER = 0x01;

// --- Framing ---
/** Largest payload one packet carries; a payload of exactly this size is continued. */
export const MAX_PACKET_PAYLOAD = 0xffffff;
export const PACKET_HEADER_SIZE = 4;

// --- COM_STMT_EXECUTE flags ---
export const CURSOR_TYPE_NO_CURSOR = 0x00;
export const CURSOR_TYPE_READ_ONLY = 0x01;

// --- Auth plugins ---
export const MYSQL_NATIVE_PASSWORD = 'mysql_native_password';
export const CACHING_SHA2_PASSWORD = 'caching_sha2_password';
export const MYSQL_CLEAR_PASSWORD = 'mysql_clear_password';

export const PROTOCOL_VERSION_10 = 10;
/** utf8mb4_general_ci: the collation dbmesh announces when it knows nothing better. */
export const UTF8MB4_GENERAL_CI = 45;
