/**
 * Zero-downtime upgrade, short CI version of scripts/upgrade-soak: client connections keep
 * running reads, writes, transactions and prepared statements while dbmesh is upgraded
 * A -> B -> A -> B and reloaded; no statement fails, no connection is refused or dropped,
 * every acknowledged write is there, and only the final version is left running.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { runSoak } from '../helpers/soak.js';
import { buildReleases } from '../helpers/control.js';

describe('zero-downtime upgrade', function () {
  this.timeout(300000);
  let dbmesh: DbmeshProcess;
  let releases: string;

  before(async function () {
    const sb = await sharedSandbox();
    releases = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-releases-'));
    buildReleases(releases, ['7.0.0-a', '7.0.0-b']);
    dbmesh = await startDbmesh(sb, {
      overrides: { workers: 2, releases: { dir: releases }, supervisor: { drainTimeoutMs: 10000, probationMs: 300 } },
    });
  });

  after(async function () {
    await dbmesh?.stop();
    if (releases) rmSync(releases, { recursive: true, force: true });
  });

  it('upgrades and reloads under load with no failed statement, refused connection or disconnect', async function () {
    const sb = await sharedSandbox();
    const report = await runSoak({
      port: dbmesh.port, directPort: sb.primary.port, configPath: dbmesh.configPath, connections: 16,
      versions: ['7.0.0-a', '7.0.0-b'], upgrades: 3, reloads: 3, steadyMs: 1500,
      log: (l) => console.log(`      ${l}`),
    });
    console.log(`      ${JSON.stringify({ ...report, failures: report.failures.slice(0, 5) })}`);
    expect(report.upgradesOk).to.equal(3);
    expect(report.reloadsOk).to.equal(3);
    expect(report.statements).to.be.greaterThan(500);
    expect(report.failures).to.deep.equal([]);
    expect(report.failedStatements).to.equal(0);
    expect(report.refusedConnections).to.equal(0);
    expect(report.disconnects).to.equal(0);
    expect(report.acknowledgedWrites).to.be.greaterThan(100);
    expect(report.missingWrites).to.equal(0);
    expect(report.sessionsMoved).to.be.at.least(16 * 3);
    expect(report.finalVersions).to.deep.equal(['7.0.0-b']);
  });
});
