/**
 * The MariaDB command-line clients as tests run them: `mariadb` (the interactive client, in
 * batch mode) and `mariadb-test` (the server's test client, which can send every statement
 * as a prepared statement with --ps-protocol). Both never reject on a non-zero exit: the
 * exit code is part of what tests check. A client that outlives `timeoutMs` is killed and
 * reported as hung, so a hang is a failure, never a stuck test run.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The client was still running after the timeout (killed). */
  hung: boolean;
}

/** What the client reads on stdin: nothing, a string, or a file (as `mariadb < file`). */
export type Stdin = { text: string } | { file: string } | null;

const DEFAULT_TIMEOUT_MS = 60_000;

function run(bin: string, argv: string[], stdin: Stdin, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, argv, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const hung = err !== null && (err as { killed?: boolean }).killed === true;
      if (err && typeof err.code !== 'number' && !hung) {
        reject(new Error(`${bin} ${argv.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, hung });
    });
    child.stdin!.on('error', () => {}); // the client may exit before reading all of stdin
    if (stdin !== null && 'file' in stdin) createReadStream(stdin.file).pipe(child.stdin!);
    else child.stdin!.end(stdin?.text ?? '');
  });
}

/** `mariadb --no-defaults -h 127.0.0.1 -P port ...args`. */
export function mariadb(port: number, args: string[], stdin: Stdin = null, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<CliResult> {
  return run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), ...args], stdin, timeoutMs);
}

export interface MariadbTestOptions {
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Every statement as a prepared statement (COM_STMT_PREPARE / EXECUTE). */
  readonly ps?: boolean;
  readonly timeoutMs?: number;
}

/** `mariadb-test` reading a test script (mysqltest language) on stdin; its log is stdout. */
export function mariadbTest(port: number, script: string, o: MariadbTestOptions): Promise<CliResult> {
  const argv = ['--no-defaults', '--host=127.0.0.1', `--port=${port}`, `--user=${o.user}`, `--password=${o.password}`,
    `--database=${o.database}`, '--skip-ssl', '--tmpdir=/tmp', ...(o.ps ? ['--ps-protocol'] : [])];
  return run('mariadb-test', argv, { text: script }, o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
}
