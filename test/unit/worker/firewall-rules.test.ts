import { expect } from 'chai';
import { compileRules, matchRule, type RuleSubject } from '../../../src/worker/firewall-rules.js';
import { parseCidr } from '../../../src/config/cidr.js';
import { tableNames } from '../../../src/sql/tables.js';
import { fingerprint } from '../../../src/sql/fingerprint.js';
import { digestId } from '../../../src/sql/digest-id.js';
import type { FirewallRule } from '../../../src/config/types.js';

const subject = (sql: string, over: Partial<RuleSubject> = {}): RuleSubject => ({ sql, user: 'app', client: '127.0.0.1', schema: 'shop', kind: 'read', ...over });
const first = (rules: FirewallRule[], s: RuleSubject): string | null => matchRule(compileRules(rules), s)?.name ?? null;

describe('worker/firewall-rules', () => {
  it('takes the first rule whose every condition holds', () => {
    const rules: FirewallRule[] = [
      { name: 'a', action: 'block', users: ['bob'] },
      { name: 'b', action: 'log', users: ['app'], kinds: ['write'] },
      { name: 'c', action: 'allow', users: ['app'], schemas: ['shop'] },
      { name: 'd', action: 'block' },
    ];
    expect(first(rules, subject('SELECT 1', { user: 'bob' }))).to.equal('a');
    expect(first(rules, subject('INSERT INTO t VALUES (1)', { kind: 'write' }))).to.equal('b');
    expect(first(rules, subject('SELECT 1'))).to.equal('c');
    expect(first(rules, subject('SELECT 1', { schema: null }))).to.equal('d');
    expect(first([], subject('SELECT 1'))).to.equal(null);
  });

  it('matches client addresses by CIDR, IPv4-mapped IPv6 included', () => {
    const rules: FirewallRule[] = [{ name: 'lan', action: 'block', clients: ['10.0.0.0/8', 'fd00::/8'] }];
    expect(first(rules, subject('SELECT 1', { client: '10.1.2.3' }))).to.equal('lan');
    expect(first(rules, subject('SELECT 1', { client: '::ffff:10.1.2.3' }))).to.equal('lan');
    expect(first(rules, subject('SELECT 1', { client: 'fd12::1' }))).to.equal('lan');
    expect(first(rules, subject('SELECT 1', { client: '11.1.2.3' }))).to.equal(null);
    expect(first(rules, subject('SELECT 1', { client: 'not-an-address' }))).to.equal(null);
  });

  it('matches fingerprints, digest ids, a pattern on the fingerprint, and table names', () => {
    const fp = fingerprint('SELECT * FROM users WHERE id = 7');
    expect(first([{ name: 'f', action: 'block', fingerprints: [fp] }], subject('select * from users where id = 99'))).to.equal('f');
    expect(first([{ name: 'g', action: 'block', digests: [digestId(fp)] }], subject('SELECT * FROM users WHERE id = 1'))).to.equal('g');
    expect(first([{ name: 'p', action: 'block', pattern: 'from users where id = \\?' }], subject('SELECT * FROM USERS WHERE id = 5'))).to.equal('p');
    expect(first([{ name: 't', action: 'block', tables: ['Orders'] }], subject('SELECT * FROM shop.orders o JOIN users u ON u.id = o.uid'))).to.equal('t');
    expect(first([{ name: 't', action: 'block', tables: ['orders'] }], subject("SELECT 'orders' FROM users"))).to.equal(null);
  });

  it('parses CIDRs and single addresses, and refuses the rest', () => {
    expect(parseCidr('10.0.0.0/8')).to.deep.equal({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('::1')).to.deep.equal({ address: '::1', prefix: 128, family: 'ipv6' });
    for (const bad of ['300.1.1.1/8', '10.0.0.0/33', '10.0.0.0/', 'host.example', '10.0.0.0/8x', '']) expect(parseCidr(bad), bad).to.equal(null);
  });

  it('lists the tables a statement names, without schema or quotes', () => {
    expect(tableNames('SELECT a FROM db1.t1, `T2` x, t3 WHERE 1')).to.deep.equal(['t1', 't2', 't3']);
    expect(tableNames('SELECT * FROM (SELECT id FROM inner_t) d JOIN other o ON o.id = d.id')).to.deep.equal(['inner_t', 'other']);
    expect(tableNames('INSERT INTO shop.items (a) VALUES (1)')).to.deep.equal(['items']);
    expect(tableNames('DELETE FROM carts WHERE a IN (SELECT id FROM sessions)')).to.deep.equal(['carts', 'sessions']);
    expect(tableNames('SELECT 1')).to.deep.equal([]);
  });
});
