/**
 * scripts/upgrade-soak: the full zero-downtime run with its own sandbox, releases and dbmesh.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startSandbox, stopSandbox } from './sandbox.js';
import { REPO_ROOT, startDbmesh } from './dbmesh.js';
import { runSoak } from './soak.js';

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

export async function runSoakCli(args: string[]): Promise<void> {
  const connections = arg(args, 'connections', 64);
  const upgrades = arg(args, 'upgrades', 10);
  const reloads = arg(args, 'reloads', 10);
  const rate = arg(args, 'rate', 500);
  const say = (l: string): void => { process.stderr.write(`upgrade-soak: ${l}\n`); };
  say('starting sandbox');
  const sb = await startSandbox({ replicas: 0 });
  const releases = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-soak-releases-'));
  let dbmesh: Awaited<ReturnType<typeof startDbmesh>> | null = null;
  let failed = true;
  try {
    for (const v of ['1.0.0-soak.a', '1.0.0-soak.b']) {
      say(`building release ${v}`);
      execFileSync(path.join(REPO_ROOT, 'scripts', 'release'), ['--dir', releases, '--version', v, '--no-build', ...(v === '1.0.0-soak.a' ? ['--set-current'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
    dbmesh = await startDbmesh(sb, { overrides: { workers: 2, releases: { dir: releases }, supervisor: { drainTimeoutMs: 15000, probationMs: 500 }, log: { level: 'debug' } } });
    say(`dbmesh on port ${dbmesh.port}; ${connections} connections at ${rate || 'max'} statements/s; ${upgrades} upgrades, ${reloads} reloads`);
    const r = await runSoak({
      port: dbmesh.port, directPort: sb.primary.port, configPath: dbmesh.configPath, connections,
      versions: ['1.0.0-soak.a', '1.0.0-soak.b'], upgrades, reloads, steadyMs: 1500, targetRate: rate, log: say,
    });
    const ratio = r.steadyP99Ms > 0 ? r.upgradeP99Ms / r.steadyP99Ms : 0;
    const handoffs = dbmesh.logs.filter((l) => l.message === 'session adopted').map((l) => Number(l.handoff_ms)).sort((a, b) => a - b);
    const pick = (q: number): number => handoffs[Math.min(handoffs.length - 1, Math.floor(handoffs.length * q))] ?? 0;
    const lines = [
      ['statements', r.statements], ['failed statements', r.failedStatements], ['refused connections', r.refusedConnections],
      ['client-visible disconnects', r.disconnects], ['acknowledged writes', r.acknowledgedWrites], ['missing writes', r.missingWrites],
      ['upgrades ok', `${r.upgradesOk}/${upgrades}`], ['reloads ok', `${r.reloadsOk}/${reloads}`], ['sessions moved', r.sessionsMoved],
      ['p99 steady (ms)', r.steadyP99Ms], ['p99 during upgrades (ms)', r.upgradeP99Ms], ['p99 ratio', ratio.toFixed(2)],
      ['final versions', r.finalVersions.join(',')],
      ['hand-off ms (p50/p99/max)', `${pick(0.5)}/${pick(0.99)}/${handoffs[handoffs.length - 1] ?? 0}`],
    ];
    for (const [k, v] of lines) process.stdout.write(`${String(k).padEnd(28)} ${v}\n`);
    for (const f of r.failures.slice(0, 10)) process.stdout.write(`failure: ${f}\n`);
    failed = r.failedStatements > 0 || r.refusedConnections > 0 || r.disconnects > 0 || r.missingWrites > 0 ||
      r.upgradesOk !== upgrades || r.reloadsOk !== reloads || ratio > 2;
    process.stdout.write(failed ? 'RESULT: FAIL\n' : 'RESULT: PASS\n');
  } finally {
    await dbmesh?.stop();
    await stopSandbox(sb);
    rmSync(releases, { recursive: true, force: true });
  }
  process.exitCode = failed ? 1 : 0;
}
