/**
 * The admin HTTP API (status, reload, upgrade, rollback, stop, /metrics): transport only.
 * Every request needs `Authorization: Bearer <admin.token>`; an empty configured token
 * refuses everything. Routes and their MasterControl calls are in admin-routes.ts.
 * Error bodies are `{"error": "..."}` and never carry stack traces or internal paths.
 * Connections are capped and none may sit idle (headers, request, keep-alive and idle
 * timeouts): see admin-connections.ts for why.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdminConfig } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import { addressError } from './addresses.js';
import { STREAM_KEEPALIVE_MS, errorMessage, findRoute, sendJson } from './admin-routes.js';
import { AdminConnections } from './admin-connections.js';
import { adminConnectionCap, openFileLimit } from './fd-budget.js';
import type { MasterControl } from './control.js';

export interface AdminApi {
  /** The port actually bound (differs from admin.port when that is 0). */
  readonly port: number;
  /** The connection cap in force (admin.maxConnections within the master's fd budget). */
  readonly maxConnections: number;
  /** Connections open now. */
  readonly connections: number;
  /** Apply new limits and timeouts (a reload); host, port and token stay as started. */
  configure(admin: AdminConfig): void;
  /** Stop accepting, let in-flight requests finish (forced after a grace period). */
  close(): Promise<void>;
}

/** Largest request body accepted (unless a route says otherwise); larger is 413. */
export const ADMIN_MAX_BODY_BYTES = 64 * 1024;
/**
 * An oversized body is still read (and dropped) up to this much before the 413 goes out:
 * closing a socket with unread input makes the kernel send RST, and the client may lose
 * the 413 it was about to read. Beyond this we answer at once and close.
 */
const DRAIN_LIMIT_BYTES = 1024 * 1024;
const CLOSE_GRACE_MS = 5_000;
/** How often node:http checks the headers and request timeouts (its default is 30 s). */
const TIMEOUT_CHECK_MS = 1_000;

type BodyResult = { readonly body: Buffer } | { readonly tooLarge: true };

export async function startAdminApi(admin: AdminConfig, control: MasterControl, log: Logger): Promise<AdminApi> {
  const tokenDigest = admin.token === '' ? undefined : digest(admin.token);
  if (tokenDigest === undefined) log.warn('admin.token is empty: the admin API refuses every request');
  const limits = { streamKeepAliveMs: 0 };
  const server = createServer({ headersTimeout: admin.headersTimeoutMs, requestTimeout: admin.requestTimeoutMs, connectionsCheckingInterval: TIMEOUT_CHECK_MS });
  const connections = new AdminConnections(server, admin.maxConnections, log);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    connections.started(req.socket, res);
    handle(req, res, tokenDigest, control, log, limits.streamKeepAliveMs).catch((err: unknown) => internalError(res, log, err));
  });
  const configure = (next: AdminConfig): void => {
    connections.cap = connectionCap(next, log);
    server.headersTimeout = next.headersTimeoutMs;
    server.requestTimeout = next.requestTimeoutMs;
    server.keepAliveTimeout = next.keepAliveTimeoutMs;
    server.setTimeout(next.idleTimeoutMs);
    limits.streamKeepAliveMs = Math.min(STREAM_KEEPALIVE_MS, Math.floor(next.idleTimeoutMs / 3));
  };
  configure(admin);
  await listen(server, admin);
  server.on('error', (err) => log.error('admin api server error', { error: err.message }));
  const port = (server.address() as AddressInfo).port;
  log.info('admin api listening', { host: admin.host, port, max_connections: connections.cap });
  return {
    port, configure, close: () => closeServer(server),
    get maxConnections() { return connections.cap; },
    get connections() { return connections.count; },
  };
}

/** admin.maxConnections, within the admin share of the master's descriptors. */
function connectionCap(admin: AdminConfig, log: Logger): number {
  const fdLimit = openFileLimit();
  const cap = adminConnectionCap(admin.maxConnections, fdLimit);
  if (cap < admin.maxConnections) {
    log.warn('admin.maxConnections lowered to a quarter of the master\'s open-file limit', { configured: admin.maxConnections, max_connections: cap, fd_limit: fdLimit });
  }
  return cap;
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  tokenDigest: Buffer | undefined,
  control: MasterControl,
  log: Logger,
  streamKeepAliveMs: number,
): Promise<void> {
  if (!authorized(req.headers.authorization, tokenDigest)) {
    sendJson(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer realm="dbmesh"' });
    return;
  }
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const found = findRoute(path, req.method ?? 'GET');
  if (found === undefined) {
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  const { route, params } = found;
  if (req.method !== route.method) {
    sendJson(res, 405, { error: `method not allowed; use ${route.method}` }, { allow: route.method });
    return;
  }
  let body: Buffer = Buffer.alloc(0);
  if (route.method !== 'GET') {
    const limit = route.maxBodyBytes ?? ADMIN_MAX_BODY_BYTES;
    const read = await readBody(req, limit);
    if ('tooLarge' in read) {
      sendJson(res, 413, { error: `request body larger than ${limit} bytes` }, { connection: 'close' });
      return;
    }
    body = read.body;
  }
  await route.handle({ control, log, body, res, streamKeepAliveMs, query, params });
}

/** Constant-time: both sides are hashed to equal-length digests before comparing. */
function authorized(header: string | undefined, tokenDigest: Buffer | undefined): boolean {
  if (tokenDigest === undefined || header === undefined) return false;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (match === null) return false;
  return timingSafeEqual(digest(match[1] as string), tokenDigest);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const drainLimit = Math.max(DRAIN_LIMIT_BYTES, limit);
  if (declared > drainLimit) return Promise.resolve({ tooLarge: true });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > drainLimit) {
        req.off('data', onData);
        req.pause();
        resolve({ tooLarge: true });
      }
    };
    req.on('data', onData);
    req.once('end', () => {
      resolve(size > limit ? { tooLarge: true } : { body: Buffer.concat(chunks, size) });
    });
    req.once('error', reject);
  });
}

function internalError(res: ServerResponse, log: Logger, err: unknown): void {
  log.error('admin api request failed', { error: errorMessage(err) });
  if (res.headersSent) res.destroy();
  else sendJson(res, 500, { error: 'internal error (see the master log)' });
}

function listen(server: Server, admin: AdminConfig): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(addressError('admin', admin.host, admin.port, err.code ?? err.message));
    };
    server.once('error', onError);
    server.listen({ host: admin.host, port: admin.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    // Race window: an NDJSON upgrade stream may still be running; it gets the grace period.
    const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
