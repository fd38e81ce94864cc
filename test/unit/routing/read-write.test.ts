import { expect } from 'chai';
import fc from 'fast-check';
import { classify } from '../../../src/sql/classifier.js';
import { decideRoute, type RouteSession } from '../../../src/routing/read-write.js';

const idle: RouteSession = { inTransaction: false, autocommit: true, readOnlyTransaction: false, readYourWritesUntil: 0, now: 1000 };
const replicaUser = { readFrom: 'replica' } as const;

function route(sql: string, session: Partial<RouteSession> = {}, readFrom: 'primary' | 'replica' | 'any' = 'replica') {
  return decideRoute(classify(sql), { ...idle, ...session }, { readFrom });
}

describe('routing/read-write decideRoute', () => {
  it('sends plain reads outside transactions to a replica', () => {
    expect(route('SELECT * FROM t')).to.deep.include({ role: 'replica' });
    expect(route('SELECT 1', {}, 'any').role).to.equal('replica');
  });
  it('sends writes to the primary with the classifier reason', () => {
    expect(route('UPDATE t SET a=1')).to.deep.equal({ role: 'primary', reason: 'write' });
    expect(route('SELECT * FROM t FOR UPDATE')).to.deep.equal({ role: 'primary', reason: 'locking read' });
  });
  it('keeps a transaction on the primary', () => {
    expect(route('SELECT 1', { inTransaction: true }).role).to.equal('primary');
  });
  it('keeps a read-only transaction started on a replica there', () => {
    expect(route('SELECT 1', { inTransaction: true, readOnlyTransaction: true }).role).to.equal('replica');
    expect(route('COMMIT', { inTransaction: true, readOnlyTransaction: true }).role).to.equal('replica');
  });
  it('starts a READ ONLY transaction on a replica', () => {
    expect(route('START TRANSACTION READ ONLY').role).to.equal('replica');
    expect(route('START TRANSACTION READ ONLY', { autocommit: false }).role).to.equal('primary');
    expect(route('START TRANSACTION READ ONLY', {}, 'primary').role).to.equal('primary');
    expect(route('START TRANSACTION').role).to.equal('primary');
  });
  it('uses the primary with autocommit off', () => {
    expect(route('SELECT 1', { autocommit: false })).to.deep.equal({ role: 'primary', reason: 'autocommit off' });
  });
  it('honours read-your-writes windows', () => {
    expect(route('SELECT 1', { readYourWritesUntil: 1001 }).reason).to.equal('read your writes');
    expect(route('SELECT 1', { readYourWritesUntil: 1000 }).role).to.equal('replica');
  });
  it('honours the user read policy', () => {
    expect(route('SELECT 1', {}, 'primary')).to.deep.equal({ role: 'primary', reason: 'user reads from primary' });
  });
  it('lets hints win', () => {
    expect(route('/* dbmesh:primary */ SELECT 1').role).to.equal('primary');
    expect(route('/* dbmesh:replica */ SELECT 1', { inTransaction: true }).role).to.equal('replica');
    expect(route('SELECT 1 /* dbmesh:backend=db-3 */', { autocommit: false }))
      .to.deep.equal({ role: 'backend', backendId: 'db-3', reason: 'hint' });
  });
  it('sends random reads inside a transaction to the primary', () => {
    const read = fc.record({
      cols: fc.constantFrom('*', 'a', 'a, b', 'COUNT(*)', "CONCAT(a, 'x')"),
      table: fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/),
      where: fc.constantFrom('', ' WHERE a = 1', " WHERE b LIKE 'x%'", ' WHERE c IN (1, 2)'),
      tail: fc.constantFrom('', ' ORDER BY a', ' LIMIT 10', ' FOR UPDATE'),
    }).map((r) => `SELECT ${r.cols} FROM t_${r.table}${r.where}${r.tail}`);
    fc.assert(fc.property(read, fc.boolean(), fc.constantFrom('replica', 'any', 'primary') as fc.Arbitrary<'replica' | 'any' | 'primary'>,
      (sql, autocommit, readFrom) => {
        expect(route(sql, { inTransaction: true, autocommit }, readFrom).role).to.equal('primary');
      }));
  });

  it('is pure: same input, same output', () => {
    const f = classify('SELECT 1');
    expect(decideRoute(f, idle, replicaUser)).to.deep.equal(decideRoute(f, idle, replicaUser));
  });
});
