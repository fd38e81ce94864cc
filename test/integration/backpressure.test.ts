/**
 * Results stream with backpressure: a client reading a 1 GiB result slowly must not make the
 * dbmesh process grow by more than a few MiB. RSS is sampled from /proc during the transfer.
 */
import { expect } from 'chai';
import net from 'node:net';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import type { SandboxInfo } from '../helpers/sandbox.js';
import { BASE_CAPS, RawClient } from '../helpers/raw-client.js';
import { frame } from '../../src/protocol/framing.js';

const MiB = 1024 * 1024;

describe('backpressure', function () {
  this.timeout(180000);
  let sb: SandboxInfo;
  let dbmesh: DbmeshProcess;

  before(async function () {
    sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb);
  });

  after(async function () {
    await dbmesh?.stop();
  });

  it('relays a 1 GiB result to a slow reader with bounded worker memory', async function () {
    const client = await RawClient.connect(dbmesh.port, 'app', 'app_pw', BASE_CAPS);
    // Warm up the session's code paths, then take the baseline.
    await client.rows('SELECT REPEAT(\'x\', 1000) FROM seq_1_to_1000');
    const socket: net.Socket = client.socket;
    const baseline = dbmesh.rss();
    // 1024 rows of 1 MiB each.
    const sql = `SELECT REPEAT('x', ${MiB}) FROM seq_1_to_1024`;
    socket.write(frame(Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]), 0).bytes);
    let received = 0;
    let peak = baseline;
    let sinceLastPause = 0;
    const sampler = setInterval(() => { peak = Math.max(peak, dbmesh.rss()); }, 20);
    await new Promise<void>((resolve, reject) => {
      let tail = Buffer.alloc(0);
      client.input.handler = (chunk: Buffer) => {
        received += chunk.length;
        sinceLastPause += chunk.length;
        tail = Buffer.concat([tail, chunk]).subarray(-16);
        // Slow reader: stop reading for 50 ms after every 16 MiB.
        if (sinceLastPause >= 16 * MiB) {
          sinceLastPause = 0;
          socket.pause();
          setTimeout(() => socket.resume(), 50);
        }
        // The result ends with an EOF packet: fe 00 00 xx xx (status) after 1 GiB of rows.
        if (received > 1024 * MiB && tail.includes(Buffer.from([0x05, 0x00, 0x00]))) {
          const eofAt = tail.lastIndexOf(0xfe);
          if (eofAt >= 0 && eofAt === tail.length - 5) resolve();
        }
      };
      socket.once('close', () => reject(new Error(`closed after ${received} bytes`)));
    });
    clearInterval(sampler);
    const growth = peak - baseline;
    // eslint-disable-next-line no-console
    console.log(`      received ${(received / MiB).toFixed(0)} MiB; dbmesh RSS baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB`);
    expect(received).to.be.greaterThan(1024 * MiB);
    expect(growth).to.be.lessThan(16 * MiB);
    // The session is still usable afterwards.
    const again = await RawClient.connect(dbmesh.port, 'app', 'app_pw', BASE_CAPS);
    expect((await again.rows('SELECT 1'))[0]).to.deep.equal(['1']);
    again.close();
    socket.destroy();
  });
});
