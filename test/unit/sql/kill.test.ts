import { expect } from 'chai';
import { classifyKill, formatKill, killsInBatch, mayBeKill } from '../../../src/sql/kill.js';

describe('sql/kill', () => {
  const translate = (sql: string) => {
    const v = classifyKill(sql);
    return v.kind === 'translate' ? v.stmt : v.kind;
  };

  it('translates KILL of a literal connection id in every form', () => {
    expect(translate('KILL 12')).to.deep.equal({ scope: 'connection', modifier: '', id: 12 });
    expect(translate('kill connection 7;')).to.deep.equal({ scope: 'connection', modifier: '', id: 7 });
    expect(translate('  KILL QUERY 99 ')).to.deep.equal({ scope: 'query', modifier: '', id: 99 });
    expect(translate('/* app */ KILL HARD QUERY 5')).to.deep.equal({ scope: 'query', modifier: 'HARD', id: 5 });
    expect(translate('-- note\nKILL SOFT 3')).to.deep.equal({ scope: 'connection', modifier: 'SOFT', id: 3 });
  });

  it('passes through KILL forms that are not about connection ids, and other statements', () => {
    expect(translate('KILL QUERY ID 1234')).to.equal('pass');
    expect(translate('KILL USER app')).to.equal('pass');
    expect(translate('SELECT 1')).to.equal('pass');
    expect(translate('/* KILL 3 */ SELECT 1')).to.equal('pass');
    expect(translate('killer_table_scan()')).to.equal('pass');
  });

  it('refuses KILL forms whose value the server would read as a backend thread id', () => {
    for (const sql of ['KILL 0x1f', 'KILL 1e3', 'KILL 15+1', 'KILL (31)', 'KILL CONNECTION @id', '/*!KILL 31*/', '/*M!100000 KILL 31 */', 'KILL 99999999999']) {
      expect(translate(sql), sql).to.equal('refuse');
    }
  });

  it('pre-checks payloads cheaply and formats the translated statement', () => {
    expect(mayBeKill(Buffer.from('\x03KILL 1'))).to.equal(true);
    expect(mayBeKill(Buffer.from('\x03  kill 1'))).to.equal(true);
    expect(mayBeKill(Buffer.from('\x03/*!KILL 1*/'))).to.equal(true);
    expect(mayBeKill(Buffer.from('\x03SELECT 1'))).to.equal(false);
    expect(formatKill({ scope: 'query', modifier: 'HARD', id: 1 }, 77)).to.equal('KILL HARD QUERY 77');
    expect(formatKill({ scope: 'connection', modifier: '', id: 1 }, 78)).to.equal('KILL CONNECTION 78');
  });

  it('finds the KILLs of a multi-statement, where they are and which statement each is', () => {
    const sql = 'SELECT 1; KILL 12 ; /* x */ kill query 7;SELECT \'KILL 3; x\'';
    const b = killsInBatch(sql);
    expect(b).to.not.equal('refuse');
    const batch = b as Exclude<typeof b, 'refuse'>;
    expect(batch.statements).to.equal(4);
    expect(batch.kills.map((k) => [k.stmt, k.index, sql.slice(k.start, k.end)])).to.deep.equal([
      [{ scope: 'connection', modifier: '', id: 12 }, 1, 'KILL 12'],
      [{ scope: 'query', modifier: '', id: 7 }, 2, 'kill query 7'],
    ]);
  });

  it('leaves KILL QUERY ID and KILL USER in a batch as they are, and refuses expressions and executable comments', () => {
    const pass = killsInBatch('KILL QUERY ID 5; KILL USER app; SELECT 1');
    expect(pass).to.deep.equal({ statements: 3, kills: [] });
    for (const sql of ['SELECT 1; KILL 1+1', 'KILL 0x10; SELECT 1', 'SELECT 1; /*!KILL 3*/', 'KILL @a; DO 1', 'KILL 1 2']) {
      expect(killsInBatch(sql), sql).to.equal('refuse');
    }
    expect(killsInBatch('SELECT 1')).to.deep.equal({ statements: 1, kills: [] });
    expect(killsInBatch('')).to.deep.equal({ statements: 0, kills: [] });
  });
});
