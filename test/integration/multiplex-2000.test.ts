/**
 * Multiplexing at scale, CI-sized (scripts/multiplex-proof is the full run): 2,000 mysql2
 * connections through dbmesh with 2 workers and maxConnections 32 per worker, all open at
 * once, each running point selects and an update (half of them as prepared statements). No
 * statement fails, and the primary never sees more than 2 x 32 backend connections from
 * dbmesh while the 2,000 clients are connected. The same 2,000 connections straight to the
 * primary (max_connections 500) are refused with ER_CON_COUNT_ERROR (1040).
 *
 * The processlist is polled from a worker thread: this process's event loop is busy with the
 * 2,000 clients and would sample far less often than every 200 ms.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { status } from '../helpers/control.js';
import type { SandboxInfo } from '../helpers/sandbox.js';
import { endOrDestroy } from '../helpers/routing.js';

const CLIENTS = 2000;
const BATCH = 200; // connections opened at a time: keeps the listen backlog short
const WORKERS = 2;
const MAX_PER_WORKER = 32;
const BACKEND_LIMIT = WORKERS * MAX_PER_WORKER;
const ROWS = 1000;
const TABLE = 'multiplex_2000';
const SELECTS_PER_CLIENT = 3;
const ER_CON_COUNT_ERROR = 1040;
/** Descriptors needed besides one per client: sandbox pipes, dbmesh, mocha, the poller. */
const FD_MARGIN = 200;
const SAMPLE_EVERY_MS = 200;

/**
 * Node raises its soft RLIMIT_NOFILE to the hard limit at startup, so only the hard limit can
 * stop us; as root, prlimit raises it (children started afterwards, dbmesh included, inherit).
 */
function ensureFdLimit(need: number): void {
  const read = (): number => {
    const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
  };
  if (read() >= need) return;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${need}:${need}`]);
    } catch {
      // reported below
    }
  }
  const have = read();
  if (have < need) {
    throw new Error(`the open files limit is ${have}; ${CLIENTS} connections need about ${need}. Raise the hard limit (ulimit -Hn, LimitNOFILE) and run again`);
  }
}

/** Worker-thread poller of the primary's processlist: count of user 'app' connections. */
const SAMPLER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const mysql = require(workerData.mysql2);
(async () => {
  const root = await mysql.createConnection(workerData.conn);
  let running = true, max = 0, samples = 0;
  parentPort.once('message', () => { running = false; });
  while (running) {
    const [rows] = await root.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = 'app'");
    max = Math.max(max, Number(rows[0].n));
    samples++;
    await new Promise((r) => setTimeout(r, workerData.everyMs));
  }
  await root.end();
  parentPort.postMessage({ max, samples });
})();
`;

interface Sampler {
  stop(): Promise<{ max: number; samples: number }>;
}

function startSampler(sb: SandboxInfo): Sampler {
  const thread = new Worker(SAMPLER_CODE, {
    eval: true,
    workerData: {
      mysql2: createRequire(import.meta.url).resolve('mysql2/promise'),
      conn: { host: sb.primary.host, port: sb.primary.port, user: 'root', password: sb.users.root!.password },
      everyMs: SAMPLE_EVERY_MS,
    },
  });
  const result = new Promise<{ max: number; samples: number }>((resolve, reject) => {
    thread.once('message', resolve);
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`processlist sampler exited (code ${code}) before reporting`)));
  });
  return {
    stop: async () => {
      thread.postMessage('stop');
      try {
        return await result;
      } finally {
        await thread.terminate();
      }
    },
  };
}

/** Opens `n` connections, BATCH at a time; returns the open ones and the errors of the rest. */
async function openMany(opts: mysql.ConnectionOptions, n: number, into: mysql.Connection[]): Promise<{ errno?: number; message: string }[]> {
  const failures: { errno?: number; message: string }[] = [];
  for (let i = 0; i < n; i += BATCH) {
    const results = await Promise.allSettled(Array.from({ length: Math.min(BATCH, n - i) }, () => mysql.createConnection(opts)));
    for (const r of results) {
      if (r.status === 'fulfilled') into.push(r.value);
      else failures.push({ errno: (r.reason as { errno?: number }).errno, message: String((r.reason as Error).message) });
    }
  }
  return failures;
}

async function closeAll(conns: mysql.Connection[]): Promise<void> {
  await Promise.allSettled(conns.splice(0).map((c) => endOrDestroy(c)));
}

/**
 * Client sessions dbmesh's workers hold, from the admin API. Workers report once a second, so
 * this waits (up to 5 s) for the count to reach `expected` and returns the last count seen.
 */
async function sessionsHeld(d: DbmeshProcess, expected: number): Promise<number> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const held = (await status(d)).workers.reduce((n, w) => n + w.connections, 0);
    if (held === expected || Date.now() > deadline) return held;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('multiplexing: 2,000 clients over 64 backend connections', function () {
  this.timeout(60_000);
  let sb: SandboxInfo;
  let root: mysql.Connection | null = null;
  let dbmesh: DbmeshProcess | null = null;
  const clients: mysql.Connection[] = [];

  before(async function () {
    ensureFdLimit(CLIENTS + FD_MARGIN);
    sb = await sharedSandbox();
    root = await mysql.createConnection({ host: sb.primary.host, port: sb.primary.port, user: 'root', password: sb.users.root!.password, database: 'dbmesh_test' });
    await root.query(`CREATE OR REPLACE TABLE ${TABLE} (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(60) NOT NULL)`);
    await root.query(`INSERT INTO ${TABLE} (id, k, c) VALUES ?`, [Array.from({ length: ROWS }, (_, i) => [i + 1, 0, `row ${i + 1}`])]);
    const servers = [sb.primary, ...sb.replicas];
    dbmesh = await startDbmesh(sb, {
      overrides: {
        workers: WORKERS,
        clusters: [{
          name: 'main', type: 'replication', pool: { multiplex: true },
          backends: servers.map((s) => ({ id: s.id, host: s.host, port: s.port, maxConnections: MAX_PER_WORKER })),
        }],
      },
    });
  });

  after(async function () {
    await closeAll(clients);
    await root?.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => {});
    await root?.end().catch(() => root?.destroy());
    await dbmesh?.stop();
  });

  it(`serves ${CLIENTS} concurrent clients with no error over at most ${BACKEND_LIMIT} backend connections`, async function () {
    const sampler = startSampler(sb);
    let sampled: { max: number; samples: number } | null = null;
    try {
      const refused = await openMany({ host: '127.0.0.1', port: dbmesh!.port, user: 'app', password: 'app_pw', database: 'dbmesh_test', connectTimeout: 20_000 }, CLIENTS, clients);
      expect(refused, 'connections through dbmesh that could not be opened').to.deep.equal([]);
      expect(await sessionsHeld(dbmesh!, CLIENTS), 'client sessions dbmesh holds before the statements').to.equal(CLIENTS);

      const errors: string[] = [];
      await Promise.all(clients.map(async (c, i) => {
        // Half the clients use prepared statements: those must be prepared again on whichever
        // backend connection each execution borrows.
        const run = i % 2 ? (sql: string, p: number[]) => c.execute(sql, p) : (sql: string, p: number[]) => c.query(sql, p);
        try {
          for (let n = 0; n < SELECTS_PER_CLIENT; n++) {
            const id = 1 + ((i * 7 + n * 131) % ROWS);
            const [rows] = await run(`SELECT id, k, c FROM ${TABLE} WHERE id = ?`, [id]);
            const got = rows as { id: number; c: string }[];
            if (got.length !== 1 || got[0]!.id !== id || got[0]!.c !== `row ${id}`) errors.push(`client ${i}: wrong row for id ${id}: ${JSON.stringify(got)}`);
          }
          await run(`UPDATE ${TABLE} SET k = k + 1 WHERE id = ?`, [1 + (i % ROWS)]);
        } catch (err) {
          errors.push(`client ${i}: ${(err as Error).message}`);
        }
      }));
      sampled = await sampler.stop();
      expect(errors.slice(0, 10), `${errors.length} failed statements`).to.deep.equal([]);
      expect(await sessionsHeld(dbmesh!, CLIENTS), 'client sessions dbmesh holds after the statements').to.equal(CLIENTS);
    } finally {
      sampled ??= await sampler.stop().catch(() => null);
    }
    expect(sampled!.samples, 'processlist samples').to.be.greaterThan(0);
    expect(sampled!.max, 'backend connections from dbmesh on the primary (max)').to.be.within(1, BACKEND_LIMIT);
    const [[{ total }]] = await root!.query(`SELECT SUM(k) AS total FROM ${TABLE}`) as unknown as [[{ total: string }]];
    expect(Number(total), 'every update applied once').to.equal(CLIENTS);
    await closeAll(clients);
  });

  it(`${CLIENTS} direct connections exceed the primary's max_connections (1040)`, async function () {
    const direct: mysql.Connection[] = [];
    try {
      const refused = await openMany({ host: sb.primary.host, port: sb.primary.port, user: 'app', password: 'app_pw', connectTimeout: 20_000 }, CLIENTS, direct);
      const tooMany = refused.filter((f) => f.errno === ER_CON_COUNT_ERROR).length;
      expect(tooMany, 'direct connections refused with 1040').to.be.greaterThan(0);
      expect(refused.filter((f) => f.errno !== ER_CON_COUNT_ERROR).slice(0, 5), 'other direct failures').to.deep.equal([]);
      expect(direct.length + tooMany).to.equal(CLIENTS);
    } finally {
      await closeAll(direct);
    }
  });
});
