import { expect } from 'chai';
import { UserLimits } from '../../../src/worker/user-limits.js';
import { UserAdmission } from '../../../src/master/user-admission.js';
import type { UserConfig } from '../../../src/config/types.js';

const user = (name: string, limits: UserConfig['limits']): UserConfig => ({
  name, password: 'x', cluster: 'main', backendUser: name, backendPassword: 'x', readFrom: 'primary', admin: false, fileAccess: false, multiStatements: false, ...(limits ? { limits } : {}),
});

describe('worker/user-limits', () => {
  it('has no state for a user without limits', () => {
    const l = new UserLimits();
    l.configure([user('a', undefined)], 1);
    expect(l.stateOf(user('a', undefined))).to.equal(null);
  });

  it('concurrency: slots up to the limit, then a refusal naming the resource; leave frees one', () => {
    const l = new UserLimits();
    const u = user('a', { maxConcurrentStatements: 2 });
    l.configure([u], 1);
    const st = l.stateOf(u)!;
    expect(l.enter(st)).to.equal(null);
    expect(l.enter(st)).to.equal(null);
    const refused = l.enter(st);
    expect(refused).to.have.property('args').that.deep.includes('maxConcurrentStatements');
    l.leave(st);
    expect(l.enter(st)).to.equal(null);
  });

  it('a worker\'s share scales the limits, never below one statement', () => {
    const l = new UserLimits();
    const u = user('a', { maxConcurrentStatements: 10, statementsPerSecond: 100 });
    l.configure([u], 4);
    const st = l.stateOf(u)!;
    expect(st.maxBusy).to.equal(3); // 10 / 4, rounded
    l.setShares({ a: 0.05 });
    expect(st.maxBusy).to.equal(1);
    expect(st.rate).to.equal(5);
    l.setShares({ a: 2 }); // out of range: ignored
    expect(st.rate).to.equal(5);
  });

  it('queued statements are let in first come, first served, when a slot frees', async () => {
    const l = new UserLimits();
    const u = user('a', { maxConcurrentStatements: 1, queueMs: 1000 });
    l.configure([u], 1);
    const st = l.stateOf(u)!;
    expect(l.enter(st)).to.equal(null);
    const order: number[] = [];
    const first = (l.enter(st) as Promise<unknown>).then((r) => { order.push(1); return r; });
    const second = (l.enter(st) as Promise<unknown>).then((r) => { order.push(2); return r; });
    l.leave(st);
    expect(await first).to.equal(null);
    l.leave(st);
    expect(await second).to.equal(null);
    expect(order).to.deep.equal([1, 2]);
  });

  it('a queued statement whose wait runs out is refused, saying how long it waited', async () => {
    const l = new UserLimits();
    const u = user('a', { statementsPerSecond: 1, queueMs: 30 });
    l.configure([u], 1);
    const st = l.stateOf(u)!;
    expect(l.enter(st)).to.equal(null);
    const refused = await (l.enter(st) as Promise<{ args: unknown[] } | null>);
    expect(refused?.args[1]).to.equal('statementsPerSecond');
    expect(String(refused?.args[3])).to.match(/waited \d+ ms/);
  });
});

describe('master/user-admission', () => {
  it('caps connections over all workers and frees those of a worker that exits', () => {
    const a = new UserAdmission();
    expect(a.admit(1, 'u', 2).ok).to.equal(true);
    expect(a.admit(2, 'u', 2).ok).to.equal(true);
    expect(a.admit(2, 'u', 2).ok).to.equal(false);
    a.release(1, 'u');
    expect(a.admit(2, 'u', 2)).to.deep.equal({ ok: true, share: 1 });
    a.workerGone(2);
    expect(a.connections('u')).to.equal(0);
    a.close();
  });

  it('gives each worker the fraction of the user\'s connections it holds, and sends changes', async () => {
    const a = new UserAdmission();
    const sent: [number, Record<string, number>][] = [];
    const published = new Promise<void>((resolve) => {
      a.onShares = (w, s) => {
        sent.push([w, s]);
        if (sent.length === 2) resolve();
      };
    });
    a.admit(1, 'u', 0);
    a.admit(1, 'u', 0);
    a.admit(1, 'u', 0);
    a.adopt(2, 'u');
    expect(a.shareOf(1, 'u')).to.equal(0.75);
    expect(a.shareOf(2, 'u')).to.equal(0.25);
    await published;
    expect(sent.sort((x, y) => x[0] - y[0])).to.deep.equal([[1, { u: 0.75 }], [2, { u: 0.25 }]]);
    a.close();
  });
});
