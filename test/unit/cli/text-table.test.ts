/**
 * The terminal tables of `dbmesh digests` and `dbmesh top`: widths in terminal columns, cutting,
 * cleaning client text of control characters, and the statement text beside or below its row.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { cleanText, fit, formatMs, formatRate, tableLines, textWidth, userAtSchema, type Column } from '../../../src/cli/text-table.js';

const COLUMNS: readonly Column[] = [
  { title: 'N', align: 'right' },
  { title: 'WHO', align: 'left', max: 6 },
  { title: 'TEXT', align: 'left' },
];

describe('cli: text tables', () => {
  it('counts wide characters as two columns and combining marks as none', () => {
    expect(textWidth('select')).to.equal(6);
    expect(textWidth('表名')).to.equal(4);
    expect(textWidth('e\u0301')).to.equal(1);
  });

  it('cuts text to a width with "..." and never past it', () => {
    expect(fit('select 1', 20)).to.equal('select 1');
    expect(fit('select * from orders', 10)).to.equal('select ...');
    expect(fit('abcdef', 3)).to.equal('abc');
    expect(fit('abc', 0)).to.equal('');
    expect(fit('select 表名表名', 11)).to.equal('select ...');
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), fc.integer({ min: 0, max: 40 }), (s, w) => textWidth(fit(s, w)) <= w));
  });

  it('blanks control characters and bidi overrides from client text', () => {
    expect(cleanText('select\n  1\t\x1b[2J from\u202e t')).to.equal('select 1 [2J from t');
    expect(cleanText('a\x00b\x9bc')).to.equal('a b c');
  });

  it('pads columns, right-aligns numbers and gives the rest of the width to the last column', () => {
    const lines = tableLines(COLUMNS, [['7', 'app', 'select ? from t'], ['1234', 'a_very_long_user', 'select 2']], 30);
    expect(lines).to.deep.equal([
      '   N  WHO     TEXT',
      '   7  app     select ? from t',
      '1234  a_v...  select 2',
    ]);
    const narrow = tableLines(COLUMNS, [['7', 'app', 'select ? from a_long_table_name']], 24);
    expect(narrow[1]).to.equal('7  app  select ? from...');
    for (const l of narrow) expect(textWidth(l)).to.be.at.most(24);
  });

  it('puts the text on its own line below its row when too little width is left beside it', () => {
    const lines = tableLines(COLUMNS, [['7', 'app', 'select ? from orders where id = ?']], 20, 16);
    expect(lines).to.deep.equal(['N  WHO', '7  app', '  select ? from o...']);
  });

  it('cleans every cell, so a newline in a statement cannot break the table', () => {
    const lines = tableLines(COLUMNS, [['1', 'app', 'select 1\nfrom dual']], 80);
    expect(lines).to.have.length(2);
    expect(lines[1]).to.equal('1  app  select 1 from dual');
  });

  it('formats times and rates with the decimals that matter', () => {
    expect([0.0123, 4.567, 78.91, 123.45, 98765.4].map(formatMs)).to.deep.equal(['0.012', '4.57', '78.91', '123.5', '98765']);
    expect([0, 0.25, 12.34, 456.7, 2_345_678].map(formatRate)).to.deep.equal(['0', '0.25', '12.3', '457', '2.35M']);
    expect([userAtSchema('app', 'shop'), userAtSchema('app', null), userAtSchema('', null)]).to.deep.equal(['app@shop', 'app', '-']);
  });
});
