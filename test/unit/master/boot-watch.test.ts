/**
 * The master's judgement of a starting worker: progress (a boot phase begun) keeps it alive
 * however long the whole boot takes; no progress for the stall time, or a boot past the limit,
 * ends it with the phase and the times. Real timers, with margins of several hundred ms.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import { BootWatch, describeBootFailure, type BootOutcome } from '../../../src/master/boot-watch.js';
import { BOOT_PHASES } from '../../../src/ipc/messages.js';

type Failed = Extract<BootOutcome, { ok: false }>;

describe('master/boot-watch', () => {
  it('steady progress outlasts the stall time: ready', async () => {
    const w = new BootWatch();
    const outcome = w.watch(500, 10_000);
    for (const phase of BOOT_PHASES.slice(1)) {
      w.progress(phase);
      await delay(150); // 6 phases: 900 ms in all, each well within 500 ms
    }
    w.ready();
    const o = await outcome;
    expect(o.ok).to.equal(true);
    expect(o.bootMs).to.be.at.least(800);
  });

  it('no progress for the stall time: failed, in the phase it was in', async () => {
    const w = new BootWatch();
    const outcome = w.watch(300, 10_000);
    w.progress('warming pools');
    const o = (await outcome) as Failed;
    expect(o).to.include({ ok: false, reason: 'no progress', phase: 'warming pools', error: null });
    expect(o.phaseMs).to.be.at.least(290);
    expect(describeBootFailure(o)).to.match(/^no boot progress for 0\.3 s while warming pools \(0\.3 s since it started\)$/);
    w.ready(); // too late: the outcome stays
    expect(w.settled).to.equal(o);
  });

  it('past the limit: failed, whatever the progress', async () => {
    const w = new BootWatch();
    const outcome = w.watch(10_000, 400);
    const ticker = setInterval(() => w.progress('probing backends'), 50);
    const o = (await outcome) as Failed;
    clearInterval(ticker);
    expect(o).to.include({ reason: 'time limit', phase: 'probing backends' });
    expect(o.bootMs).to.be.at.least(390);
    expect(describeBootFailure(o)).to.match(/^still booting after 0\.4 s, over supervisor\.readyLimitMs \(the last 0\.\d s while probing backends\)$/);
  });

  it('a refused config or an exit ends it at once, naming the phase', async () => {
    const refused = new BootWatch();
    const r = refused.watch(10_000, 10_000);
    refused.progress('warming up code');
    refused.fail('refused', 'listen EADDRINUSE: address already in use 127.0.0.1:6033', 'listening');
    expect(describeBootFailure((await r) as Failed)).to.match(/^failed while listening, 0\.0 s after it started: listen EADDRINUSE/);
    const exited = new BootWatch();
    exited.fail('exited'); // before anyone watched
    expect(describeBootFailure((await exited.watch(10, 10)) as Failed)).to.equal('exited while loading modules, 0.0 s after it started');
  });
});
