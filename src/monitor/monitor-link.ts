/**
 * One monitor connection to one backend, kept across probes and reopened after a failure.
 * A probe asks `SELECT @@read_only` and, for a read-only member of a replication cluster,
 * its replica status (lag). When the server refuses the monitor account's login, the link
 * says so (the server answered: it is alive) and probes with a fallback account, a
 * configured user's backend login, so roles stay known while the monitor is misconfigured.
 */
import { BackendLoginError, connectBackend, type BackendSession } from '../pool/backend-connect.js';
import { QueryError, simpleQuery, simpleQueryResult, type QueryResult } from '../pool/simple-query.js';
import {
  CLIENT_LONG_PASSWORD, CLIENT_PLUGIN_AUTH, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION,
  CLIENT_TRANSACTIONS, COM_QUIT, UTF8MB4_GENERAL_CI,
} from '../protocol/constants.js';
import { frame } from '../protocol/framing.js';
import type { ProbeFacts, ProbeResult } from './backend-health.js';

const PROBE_CAPS = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_TRANSACTIONS;
/** MariaDB lists every replication source; MySQL 8.0.22+ says REPLICA, older ones SLAVE. */
const MARIADB_STATUS_SQL = ['SHOW ALL SLAVES STATUS'];
const MYSQL_STATUS_SQL = ['SHOW REPLICA STATUS', 'SHOW SLAVE STATUS'];
/** Login refusals that mean the account, not the server, is wrong. */
const ACCOUNT_ERRNOS = new Set([1044, 1045, 1130, 1251, 1698, 1862, 4151]);
/** How often a link on the fallback account tries the monitor account again. */
const RETRY_ACCOUNT_MS = 30_000;

export interface Account {
  readonly user: string;
  readonly password: string;
}

/** Max Seconds_Behind_Master over the replication sources; a NULL (thread stopped) is Infinity. */
function lagOf(r: QueryResult): number | null {
  let col = r.columns.indexOf('Seconds_Behind_Master');
  if (col < 0) col = r.columns.indexOf('Seconds_Behind_Source');
  if (col < 0 || r.rows.length === 0) return null;
  let lag = 0;
  for (const row of r.rows) {
    const v = row[col];
    lag = Math.max(lag, v === null || v === undefined ? Infinity : Number(v));
  }
  return lag;
}

export interface LinkProbe {
  readonly result: ProbeResult;
  /** The monitor account was refused (errno and message): the monitor is misconfigured. */
  readonly accountError: string | null;
}

export class MonitorLink {
  private session: BackendSession | null = null;
  private sessionAccount: Account | null = null;
  /** The monitor account's last refusal while the fallback account probes; null when it logs in. */
  private refusal: string | null = null;
  private fallbackSince = 0;
  /** The replica-status statement this server understood, once known. */
  private statusSql: string | null = null;

  constructor(readonly host: string, readonly port: number, readonly account: Account, private fallback: Account | null) {}

  setFallback(a: Account | null): void {
    this.fallback = a;
  }

  /** `tidb`: a TiDB server (every member takes writes): asked `SELECT 1` only. */
  async probe(timeoutMs: number, wantLag: boolean, tidb = false): Promise<LinkProbe> {
    let accountError: string | null = null;
    // On the fallback account, try the monitor account again now and then (fixed on the server?).
    if (this.session !== null && this.sessionAccount !== this.account && Date.now() - this.fallbackSince > RETRY_ACCOUNT_MS) this.close();
    if (this.session !== null) {
      try {
        return { result: await this.ask(this.session, timeoutMs, wantLag, tidb), accountError: this.sessionAccount === this.account ? null : this.refusal };
      } catch {
        // A kept connection can die between probes (restart, wait_timeout) before its close
        // event is seen: try once more on a new one before calling the backend down.
        this.close();
      }
    }
    let s: BackendSession;
    try {
      s = await this.connect(this.account, timeoutMs);
    } catch (err) {
      if (!(err instanceof BackendLoginError)) return { result: { ok: false, answered: false, error: (err as Error).message }, accountError: null };
      const refused = `${err.err.errno} ${err.err.message}`;
      if (!ACCOUNT_ERRNOS.has(err.err.errno) || this.fallback === null) {
        return { result: { ok: false, answered: true, error: refused }, accountError: ACCOUNT_ERRNOS.has(err.err.errno) ? refused : null };
      }
      accountError = this.refusal = refused;
      try {
        s = await this.connect(this.fallback, timeoutMs);
        this.fallbackSince = Date.now();
      } catch (err2) {
        const again = err2 instanceof BackendLoginError;
        return { result: { ok: false, answered: again, error: again ? refused : (err2 as Error).message }, accountError };
      }
    }
    try {
      return { result: await this.ask(s, timeoutMs, wantLag, tidb), accountError };
    } catch (err) {
      this.close();
      return { result: { ok: false, answered: false, error: (err as Error).message }, accountError };
    }
  }

  close(): void {
    const s = this.session;
    this.session = null;
    if (s !== null && !s.socket.destroyed) s.socket.end(frame(Buffer.from([COM_QUIT]), 0).bytes);
  }

  private async connect(account: Account, timeoutMs: number): Promise<BackendSession> {
    const s = await connectBackend({
      host: this.host, port: this.port, user: account.user, password: account.password,
      database: null, capabilities: PROBE_CAPS, charset: UTF8MB4_GENERAL_CI, connectAttrs: null, timeoutMs,
    });
    s.socket.on('error', () => {}); // the close that follows is what counts
    s.socket.once('close', () => { if (this.session === s) this.session = null; });
    s.socket.unref(); // a monitor connection never keeps a process alive
    this.session = s;
    this.sessionAccount = account;
    if (account === this.account) this.refusal = null;
    return s;
  }

  private async ask(s: BackendSession, timeoutMs: number, wantLag: boolean, tidb: boolean): Promise<ProbeResult> {
    const g = s.greeting;
    const greeting = { serverVersion: g.serverVersion, capabilities: g.capabilities, charset: g.charset, mariadbCapabilities: g.mariadbCapabilities ?? 0 };
    if (tidb) {
      // TiDB: health is a round trip; read_only and replication do not apply.
      await simpleQuery(s, 'SELECT 1', timeoutMs);
      return { ok: true, facts: { writable: true, lagSeconds: null, lagError: null, greeting, maxConnections: null } };
    }
    const rows = await simpleQuery(s, 'SELECT @@read_only, @@max_connections', timeoutMs);
    const writable = rows[0]?.[0] === '0';
    const max = Number(rows[0]?.[1]);
    let facts: ProbeFacts = { writable, lagSeconds: null, lagError: null, greeting, maxConnections: Number.isSafeInteger(max) && max > 0 ? max : null };
    if (!writable && wantLag) {
      const { lag, error } = await this.lag(s, timeoutMs);
      facts = { ...facts, lagSeconds: lag, lagError: error };
    }
    return { ok: true, facts };
  }

  private async lag(s: BackendSession, timeoutMs: number): Promise<{ lag: number | null; error: string | null }> {
    const candidates = this.statusSql !== null ? [this.statusSql]
      : s.greeting.serverVersion.includes('MariaDB') ? MARIADB_STATUS_SQL : MYSQL_STATUS_SQL;
    let error = '';
    for (const sql of candidates) {
      try {
        const lag = lagOf(await simpleQueryResult(s, sql, timeoutMs));
        this.statusSql = sql;
        return { lag, error: null };
      } catch (err) {
        if (!(err instanceof QueryError)) throw err; // network: the backend is down
        error = `${sql}: ${err.errno} ${err.message}`;
      }
    }
    return { lag: null, error };
  }
}
