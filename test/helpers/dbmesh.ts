/**
 * Run the real `dbmesh start` binary against a sandbox, for integration tests.
 * Picks free ports, waits for the "dbmesh listening" log line (an event, not a sleep), and
 * stops the process by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SandboxInfo } from './sandbox.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DBMESH_BIN = path.join(REPO_ROOT, 'bin', 'dbmesh.js');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface DbmeshOptions {
  /** Deep-merged over the generated config (top-level keys replace). */
  readonly overrides?: Record<string, unknown>;
  readonly env?: Record<string, string>;
  /**
   * Open-file limit (soft and hard) for the master and its workers. Node raises its soft limit
   * to the hard one at start, so only a lower hard limit really bounds the process.
   */
  readonly nofile?: number;
}

export interface DbmeshProcess {
  readonly port: number;
  readonly adminPort: number;
  readonly pid: number;
  readonly configPath: string;
  readonly child: ChildProcess;
  /** Every log line (parsed JSON) the process wrote so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the first log line matching `pred` (past or future). */
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resident set size of the dbmesh worker processes (summed), in bytes (from /proc). */
  rss(): number;
  /** Pids of the master's worker processes (short-lived helpers it runs are left out). */
  workerPids(): number[];
  stop(): Promise<void>;
}

export function sandboxConfig(sb: SandboxInfo, port: number, adminPort: number): Record<string, unknown> {
  const servers = [sb.primary, ...sb.replicas];
  return {
    listen: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort, token: 'test-token' },
    workers: 1,
    users: [
      // Reads on the primary unless a test is about routing: tests that write through one
      // connection and read through another must not depend on replication delay.
      { name: 'app', password: 'app_pw', cluster: 'main', readFrom: 'primary' },
      { name: 'app2', password: 'app2_pw', cluster: 'main', readFrom: 'primary' },
    ],
    clusters: [{ name: 'main', type: 'replication', backends: servers.map((s) => ({ id: s.id, host: s.host, port: s.port })) }],
    monitor: { user: 'monitor', password: 'monitor_pw' },
  };
}

/**
 * DBMESH_TEST_GUARDS=all runs the whole suite with every firewall guard on (the "zero
 * false blocks" proof): every dbmesh a test starts without a firewall of its own gets
 * `guards: "all"`, and its users the flags the suite's own statements need (DDL, files,
 * several statements in one query), so only the content guards (injection shapes, unbounded
 * writes...) decide. Each block is logged as "statement blocked by the firewall".
 */
export function withSuiteGuards(config: Record<string, unknown>): Record<string, unknown> {
  if (process.env.DBMESH_TEST_GUARDS !== 'all' || config.firewall !== undefined) return config;
  const users = (config.users as Record<string, unknown>[] | undefined)?.map((u) => ({ admin: true, fileAccess: true, multiStatements: true, ...u }));
  return { ...config, firewall: { guards: 'all' }, ...(users ? { users } : {}) };
}

/** Direct children of a process (its threads' children lists, from /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // process gone
  }
  return out;
}

/**
 * A worker: a child running this node binary with its own script. Helpers the master runs
 * (pidusage's `getconf`) are left out, also in the instant between fork and exec, when they
 * still show the master's own command line.
 */
function isWorkerOf(master: number): (pid: number) => boolean {
  const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  return (pid) => {
    try {
      const cmd = cmdline(pid);
      return cmd.split('\0')[0] === process.execPath && cmd !== cmdline(master);
    } catch {
      return false; // gone
    }
  };
}

/** Every dbmesh a test started and has not stopped: the root hook below stops what a failed hook left. */
const running = new Set<DbmeshProcess>();

after(async function () {
  this.timeout(60_000);
  const left = [...running];
  if (left.length > 0) console.error(`test helpers: stopping ${left.length} dbmesh process(es) a test left running (pids ${left.map((d) => d.pid).join(', ')})`);
  await Promise.all(left.map((d) => d.stop()));
});

export async function startDbmesh(sb: SandboxInfo, opts: DbmeshOptions = {}): Promise<DbmeshProcess> {
  const port = await freePort();
  const adminPort = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-test-'));
  const configPath = path.join(dir, 'dbmesh.json');
  const own = { ...sandboxConfig(sb, port, adminPort), ...(opts.overrides ?? {}) };
  const config = withSuiteGuards(own);
  const suiteGuards = config !== own;
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const argv = [process.execPath, DBMESH_BIN, 'start', '--config', configPath];
  // exec: the shell becomes dbmesh, so the pid is the master's.
  const [file, ...args] = opts.nofile === undefined ? argv : ['/bin/sh', '-c', 'ulimit -n "$0" && exec "$@"', String(opts.nofile), ...argv];
  const child = spawn(file!, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(opts.env ?? {}) },
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let partial = '';
  const onText = (text: string): void => {
    partial += text;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        parsed = { message: line, level: 'raw' };
      }
      logs.push(parsed);
      if (suiteGuards && parsed.message === 'statement blocked by the firewall') console.error(`[suite-guards] ${JSON.stringify(parsed)}`);
      for (const w of [...waiters]) if (w.pred(parsed)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', onText);
  child.stderr!.setEncoding('utf8').on('data', onText);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));

  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 20000): Promise<Record<string, unknown>> => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a dbmesh log line; last lines:\n${logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      void exited.then(() => { clearTimeout(timer); reject(new Error(`dbmesh exited (code ${child.exitCode}); last lines:\n${logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`)); });
    });
  };

  const isWorker = isWorkerOf(child.pid!);
  const workerPids = (): number[] => childPids(child.pid!).filter(isWorker);
  const proc: DbmeshProcess = {
    port, adminPort, pid: child.pid!, configPath, child, logs, waitForLog,
    workerPids,
    rss: () => {
      let total = 0;
      for (const pid of workerPids()) {
        try {
          const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
          if (m) total += Number(m[1]) * 1024;
        } catch {
          // exited between listing and reading
        }
      }
      return total;
    },
    stop: async () => {
      running.delete(proc);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(proc);
  try {
    await waitForLog((l) => l.message === 'dbmesh listening');
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}
