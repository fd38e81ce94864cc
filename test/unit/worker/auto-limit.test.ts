import { expect } from 'chai';
import { autoLimit } from '../../../src/worker/cluster-pools.js';

describe('worker/cluster-pools autoLimit (pool limit from the server\'s max_connections)', () => {
  it('gives each worker its share of 80% of max_connections', () => {
    expect(autoLimit(500, 1)).to.equal(400);
    expect(autoLimit(500, 4)).to.equal(100);
    expect(autoLimit(151, 2)).to.equal(60);
  });

  it('never goes below one connection, and is unlimited (0) when max_connections is unknown', () => {
    expect(autoLimit(1, 8)).to.equal(1);
    expect(autoLimit(10, 64)).to.equal(1);
    expect(autoLimit(null, 2)).to.equal(0);
  });

  it('keeps all workers together under the server limit', () => {
    for (const max of [10, 100, 151, 1000, 100000]) {
      for (const workers of [1, 2, 3, 7, 16]) {
        if (max * 0.8 < workers) continue; // one each is the floor
        expect(autoLimit(max, workers) * workers, `${max}/${workers}`).to.be.at.most(Math.floor(max * 0.8));
      }
    }
  });
});
