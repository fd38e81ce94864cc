/**
 * The JSON lines of the slow query log and the SQL capture, built by hand from the statement
 * record (one string concatenation; JSON.stringify only for the text fields that need
 * escaping), because they are built for every captured statement.
 */
import type { StatementRecord } from './statement-record.js';

/** Statement text for a log line (passwords already masked), cut to at most `maxBytes` UTF-8 bytes plus an ellipsis. */
export function lineText(masked: string, maxBytes: number): string {
  if (masked.length * 3 <= maxBytes) return masked;
  const bytes = Buffer.from(masked, 'utf8');
  if (bytes.length <= maxBytes) return masked;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // never cut a character in two
  return bytes.toString('utf8', 0, end) + '…';
}

function str(s: string | null): string {
  return s === null ? 'null' : JSON.stringify(s);
}

function ms(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

/** Date#toISOString costs ~0.4 µs: within one second only the milliseconds change. */
let isoSecond = -1;
let isoPrefix = '';

/** ISO 8601 UTC with milliseconds, e.g. 2026-12-03T13:01:51.247Z. */
export function isoTime(ms: number): string {
  const t = Math.floor(ms);
  const second = Math.floor(t / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20); // through the '.'
  }
  const milli = t - second * 1000;
  return isoPrefix + (milli < 10 ? '00' : milli < 100 ? '0' : '') + milli + 'Z';
}

function startIso(rec: StatementRecord): string {
  return isoTime(rec.endedAt - rec.durationMs);
}

/** observability.slowLog: ts, durationMs, user, schema, client, backend, rowsSent, rowsAffected, errno, digest, text. */
export function slowLine(rec: StatementRecord, digest: string, text: string): string {
  return '{"ts":"' + startIso(rec) + '","durationMs":' + ms(rec.durationMs) + ',"user":' + str(rec.user) +
    ',"schema":' + str(rec.schema) + ',"client":' + str(rec.client) + ',"backend":' + str(rec.backend) +
    ',"rowsSent":' + rec.rowsSent + ',"rowsAffected":' + rec.rowsAffected + ',"errno":' + rec.errno +
    ',"digest":"' + digest + '","text":' + JSON.stringify(text) + '}';
}

/** observability.capture: the slow-log fields plus session, route and inTransaction (and the firewall rule that blocked it). */
export function captureLine(rec: StatementRecord, digest: string, text: string): string {
  return '{"ts":"' + startIso(rec) + '","session":' + rec.sessionId + ',"user":' + str(rec.user) +
    ',"client":' + str(rec.client) + ',"schema":' + str(rec.schema) + ',"digest":"' + digest +
    '","text":' + JSON.stringify(text) + ',"durationMs":' + ms(rec.durationMs) + ',"rowsSent":' + rec.rowsSent +
    ',"rowsAffected":' + rec.rowsAffected + ',"errno":' + rec.errno + ',"backend":' + str(rec.backend) +
    ',"route":"' + rec.route + '","inTransaction":' + rec.inTransaction +
    (rec.firewall === null ? '' : ',"firewall":' + str(rec.firewall)) + '}';
}
