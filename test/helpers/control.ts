/**
 * Shared helpers for tests that drive a running dbmesh master: the admin API, the CLI, log
 * waits, releases, and waiting for foreign processes to exit.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import type { MasterStatus } from '../../src/master/control.js';
import { DBMESH_BIN, REPO_ROOT, type DbmeshProcess } from './dbmesh.js';

export type Line = Record<string, unknown>;

/** Any admin API call with the test token. */
export async function admin(d: DbmeshProcess, method: string, urlPath: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://127.0.0.1:${d.adminPort}${urlPath}`, {
    method, headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

export async function status(d: DbmeshProcess): Promise<MasterStatus> {
  const r = await admin(d, 'GET', '/api/status');
  expect(r.status).to.equal(200);
  return r.json as MasterStatus;
}

/** The first log line matching `pred` written after this call. */
export function nextLog(d: DbmeshProcess, pred: (l: Line) => boolean, timeoutMs = 20000): Promise<Line> {
  const from = d.logs.length;
  return d.waitForLog((l) => d.logs.indexOf(l) >= from && pred(l), timeoutMs);
}

/** Run the dbmesh CLI. */
export function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DBMESH_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => { stdout += t; });
    child.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Exited (a zombie nobody reaped yet counts: it runs no code and holds no socket). */
export function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** No event exists for a foreign pid: poll with a deadline. Returns the pids still alive. */
export async function untilGone(pids: number[], deadlineMs: number): Promise<number[]> {
  const end = Date.now() + deadlineMs;
  while (pids.some((p) => !isGone(p)) && Date.now() < end) await delay(50);
  return pids.filter((p) => !isGone(p));
}

/** Build releases of the current (already compiled) tree; the first becomes `current`. */
export function buildReleases(dir: string, versions: readonly string[]): void {
  for (const v of versions) {
    execFileSync(path.join(REPO_ROOT, 'scripts', 'release'), ['--dir', dir, '--version', v, '--no-build', ...(v === versions[0] ? ['--set-current'] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

/**
 * A release directory dbmesh accepts whose worker entry is `source` (a test double: it may exit,
 * answer IPC like a worker that fails, or set hooks and run this tree's worker).
 */
export function writeFakeRelease(releasesDir: string, version: string, source: string, opts: { module?: boolean; current?: boolean } = {}): void {
  const dir = path.join(releasesDir, version);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'dbmesh', version, ...(opts.module ? { type: 'module' } : {}), dbmesh: { workerEntry: 'fake-worker.js' } }));
  writeFileSync(path.join(dir, 'fake-worker.js'), source);
  if (opts.current) symlinkSync(version, path.join(releasesDir, 'current'));
}

/** A mysql2 connection through dbmesh as the sandbox's application user. */
export function connect(d: DbmeshProcess, database: string | null = 'dbmesh_test'): Promise<mysql.Connection> {
  return mysql.createConnection({ host: '127.0.0.1', port: d.port, user: 'app', password: 'app_pw', ...(database ? { database } : {}) });
}

/** The first column of the first row. */
export async function scalar(c: mysql.Connection, sql: string): Promise<unknown> {
  const [rows] = await c.query(sql);
  return Object.values((rows as Record<string, unknown>[])[0]!)[0];
}
