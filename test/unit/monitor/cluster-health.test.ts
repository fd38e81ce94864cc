import { expect } from 'chai';
import { applyDefaults, type ClusterConfig, type ConfigFile } from '../../../src/config/index.js';
import { UNPROBED, type EndpointHealth, type ProbeFacts } from '../../../src/monitor/backend-health.js';
import { clusterHealth, endpointOf, type ClusterOutcome } from '../../../src/monitor/cluster-health.js';
import type { BackendHealth, GreetingSummary, OperatorState } from '../../../src/monitor/health-view.js';

const T0 = 1_700_000_000_000;

const greetingOf = (serverVersion: string): GreetingSummary => ({ serverVersion, capabilities: 0xf7ff, charset: 255, mariadbCapabilities: 0 });

/** A cluster through the real defaults: db1..dbN on one host, ports 3306, 3307, ... (endpoints are looked up by host:port). */
function cluster(ids: readonly string[], over: { type?: 'replication' | 'tidb'; maxReplicationLagSeconds?: number } = {}): ClusterConfig {
  const file: ConfigFile = {
    users: [{ name: 'app', password: 'pw', cluster: 'main' }],
    clusters: [{
      name: 'main', type: over.type ?? 'replication',
      ...(over.maxReplicationLagSeconds !== undefined ? { maxReplicationLagSeconds: over.maxReplicationLagSeconds } : {}),
      backends: ids.map((id, i) => ({ id, host: '10.0.0.1', port: 3306 + i })),
    }],
  };
  return applyDefaults(file, '/tmp').clusters[0]!;
}

function facts(over: Partial<ProbeFacts> = {}): ProbeFacts {
  return { writable: false, lagSeconds: 0, lagError: null, greeting: greetingOf('8.0.36'), maxConnections: null, ...over };
}

/** An endpoint's health as the probes left it. */
function ep(status: EndpointHealth['status'], f: ProbeFacts | null, over: Partial<EndpointHealth> = {}): EndpointHealth {
  return {
    status, failures: status === 'down' ? 2 : 0, successes: status === 'up' ? 5 : status === 'recovering' ? 1 : 0,
    since: T0, reason: status === 'down' ? 'connect ECONNREFUSED' : status === 'recovering' ? 'answering again: 1 of 2 good probes' : 'answering',
    facts: f, lastError: null, lastErrorAt: 0, checkedAt: T0 + 5000, probeMs: 2, ...over,
  };
}

const primaryUp = (over: Partial<ProbeFacts> = {}, h: Partial<EndpointHealth> = {}): EndpointHealth => ep('up', facts({ writable: true, lagSeconds: null, ...over }), h);
const replicaUp = (lagSeconds: number | null = 0, over: Partial<ProbeFacts> = {}, h: Partial<EndpointHealth> = {}): EndpointHealth =>
  ep('up', facts({ writable: false, lagSeconds, ...over }), h);

type Ops = Record<string, { state: OperatorState; since: number }>;

/** clusterHealth over endpoints given by backend id (mapped to host:port here) and operator states by id. */
function health(c: ClusterConfig, byId: Record<string, EndpointHealth>, previousPrimary: string | null = null, ops: Ops = {}): ClusterOutcome {
  const byKey = new Map<string, EndpointHealth>();
  for (const b of c.backends) if (byId[b.id] !== undefined) byKey.set(endpointOf(b), byId[b.id]!);
  const seenKeys: string[] = [];
  const out = clusterHealth(c, (key) => {
    seenKeys.push(key);
    return byKey.get(key) ?? UNPROBED;
  }, (id) => ops[id] ?? { state: 'none', since: 0 }, previousPrimary);
  expect(seenKeys).to.include.members(c.backends.map(endpointOf));
  return out;
}

const byId = (o: ClusterOutcome, id: string): BackendHealth => {
  const b = o.health.backends.find((x) => x.id === id);
  expect(b, `backend ${id}`).to.not.equal(undefined);
  return b!;
};
const states = (o: ClusterOutcome): Record<string, string> => Object.fromEntries(o.health.backends.map((b) => [b.id, b.state]));
const roles = (o: ClusterOutcome): Record<string, string> => Object.fromEntries(o.health.backends.map((b) => [b.id, b.role]));

describe('monitor/cluster-health', () => {
  const c3 = cluster(['db1', 'db2', 'db3']);

  it('endpointOf is host:port', () => {
    expect(endpointOf({ host: '10.0.0.1', port: 3307 })).to.equal('10.0.0.1:3307');
  });

  describe('a healthy replication cluster', () => {
    it('has one primary, replicas with their lag, no alert, and the primary\'s greeting', () => {
      const o = health(c3, {
        db1: primaryUp({ greeting: greetingOf('8.0.36-primary'), maxConnections: 500 }, { since: T0 + 1, probeMs: 3, lastError: 'old', lastErrorAt: T0 - 10 }),
        db2: replicaUp(0),
        db3: replicaUp(7, { greeting: greetingOf('8.0.35') }),
      });
      expect(o.health.primary).to.equal('db1');
      expect(states(o)).to.deep.equal({ db1: 'up', db2: 'up', db3: 'up' });
      expect(roles(o)).to.deep.equal({ db1: 'primary', db2: 'replica', db3: 'replica' });
      expect(o.alerts).to.deep.equal([]);
      expect(o.health.greeting).to.deep.equal(greetingOf('8.0.36-primary'));
      expect(byId(o, 'db1')).to.deep.include({
        id: 'db1', host: '10.0.0.1', port: 3306, state: 'up', reason: 'answering', since: T0 + 1, role: 'primary', failing: false,
        writable: true, lagSeconds: null, maxConnections: 500, version: '8.0.36-primary', lastError: 'old', lastErrorAt: T0 - 10, checkedAt: T0 + 5000, probeMs: 3,
      });
      expect(byId(o, 'db2').lagSeconds).to.equal(0);
      expect(byId(o, 'db3')).to.deep.include({ lagSeconds: 7, version: '8.0.35', writable: false, port: 3308, maxConnections: null });
      expect(o.health.backends.map((b) => b.id)).to.deep.equal(['db1', 'db2', 'db3']);
    });

    it('is the same view for the same inputs (pure)', () => {
      const input = { db1: primaryUp(), db2: replicaUp(3), db3: ep('down', null) };
      expect(health(c3, input, 'db1')).to.deep.equal(health(c3, input, 'db1'));
    });

    it('moves the writes to the only writable server, whatever the previous primary was', () => {
      const o = health(c3, { db1: replicaUp(0), db2: primaryUp(), db3: replicaUp(0) }, 'db1');
      expect(o.health.primary).to.equal('db2');
      expect(roles(o)).to.deep.equal({ db1: 'replica', db2: 'primary', db3: 'replica' });
      expect(o.alerts).to.deep.equal([]);
    });

    it('marks an up backend whose last probe failed as failing (and only that one)', () => {
      const o = health(c3, { db1: primaryUp({}, { failures: 1, lastError: 'timeout', lastErrorAt: T0 + 4000 }), db2: replicaUp(0), db3: ep('down', facts()) });
      expect(o.health.backends.map((b) => b.failing)).to.deep.equal([true, false, false]);
      expect(byId(o, 'db1').state).to.equal('up');
      expect(o.health.primary).to.equal('db1');
    });
  });

  describe('a cluster never probed', () => {
    it('is down everywhere with unknown roles, no primary, no greeting, and no alert yet', () => {
      const o = health(c3, {});
      expect(states(o)).to.deep.equal({ db1: 'down', db2: 'down', db3: 'down' });
      expect(roles(o)).to.deep.equal({ db1: 'unknown', db2: 'unknown', db3: 'unknown' });
      expect(o.health.primary).to.equal(null);
      expect(o.health.greeting).to.equal(null);
      expect(o.alerts).to.deep.equal([]);
      expect(byId(o, 'db1')).to.deep.include({ version: null, lagSeconds: null, maxConnections: null, writable: false, checkedAt: 0, reason: 'not probed yet', failing: false });
    });

    it('alerts about a probed backend that is down but not about the unprobed ones', () => {
      const o = health(c3, { db1: ep('down', null, { since: T0, reason: 'connect ECONNREFUSED' }) });
      expect(o.alerts).to.deep.equal([
        `cluster main: backend db1 down since ${new Date(T0).toISOString()}: connect ECONNREFUSED`,
        'cluster main: no writable backend is serving; writes wait failover.holdMs, then fail',
      ]);
    });
  });

  describe('replica lag', () => {
    it('stopped replication: lagging, lagSeconds -1, alert', () => {
      const o = health(c3, { db1: primaryUp(), db2: replicaUp(Infinity), db3: replicaUp(1) });
      expect(byId(o, 'db2')).to.deep.include({ state: 'lagging', reason: 'replication stopped', lagSeconds: -1, role: 'replica' });
      expect(byId(o, 'db3').state).to.equal('up');
      expect(o.alerts).to.deep.equal(['cluster main: replica db2 lagging: replication stopped']);
      expect(o.health.primary).to.equal('db1');
    });

    it('lag above maxReplicationLagSeconds: lagging; at the maximum: up', () => {
      const c = cluster(['db1', 'db2', 'db3'], { maxReplicationLagSeconds: 5 });
      const o = health(c, { db1: primaryUp(), db2: replicaUp(6), db3: replicaUp(5) });
      expect(byId(o, 'db2')).to.deep.include({ state: 'lagging', lagSeconds: 6 });
      expect(byId(o, 'db2').reason).to.equal('6 s behind (max 5 s)');
      expect(byId(o, 'db3')).to.deep.include({ state: 'up', lagSeconds: 5 });
      expect(o.alerts).to.deep.equal(['cluster main: replica db2 lagging: 6 s behind (max 5 s)']);
    });

    it('uses the default maximum (10 s) from applyDefaults', () => {
      expect(c3.maxReplicationLagSeconds).to.equal(10);
      const o = health(c3, { db1: primaryUp(), db2: replicaUp(10), db3: replicaUp(10.5) });
      expect(states(o)).to.deep.equal({ db1: 'up', db2: 'up', db3: 'lagging' });
    });

    it('lag unreadable (lagError set): the replica stays up with its lag unknown, and no lag alert', () => {
      const o = health(c3, { db1: primaryUp(), db2: replicaUp(null, { lagError: 'Access denied; you need REPLICATION CLIENT' }), db3: replicaUp(0) });
      expect(byId(o, 'db2')).to.deep.include({ state: 'up', lagSeconds: null, role: 'replica' });
      expect(o.alerts).to.deep.equal([]);
    });

    it('read-only and no replication at all: lagging', () => {
      const o = health(c3, { db1: primaryUp(), db2: replicaUp(null, { lagError: null }), db3: replicaUp(0) });
      expect(byId(o, 'db2')).to.deep.include({ state: 'lagging', reason: 'read-only and not replicating', lagSeconds: null });
      expect(o.alerts).to.deep.equal(['cluster main: replica db2 lagging: read-only and not replicating']);
    });

    it('a writable server\'s lag figure is ignored', () => {
      const o = health(c3, { db1: primaryUp({ lagSeconds: 500 }), db2: replicaUp(0), db3: replicaUp(0) });
      expect(byId(o, 'db1')).to.deep.include({ state: 'up', lagSeconds: null });
      expect(o.alerts).to.deep.equal([]);
    });

    it('a down replica is down, not lagging, however far behind it was', () => {
      const o = health(c3, { db1: primaryUp(), db2: ep('down', facts({ lagSeconds: Infinity })), db3: replicaUp(0) });
      expect(byId(o, 'db2').state).to.equal('down');
      expect(o.alerts).to.have.length(1);
      expect(o.alerts[0]).to.match(/^cluster main: backend db2 down since /);
    });
  });

  describe('a backend down', () => {
    it('the primary down: no primary, alerts for the backend and for the writes, naming the last primary', () => {
      const o = health(c3, { db1: ep('down', facts({ writable: true, lagSeconds: null }), { since: T0 + 2000, reason: 'read ECONNRESET' }), db2: replicaUp(0), db3: replicaUp(0) }, 'db1');
      expect(o.health.primary).to.equal(null);
      expect(byId(o, 'db1')).to.deep.include({ state: 'down', reason: 'read ECONNRESET', since: T0 + 2000, version: '8.0.36' });
      expect(o.alerts).to.deep.equal([
        `cluster main: backend db1 down since ${new Date(T0 + 2000).toISOString()}: read ECONNRESET`,
        'cluster main: no writable backend is serving (was db1: down); writes wait failover.holdMs, then fail',
      ]);
      // The greeting comes from a backend that is up.
      expect(o.health.greeting).to.deep.equal(greetingOf('8.0.36'));
    });

    it('names a previous primary that is no longer configured as removed', () => {
      const o = health(c3, { db1: replicaUp(0), db2: replicaUp(0), db3: replicaUp(0) }, 'old');
      expect(o.health.primary).to.equal(null);
      expect(o.alerts).to.deep.equal(['cluster main: no writable backend is serving (was old: removed); writes wait failover.holdMs, then fail']);
    });

    it('a down backend that was writable never takes the writes', () => {
      const o = health(c3, { db1: ep('down', facts({ writable: true })), db2: primaryUp(), db3: replicaUp(0) }, 'db1');
      expect(o.health.primary).to.equal('db2');
      expect(o.alerts.some((a) => a.includes('writable servers'))).to.equal(false);
    });

    it('takes the greeting from the first backend that is up, not from a down one', () => {
      const o = health(c3, { db1: ep('down', facts({ writable: true, greeting: greetingOf('5.7.44') })), db2: replicaUp(0, { greeting: greetingOf('8.0.36') }), db3: replicaUp(0, { greeting: greetingOf('8.0.37') }) });
      expect(o.health.greeting).to.deep.equal(greetingOf('8.0.36'));
      expect(byId(o, 'db1').version).to.equal('5.7.44');
    });
  });

  describe('two writable servers', () => {
    it('keep the writes on the previous primary when it is one of them, with an alert', () => {
      const o = health(c3, { db1: primaryUp(), db2: primaryUp(), db3: replicaUp(0) }, 'db1');
      expect(o.health.primary).to.equal('db1');
      expect(o.alerts).to.deep.equal([
        'cluster main: 2 writable servers (db1, db2); writes stay on db1, the last known primary; set read_only=1 on the stale one',
      ]);
    });

    it('keep it on the second one too when that was the primary', () => {
      expect(health(c3, { db1: primaryUp(), db2: primaryUp(), db3: replicaUp(0) }, 'db2').health.primary).to.equal('db2');
    });

    it('give no primary when none of them was the previous primary, with an alert (and no "no writable" alert)', () => {
      for (const prev of [null, 'db3']) {
        const o = health(c3, { db1: primaryUp(), db2: primaryUp(), db3: replicaUp(0) }, prev);
        expect(o.health.primary, `previous ${prev}`).to.equal(null);
        expect(o.alerts).to.deep.equal([
          'cluster main: 2 writable servers (db1, db2); none was the last known primary: writes wait; set read_only=1 on the stale one',
        ]);
      }
    });

    it('count three writable servers', () => {
      const o = health(c3, { db1: primaryUp(), db2: primaryUp(), db3: primaryUp() }, 'db3');
      expect(o.health.primary).to.equal('db3');
      expect(o.alerts[0]).to.match(/^cluster main: 3 writable servers \(db1, db2, db3\); writes stay on db3/);
    });
  });

  describe('operator states', () => {
    it('draining and disabled override the probes, keep their own since, and raise no down alert', () => {
      const o = health(c3, { db1: primaryUp(), db2: ep('down', facts()), db3: replicaUp(0) }, 'db1', {
        db2: { state: 'disabled', since: T0 + 100 }, db3: { state: 'draining', since: T0 + 200 },
      });
      expect(byId(o, 'db2')).to.deep.include({ state: 'disabled', reason: 'disabled by an operator', since: T0 + 100 });
      expect(byId(o, 'db3')).to.deep.include({ state: 'draining', reason: 'drained by an operator', since: T0 + 200 });
      expect(o.health.primary).to.equal('db1');
      expect(o.alerts).to.deep.equal([]);
    });

    it('a draining or disabled writable server never takes the writes', () => {
      for (const state of ['draining', 'disabled'] as const) {
        const o = health(c3, { db1: primaryUp(), db2: replicaUp(0), db3: replicaUp(0) }, 'db1', { db1: { state, since: T0 + 300 } });
        expect(o.health.primary, state).to.equal(null);
        expect(byId(o, 'db1')).to.deep.include({ state, role: 'primary', writable: true, since: T0 + 300 });
        expect(o.alerts).to.deep.equal([`cluster main: no writable backend is serving (was db1: ${state}); writes wait failover.holdMs, then fail`]);
      }
    });

    it('a drained old primary still counts as a second writable server, but the writes never go back to it', () => {
      const drained = { db1: { state: 'draining' as const, since: T0 } };
      const toOld = health(c3, { db1: primaryUp(), db2: primaryUp(), db3: replicaUp(0) }, 'db1', drained);
      expect(toOld.health.primary).to.equal(null);
      expect(toOld.alerts).to.deep.equal([
        'cluster main: 2 writable servers (db1, db2); none was the last known primary: writes wait; set read_only=1 on the stale one',
      ]);
      const toNew = health(c3, { db1: primaryUp(), db2: primaryUp(), db3: replicaUp(0) }, 'db2', drained);
      expect(toNew.health.primary).to.equal('db2');
    });

    it('a draining replica is not lagging even when it is behind', () => {
      const o = health(c3, { db1: primaryUp(), db2: replicaUp(Infinity), db3: replicaUp(0) }, 'db1', { db2: { state: 'draining', since: T0 } });
      expect(byId(o, 'db2')).to.deep.include({ state: 'draining', lagSeconds: -1 });
      expect(o.alerts).to.deep.equal([]);
    });
  });

  describe('recovering backends', () => {
    it('wait for their good probes while another backend serves', () => {
      const o = health(c3, { db1: ep('recovering', facts({ writable: true, lagSeconds: null })), db2: replicaUp(0), db3: replicaUp(0) }, 'db1');
      expect(byId(o, 'db1')).to.deep.include({ state: 'recovering', reason: 'answering again: 1 of 2 good probes', role: 'primary' });
      expect(o.health.primary).to.equal(null);
      expect(o.alerts).to.deep.equal(['cluster main: no writable backend is serving (was db1: recovering); writes wait failover.holdMs, then fail']);
    });

    it('a lagging replica counts as serving: the recovering one still waits', () => {
      const o = health(c3, { db1: ep('recovering', facts({ writable: true, lagSeconds: null })), db2: replicaUp(Infinity), db3: ep('down', null) });
      expect(byId(o, 'db1').state).to.equal('recovering');
      expect(o.health.primary).to.equal(null);
    });

    it('serve at once when nothing else is up or lagging, and a writable one becomes the primary', () => {
      const o = health(c3, {
        db1: ep('recovering', facts({ writable: true, lagSeconds: null }), { since: T0 + 7 }),
        db2: ep('recovering', facts({ writable: false, lagSeconds: 0 })),
        db3: ep('down', facts()),
      }, 'db1');
      expect(states(o)).to.deep.equal({ db1: 'up', db2: 'up', db3: 'down' });
      expect(byId(o, 'db1')).to.deep.include({ reason: 'answering again; serving at once: every other backend is down', since: T0 + 7, role: 'primary' });
      expect(o.health.primary).to.equal('db1');
      expect(o.alerts).to.have.length(1);
      expect(o.alerts[0]).to.match(/^cluster main: backend db3 down since /);
    });

    it('serve at once when the only other backends are draining or disabled', () => {
      const o = health(c3, { db1: ep('recovering', facts({ writable: true, lagSeconds: null })), db2: replicaUp(0), db3: replicaUp(0) }, null, {
        db2: { state: 'draining', since: T0 }, db3: { state: 'disabled', since: T0 },
      });
      expect(states(o)).to.deep.equal({ db1: 'up', db2: 'draining', db3: 'disabled' });
      expect(o.health.primary).to.equal('db1');
    });

    it('a recovering backend that an operator drained stays drained', () => {
      const o = health(c3, { db1: ep('recovering', facts({ writable: true, lagSeconds: null })), db2: ep('down', null), db3: ep('down', null) }, 'db1', {
        db1: { state: 'draining', since: T0 },
      });
      expect(byId(o, 'db1').state).to.equal('draining');
      expect(o.health.primary).to.equal(null);
    });

    it('a recovering writable server served at once next to an up but drained writable one: two writable servers', () => {
      const o = health(c3, { db1: primaryUp(), db2: ep('recovering', facts({ writable: true, lagSeconds: null })), db3: ep('down', null) }, 'db2', {
        db1: { state: 'draining', since: T0 },
      });
      expect(byId(o, 'db2').state).to.equal('up');
      expect(o.health.primary).to.equal('db2');
      expect(o.alerts.some((a) => a.includes('2 writable servers (db1, db2); writes stay on db2'))).to.equal(true);
    });

    it('a recovering replica served at once keeps the lag rules: replication stopped means lagging, not up', () => {
      // Every other backend is down; the replica answers again, but its replication is stopped.
      // An up replica with the same facts is lagging (no reads); serving it at once should skip
      // the good probes it still owes, not the lag rule.
      const o = health(c3, { db1: ep('down', facts({ writable: true })), db2: ep('recovering', facts({ writable: false, lagSeconds: Infinity })), db3: ep('down', null) }, 'db1');
      expect(byId(o, 'db2').lagSeconds).to.equal(-1);
      expect(byId(o, 'db2').state).to.equal('lagging');
    });
  });

  describe('tidb', () => {
    const tc = cluster(['t1', 't2', 't3'], { type: 'tidb' });

    it('has no primary; every server is a member and takes writes; lag is 0 once probed', () => {
      const o = health(tc, { t1: ep('up', facts({ writable: true, lagSeconds: null })), t2: ep('up', facts({ writable: true, lagSeconds: null })), t3: ep('up', facts({ writable: false, lagSeconds: Infinity })) }, 't1');
      expect(o.health.primary).to.equal(null);
      expect(roles(o)).to.deep.equal({ t1: 'member', t2: 'member', t3: 'member' });
      expect(states(o)).to.deep.equal({ t1: 'up', t2: 'up', t3: 'up' });
      expect(o.health.backends.map((b) => b.lagSeconds)).to.deep.equal([0, 0, 0]);
      // Several writable members are normal for tidb: no alert.
      expect(o.alerts).to.deep.equal([]);
    });

    it('a member never probed has role member and lag null', () => {
      const o = health(tc, { t1: ep('up', facts({ writable: true })) });
      expect(byId(o, 't2')).to.deep.include({ role: 'member', lagSeconds: null, state: 'down' });
      expect(o.alerts).to.deep.equal([]);
    });

    it('alerts when no member is serving, never about writable backends', () => {
      const o = health(tc, { t1: ep('down', null, { since: T0 }), t2: ep('down', null, { since: T0 }), t3: ep('down', null, { since: T0 }) });
      expect(o.alerts).to.have.length(4);
      expect(o.alerts.slice(0, 3).every((a) => / down since /.test(a))).to.equal(true);
      expect(o.alerts[3]).to.equal('cluster main: no member is serving');
    });

    it('a recovering member serves at once when every other member is down, still without a primary', () => {
      const o = health(tc, { t1: ep('down', null), t2: ep('recovering', facts({ writable: true })), t3: ep('down', null) });
      expect(byId(o, 't2')).to.deep.include({ state: 'up', role: 'member' });
      expect(o.health.primary).to.equal(null);
      expect(o.alerts.includes('cluster main: no member is serving')).to.equal(false);
    });
  });
});
