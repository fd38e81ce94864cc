/**
 * The HTTP client side of the admin API for the commands that act on a running master
 * (status, reload, upgrade, rollback, stop, digests, top): find the master through the config
 * file's admin section, call it with the bearer token, and turn transport failures into one
 * clear line on stderr and an exit code.
 */
import { ConfigError, loadConfigFile } from '../config/index.js';
import { reportConfigError } from './commands/report.js';

export interface AdminTarget {
  readonly host: string; // as connected to (a wildcard listen address becomes loopback)
  readonly port: number;
  readonly token: string;
  readonly configFile: string;
}

/** An expected failure: printed as `dbmesh: <message>` with this exit code. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** Ordinary admin calls answer quickly; upgrade streams are not bounded by this. */
const REQUEST_TIMEOUT_MS = 120_000;
/** A progress line longer than this is not one the master wrote. */
const MAX_LINE_CHARS = 1024 * 1024;

/** Option help shared by every command that talks to the master. */
export const CONFIG_OPTION_HELP = "config file of the running master (its admin section says where to reach it)";

/**
 * Wrap a command action: load the config (a bad one prints its problems, exit 2), run,
 * and print a CliFailure as one line with its exit code. Anything else is a bug: rethrown.
 */
export function adminAction<O extends { config: string }>(
  run: (target: AdminTarget, opts: O) => Promise<void>,
): (opts: O) => Promise<void> {
  return async (opts) => {
    try {
      await run(adminTarget(opts.config), opts);
    } catch (err) {
      if (err instanceof ConfigError) reportConfigError(opts.config, err);
      else if (err instanceof CliFailure) {
        process.stderr.write(`dbmesh: ${err.message}\n`);
        process.exitCode = err.exitCode;
      } else throw err;
    }
  };
}

function adminTarget(configFile: string): AdminTarget {
  const { admin } = loadConfigFile(configFile);
  if (admin.token === '') {
    throw new CliFailure(`admin.token is empty in ${configFile}, so the master's admin API refuses every request; set a token and restart dbmesh`);
  }
  return { host: connectHost(admin.host), port: admin.port, token: admin.token, configFile };
}

/** A master listening on a wildcard address is reached over loopback. */
function connectHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

function hostPort(target: AdminTarget): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/**
 * Call the admin API. Unreachable master and a refused token become CliFailures;
 * every other status is the caller's to interpret.
 */
export async function adminFetch(
  target: AdminTarget,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  opts: { body?: unknown; stream?: boolean; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${target.token}` };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const signals = opts.stream === true ? [] : [AbortSignal.timeout(timeoutMs)];
  if (opts.signal !== undefined) signals.push(opts.signal);
  let res: Response;
  try {
    res = await fetch(`http://${hostPort(target)}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: signals.length <= 1 ? signals[0] : AbortSignal.any(signals),
    });
  } catch (err) {
    throw unreachable(target, err, timeoutMs);
  }
  if (res.status === 401) {
    await res.body?.cancel();
    throw new CliFailure(`the master at ${hostPort(target)} refused the admin token (401): admin.token in ${target.configFile} must match the running master's`);
  }
  return res;
}

function unreachable(target: AdminTarget, err: unknown, timeoutMs: number): CliFailure {
  if ((err as Error).name === 'TimeoutError') {
    return new CliFailure(`the dbmesh master at ${hostPort(target)} did not answer within ${timeoutMs / 1000} s (config: ${target.configFile})`);
  }
  if ((err as Error).name === 'AbortError') return new CliFailure('the request to the master was cancelled');
  const cause = (err as { cause?: { code?: string; errors?: { code?: string }[]; message?: string } }).cause;
  if (cause?.message === 'bad port') {
    // fetch (WHATWG) never connects to some ports (6000, 6665-6669, 10080, ...).
    return new CliFailure(`cannot call the admin API on port ${target.port}: fetch refuses that port; choose another admin.port (config: ${target.configFile})`);
  }
  const code = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err as Error).message;
  return new CliFailure(`cannot reach the dbmesh master at ${hostPort(target)} (${code}): is it running? (config: ${target.configFile})`);
}

/** The JSON body of a response; a non-JSON body is a failure (not a dbmesh master?). */
export async function readJson<T>(res: Response): Promise<T> {
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CliFailure(`the admin API answered HTTP ${res.status} with a body that is not JSON: is ${res.url} a dbmesh master?`);
  }
}

/** For a status the command does not expect: report what the master said. */
export async function unexpected(res: Response): Promise<CliFailure> {
  const text = await res.text();
  let detail = text.slice(0, 200);
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof error === 'string') detail = error;
  } catch {
    // not JSON: show the start of the text
  }
  return new CliFailure(`the master answered HTTP ${res.status}: ${detail}`);
}

/**
 * Read an NDJSON body incrementally, calling onValue for each line as soon as it arrives.
 * Empty lines (the master's keep-alives) are skipped. Throws CliFailure on a malformed line;
 * a dropped connection rejects with the fetch error (the caller knows what was in flight).
 */
export async function readNdjson(res: Response, onValue: (value: unknown) => void): Promise<void> {
  if (res.body === null) return;
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of res.body) {
    pending += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      parseLine(pending.slice(0, nl), onValue);
      pending = pending.slice(nl + 1);
    }
    if (pending.length > MAX_LINE_CHARS) throw new CliFailure('the master sent a malformed progress stream (line too long)');
  }
  parseLine(pending + decoder.decode(), onValue);
}

function parseLine(line: string, onValue: (value: unknown) => void): void {
  if (line.trim() === '') return;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new CliFailure(`the master sent a malformed progress line: ${line.slice(0, 120)}`);
  }
  onValue(value);
}
