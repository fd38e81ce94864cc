/**
 * Helpers for the read/write split and pinning tests: a dbmesh config built from the sandbox
 * with several clusters and users, "where did this run" probes (@@port + @@pseudo_thread_id, the
 * backend's thread id), a background churn of point selects, and a "stealer" session that
 * holds a pooled connection in a transaction so an unpinned session must move.
 */
import mysql from 'mysql2/promise';
import { startDbmesh, type DbmeshProcess } from './dbmesh.js';
import { BASE_CAPS, RawClient } from './raw-client.js';
import type { SandboxInfo, SandboxServer } from './sandbox.js';

export type Conn = mysql.Connection;
export type Row = Record<string, unknown>;

/** A backend connection: the server (by port) and its thread id. */
export interface Where { port: number; cid: number }

export const WHERE_SQL = 'SELECT @@port AS port, @@pseudo_thread_id AS cid';

export interface ClusterSpec {
  readonly name: string;
  readonly type?: 'replication' | 'tidb';
  /** Backends; default: the sandbox's primary and replicas, ids as the sandbox names them. */
  readonly backends?: Record<string, unknown>[];
  /** Added to every backend entry (e.g. maxConnections). */
  readonly backendExtra?: Record<string, unknown>;
  readonly settings?: Record<string, unknown>;
}

export interface UserSpec {
  readonly name: string;
  readonly cluster: string;
  readonly readFrom: 'primary' | 'replica' | 'any';
  /** Default: the sandbox's app account. */
  readonly backendUser?: string;
  readonly backendPassword?: string;
}

export function sandboxBackends(sb: SandboxInfo): Record<string, unknown>[] {
  return [sb.primary, ...sb.replicas].map((s) => ({ id: s.id, host: s.host, port: s.port }));
}

/**
 * Starts dbmesh with the given clusters and users. Every user logs in with its own name and
 * the password `pw` and reaches the backends as app/app_pw unless it says otherwise. Resolves
 * once every cluster's roles are probed, so the first read can already reach a replica.
 */
export async function startRouted(sb: SandboxInfo, clusters: ClusterSpec[], users: UserSpec[], monitorIntervalMs = 200): Promise<DbmeshProcess> {
  const d = await startDbmesh(sb, {
    overrides: {
      users: users.map((u) => ({
        name: u.name, password: 'pw', cluster: u.cluster, readFrom: u.readFrom,
        backendUser: u.backendUser ?? 'app', backendPassword: u.backendPassword ?? 'app_pw',
      })),
      clusters: clusters.map((c) => ({
        name: c.name, type: c.type ?? 'replication', ...(c.settings ?? {}),
        backends: (c.backends ?? sandboxBackends(sb)).map((b) => ({ ...b, ...(c.backendExtra ?? {}) })),
      })),
      monitor: { user: 'monitor', password: 'monitor_pw', intervalMs: monitorIntervalMs },
    },
  });
  try {
    for (const c of clusters) await d.waitForLog((l) => l.message === 'backend roles probed' && l.cluster === c.name);
  } catch (err) {
    await d.stop();
    throw err;
  }
  return d;
}

/** A client session through dbmesh (password `pw`, as startRouted configures users). */
export function connectVia(d: DbmeshProcess, user: string, database = 'dbmesh_test', password = 'pw'): Promise<Conn> {
  return mysql.createConnection({ host: '127.0.0.1', port: d.port, user, password, database });
}

/** A direct connection to one sandbox server (root by default). */
export function connectDirect(s: SandboxServer, user = 'root', password = 'root_pw', database = 'dbmesh_test'): Promise<Conn> {
  return mysql.createConnection({ host: s.host, port: s.port, user, password, database });
}

/** Rows of the first result set (a CALL answers with several). */
export async function rows(c: Conn, sql: string, params: unknown[] = []): Promise<Row[]> {
  const [r] = await c.query(sql, params);
  const list = r as unknown[];
  return (Array.isArray(list[0]) ? list[0] : list) as Row[];
}

export async function first(c: Conn, sql: string, params: unknown[] = []): Promise<Row> {
  const r = await rows(c, sql, params);
  if (r.length === 0) throw new Error(`no row from: ${sql}`);
  return r[0]!;
}

/** Runs a query whose first row has `port` and `cid` columns (default: WHERE_SQL). */
export async function where(c: Conn, sql = WHERE_SQL, params: unknown[] = []): Promise<Where & Row> {
  const r = await first(c, sql, params);
  return { ...r, port: Number(r.port), cid: Number(r.cid) };
}

export const key = (w: Where): string => `${w.port}/${w.cid}`;

/** The sandbox server id listening on `port` ("?port" when none does: a loud failure). */
export function serverAt(sb: SandboxInfo, port: number): string {
  return [sb.primary, ...sb.replicas].find((s) => s.port === port)?.id ?? `?${port}`;
}

/** Server ids that ran `n` plain reads (WHERE_SQL) of this session, with counts. */
export async function readSpread(sb: SandboxInfo, c: Conn, n: number, sql = WHERE_SQL): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = serverAt(sb, (await where(c, sql)).port);
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  return seen;
}

/** Makes the replicas apply everything the primary has written (MASTER_GTID_WAIT, no sleep). */
export async function syncReplicas(sb: SandboxInfo): Promise<void> {
  const p = await connectDirect(sb.primary);
  try {
    const pos = String((await first(p, 'SELECT @@gtid_binlog_pos AS pos')).pos);
    await Promise.all(sb.replicas.map(async (r) => {
      const c = await connectDirect(r);
      try {
        const v = Number((await first(c, 'SELECT MASTER_GTID_WAIT(?, 30) AS v', [pos])).v);
        if (v !== 0) throw new Error(`${r.id} did not catch up with ${pos}`);
      } finally {
        await c.end();
      }
    }));
  } finally {
    await p.end();
  }
}

/** Polls `check` (no fixed sleep decides anything: only the deadline is time-based). */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves at the first log line written after this call that matches `pred`. */
export function nextLog(d: DbmeshProcess, pred: (l: Row) => boolean, what: string): Promise<void> {
  const from = d.logs.length;
  return waitUntil(() => d.logs.slice(from).some(pred), what);
}

/**
 * Sessions running point selects back to back until stop(); counts queries and errors.
 * pause() parks every loop between statements (none in flight), so a test can make one step
 * deterministic; resume() lets them go on.
 */
export class Churn {
  queries = 0;
  readonly errors: string[] = [];
  private running = true;
  private readonly loops: Promise<void>[];
  private gate: Promise<void> | null = null;
  private openGate: () => void = () => {};
  private parked = 0;
  private onParked: (() => void) | null = null;

  private constructor(private readonly conns: Conn[]) {
    this.loops = conns.map((c) => this.loop(c));
  }

  static async start(d: DbmeshProcess, user: string, n = 2): Promise<Churn> {
    const conns = await Promise.all(Array.from({ length: n }, () => connectVia(d, user)));
    return new Churn(conns);
  }

  private async loop(c: Conn): Promise<void> {
    for (let i = 0; this.running; i++) {
      if (this.gate !== null) {
        this.parked++;
        if (this.parked === this.conns.length) this.onParked?.();
        await this.gate;
        this.parked--;
        continue;
      }
      try {
        const r = await first(c, 'SELECT ? AS v', [i]);
        if (Number(r.v) !== i) this.errors.push(`churn read ${String(r.v)} for ${i}`);
        this.queries++;
      } catch (err) {
        this.errors.push((err as Error).message);
      }
    }
  }

  /** Resolves once every churn session is parked between statements. */
  pause(): Promise<void> {
    this.gate ??= new Promise((r) => { this.openGate = r; });
    if (this.parked === this.conns.length) return Promise.resolve();
    return new Promise((r) => { this.onParked = () => { this.onParked = null; r(); }; });
  }

  resume(): void {
    this.gate = null;
    this.openGate();
  }

  /** Runs `fn` with the churn parked. */
  async paused<T>(fn: () => Promise<T>): Promise<T> {
    await this.pause();
    try {
      return await fn();
    } finally {
      this.resume();
    }
  }

  /** Stops the loops and closes the sessions; returns the errors seen. */
  async stop(): Promise<string[]> {
    this.running = false;
    this.resume();
    await Promise.all(this.loops);
    await Promise.all(this.conns.map((c) => c.end().catch(() => undefined)));
    return this.errors;
  }
}

/**
 * A session that takes a pooled connection into a transaction while `fn` runs. Pools hand out
 * the most recently released connection first, so (with no other session in between) this
 * takes the connection an unpinned session just gave back, and that session's next statement
 * has to run on another one.
 */
export async function whileStolen<T>(stealer: Conn, fn: () => Promise<T>): Promise<T> {
  await stealer.query('BEGIN');
  await stealer.query('SELECT 1');
  try {
    return await fn();
  } finally {
    await stealer.query('COMMIT');
  }
}

/** `n` rounds of WHERE_SQL on `c`, alone and then while stolen from; every connection seen. */
export async function connectionsUnderSteal(c: Conn, stealer: Conn, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    seen.add(key(await where(c)));
    seen.add(key(await whileStolen(stealer, () => where(c))));
  }
  return seen;
}

/**
 * Close a client connection: COM_QUIT, or destroy when that does not finish within `ms`
 * (a statement still waiting ahead of the QUIT would hold `end()` forever, and the hook with it).
 */
export async function endOrDestroy(c: { end(): Promise<void>; destroy(): void }, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); });
  const ended = await Promise.race([c.end().then(() => 'ended' as const, () => 'failed' as const), late]);
  clearTimeout(timer);
  if (ended !== 'ended') c.destroy();
}

export async function closeAll(conns: (Conn | null | undefined)[]): Promise<void> {
  await Promise.all(conns.map((c) => (c ? endOrDestroy(c) : undefined)));
}

/** A global status counter (e.g. Com_unlock_tables) on every sandbox server, by server id. */
export async function globalCounter(sb: SandboxInfo, name: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const s of [sb.primary, ...sb.replicas]) {
    const c = await connectDirect(s);
    try {
      const r = await first(c, 'SELECT VARIABLE_VALUE AS v FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = ?', [name.toUpperCase()]);
      out.set(s.id, Number(r.v));
    } finally {
      await c.end();
    }
  }
  return out;
}

// ---- raw protocol sessions (binary cursors, long data, COM_SET_OPTION: no driver sends these)

export function rawVia(d: DbmeshProcess, user: string): Promise<RawClient> {
  return RawClient.connect(d.port, user, 'pw', BASE_CAPS);
}

/** The backend connection a raw session's next text query runs on, as `port/cid`. */
export async function rawWhere(c: RawClient): Promise<string> {
  const [row] = await c.rows(WHERE_SQL);
  return `${row![0]}/${row![1]}`;
}

/** whileStolen() for raw sessions (the stealer must have the same login shape). */
export async function rawStolen<T>(stealer: RawClient, fn: () => Promise<T>): Promise<T> {
  await stealer.query('BEGIN');
  try {
    return await fn();
  } finally {
    await stealer.query('COMMIT');
  }
}
