/**
 * The admin API's routes: each one translates an HTTP request into one MasterControl call
 * and its result into a response. Transport concerns (auth, body limits, routing by method
 * and path, errors) live in admin-api.ts.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.js';
import type { BackendAction, MasterControl, ProgressEvent, UpgradeResult } from './control.js';
import { DIGEST_SORTS, type DigestSort } from '../insight/digest-store.js';
import { ALLOWLIST_MODES, DIGEST_ID_RE, MAX_ACCOUNT_DIGESTS, MAX_FINGERPRINT_CHARS, parseAccount, type AllowlistMode } from '../allowlist/accounts.js';

/** Most digest rows one request returns. */
const MAX_DIGEST_LIMIT = 10000;

export interface RouteContext {
  readonly control: MasterControl;
  readonly log: Logger;
  /** The request body (at most the admin API's body limit); empty for GET. */
  readonly body: Buffer;
  readonly res: ServerResponse;
  /** How often a progress stream writes a keep-alive line (within the idle timeout). */
  readonly streamKeepAliveMs: number;
  /** The URL's query parameters. */
  readonly query: URLSearchParams;
  /** The parts a pattern route captured from the path (e.g. cluster, backend, action). */
  readonly params: readonly string[];
}

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly handle: (ctx: RouteContext) => Promise<void>;
  /** Largest body this route takes (default ADMIN_MAX_BODY_BYTES). */
  readonly maxBodyBytes?: number;
}

/**
 * While an upgrade waits (e.g. for busy sessions to finish their transaction) the stream
 * may be silent for minutes; an empty line now and then keeps HTTP clients (fetch gives up
 * after 300 s without body data) and proxies from timing out. Readers skip empty lines.
 */
export const STREAM_KEEPALIVE_MS = 15_000;

/** Versions name release directories: keep them to plain semver, never a path. */
const VERSION_RE = /^\d{1,9}\.\d{1,9}\.\d{1,9}(?:-[0-9A-Za-z.-]{1,40})?(?:\+[0-9A-Za-z.-]{1,40})?$/;

export const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/api/status', { method: 'GET', handle: status }],
  ['/api/reload', { method: 'POST', handle: reload }],
  ['/api/upgrade', { method: 'POST', handle: upgrade }],
  ['/api/rollback', { method: 'POST', handle: rollback }],
  ['/api/stop', { method: 'POST', handle: stop }],
  ['/metrics', { method: 'GET', handle: metrics }],
  ['/api/digests', { method: 'GET', handle: digests }],
  ['/api/digests/reset', { method: 'POST', handle: resetDigests }],
  ['/api/debug/alloc', { method: 'POST', handle: debugAlloc }],
  ['/api/firewall/users', { method: 'GET', handle: allowlistAccounts }],
]);

/** Routes with parts in their path. */
/** An allowlist PUT carries up to MAX_ACCOUNT_DIGESTS digests with their fingerprints. */
const ALLOWLIST_MAX_BODY_BYTES = 32 * 1024 * 1024;
const ACCOUNT_PATH = /^\/api\/firewall\/users\/([^/]{1,400})$/;

const PATTERN_ROUTES: readonly { readonly re: RegExp; readonly route: Route }[] = [
  { re: /^\/api\/backends\/([^/]{1,200})\/([^/]{1,200})\/([a-z]{1,20})$/, route: { method: 'POST', handle: backendAction } },
  { re: ACCOUNT_PATH, route: { method: 'GET', handle: allowlistGet } },
  { re: ACCOUNT_PATH, route: { method: 'PUT', handle: allowlistPut, maxBodyBytes: ALLOWLIST_MAX_BODY_BYTES } },
  { re: /^\/api\/firewall\/users\/([^/]{1,400})\/mode$/, route: { method: 'POST', handle: allowlistMode } },
];

/** The route for a path (the one for `method` when a path has several), with what its pattern captured. */
export function findRoute(path: string, method = 'GET'): { route: Route; params: string[] } | undefined {
  const exact = ROUTES.get(path);
  if (exact !== undefined) return { route: exact, params: [] };
  let found: { route: Route; m: RegExpExecArray } | undefined;
  for (const p of PATTERN_ROUTES) {
    const m = p.re.exec(path);
    if (m === null) continue;
    found ??= { route: p.route, m };
    if (p.route.method === method) {
      found = { route: p.route, m };
      break;
    }
  }
  if (found === undefined) return undefined;
  try {
    return { route: found.route, params: found.m.slice(1).map((x) => decodeURIComponent(x)) };
  } catch {
    return undefined; // a malformed %-escape names nothing
  }
}

/** Longest a drain request may wait for the backend's connections to close. */
const MAX_DRAIN_WAIT_MS = 600_000;
const DRAIN_POLL_MS = 100;
const BACKEND_ACTIONS: readonly BackendAction[] = ['drain', 'disable', 'enable'];

/**
 * POST /api/backends/<cluster>/<id>/drain|disable|enable[?wait=ms]. With `wait`, a drain or
 * disable answers when no worker holds a connection there any more (or the wait ran out):
 * `drained` says which.
 */
async function backendAction({ control, params, query, res }: RouteContext): Promise<void> {
  const [cluster, id, action] = params as [string, string, string];
  if (!BACKEND_ACTIONS.includes(action as BackendAction)) return sendJson(res, 404, { error: `unknown action '${action}'; use drain, disable or enable` });
  const waitText = query.get('wait');
  const wait = waitText === null ? 0 : Number(waitText);
  if (!Number.isInteger(wait) || wait < 0 || wait > MAX_DRAIN_WAIT_MS) return sendJson(res, 400, { error: `wait must be an integer from 0 to ${MAX_DRAIN_WAIT_MS} (ms)` });
  const at = Date.now();
  const backend = control.backendAction(cluster, id, action as BackendAction);
  if (backend === null) return sendJson(res, 404, { error: `no backend '${id}' in cluster '${cluster}'` });
  if (action === 'enable' || wait === 0) return sendJson(res, 200, { backend, connections: control.backendConnections(cluster, id, 0) });
  let connections = control.backendConnections(cluster, id, at);
  while (connections !== 0 && Date.now() - at < wait) {
    await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    connections = control.backendConnections(cluster, id, at);
  }
  sendJson(res, 200, { backend, connections, drained: connections === 0, waitedMs: Date.now() - at });
}

/** GET /api/firewall/users: every account with an allowlist, its mode and size. */
async function allowlistAccounts({ control, res }: RouteContext): Promise<void> {
  sendJson(res, 200, { file: control.allowlistFile(), accounts: control.allowlists() });
}

/** The account's allowlist as the API shows it: digests as a list of {digest, fingerprint}. */
function accountBody(a: { account: string; mode: AllowlistMode; digests: Record<string, string> }): unknown {
  return { account: a.account, mode: a.mode, digests: Object.entries(a.digests).map(([digest, fingerprint]) => ({ digest, fingerprint })) };
}

/** GET /api/firewall/users/<user[@cidr]>. */
async function allowlistGet({ control, params, res }: RouteContext): Promise<void> {
  const account = params[0]!;
  if (parseAccount(account) === null) return sendJson(res, 400, { error: `not an account name: '${account.slice(0, 80)}'` });
  const a = control.allowlist(account);
  if (a === null) return sendJson(res, 404, { error: `no allowlist for account '${account}'; set a mode to start one (POST /api/firewall/users/${encodeURIComponent(account)}/mode)` });
  sendJson(res, 200, accountBody(a));
}

function parseJsonBody(body: Buffer): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { error: 'the body must be JSON' };
  }
}

/**
 * PUT /api/firewall/users/<account>: {"digests": [...], "mode"?: ...} replaces the account's
 * digests; each is a digest id or {"digest", "fingerprint"}.
 */
async function allowlistPut({ control, params, body, res }: RouteContext): Promise<void> {
  const account = params[0]!;
  if (parseAccount(account) === null) return sendJson(res, 400, { error: `not an account name: '${account.slice(0, 80)}'` });
  const parsed = parseJsonBody(body);
  if ('error' in parsed) return sendJson(res, 400, { error: `${parsed.error}: {"digests": [...], "mode": "protect"}` });
  const v = parsed.value as { digests?: unknown; mode?: unknown } | null;
  if (v === null || typeof v !== 'object' || !Array.isArray(v.digests)) return sendJson(res, 400, { error: 'the body must be {"digests": [digest id or {"digest", "fingerprint"}, ...], "mode"?: off|learn|detect|protect}' });
  if (v.mode !== undefined && !(ALLOWLIST_MODES as readonly unknown[]).includes(v.mode)) return sendJson(res, 400, { error: `mode must be one of ${ALLOWLIST_MODES.join(', ')}` });
  if (v.digests.length > MAX_ACCOUNT_DIGESTS) return sendJson(res, 400, { error: `at most ${MAX_ACCOUNT_DIGESTS} digests` });
  const digests: Record<string, string> = {};
  for (const [i, d] of v.digests.entries()) {
    const id = typeof d === 'string' ? d : (d as { digest?: unknown } | null)?.digest;
    const fp = typeof d === 'string' || d === null || typeof d !== 'object' ? '' : (d as { fingerprint?: unknown }).fingerprint ?? '';
    if (typeof id !== 'string' || !DIGEST_ID_RE.test(id)) return sendJson(res, 400, { error: `digests[${i}]: not a digest id (16 lowercase hex characters, as GET /api/digests shows them)` });
    if (typeof fp !== 'string') return sendJson(res, 400, { error: `digests[${i}].fingerprint: must be a string` });
    digests[id] = fp.slice(0, MAX_FINGERPRINT_CHARS);
  }
  try {
    sendJson(res, 200, accountBody(await control.putAllowlist(account, digests, (v.mode as AllowlistMode | undefined) ?? null)));
  } catch (err) {
    sendJson(res, (err as { status?: number }).status ?? 500, { error: errorMessage(err) });
  }
}

/** POST /api/firewall/users/<account>/mode {"mode": "off"|"learn"|"detect"|"protect"}. */
async function allowlistMode({ control, params, body, res }: RouteContext): Promise<void> {
  const account = params[0]!;
  if (parseAccount(account) === null) return sendJson(res, 400, { error: `not an account name: '${account.slice(0, 80)}'` });
  const parsed = parseJsonBody(body);
  const mode = 'error' in parsed ? undefined : (parsed.value as { mode?: unknown } | null)?.mode;
  if (!(ALLOWLIST_MODES as readonly unknown[]).includes(mode)) return sendJson(res, 400, { error: `the body must be {"mode": ${ALLOWLIST_MODES.map((m) => `"${m}"`).join(' | ')}}` });
  try {
    const a = await control.setAllowlistMode(account, mode as AllowlistMode);
    sendJson(res, 200, { account: a.account, mode: a.mode, digests: Object.keys(a.digests).length });
  } catch (err) {
    sendJson(res, (err as { status?: number }).status ?? 500, { error: errorMessage(err) });
  }
}

export function sendJson(res: ServerResponse, statusCode: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(statusCode, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/**
 * Test hook for the memory watchdog: make one worker hold `mib` MiB. Refused (404) unless
 * the master runs with DBMESH_DEBUG_HOOKS=1; the worker checks the same switch.
 */
async function debugAlloc({ control, body, res }: RouteContext): Promise<void> {
  if (process.env.DBMESH_DEBUG_HOOKS !== '1' || !control.debugAlloc) return sendJson(res, 404, { error: 'not found' });
  let req: { pid?: unknown; mib?: unknown };
  try {
    req = JSON.parse(body.toString('utf8') || '{}') as typeof req;
  } catch {
    return sendJson(res, 400, { error: 'body must be JSON' });
  }
  if (typeof req.pid !== 'number' || typeof req.mib !== 'number' || req.mib < 1 || req.mib > 4096) {
    return sendJson(res, 400, { error: 'expected {"pid": <worker pid>, "mib": 1..4096}' });
  }
  const ok = await control.debugAlloc(req.pid, req.mib);
  sendJson(res, ok ? 200 : 404, { ok });
}

async function status({ control, res }: RouteContext): Promise<void> {
  sendJson(res, 200, control.status());
}

async function reload({ control, res }: RouteContext): Promise<void> {
  const result = await control.reload();
  sendJson(res, result.ok ? 200 : 422, result);
}

async function upgrade(ctx: RouteContext): Promise<void> {
  const version = parseVersionBody(ctx.body);
  if (typeof version !== 'string') {
    sendJson(ctx.res, 400, { error: version.error });
    return;
  }
  await streamProgress(ctx, version, (onProgress) => ctx.control.upgrade(version, onProgress));
}

async function rollback(ctx: RouteContext): Promise<void> {
  await streamProgress(ctx, '', (onProgress) => ctx.control.rollback(onProgress));
}

async function stop({ control, log, res }: RouteContext): Promise<void> {
  // 'close' follows 'finish' (the response handed to the OS), and also fires when the
  // client went away first: an accepted stop happens either way, but never before the
  // answer is out, since stopping may close this server.
  res.once('close', () => {
    control.stop().catch((err: unknown) => log.error('stop failed', { error: errorMessage(err) }));
  });
  sendJson(res, 202, { stopping: true }, { connection: 'close' });
}

async function metrics({ control, res }: RouteContext): Promise<void> {
  const text = await control.metrics();
  res.writeHead(200, {
    'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** GET /api/digests?sort=total|count|p99|errors|max|avg|last&limit=N&user=U&schema=S */
async function digests({ control, query, res }: RouteContext): Promise<void> {
  const sort = query.get('sort') ?? 'total';
  if (!DIGEST_SORTS.includes(sort as DigestSort)) return sendJson(res, 400, { error: `sort must be one of ${DIGEST_SORTS.join(', ')}` });
  const limitText = query.get('limit');
  const limit = limitText === null ? 100 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DIGEST_LIMIT) return sendJson(res, 400, { error: `limit must be an integer from 1 to ${MAX_DIGEST_LIMIT}` });
  const user = query.get('user');
  const schema = query.get('schema');
  const rows = control.digests({ sort: sort as DigestSort, limit, ...(user !== null ? { user } : {}), ...(schema !== null ? { schema } : {}) });
  sendJson(res, 200, { digests: rows });
}

async function resetDigests({ control, res }: RouteContext): Promise<void> {
  control.resetDigests();
  sendJson(res, 200, { reset: true });
}

function parseVersionBody(body: Buffer): string | { error: string } {
  let data: unknown;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch {
    return { error: 'the body must be JSON: {"version": "x.y.z"}' };
  }
  const version = (data as { version?: unknown } | null)?.version;
  if (typeof version !== 'string') return { error: 'the body must be {"version": "x.y.z"}' };
  if (!VERSION_RE.test(version)) return { error: `not a release version: ${JSON.stringify(version.slice(0, 80))}` };
  return version;
}

/**
 * Stream an upgrade or rollback as NDJSON: one ProgressEvent per line as it happens, then
 * `{"result": UpgradeResult}`. The status is 200 whatever the outcome; the result says.
 * A client that disconnects does not cancel the upgrade: the master finishes it anyway.
 */
async function streamProgress(
  { control, log, res, streamKeepAliveMs }: RouteContext,
  toVersion: string,
  run: (onProgress: (e: ProgressEvent) => void) => Promise<UpgradeResult>,
): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
  res.flushHeaders();
  const write = (text: string): void => {
    if (!res.destroyed && !res.writableEnded) res.write(text);
  };
  const keepAlive = setInterval(() => write('\n'), streamKeepAliveMs).unref();
  let result: UpgradeResult;
  try {
    result = await run((e) => write(JSON.stringify(e) + '\n'));
  } catch (err) {
    // A throw is a supervisor bug, not an outcome: details go to the log, not the client.
    log.error('upgrade or rollback threw', { to_version: toVersion, error: errorMessage(err) });
    result = { ok: false, fromVersion: safeVersion(control), toVersion, sessionsMoved: 0, sessionsClosed: 0, error: 'internal error (see the master log)' };
  } finally {
    clearInterval(keepAlive);
  }
  write(JSON.stringify({ result }) + '\n');
  if (!res.writableEnded) res.end();
}

function safeVersion(control: MasterControl): string {
  try {
    return control.status().version;
  } catch {
    return '';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
