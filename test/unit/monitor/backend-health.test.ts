import { expect } from 'chai';
import fc from 'fast-check';
import { DEFAULTS } from '../../../src/config/index.js';
import {
  UNPROBED,
  afterProbe,
  type EndpointHealth,
  type EndpointStatus,
  type ProbeFacts,
  type ProbeResult,
  type Thresholds,
} from '../../../src/monitor/backend-health.js';

const GREETING = Object.freeze({ serverVersion: '8.0.36', capabilities: 0xf7ff, charset: 255, mariadbCapabilities: 0 });

function facts(over: Partial<ProbeFacts> = {}): ProbeFacts {
  return Object.freeze({ writable: true, lagSeconds: null, lagError: null, greeting: GREETING, maxConnections: 151, ...over });
}

const ok = (f: ProbeFacts = facts()): ProbeResult => ({ ok: true, facts: f });
/** The server answered but refused the monitor's login: alive. */
const refused = (error = 'Access denied for user monitor'): ProbeResult => ({ ok: false, answered: true, error });
/** No answer at all: a failed probe. */
const dead = (error = 'connect ECONNREFUSED'): ProbeResult => ({ ok: false, answered: false, error });

const T0 = 1_700_000_000_000;
const at = (i: number): number => T0 + i * 1000;

/** Every health after each probe; probe i ends at at(i) and takes i + 1 ms. Inputs are frozen: afterProbe must not mutate them. */
function run(results: readonly ProbeResult[], t: Thresholds, start: EndpointHealth = UNPROBED, from = 0): EndpointHealth[] {
  const out: EndpointHealth[] = [];
  let h = start;
  results.forEach((r, i) => {
    h = Object.freeze(afterProbe(h, Object.freeze(r), t, at(from + i), from + i + 1));
    out.push(h);
  });
  return out;
}

const last = <T>(xs: readonly T[]): T => xs[xs.length - 1]!;
const statuses = (hs: readonly EndpointHealth[]): EndpointStatus[] => hs.map((h) => h.status);

describe('monitor/backend-health', () => {
  const T: Thresholds = { failures: 3, successes: 3 };

  describe('UNPROBED', () => {
    it('is unknown, frozen, with nothing learnt', () => {
      expect(Object.isFrozen(UNPROBED)).to.equal(true);
      expect(UNPROBED).to.deep.include({ status: 'unknown', failures: 0, successes: 0, since: 0, facts: null, lastError: null, lastErrorAt: 0, checkedAt: 0 });
    });

    it('the default thresholds are the ones the config documents (2 and 2)', () => {
      expect(DEFAULTS.monitor.failures).to.equal(2);
      expect(DEFAULTS.monitor.successes).to.equal(2);
    });
  });

  describe('a backend never probed before', () => {
    it('is up at its first good probe, whatever monitor.successes says', () => {
      const f = facts({ writable: false, lagSeconds: 4 });
      const h = afterProbe(UNPROBED, ok(f), { failures: 5, successes: 5 }, at(1), 7);
      expect(h).to.deep.equal({
        status: 'up', failures: 0, successes: 1, since: at(1), reason: 'answering', facts: f,
        lastError: null, lastErrorAt: 0, checkedAt: at(1), probeMs: 7,
      });
    });

    it('is up at its first answer even when the server refused the login (alive, facts still unknown)', () => {
      const h = afterProbe(UNPROBED, refused('Access denied'), T, at(1), 3);
      expect(h.status).to.equal('up');
      expect(h.since).to.equal(at(1));
      expect(h.facts).to.equal(null);
      expect(h.reason).to.equal('answering (Access denied)');
      expect(h.lastError).to.equal('Access denied');
      expect(h.lastErrorAt).to.equal(at(1));
      expect(h.failures).to.equal(0);
      expect(h.successes).to.equal(1);
    });

    it('is down at its first failed probe, without waiting for monitor.failures', () => {
      const h = afterProbe(UNPROBED, dead('connect ETIMEDOUT'), T, at(1), 1000);
      expect(h).to.deep.equal({
        status: 'down', failures: 1, successes: 0, since: at(1), reason: 'connect ETIMEDOUT', facts: null,
        lastError: 'connect ETIMEDOUT', lastErrorAt: at(1), checkedAt: at(1), probeMs: 1000,
      });
    });

    it('once down at its first probe, has to earn its way back like any down backend', () => {
      const hs = run([dead(), ok(), ok(), ok()], T);
      expect(statuses(hs)).to.deep.equal(['down', 'recovering', 'recovering', 'up']);
    });
  });

  describe('an up backend', () => {
    it('stays up through monitor.failures - 1 failed probes, then goes down at the next', () => {
      const [up] = run([ok()], T);
      const hs = run([dead('e1'), dead('e2'), dead('e3')], T, up, 1);
      expect(statuses(hs)).to.deep.equal(['up', 'up', 'down']);
      expect(hs.map((h) => h.failures)).to.deep.equal([1, 2, 3]);
      expect(hs.map((h) => h.successes)).to.deep.equal([0, 0, 0]);
      // Still up: since, reason and facts do not move; the error and the probe time do.
      expect(hs[1]!.since).to.equal(at(0));
      expect(hs[1]!.reason).to.equal('answering');
      expect(hs[1]!.facts).to.equal(up!.facts);
      expect(hs[1]!.lastError).to.equal('e2');
      expect(hs[1]!.lastErrorAt).to.equal(at(2));
      expect(hs[1]!.checkedAt).to.equal(at(2));
      expect(hs[1]!.probeMs).to.equal(3);
      // Down: since is the probe that made it down, the reason its error; facts are kept.
      expect(hs[2]!.since).to.equal(at(3));
      expect(hs[2]!.reason).to.equal('e3');
      expect(hs[2]!.facts).to.equal(up!.facts);
    });

    it('goes down at its first failed probe when monitor.failures is 1', () => {
      const hs = run([ok(), dead('gone')], { failures: 1, successes: 2 });
      expect(statuses(hs)).to.deep.equal(['up', 'down']);
      expect(hs[1]!.since).to.equal(at(1));
    });

    it('needs the failures in a row: a good probe in between starts the count again', () => {
      const hs = run([ok(), dead(), dead(), ok(), dead(), dead()], T);
      expect(statuses(hs)).to.deep.equal(['up', 'up', 'up', 'up', 'up', 'up']);
      expect(last(hs).failures).to.equal(2);
      expect(last(hs).since).to.equal(at(0));
      expect(afterProbe(last(hs), dead(), T, at(6), 1).status).to.equal('down');
    });

    it('counts a refused login as an answer: failures reset, facts kept, reason says why', () => {
      const f = facts({ writable: false, lagSeconds: 2 });
      const hs = run([ok(f), dead('timeout'), dead('timeout'), refused('Access denied'), dead('timeout'), dead('timeout')], T);
      expect(statuses(hs)).to.deep.equal(['up', 'up', 'up', 'up', 'up', 'up']);
      expect(hs[3]!.failures).to.equal(0);
      expect(hs[3]!.successes).to.equal(1);
      expect(hs[3]!.facts).to.equal(f);
      expect(hs[3]!.reason).to.equal('answering (Access denied)');
      expect(hs[3]!.lastError).to.equal('Access denied');
      expect(hs[3]!.lastErrorAt).to.equal(at(3));
      expect(hs[3]!.since).to.equal(at(0));
    });

    it('goes back to reason "answering" once the login works again, since unchanged', () => {
      const hs = run([ok(), refused('Access denied'), ok()], T);
      expect(hs.map((h) => h.reason)).to.deep.equal(['answering', 'answering (Access denied)', 'answering']);
      expect(hs.map((h) => h.since)).to.deep.equal([at(0), at(0), at(0)]);
    });

    it('takes the facts of every good probe (a promotion shows at once)', () => {
      const replica = facts({ writable: false, lagSeconds: 0 });
      const primary = facts({ writable: true, lagSeconds: null });
      const hs = run([ok(replica), ok(primary)], T);
      expect(hs[0]!.facts).to.equal(replica);
      expect(hs[1]!.facts).to.equal(primary);
      expect(hs[1]!.since).to.equal(at(0));
      expect(hs[1]!.successes).to.equal(2);
    });

    it('keeps the last error and its time through good probes', () => {
      const hs = run([ok(), dead('blip'), ok(), ok()], T);
      expect(last(hs).lastError).to.equal('blip');
      expect(last(hs).lastErrorAt).to.equal(at(1));
      expect(last(hs).checkedAt).to.equal(at(3));
      expect(last(hs).probeMs).to.equal(4);
    });
  });

  describe('a down backend', () => {
    const down = (): EndpointHealth => last(run([ok(), dead(), dead(), dead()], T));

    it('stays down through more failures: since kept, reason and failures follow the probes', () => {
      const d = down();
      expect(d.status).to.equal('down');
      const hs = run([dead('again'), dead('and again')], T, d, 4);
      expect(statuses(hs)).to.deep.equal(['down', 'down']);
      expect(hs.map((h) => h.since)).to.deep.equal([d.since, d.since]);
      expect(hs.map((h) => h.reason)).to.deep.equal(['again', 'and again']);
      expect(hs.map((h) => h.failures)).to.deep.equal([4, 5]);
      expect(last(hs).lastErrorAt).to.equal(at(5));
    });

    it('is recovering until monitor.successes good probes in a row, then up', () => {
      const d = down();
      const f = facts({ writable: false, lagSeconds: 1 });
      const hs = run([ok(f), ok(f), ok(f)], T, d, 4);
      expect(statuses(hs)).to.deep.equal(['recovering', 'recovering', 'up']);
      expect(hs.map((h) => h.successes)).to.deep.equal([1, 2, 3]);
      expect(hs.map((h) => h.failures)).to.deep.equal([0, 0, 0]);
      expect(hs.map((h) => h.reason)).to.deep.equal(['answering again: 1 of 3 good probes', 'answering again: 2 of 3 good probes', 'answering']);
      // since: when it started recovering, unchanged while recovering, then when it came up.
      expect(hs.map((h) => h.since)).to.deep.equal([at(4), at(4), at(6)]);
      expect(hs[0]!.facts).to.equal(f);
    });

    it('serves again at its first good probe when monitor.successes is 1', () => {
      const hs = run([ok(), dead(), dead(), ok()], { failures: 2, successes: 1 });
      expect(statuses(hs)).to.deep.equal(['up', 'up', 'down', 'up']);
      expect(hs[3]!.since).to.equal(at(3));
    });

    it('counts refused logins toward recovery and keeps its last facts', () => {
      const f = facts({ writable: true });
      const hs = run([ok(f), dead(), dead(), dead(), refused('Access denied'), refused('Access denied'), refused('Access denied')], T);
      expect(statuses(hs)).to.deep.equal(['up', 'up', 'up', 'down', 'recovering', 'recovering', 'up']);
      for (const h of hs) expect(h.facts).to.equal(f);
      expect(last(hs).reason).to.equal('answering (Access denied)');
      expect(last(hs).lastError).to.equal('Access denied');
      expect(last(hs).lastErrorAt).to.equal(at(6));
    });

    it('a failure while recovering sends it back down and the count starts over', () => {
      const d = down();
      const hs = run([ok(), ok(), dead('flap'), ok(), ok(), ok()], T, d, 4);
      expect(statuses(hs)).to.deep.equal(['recovering', 'recovering', 'down', 'recovering', 'recovering', 'up']);
      expect(hs[2]!).to.deep.include({ since: at(6), reason: 'flap', failures: 1, successes: 0 });
      expect(hs[3]!.since).to.equal(at(7));
      expect(hs[3]!.reason).to.equal('answering again: 1 of 3 good probes');
    });
  });

  describe('properties', () => {
    type Kind = 'ok' | 'refused' | 'dead';
    const alive = (k: Kind): boolean => k !== 'dead';
    const resultOf = (k: Kind, i: number): ProbeResult =>
      k === 'ok' ? ok(facts({ writable: i % 2 === 0, lagSeconds: i })) : k === 'refused' ? refused(`refused ${i}`) : dead(`dead ${i}`);
    const arbThresholds = fc.record({ failures: fc.integer({ min: 1, max: 5 }), successes: fc.integer({ min: 1, max: 5 }) });
    const arbKinds = fc.array(fc.constantFrom<Kind>('ok', 'refused', 'dead'), { maxLength: 60 });

    /**
     * The documented status of a probe history, by runs: the last run of answers (or of
     * failures) and the status before it.
     */
    function specStatus(kinds: readonly Kind[], t: Thresholds): EndpointStatus {
      if (kinds.length === 0) return 'unknown';
      const a = alive(kinds[kinds.length - 1]!);
      let n = 0;
      while (n < kinds.length && alive(kinds[kinds.length - 1 - n]!) === a) n++;
      const before = specStatus(kinds.slice(0, kinds.length - n), t);
      if (a) {
        if (before === 'unknown' || before === 'up') return 'up';
        return n >= t.successes ? 'up' : 'recovering';
      }
      if (before === 'up') return n >= t.failures ? 'down' : 'up';
      return 'down';
    }

    const trailing = (kinds: readonly Kind[], pred: (k: Kind) => boolean): number => {
      let n = 0;
      while (n < kinds.length && pred(kinds[kinds.length - 1 - n]!)) n++;
      return n;
    };

    it('the status after any history of probes is the documented one', () => {
      fc.assert(fc.property(arbThresholds, arbKinds, (t, kinds) => {
        const hs = run(kinds.map(resultOf), t);
        hs.forEach((h, i) => expect(h.status, `after ${kinds.slice(0, i + 1).join(',')}`).to.equal(specStatus(kinds.slice(0, i + 1), t)));
      }), { numRuns: 500 });
    });

    it('down only right after a failed probe, and an up backend only after monitor.failures of them in a row', () => {
      fc.assert(fc.property(arbThresholds, arbKinds, (t, kinds) => {
        const hs = run(kinds.map(resultOf), t);
        hs.forEach((h, i) => {
          if (h.status !== 'down') return;
          const upTo = kinds.slice(0, i + 1);
          expect(alive(kinds[i]!), 'the last probe failed').to.equal(false);
          const prev = i === 0 ? UNPROBED : hs[i - 1]!;
          // Already down, never seen, or still earning its way back: one failure suffices.
          if (prev.status !== 'up') return;
          expect(trailing(upTo, (k) => !alive(k)), 'failed probes in a row').to.be.at.least(t.failures);
        });
      }), { numRuns: 500 });
    });

    it('an up backend is never down after fewer than monitor.failures failures in a row', () => {
      fc.assert(fc.property(arbThresholds, arbKinds, fc.array(fc.constantFrom<Kind>('ok', 'refused', 'dead'), { maxLength: 20 }), (t, kinds, more) => {
        // Failure bursts one short of the threshold, separated by answers, never take it down.
        const burst = Array<Kind>(t.failures - 1).fill('dead');
        const history: Kind[] = ['ok', ...burst, 'refused', ...burst, 'ok', ...burst, ...kinds, ...more];
        const hs = run(history.map(resultOf), t);
        for (const h of hs.slice(0, 3 + 3 * burst.length)) expect(h.status).to.equal('up');
        // Anywhere in the history: from an up state, the next failures - 1 failed probes leave it up.
        hs.forEach((h, i) => {
          // Count from its last answer: an up state that already follows failures has fewer left.
          if (h.status !== 'up' || history[i] === 'dead') return;
          for (let j = i + 1; j < hs.length && j - i < t.failures && history[j] === 'dead'; j++) {
            expect(hs[j]!.status, `probe ${j}, ${j - i} failures after up at ${i}`).to.equal('up');
          }
        });
      }), { numRuns: 500 });
    });

    it('counters, facts, errors, times and since follow the probes', () => {
      fc.assert(fc.property(arbThresholds, arbKinds, (t, kinds) => {
        const results = kinds.map(resultOf);
        const hs = run(results, t);
        hs.forEach((h, i) => {
          const upTo = kinds.slice(0, i + 1);
          const prev = i === 0 ? UNPROBED : hs[i - 1]!;
          expect(h.failures).to.equal(trailing(upTo, (k) => !alive(k)));
          expect(h.successes).to.equal(trailing(upTo, alive));
          expect(h.checkedAt).to.equal(at(i));
          expect(h.probeMs).to.equal(i + 1);
          const lastOk = upTo.lastIndexOf('ok');
          expect(h.facts).to.equal(lastOk < 0 ? null : (results[lastOk] as { facts: ProbeFacts }).facts);
          const lastErr = Math.max(upTo.lastIndexOf('refused'), upTo.lastIndexOf('dead'));
          expect(h.lastError).to.equal(lastErr < 0 ? null : (results[lastErr] as { error: string }).error);
          expect(h.lastErrorAt).to.equal(lastErr < 0 ? 0 : at(lastErr));
          // since moves exactly when the status does.
          if (h.status === prev.status) expect(h.since).to.equal(prev.since);
          else expect(h.since).to.equal(at(i));
          if (h.status === 'down') expect(h.reason).to.equal((results[i] as { error: string }).error);
        });
      }), { numRuns: 500 });
    });
  });
});
