// Typed wrapper over scripts/sandbox: a throwaway MariaDB primary with GTID replicas
// for integration tests. The script does the work; this file only runs it and parses
// its JSON. Every sandbox started here must be stopped with stopSandbox().
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface SandboxServer {
  id: string;
  host: string;
  port: number;
  pid: number;
  socket: string;
}

export interface SandboxUser {
  name: string;
  password: string;
}

export interface SandboxInfo {
  dir: string;
  primary: SandboxServer;
  replicas: SandboxServer[];
  users: Record<string, SandboxUser>;
}

// This file runs from dist/test/helpers/, so the repo root is three levels up.
const SCRIPT = fileURLToPath(new URL('../../../scripts/sandbox', import.meta.url));
const START_TIMEOUT_MS = 120_000; // generous: may include an apt-get install
const STOP_TIMEOUT_MS = 60_000;
const QUERY_TIMEOUT_MS = 30_000;
const MAX_BUFFER = 64 * 1024 * 1024;

interface RunResult {
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], timeout: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout, maxBuffer: MAX_BUFFER }, (err, stdout, stderr) => {
      if (err) {
        const detail = stderr.trim() || err.message;
        reject(new Error(`${file} ${args.join(' ')} failed: ${detail}`));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

function isServer(v: unknown): v is SandboxServer {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return typeof s.id === 'string' && typeof s.host === 'string' && typeof s.port === 'number' &&
    typeof s.pid === 'number' && typeof s.socket === 'string';
}

function parseInfo(stdout: string): SandboxInfo {
  const info = JSON.parse(stdout) as Partial<SandboxInfo>;
  if (typeof info.dir !== 'string' || !isServer(info.primary) ||
      !Array.isArray(info.replicas) || !info.replicas.every(isServer) ||
      typeof info.users !== 'object' || info.users === null) {
    throw new Error(`scripts/sandbox printed unexpected JSON: ${stdout.slice(0, 500)}`);
  }
  return info as SandboxInfo;
}

/** Starts a primary and `replicas` (default 2) GTID replicas, replicating and caught up. */
export async function startSandbox(opts: { replicas?: number } = {}): Promise<SandboxInfo> {
  const args = ['start', '--json'];
  if (opts.replicas !== undefined) args.push('--replicas', String(opts.replicas));
  const { stdout } = await run(SCRIPT, args, START_TIMEOUT_MS);
  return parseInfo(stdout);
}

/** Stops every server of the sandbox (TERM, bounded wait, KILL) and removes its dir. */
export async function stopSandbox(info: SandboxInfo): Promise<void> {
  await run(SCRIPT, ['stop', info.dir], STOP_TIMEOUT_MS);
}

/** Runs SQL as root over the server's unix socket; returns tab-separated rows, no header. */
export async function rootQuery(server: SandboxServer, sql: string): Promise<string> {
  const args = ['--no-defaults', '--protocol=socket', `--socket=${server.socket}`,
    '-uroot', '--password=root_pw', '-N', '-B', '-e', sql];
  const { stdout } = await run('mariadb', args, QUERY_TIMEOUT_MS);
  return stdout;
}

/** Sessions of `user` on `server` (e.g. dbmesh's backend connections for the tests' app user). */
export async function sessionsOf(server: SandboxServer, user = 'app'): Promise<number> {
  return Number((await rootQuery(server, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '${user}'`)).trim());
}

/**
 * Semi-synchronous replication (AFTER_SYNC) from the primary to every replica: every write the
 * primary acknowledges is in a replica's relay log, so a write missing after a promotion is
 * dbmesh's loss, not asynchronous replication's.
 */
export async function semiSync(sb: SandboxInfo): Promise<void> {
  await rootQuery(sb.primary, "SET GLOBAL rpl_semi_sync_master_enabled=1; SET GLOBAL rpl_semi_sync_master_wait_point='AFTER_SYNC'; SET GLOBAL rpl_semi_sync_master_timeout=20000");
  for (const r of sb.replicas) await rootQuery(r, 'SET GLOBAL rpl_semi_sync_slave_enabled=1; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD');
}

/** Promote a replica as an orchestrator would: apply its whole relay log, then open it for writes. */
export async function promote(r: SandboxServer): Promise<void> {
  await rootQuery(r, 'STOP SLAVE IO_THREAD');
  for (let i = 0; i < 100 && !(await rootQuery(r, 'SHOW SLAVE STATUS')).includes('read all relay log'); i++) await new Promise((res) => setTimeout(res, 100));
  await rootQuery(r, 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0');
}
