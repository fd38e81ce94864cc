import { expect } from 'chai';
import { classifyKill, formatKill, mayBeKill } from '../../../src/sql/kill.js';

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
});
