/**
 * Zero-downtime proof: client connections run a mixed workload (point reads, writes,
 * transactions, prepared statements) through dbmesh while dbmesh is upgraded back and forth
 * and reloaded. Counts failed statements, refused connections and client-visible
 * disconnects, checks every acknowledged write afterwards, and compares p99 latency during
 * upgrades with steady state. Used by test/integration/upgrade.test.ts (short) and
 * scripts/upgrade-soak (the full run).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { DBMESH_BIN } from './dbmesh.js';

export interface SoakOptions {
  readonly port: number;
  readonly directPort: number; // the primary, for the final check
  readonly configPath: string;
  readonly connections: number;
  readonly versions: readonly [string, string];
  readonly upgrades: number; // each flips between the two versions
  readonly reloads: number;
  /**
   * Steady-state measurement right before each upgrade (so steady and upgrade samples share
   * the machine's drift and come in equal numbers, as scripts/bench interleaves its targets).
   */
  readonly steadyMs: number;
  /**
   * Statements per second over all connections (0 = as fast as possible). A paced load
   * measures what an upgrade adds to latency; a saturating one measures CPU queueing on a
   * machine where dbmesh, MariaDB and the clients share two cores.
   */
  readonly targetRate?: number;
  readonly log?: (line: string) => void;
}

export interface SoakReport {
  statements: number;
  failedStatements: number;
  failures: string[];
  refusedConnections: number;
  disconnects: number;
  acknowledgedWrites: number;
  missingWrites: number;
  steadyP99Ms: number;
  upgradeP99Ms: number;
  upgradesOk: number;
  reloadsOk: number;
  sessionsMoved: number;
  finalVersions: string[];
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DBMESH_BIN, ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * Upgrade or reload through the admin API from this process. Not through the CLI: spawning a
 * process from the process that measures latency stalls its event loop for milliseconds and
 * shows up as upgrade latency that dbmesh did not cause. (The CLI has its own tests.)
 */
async function adminPost(configPath: string, route: string, body: unknown): Promise<{ ok: boolean; text: string; moved: number }> {
  const cfg = JSON.parse(readFileSync(configPath, 'utf8')) as { admin: { host?: string; port: number; token: string } };
  try {
    const res = await fetch(`http://${cfg.admin.host ?? '127.0.0.1'}:${cfg.admin.port}${route}`, {
      method: 'POST', headers: { authorization: `Bearer ${cfg.admin.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) return { ok: false, text, moved: 0 };
    // Upgrades stream NDJSON progress ending with { result }; reload answers one JSON object.
    const last = JSON.parse(text.trim().split('\n').pop() ?? '{}') as { result?: { ok: boolean; sessionsMoved: number }; ok?: boolean };
    const ok = last.result ? last.result.ok : last.ok !== false;
    return { ok, text: text.trim().replace(/\n/g, ' | '), moved: last.result?.sessionsMoved ?? 0 };
  } catch (err) {
    return { ok: false, text: (err as Error).message, moved: 0 };
  }
}

/** Load before any measurement: pools fill and the code is compiled. */
const WARM_UP_MS = 2000;

/** A statement that never answers is a failure, not a hang. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms); }),
  ]);
}

function p99(samples: number[]): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const report: SoakReport = {
    statements: 0, failedStatements: 0, failures: [], refusedConnections: 0, disconnects: 0,
    acknowledgedWrites: 0, missingWrites: 0, steadyP99Ms: 0, upgradeP99Ms: 0, upgradesOk: 0,
    reloadsOk: 0, sessionsMoved: 0, finalVersions: [],
  };
  const table = `soak_${Date.now()}`;
  const setup = await mysql.createConnection({ host: '127.0.0.1', port: o.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
  await setup.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, worker INT, n INT, v VARCHAR(64))`);
  await setup.query(`INSERT INTO ${table} VALUES (0, 0, 0, 'seed')`);
  await setup.end();

  const pool: Pool = mysql.createPool({ host: '127.0.0.1', port: o.port, user: 'app', password: 'app_pw', database: 'dbmesh_test', connectionLimit: o.connections, maxIdle: o.connections, idleTimeout: 3600000 });
  pool.on('connection', (c) => {
    // A connection that errors or ends under the workload is a client-visible disconnect.
    const raw = (c as unknown as { connection?: { on(e: string, f: (err?: Error) => void): void } }).connection ?? (c as unknown as { on(e: string, f: (err?: Error) => void): void });
    raw.on('error', () => { report.disconnects++; });
    raw.on('end', () => { if (!stopping) report.disconnects++; });
  });
  const acknowledged: number[] = [];
  let phase: 'steady' | 'upgrade' | 'other' = 'other';
  const steady: number[] = [];
  const during: number[] = [];
  let stopping = false;
  let upgradeStartedAt = 0;
  const trace = Number(process.env.DBMESH_SOAK_TRACE ?? 0);

  const worker = async (w: number): Promise<void> => {
    let conn: PoolConnection;
    try {
      conn = await pool.getConnection();
    } catch (err) {
      report.refusedConnections++;
      report.failures.push(`connect: ${(err as Error).message}`);
      return;
    }
    let i = 0;
    const interval = o.targetRate ? (1000 * o.connections) / o.targetRate : 0;
    let next = performance.now() + Math.random() * interval;
    while (!stopping) {
      if (interval > 0) {
        const wait = next - performance.now();
        next += interval;
        if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // pacing, not synchronisation
      }
      const id = w * 1_000_000_000 + ++i;
      const t0 = performance.now();
      try {
        const q = (sql: string, args: unknown[] = []): Promise<unknown> => within(conn.query(sql, args), 30000, sql);
        const x = (sql: string, args: unknown[]): Promise<unknown> => within(conn.execute(sql, args as never), 30000, sql);
        switch (i % 4) {
          case 0: await q(`SELECT * FROM ${table} WHERE id = ?`, [Math.max(0, id - 1)]); break;
          case 1:
            await x(`INSERT INTO ${table} VALUES (?, ?, ?, ?)`, [id, w, i, 'x']);
            acknowledged.push(id);
            break;
          case 2:
            await q('BEGIN');
            await q(`INSERT INTO ${table} VALUES (?, ?, ?, 'txn')`, [id, w, i]);
            await q(`UPDATE ${table} SET n = n + 1 WHERE id = ?`, [id]);
            await q('COMMIT');
            acknowledged.push(id);
            break;
          default: await x(`SELECT COUNT(*) AS c FROM ${table} WHERE worker = ?`, [w]);
        }
        report.statements++;
        const ms = performance.now() - t0;
        if (phase === 'steady') steady.push(ms);
        else if (phase === 'upgrade') {
          during.push(ms);
          // DBMESH_SOAK_TRACE=<ms>: print slow statements during upgrades, by time into the upgrade.
          if (trace > 0 && ms > trace) log(`slow ${ms.toFixed(1)} ms at +${(t0 - upgradeStartedAt).toFixed(0)} ms (case ${i % 4})`);
        }
      } catch (err) {
        report.failedStatements++;
        if (report.failures.length < 20) report.failures.push(`${(err as Error).message}`);
        try {
          await within(conn.query('ROLLBACK'), 5000, 'ROLLBACK');
        } catch {
          // connection unusable; counted already
        }
      }
    }
    conn.release();
  };

  const workers = Array.from({ length: o.connections }, (_, w) => worker(w + 1));
  await new Promise((r) => setTimeout(r, WARM_UP_MS)); // pools fill, code warms: not measured

  const total = Math.max(o.upgrades, o.reloads);
  for (let k = 0; k < total; k++) {
    if (k < o.upgrades) {
      const to = o.versions[(k + 1) % 2]!;
      phase = 'steady';
      await new Promise((r) => setTimeout(r, o.steadyMs)); // a measurement window, not synchronisation
      phase = 'upgrade';
      upgradeStartedAt = performance.now();
      const r = await adminPost(o.configPath, '/api/upgrade', { version: to });
      phase = 'other';
      if (r.ok) report.upgradesOk++;
      report.sessionsMoved += r.moved;
      log(`upgrade ${k + 1}/${o.upgrades} -> ${to}: ${r.ok ? 'ok' : 'FAILED'}: ${r.moved} sessions moved in ${(performance.now() - upgradeStartedAt).toFixed(0)} ms${r.ok && trace === 0 ? '' : ` (${r.text})`}`);
    }
    if (k < o.reloads) {
      const r = await adminPost(o.configPath, '/api/reload', {});
      if (r.ok) report.reloadsOk++;
      log(`reload ${k + 1}/${o.reloads}: ${r.ok ? 'ok' : 'FAILED ' + r.text}`);
    }
  }
  stopping = true;
  await Promise.all(workers);
  await pool.end();

  const status = await cli(['status', '--json', '--config', o.configPath]);
  try {
    report.finalVersions = [...new Set((JSON.parse(status.stdout) as { workers: { version: string }[] }).workers.map((w) => w.version))];
  } catch {
    report.finalVersions = ['(status unavailable)'];
  }
  const direct = await mysql.createConnection({ host: '127.0.0.1', port: o.directPort, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
  const [rows] = await direct.query(`SELECT id FROM ${table}`) as unknown as [{ id: number | string }[]];
  const present = new Set(rows.map((r) => Number(r.id)));
  report.acknowledgedWrites = acknowledged.length;
  report.missingWrites = acknowledged.filter((id) => !present.has(id)).length;
  await direct.query(`DROP TABLE ${table}`);
  await direct.end();
  report.steadyP99Ms = Math.round(p99(steady) * 100) / 100;
  report.upgradeP99Ms = Math.round(p99(during) * 100) / 100;
  return report;
}
