/**
 * `dbmesh top`'s live screen on a stand-in terminal: it enters raw mode and the alternate screen,
 * redraws on every fetch and on resize, changes the order and the baseline on keys, shows a
 * failed fetch and keeps fetching, and on q, Ctrl-C or a signal stops fetching and gives the
 * terminal back (raw mode off, cursor shown, main screen). The real terminal: cli-digests.test.ts.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import type { DigestRow } from '../../../src/insight/digest-store.js';
import { textWidth } from '../../../src/cli/text-table.js';
import { runLive, type KeyInput, type Screen } from '../../../src/cli/top-live.js';
import type { TopSort } from '../../../src/cli/top-view.js';

const ENTER = '\x1b[?1049h\x1b[?25l';
const LEAVE = '\x1b[?25h\x1b[?1049l';

class FakeKeys extends EventEmitter implements KeyInput {
  readonly isTTY = true;
  readonly raw: boolean[] = [];
  paused = true;
  setRawMode(raw: boolean): void {
    this.raw.push(raw);
  }
  resume(): void {
    this.paused = false;
  }
  pause(): void {
    this.paused = true;
  }
  press(keys: string): void {
    this.emit('data', Buffer.from(keys));
  }
}

class FakeScreen extends EventEmitter implements Screen {
  columns = 120;
  rows = 20;
  text = '';
  write(text: string): boolean {
    this.text += text;
    return true;
  }
  /** The last frame drawn, as lines without escape sequences. */
  lines(): string[] {
    const last = this.text.slice(this.text.lastIndexOf('\x1b[H') + 3);
    return last.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split('\r\n').filter((l) => l !== '');
  }
}

/** A master whose one digest runs 10 more statements (1 error) before every answer. */
class FakeMaster {
  readonly sorts: TopSort[] = [];
  failWith: string | null = null;
  private count = 0;
  readonly fetch = async (sort: TopSort): Promise<DigestRow[]> => {
    this.sorts.push(sort);
    if (this.failWith !== null) throw new Error(this.failWith);
    this.count += 10;
    return [{
      digest: 'abc', text: 'select ? from orders', user: 'app', schema: 'shop', count: this.count, errors: this.count / 10,
      rowsSent: 0, rowsAffected: 0, totalMs: this.count, minMs: 1, maxMs: 1, p50Ms: 1, p95Ms: 1, p99Ms: 1,
      firstSeen: '2026-01-01T00:00:00.000Z', lastSeen: '2026-01-01T00:00:00.000Z', backends: ['db1'], sample: '',
    }];
  };
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

describe('cli: top live screen', function () {
  this.timeout(10000);
  let keys: FakeKeys;
  let screen: FakeScreen;
  let master: FakeMaster;
  let done: Promise<void>;
  const signalListeners = (): number => process.listenerCount('SIGINT') + process.listenerCount('SIGTERM') + process.listenerCount('SIGHUP');
  let listenersBefore: number;

  beforeEach(() => {
    keys = new FakeKeys();
    screen = new FakeScreen();
    master = new FakeMaster();
    listenersBefore = signalListeners();
    done = runLive({ intervalS: 0.05, sort: 'total', limit: 100, fetch: master.fetch, input: keys, output: screen });
  });

  afterEach(async () => {
    keys.press('q');
    await done;
  });

  function row(): string {
    return screen.lines().find((l) => l.includes('select ? from orders')) ?? '';
  }

  it('draws rates on the alternate screen in raw mode, and restores the terminal on q', async () => {
    expect(screen.text.startsWith(ENTER)).to.equal(true);
    expect(keys.raw).to.deep.equal([true]);
    expect(keys.paused).to.equal(false);
    await until('a row with a rate', () => /^ +\d+/.test(row()));
    expect(screen.lines()[0]).to.match(/^dbmesh top {2}\d\d:\d\d:\d\d {2}QPS [\d.]+ {2}errors\/s [\d.]+ {2}digests 1 {2}sort: total time/);
    expect(row()).to.match(/^ +[\d.]+ +[\d.]+ +1\.00 +1\.00 +100\.0 +\d+ +app@shop +select \? from orders$/);

    keys.press('q');
    await done;
    expect(keys.raw).to.deep.equal([true, false]);
    expect(keys.paused).to.equal(true);
    expect(screen.text.endsWith(LEAVE)).to.equal(true);
    expect(signalListeners()).to.equal(listenersBefore);
    const fetches = master.sorts.length;
    await delay(150);
    expect(master.sorts.length).to.equal(fetches); // nothing keeps running
  });

  it('changes the order on t, c, p, e and fetches by it, ignoring the letters of escape sequences', async () => {
    await until('a first fetch', () => master.sorts.length > 0);
    for (const [key, sort, label] of [['c', 'count', 'count (QPS)'], ['P', 'p99', 'p99'], ['e', 'errors', 'errors'], ['t', 'total', 'total time']] as const) {
      keys.press(key);
      expect(screen.lines()[0]).to.contain(`sort: ${label}`);
      const from = master.sorts.length;
      await until(`a fetch by ${sort}`, () => master.sorts.slice(from).includes(sort));
    }
    keys.press('\x1b[C'); // right arrow: its C is not the c key
    expect(screen.lines()[0]).to.contain('sort: total time');
  });

  it('restarts the counts on r', async () => {
    await until('a count of 20 or more', () => Number(row().trim().split(/ +/)[5]) >= 20);
    keys.press('r');
    expect(row().trim().split(/ +/)[5]).to.equal('0');
    expect(screen.lines()[2]).to.match(/^counts since \d\d:\d\d:\d\d$/);
  });

  it('shows a failed fetch in the header and keeps fetching', async () => {
    await until('a first fetch', () => master.sorts.length > 0);
    master.failWith = 'cannot reach the dbmesh master at 127.0.0.1:1 (ECONNREFUSED)';
    await until('the error shown', () => screen.lines()[2]?.startsWith('error: cannot reach') === true);
    expect(screen.lines()[2]).to.equal('error: cannot reach the dbmesh master at 127.0.0.1:1 (ECONNREFUSED) (retrying every 0.05 s)');
    const failed = master.sorts.length;
    await until('two more tries', () => master.sorts.length >= failed + 2);
    master.failWith = null;
    await until('the error gone', () => screen.lines()[2]?.startsWith('counts since') === true);
  });

  it('redraws to the new size on resize, never past it', async () => {
    await until('a row', () => row() !== '');
    screen.columns = 30;
    screen.rows = 5;
    screen.emit('resize');
    const lines = screen.lines();
    expect(lines).to.have.length(5);
    for (const l of lines) expect(textWidth(l)).to.be.at.most(30);
  });

  it('quits on Ctrl-C and on SIGHUP too', async () => {
    keys.press('\x03');
    await done;
    expect(keys.raw).to.deep.equal([true, false]);
    const exitCode = process.exitCode;
    keys = new FakeKeys();
    done = runLive({ intervalS: 0.05, sort: 'total', limit: 100, fetch: master.fetch, input: keys, output: screen });
    try {
      process.emit('SIGHUP', 'SIGHUP');
      await done;
      expect(process.exitCode).to.equal(129);
    } finally {
      process.exitCode = exitCode;
    }
    expect(keys.raw).to.deep.equal([true, false]);
    expect(signalListeners()).to.equal(listenersBefore);
  });
});
