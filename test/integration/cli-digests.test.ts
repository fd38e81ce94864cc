/**
 * `dbmesh digests` and `dbmesh top` against a real dbmesh (2 workers) in front of the MariaDB
 * sandbox, with statements run through it by mysql2 on several connections (so on both
 * workers): the merged counts and errors through the CLI's JSON and table, and `top` drawn in
 * a real terminal (tmux, 160x40) while a load runs: its header and a row with a rate, a
 * refresh, the alternate screen with the cursor hidden, and q ending it with the terminal's
 * modes as they were and nothing left running. tmux is required (scripts/ensure-deps
 * installs it): without it the top test fails rather than skips.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import type mysql from 'mysql2/promise';
import type { DigestRow } from '../../src/insight/digest-store.js';
import { admin, cli, connect, untilGone } from '../helpers/control.js';
import { DBMESH_BIN, childPids, startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { sharedSandbox } from '../helpers/shared-sandbox.js';

const CONNECTIONS = 4;

async function digests(d: DbmeshProcess): Promise<DigestRow[]> {
  const r = await admin(d, 'GET', '/api/digests?limit=1000');
  expect(r.status).to.equal(200);
  return (r.json as { digests: DigestRow[] }).digests;
}

/** Workers ship every second or so: poll the API until `pick` finds what it wants. */
async function untilDigest(d: DbmeshProcess, what: string, pick: (rows: DigestRow[]) => DigestRow | undefined, ms = 20000): Promise<DigestRow> {
  const end = Date.now() + ms;
  let rows: DigestRow[] = [];
  for (;;) {
    rows = await digests(d);
    const found = pick(rows);
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; digests: ${JSON.stringify(rows.map((r) => [r.text, r.count]))}`);
    await delay(200);
  }
}

function textIs(text: string): (r: DigestRow) => boolean {
  return (r) => r.text.toLowerCase() === text;
}

/** tmux on a socket of this test's own, so no other tmux server is touched. */
function tmux(socket: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status, out: r.stdout ?? '' };
}

function requireTmux(): void {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
  } catch {
    throw new Error('tmux is not installed, and `dbmesh top` is tested in a real terminal: run scripts/ensure-deps (apt-get install tmux)');
  }
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Statements on every connection until stopped (bounded: at most a minute). */
function load(conns: mysql.Connection[]): { stop: () => Promise<void> } {
  let running = true;
  const end = Date.now() + 60000;
  const loops = conns.map(async (c, n) => {
    for (let i = 0; running && Date.now() < end; i++) await c.query(`SELECT ${n * 1_000_000 + i} AS topload`);
  });
  return { stop: async () => { running = false; await Promise.all(loops); } };
}

describe('dbmesh digests and dbmesh top against a running master', function () {
  this.timeout(120000);
  let dbmesh: DbmeshProcess;
  let conns: mysql.Connection[] = [];

  before(async () => {
    dbmesh = await startDbmesh(await sharedSandbox(), { overrides: { workers: 2 } });
    conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => connect(dbmesh)));
  });

  after(async () => {
    await Promise.all(conns.map((c) => c.end().catch(() => {})));
    await dbmesh?.stop();
  });

  it('digests: counts and errors merged over the workers, as JSON and as a table', async () => {
    await Promise.all(conns.map(async (c, n) => {
      for (let i = n; i < 50; i += CONNECTIONS) await c.query(`SELECT ${1000 + i} AS probe_cd`);
    }));
    for (let i = 0; i < 5; i++) await conns[i % CONNECTIONS]!.query(`SELECT ${i} FROM nosuch_cd`).then(() => expect.fail('no such table'), () => {});
    const probe = await untilDigest(dbmesh, '50 probe_cd statements', (rows) => rows.find((r) => textIs('select ? as probe_cd')(r) && r.count === 50));
    await untilDigest(dbmesh, '5 failed statements', (rows) => rows.find((r) => textIs('select ? from nosuch_cd')(r) && r.count === 5));

    const json = await cli(['digests', '--config', dbmesh.configPath, '--json']);
    expect(json.stderr).to.equal('');
    expect(json.code).to.equal(0);
    const rows = (JSON.parse(json.stdout) as { digests: DigestRow[] }).digests;
    expect(rows.find(textIs('select ? as probe_cd'))).to.include({ count: 50, errors: 0, rowsSent: 50, user: 'app', schema: 'dbmesh_test' });
    expect(rows.find(textIs('select ? from nosuch_cd'))).to.include({ count: 5, errors: 5, rowsSent: 0 });

    const top1 = await cli(['digests', '--config', dbmesh.configPath, '--json', '--sort', 'count', '--limit', '1']);
    expect((JSON.parse(top1.stdout) as { digests: DigestRow[] }).digests.map((r) => r.text)).to.deep.equal([probe.text]);

    const table = await cli(['digests', '--config', dbmesh.configPath]);
    expect(table.code).to.equal(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^DIGEST +COUNT +ERR +TOTAL MS +AVG MS +P50 +P95 +P99 +MAX MS +ROWS +USER@SCHEMA/);
    expect(table.stdout).to.contain(probe.text);
    const row = lines.find((l) => l.startsWith(probe.digest.slice(0, 8)) && / 50 +0 /.test(l));
    expect(row, table.stdout).to.match(/ app@dbmesh_test /);
    for (const l of lines) expect(l.length).to.be.at.most(120);
  });

  it('top: draws and refreshes a live view in a terminal while a load runs, and q ends it cleanly', async function () {
    requireTmux();
    const session = `dbmesh-top-${process.pid}-${Date.now()}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-top-'));
    const running = load(conns.slice(0, 2));
    try {
      const loadRow = await untilDigest(dbmesh, 'the load in the digests', (rows) => rows.find(textIs('select ? as topload')));
      const file = (name: string): string => quote(path.join(dir, name));
      // After top, before the pane closes: the terminal's state as top left it.
      const script = `stty -g > ${file('before')}; ${quote(process.execPath)} ${quote(DBMESH_BIN)} top --config ${quote(dbmesh.configPath)}; ` +
        `echo $? > ${file('rc')}; stty -g > ${file('after')}; ` +
        `tmux display-message -p -t "$TMUX_PANE" '#{alternate_on} #{cursor_flag}' > ${file('screen')}`;
      // tmux runs the script with its shell (pane_pid); top is that shell's one child.
      expect(tmux(session, 'new-session', '-d', '-s', session, '-x', '160', '-y', '40', script).code).to.equal(0);
      const shPid = Number(tmux(session, 'display-message', '-p', '-t', session, '#{pane_pid}').out.trim());

      const screen = (): string[] => tmux(session, 'capture-pane', '-p', '-t', session).out.split('\n');
      const qpsOf = (lines: string[]): number => Number(lines.find((l) => l.includes(loadRow.text))?.trim().split(/ +/)[0]);
      let first: string[] = [];
      for (const end = Date.now() + 15000; !(qpsOf(first) > 0); await delay(200)) {
        if (Date.now() > end) throw new Error(`top drew no row with a rate for the load:\n${first.join('\n')}`);
        first = screen();
      }
      expect(first[0]).to.match(/^dbmesh top {2}\d\d:\d\d:\d\d {2}QPS [\d.]+ {2}errors\/s [\d.]+ {2}digests \d+ {2}sort: total time {2}every 1 s$/);
      expect(first[1]).to.match(/^keys: t total time/);
      expect(first.find((l) => /^ +QPS +ERR\/S +P99 MS +AVG MS +TIME% +COUNT +USER@SCHEMA +TEXT$/.test(l))).to.not.equal(undefined);
      expect(first.find((l) => l.includes(loadRow.text))).to.match(/ app@dbmesh_test +select \? as topload$/i);
      for (const l of first) expect(l.length).to.be.at.most(160);
      expect(tmux(session, 'display-message', '-p', '-t', session, '#{alternate_on} #{cursor_flag}').out.trim()).to.equal('1 0');

      let second = first;
      for (const end = Date.now() + 5000; second[0] === first[0]; await delay(200)) {
        if (Date.now() > end) throw new Error(`top did not refresh:\n${second.join('\n')}`);
        second = screen();
      }
      expect(second[0]).to.not.equal(first[0]); // the clock moved, the rates with it

      const topPids = childPids(shPid);
      expect(topPids).to.have.length(1);
      expect(tmux(session, 'send-keys', '-t', session, 'q').code).to.equal(0);
      for (const end = Date.now() + 10000; tmux(session, 'has-session', '-t', session).code === 0; await delay(100)) {
        if (Date.now() > end) throw new Error(`top did not end on q:\n${screen().join('\n')}`);
      }
      expect(await untilGone([shPid, ...topPids], 5000)).to.deep.equal([]);
      expect(readFileSync(path.join(dir, 'rc'), 'utf8').trim()).to.equal('0');
      // The terminal as it was: main screen, cursor shown, the modes of before (raw mode off).
      expect(readFileSync(path.join(dir, 'screen'), 'utf8').trim()).to.equal('0 1');
      expect(readFileSync(path.join(dir, 'after'), 'utf8')).to.equal(readFileSync(path.join(dir, 'before'), 'utf8'));
    } finally {
      tmux(session, 'kill-session', '-t', session);
      tmux(session, 'kill-server');
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
