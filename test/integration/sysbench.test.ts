// sysbench oltp_read_write (the real 1.0.20 binary, libmariadb) through dbmesh, with every
// firewall guard on: a seeded single-thread run leaves exactly the data the same run leaves
// when it goes straight to the primary, and 4-thread runs in both prepared-statement modes
// finish without an error (so without a single false block). The sysbench user is marked
// admin: its prepare and cleanup create and drop tables.
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { rootQuery, type SandboxInfo, type SandboxServer } from '../helpers/sandbox.js';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';

const SYSBENCH = '/usr/bin/sysbench';
const RUN_TIMEOUT_MS = 60_000;
const TABLES = ['sbtest1', 'sbtest2'];
/**
 * 10,000 rows a table (sysbench's default) rather than fewer: with fewer rows 4 threads
 * sometimes deadlock inside InnoDB (errno 1213, which sysbench counts as an "ignored error"),
 * directly as much as through dbmesh; `--rand-type=uniform` (not the hot-spot "special")
 * serves the same purpose. Neither changes what dbmesh has to relay.
 */
const ROWS = 10_000;
const SEEDED_EVENTS = 1000;
const PARALLEL_EVENTS = 2000;
/** oltp_read_write defaults: 10 point + 4 range SELECTs, 4 writes, BEGIN and COMMIT. */
const QUERIES_PER_EVENT = { read: 14, write: 4, other: 2 };

interface RunResult {
  code: number;
  out: string;
}

/** Runs sysbench; never rejects on a non-zero exit (the exit code is checked by the caller). */
function sysbench(args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(SYSBENCH, args, { timeout: RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`sysbench ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, out: stdout + stderr });
    });
  });
}

function oltp(port: number, db: string, command: 'prepare' | 'run' | 'cleanup', extra: string[] = []): Promise<RunResult> {
  return sysbench([
    'oltp_read_write', '--db-driver=mysql', '--mysql-host=127.0.0.1', `--mysql-port=${port}`,
    '--mysql-user=app', '--mysql-password=app_pw', `--mysql-db=${db}`,
    `--tables=${TABLES.length}`, `--table-size=${ROWS}`, '--rand-type=uniform', ...extra, command,
  ]);
}

interface RunStats {
  read: number;
  write: number;
  other: number;
  transactions: number;
  ignoredErrors: number;
  reconnects: number;
}

function stat(out: string, label: string): number {
  const m = new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm').exec(out);
  if (!m) throw new Error(`sysbench output has no "${label}:" line:\n${out}`);
  return Number(m[1]);
}

/** Checks a finished run (exit 0, no FATAL) and returns its counters. */
function expectClean(r: RunResult, what: string): RunStats {
  const ctx = `${what}\n${r.out}`;
  expect(r.out, ctx).to.not.match(/FATAL/);
  expect(r.code, ctx).to.equal(0);
  return {
    read: stat(r.out, 'read'), write: stat(r.out, 'write'), other: stat(r.out, 'other'),
    transactions: stat(r.out, 'transactions'), ignoredErrors: stat(r.out, 'ignored errors'),
    reconnects: stat(r.out, 'reconnects'),
  };
}

function expectAllEvents(s: RunStats, events: number, r: RunResult): void {
  // The lines sysbench logs at --verbosity=5 say which errors it ignored (e.g. 1213).
  const ignored = r.out.split('\n').filter((l) => /Ignoring error/.test(l)).join('\n');
  expect(r.out, `sysbench reported ignored errors:\n${ignored}`).to.match(/^\s*ignored errors:\s+0\s/m);
  expect(s.ignoredErrors).to.equal(0);
  expect(s.reconnects).to.equal(0);
  expect(s.transactions).to.equal(events);
  expect({ read: s.read, write: s.write, other: s.other }).to.deep.equal({
    read: events * QUERIES_PER_EVENT.read, write: events * QUERIES_PER_EVENT.write, other: events * QUERIES_PER_EVENT.other,
  });
}

/** CHECKSUM TABLE of sbtest1/sbtest2 in `db`, in table order. */
async function checksums(server: SandboxServer, db: string): Promise<string[]> {
  const out = await rootQuery(server, `CHECKSUM TABLE ${TABLES.map((t) => `${db}.${t}`).join(', ')}`);
  const rows = out.trim().split('\n').map((l) => l.split('\t'));
  expect(rows.map((r) => r[0])).to.deep.equal(TABLES.map((t) => `${db}.${t}`));
  return rows.map((r) => r[1]!);
}

async function globalStatus(server: SandboxServer, name: string): Promise<number> {
  const out = await rootQuery(server, `SHOW GLOBAL STATUS LIKE '${name}'`);
  return Number(out.trim().split('\t')[1]);
}

const dropTables = (db: string): string => `DROP TABLE IF EXISTS ${TABLES.map((t) => `${db}.${t}`).join(', ')}`;

describe('sysbench oltp_read_write through dbmesh', function () {
  this.timeout(90_000);
  let sb: SandboxInfo;
  let primary: SandboxServer;
  let mesh: DbmeshProcess | undefined;

  before(async () => {
    sb = await sharedSandbox();
    primary = sb.primary;
    await rootQuery(primary, `${dropTables('sbtest')}; ${dropTables('app')}`);
    mesh = await startDbmesh(sb, {
      overrides: {
        users: [{ name: 'app', password: 'app_pw', cluster: 'main', readFrom: 'primary', admin: true }],
        firewall: { guards: 'all' },
      },
    });
  });

  after(async () => {
    try {
      if (mesh) {
        const through = await oltp(mesh.port, 'sbtest', 'cleanup');
        expect(through.code, through.out).to.equal(0);
      }
      const direct = await oltp(primary.port, 'app', 'cleanup');
      expect(direct.code, direct.out).to.equal(0);
    } finally {
      await mesh?.stop();
      await rootQuery(primary, `${dropTables('sbtest')}; ${dropTables('app')}`);
    }
  });

  function port(): number {
    if (!mesh) throw new Error('dbmesh not started');
    return mesh.port;
  }

  it(`prepares ${TABLES.length} tables x ${ROWS} rows through dbmesh`, async () => {
    const r = await oltp(port(), 'sbtest', 'prepare', ['--threads=2']);
    expect(r.out, r.out).to.not.match(/FATAL/);
    expect(r.code, r.out).to.equal(0);
    for (const t of TABLES) {
      expect((await rootQuery(primary, `SELECT COUNT(*), MIN(id), MAX(id) FROM sbtest.${t}`)).trim()).to.equal(`${ROWS}\t1\t${ROWS}`);
    }
  });

  it('a seeded single-thread run (ps auto, then disable) leaves the same data as the same run direct', async () => {
    // sysbench's prepare is not reproducible even with --rand-seed, so the direct target
    // starts from a copy of what dbmesh prepared; the seeded runs themselves are reproducible.
    for (const t of TABLES) {
      await rootQuery(primary, `CREATE TABLE app.${t} LIKE sbtest.${t}; INSERT INTO app.${t} SELECT * FROM sbtest.${t}`);
    }
    const before = await checksums(primary, 'sbtest');
    expect(await checksums(primary, 'app')).to.deep.equal(before);

    for (const [i, ps] of (['auto', 'disable'] as const).entries()) {
      const args = ['--threads=1', `--rand-seed=${i + 1}`, '--time=0', `--events=${SEEDED_EVENTS}`, `--db-ps-mode=${ps}`, '--verbosity=5'];
      const direct = await oltp(primary.port, 'app', 'run', args);
      expectAllEvents(expectClean(direct, `direct run, ps ${ps}`), SEEDED_EVENTS, direct);
      const through = await oltp(port(), 'sbtest', 'run', args);
      expectAllEvents(expectClean(through, `run through dbmesh, ps ${ps}`), SEEDED_EVENTS, through);
    }

    const after = await checksums(primary, 'sbtest');
    expect(after, 'the runs changed the data').to.not.deep.equal(before);
    expect(await checksums(primary, 'app'), 'CHECKSUM TABLE direct (app.*) vs through dbmesh (sbtest.*)').to.deep.equal(after);
  });

  for (const ps of ['auto', 'disable'] as const) {
    it(`4 threads, --db-ps-mode=${ps}: ${PARALLEL_EVENTS} transactions, exit 0, no error`, async () => {
      const stmtBefore = await globalStatus(primary, 'Com_stmt_execute');
      const r = await oltp(port(), 'sbtest', 'run',
        ['--threads=4', '--time=0', `--events=${PARALLEL_EVENTS}`, `--db-ps-mode=${ps}`, '--verbosity=5']);
      expectAllEvents(expectClean(r, `4-thread run through dbmesh, ps ${ps}`), PARALLEL_EVENTS, r);
      // The mode really reached the server: binary-protocol executes for auto, none to speak of
      // for disable (the primary serves nothing else meanwhile but the monitor's text queries).
      const executes = (await globalStatus(primary, 'Com_stmt_execute')) - stmtBefore;
      const perEvent = QUERIES_PER_EVENT.read + QUERIES_PER_EVENT.write;
      if (ps === 'auto') expect(executes).to.be.at.least(PARALLEL_EVENTS * perEvent);
      else expect(executes).to.be.below(PARALLEL_EVENTS);
    });
  }
});
