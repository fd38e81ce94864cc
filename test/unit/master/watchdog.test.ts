/**
 * The watchdog's limits checked against a machine and its running workers (what the master
 * does at start and before applying a reload): percentages resolved, and limits that every
 * running worker is already over refused.
 */
import { expect } from 'chai';
import { limitProblemsHere, parseLimit } from '../../../src/master/watchdog.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const config = (softLimit: string, hardLimit: string) => ({ softLimit, hardLimit, intervalMs: 1000 });

describe('master/watchdog limits', () => {
  it('parses MiB, GiB and % of the budget', () => {
    expect(parseLimit('512MiB', 8 * GiB)).to.equal(512 * MiB);
    expect(parseLimit('1.5GiB', 8 * GiB)).to.equal(1.5 * GiB);
    expect(parseLimit('25%', 8 * GiB)).to.equal(2 * GiB);
    expect(() => parseLimit('12MB', 8 * GiB)).to.throw(/invalid memory limit "12MB"/);
  });

  it('accepts sane limits', () => {
    expect(limitProblemsHere(config('1024MiB', '2048MiB'), 8 * GiB, [60 * MiB, 70 * MiB])).to.deep.equal([]);
    expect(limitProblemsHere(config('10%', '1GiB'), 8 * GiB, [])).to.deep.equal([]);
  });

  it('resolves % against the machine: below the minimum, or a soft limit above the hard one', () => {
    expect(limitProblemsHere(config('1%', '2%'), 4 * GiB, [])).to.deep.equal([
      'watchdog.softLimit: "1%" is 41 MiB of the 4096 MiB available here, below the minimum of 128MiB: an idle worker alone uses about 60 MiB, so every worker would be killed or replaced as soon as it starts',
      'watchdog.hardLimit: "2%" is 82 MiB of the 4096 MiB available here, below the minimum of 128MiB: an idle worker alone uses about 60 MiB, so every worker would be killed or replaced as soon as it starts',
    ]);
    expect(limitProblemsHere(config('50%', '1GiB'), 4 * GiB, [])).to.deep.equal([
      'watchdog.softLimit: "50%" (2048 MiB here) is above watchdog.hardLimit "1GiB": a worker would be killed before it is ever replaced gracefully (equal limits turn the graceful replacement off)',
    ]);
  });

  it('refuses a hard limit every running worker is already over (they would all be killed at once)', () => {
    expect(limitProblemsHere(config('200MiB', '300MiB'), 8 * GiB, [400 * MiB, 350 * MiB])).to.deep.equal([
      'watchdog.hardLimit: "300MiB" is below the memory of every running worker (the smallest uses 350 MiB): applying it would kill them all at once',
    ]);
    // One worker over it is the watchdog doing its job: that one is replaced, the rest serve.
    expect(limitProblemsHere(config('200MiB', '300MiB'), 8 * GiB, [400 * MiB, 100 * MiB])).to.deep.equal([]);
  });
});
