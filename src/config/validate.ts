/**
 * Validation of a parsed config file: the JSON Schema (ajv, every error at once) plus the
 * rules a schema cannot say (unique names, references between sections). Every problem
 * is reported as `<path>: <what is wrong>` with paths written as in the file's own terms,
 * e.g. `clusters[0].backends[1].port: must be integer`.
 *
 * Semantic checks run even when the schema found problems, so one run lists everything;
 * they therefore read the input defensively and skip whatever is malformed.
 */
import { parseCidr } from './cidr.js';
import { Ajv, type ErrorObject } from 'ajv';
import schema from './schema.json' with { type: 'json' };
import { DEFAULTS } from './defaults.js';
import { memoryLimitProblems } from './memory-limit.js';

const NAME_PATTERN = schema.definitions.name.pattern;
const NAME_RULE = 'must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit';

const ajv = new Ajv({ allErrors: true, strict: true });
const validateSchema = ajv.compile(schema);

/** The published JSON Schema of the config file. */
export const configSchema: typeof schema = schema;

/** Every problem in `data`, schema first, then semantics; empty when valid. */
export function validateConfig(data: unknown): string[] {
  const problems = validateSchema(data) ? [] : (validateSchema.errors ?? []).map((e) => formatAjvError(e, data));
  problems.push(...semanticProblems(data));
  return [...new Set(problems)];
}

/** `/clusters/0/backends/1/port` -> `clusters[0].backends[1].port`, walking `data` to tell arrays from objects. */
export function formatPath(pointer: string, data: unknown): string {
  if (pointer === '') return '(root)';
  let out = '';
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) out += `[${key}]`;
    else out += out === '' ? key : `.${key}`;
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  }
  return out;
}

function formatAjvError(e: ErrorObject, data: unknown): string {
  return `${formatPath(e.instancePath, data)}: ${ajvMessage(e)}`;
}

function ajvMessage(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown property ${JSON.stringify(p.additionalProperty)}`;
    case 'required':
      return `missing required property ${JSON.stringify(p.missingProperty)}`;
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return p.pattern === NAME_PATTERN ? NAME_RULE : e.message ?? 'is invalid';
    default:
      return e.message ?? `fails ${e.keyword}`;
  }
}

type Rec = Record<string, unknown>;

const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);
const arrayOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function semanticProblems(data: unknown): string[] {
  if (!isRec(data)) return [];
  const problems: string[] = [];
  const clusters = clusterProblems(arrayOf(data.clusters), problems);
  userProblems(arrayOf(data.users), clusters, Array.isArray(data.clusters), problems);
  addressProblems(data, problems);
  watchdogProblems(data, problems);
  adminTimeoutProblems(data, problems);
  readinessProblems(data, problems);
  firewallProblems(data, problems);
  return problems;
}

/** Firewall rules the schema cannot judge: regular expressions that do not compile, addresses that are not CIDRs. */
function firewallProblems(data: Rec, problems: string[]): void {
  const fw = data.firewall;
  if (!isRec(fw)) return;
  arrayOf(fw.rules).forEach((r, i) => {
    if (!isRec(r)) return;
    if (typeof r.pattern === 'string') {
      try {
        new RegExp(r.pattern, 'i');
      } catch (err) {
        problems.push(`firewall.rules[${i}].pattern: not a valid regular expression: ${(err as Error).message}`);
      }
    }
    arrayOf(r.clients).forEach((c, j) => {
      if (typeof c === 'string' && parseCidr(c) === null) problems.push(`firewall.rules[${i}].clients[${j}]: "${c}" is not an IPv4 or IPv6 address or CIDR block (e.g. 10.0.0.0/8)`);
    });
  });
  const names = new Map<string, number>();
  arrayOf(fw.rules).forEach((r, i) => {
    if (!isRec(r) || typeof r.name !== 'string') return;
    const first = names.get(r.name);
    if (first !== undefined) problems.push(`firewall.rules[${i}].name: duplicate rule name "${r.name}" (first at firewall.rules[${first}])`);
    else names.set(r.name, i);
  });
}

/**
 * A starting worker that begins no boot phase for supervisor.readyTimeoutMs is killed. One
 * phase probes the backends, and a probe of an unreachable (or hung) backend may take a connect
 * timeout plus a query timeout: a shorter readyTimeoutMs would kill every worker, in a loop,
 * whenever a backend is down.
 */
function readinessProblems(data: Rec, problems: string[]): void {
  const sup = isRec(data.supervisor) ? data.supervisor : {};
  const limits = isRec(data.limits) ? data.limits : {};
  const stall = sup.readyTimeoutMs ?? DEFAULTS.supervisor.readyTimeoutMs;
  const cap = sup.readyLimitMs ?? DEFAULTS.supervisor.readyLimitMs;
  const connect = limits.connectTimeoutMs ?? DEFAULTS.limits.connectTimeoutMs;
  if (typeof stall !== 'number' || typeof cap !== 'number' || typeof connect !== 'number') return;
  if (stall < 2 * connect) {
    problems.push(`supervisor.readyTimeoutMs: ${stall} is below twice limits.connectTimeoutMs (${connect}): probing a backend that does not answer takes up to that long in one boot phase, so every worker would be killed while a backend is down`);
  }
  if (cap < stall) problems.push(`supervisor.readyLimitMs: ${cap} is below supervisor.readyTimeoutMs (${stall})`);
}

/** node:http refuses (throws at start) a request timeout shorter than the headers timeout. */
function adminTimeoutProblems(data: Rec, problems: string[]): void {
  const admin = isRec(data.admin) ? data.admin : {};
  const headers = admin.headersTimeoutMs ?? DEFAULTS.admin.headersTimeoutMs;
  const request = admin.requestTimeoutMs ?? DEFAULTS.admin.requestTimeoutMs;
  if (typeof headers === 'number' && typeof request === 'number' && request < headers) {
    problems.push(`admin.requestTimeoutMs: ${request} is below admin.headersTimeoutMs (${headers}): a request includes its headers`);
  }
}

/** Limits that would kill or replace every worker as it starts, or a soft limit never reached. */
function watchdogProblems(data: Rec, problems: string[]): void {
  const w = isRec(data.watchdog) ? data.watchdog : {};
  const soft = typeof w.softLimit === 'string' ? w.softLimit : undefined;
  const hard = typeof w.hardLimit === 'string' ? w.hardLimit : undefined;
  if (w.softLimit !== undefined && soft === undefined) return; // the schema reports the type
  if (w.hardLimit !== undefined && hard === undefined) return;
  const limits = { softLimit: soft ?? DEFAULTS.watchdog.softLimit, hardLimit: hard ?? DEFAULTS.watchdog.hardLimit };
  problems.push(...memoryLimitProblems(limits, { soft: soft !== undefined, hard: hard !== undefined }));
}

/**
 * Pool timers run in the pool's housekeeping, about once a second: a non-zero period below
 * that does not mean what it says (a 5 ms lifetime retires and reopens every idle connection
 * each second, a login storm on the backends).
 */
const POOL_PERIODS = ['maxLifetimeMs', 'keepAliveMs'] as const;
const POOL_MIN_PERIOD_MS = 1000;

function poolProblems(pool: unknown, at: string, problems: string[]): void {
  if (!isRec(pool)) return;
  for (const field of POOL_PERIODS) {
    const v = pool[field];
    if (typeof v === 'number' && v > 0 && v < POOL_MIN_PERIOD_MS) {
      problems.push(`${at}.pool.${field}: must be 0 (off) or at least ${POOL_MIN_PERIOD_MS} (pool housekeeping runs once a second)`);
    }
  }
}

/** Unique cluster names, at least one backend, unique backend ids per cluster. Returns the names. */
function clusterProblems(clusters: unknown[], problems: string[]): Set<string> {
  const names = new Map<string, number>();
  clusters.forEach((c, i) => {
    if (!isRec(c)) return;
    if (typeof c.name === 'string') {
      const first = names.get(c.name);
      if (first !== undefined) problems.push(`clusters[${i}].name: duplicate cluster name "${c.name}" (first at clusters[${first}])`);
      else names.set(c.name, i);
    }
    poolProblems(c.pool, `clusters[${i}]`, problems);
    if (!Array.isArray(c.backends)) return;
    if (c.backends.length === 0) problems.push(`clusters[${i}].backends: a cluster needs at least one backend`);
    const ids = new Map<string, number>();
    c.backends.forEach((b, j) => {
      if (!isRec(b) || typeof b.id !== 'string') return;
      const firstId = ids.get(b.id);
      if (firstId !== undefined) {
        problems.push(`clusters[${i}].backends[${j}].id: duplicate backend id "${b.id}" (first at clusters[${i}].backends[${firstId}])`);
      } else ids.set(b.id, j);
    });
  });
  return new Set(names.keys());
}

/** Unique user names; each user's cluster exists (only checked when `clusters` is a list). */
function userProblems(users: unknown[], clusters: Set<string>, checkRefs: boolean, problems: string[]): void {
  const names = new Map<string, number>();
  users.forEach((u, i) => {
    if (!isRec(u)) return;
    if (typeof u.name === 'string') {
      const first = names.get(u.name);
      if (first !== undefined) problems.push(`users[${i}].name: duplicate user name "${u.name}" (first at users[${first}])`);
      else names.set(u.name, i);
    }
    if (checkRefs && typeof u.cluster === 'string' && u.cluster !== '' && !clusters.has(u.cluster)) {
      problems.push(`users[${i}].cluster: unknown cluster "${u.cluster}"`);
    }
  });
}

const WILDCARD = new Set(['0.0.0.0', '::']);
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * The admin API and the MySQL listener cannot share one address, and no backend may be
 * dbmesh's own listener (every pool and monitor connection would come back to dbmesh).
 */
function addressProblems(data: Rec, problems: string[]): void {
  const listen = isRec(data.listen) ? data.listen : {};
  const admin = isRec(data.admin) ? data.admin : {};
  const lHost = typeof listen.host === 'string' ? listen.host : DEFAULTS.listen.host;
  const aHost = typeof admin.host === 'string' ? admin.host : DEFAULTS.admin.host;
  const lPort = listen.port ?? DEFAULTS.listen.port;
  const aPort = admin.port ?? DEFAULTS.admin.port;
  const hostsOverlap = lHost === aHost || WILDCARD.has(lHost) || WILDCARD.has(aHost);
  if (typeof lPort === 'number' && lPort === aPort && hostsOverlap) {
    problems.push(`admin.port: ${aPort} is already used by listen (${lHost}:${lPort})`);
  }
  arrayOf(data.clusters).forEach((c, i) => {
    if (!isRec(c)) return;
    arrayOf(c.backends).forEach((b, j) => {
      if (!isRec(b) || typeof b.host !== 'string' || (b.port ?? DEFAULTS.backend.port) !== lPort) return;
      const local = b.host === lHost || (LOOPBACK.has(b.host) && (LOOPBACK.has(lHost) || WILDCARD.has(lHost)));
      if (local) problems.push(`clusters[${i}].backends[${j}]: ${b.host}:${String(lPort)} is dbmesh's own listen address (dbmesh would connect to itself)`);
    });
  });
}
