import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { TxJournal, sha1 } from '../../../src/worker/tx-journal.js';

const packet = (sql: string): Buffer => Buffer.concat([Buffer.from([sql.length + 1, 0, 0, 0, 0x03]), Buffer.from(sql)]);

describe('worker/tx-journal', () => {
  it('keeps each statement with the SHA-1 of its whole response, however it was chunked', () => {
    const j = new TxJournal();
    j.begin(packet('BEGIN'));
    expect(j.recording).to.equal(true);
    j.feed(Buffer.from('ab'));
    j.feed(Buffer.from('cd'));
    j.end();
    expect(j.recording).to.equal(false);
    expect(j.entries).to.have.length(1);
    expect(j.entries[0]!.digest!.equals(createHash('sha1').update('abcd').digest())).to.equal(true);
    expect(j.entries[0]!.digest!.equals(sha1([Buffer.from('a'), Buffer.from('bcd')]))).to.equal(true);
  });

  it('copies the packet (the read buffer it came from is reused)', () => {
    const j = new TxJournal();
    const p = packet('INSERT INTO t VALUES (1)');
    j.begin(p);
    p.fill(0);
    expect(j.entries[0]!.raw.toString('utf8', 5)).to.equal('INSERT INTO t VALUES (1)');
  });

  it('takes the statement in flight out, and only one whose response has not ended', () => {
    const j = new TxJournal();
    j.begin(packet('BEGIN'));
    j.end();
    expect(j.takeInFlight()).to.equal(null);
    j.begin(packet('SELECT 1'));
    j.feed(Buffer.from('x'));
    const f = j.takeInFlight();
    expect(f?.raw.toString('utf8', 5)).to.equal('SELECT 1');
    expect(j.entries).to.have.length(1);
    expect(j.recording).to.equal(false);
  });

  it('breaks off past 1000 statements, records nothing more, and starts afresh at clear()', () => {
    const j = new TxJournal();
    for (let i = 0; i < 1000; i++) {
      j.begin(packet(`SELECT ${i}`));
      j.end();
    }
    expect(j.broken).to.equal(null);
    j.begin(packet('SELECT 1000'));
    expect(j.broken).to.match(/too many statements/);
    expect(j.entries).to.have.length(0);
    j.begin(packet('SELECT 1001'));
    expect(j.entries).to.have.length(0);
    j.clear();
    expect(j.broken).to.equal(null);
    j.begin(packet('SELECT 1'));
    expect(j.entries).to.have.length(1);
  });

  it('breaks off past 1 MiB of statement text', () => {
    const j = new TxJournal();
    const big = packet(`SELECT '${'x'.repeat(300 * 1024)}'`);
    for (let i = 0; i < 3; i++) {
      j.begin(big);
      j.end();
    }
    expect(j.broken).to.equal(null);
    j.begin(big);
    expect(j.broken).to.match(/too many statements/);
  });
});

describe('worker/tx-journal: the worker-wide budget', () => {
  it('gives every byte back when journals are cleared, broken off, or lose their statement in flight', async () => {
    const { journalBytesInUse } = await import('../../../src/worker/tx-journal.js');
    const start = journalBytesInUse();
    const a = new TxJournal();
    const b = new TxJournal();
    a.begin(packet('SELECT 1'));
    a.end();
    b.begin(packet('SELECT 22'));
    expect(journalBytesInUse() - start).to.equal(packet('SELECT 1').length + packet('SELECT 22').length);
    b.takeInFlight();
    expect(journalBytesInUse() - start).to.equal(packet('SELECT 1').length);
    a.breakOff('test');
    expect(journalBytesInUse()).to.equal(start);
    b.begin(packet('SELECT 3'));
    b.end();
    b.clear();
    b.clear();
    expect(journalBytesInUse(), 'clear twice gives nothing back twice').to.equal(start);
  });
});
