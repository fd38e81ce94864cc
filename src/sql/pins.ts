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
