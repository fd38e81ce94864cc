/**
 * Bad client input over raw sockets to a real dbmesh: garbage, truncated and oversized
 * handshake packets, a pre-4.1 client, out-of-order and unknown commands, packets over
 * max_allowed_packet, clients that vanish mid-result or mid-packet. Each must end in the ERR
 * packet a MySQL server would send (or a clean close), a logged close reason, and a dbmesh
 * that keeps serving everyone else.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { rootQuery, type SandboxInfo, type SandboxServer } from '../helpers/sandbox.js';
import { DEFAULT_CLIENT_CAPS, HandClient } from '../helpers/hand-client.js';
import { encodeHandshakeResponse } from '../../src/protocol/handshake.js';
import { nativePasswordScramble } from '../../src/protocol/auth.js';
import { decodeErr, type ErrFields } from '../../src/protocol/responses.js';
import { frame } from '../../src/protocol/framing.js';
import { CLIENT_PROTOCOL_41, COM_QUERY, COM_STMT_EXECUTE, COM_STMT_PREPARE, MYSQL_NATIVE_PASSWORD } from '../../src/protocol/constants.js';

type Log = Record<string, unknown>;

/** What the server did after the client misbehaved: the first packet it sent, and whether it closed. */
interface Outcome {
  readonly err: (ErrFields & { readonly seq: number }) | null;
  readonly other: Buffer | null;
  readonly closed: boolean;
}

async function outcome(c: HandClient, waitMs = 3000): Promise<Outcome> {
  let first: Awaited<ReturnType<HandClient['packet']>> = null;
  try {
    first = await c.packet(waitMs);
  } catch {
    // nothing arrived and the socket is still open
  }
  const closed = await c.waitClosed(first === null ? 0 : waitMs);
  if (first === null) return { err: null, other: null, closed: c.isClosed || closed };
  if (first.payload[0] === 0xff) return { err: { ...decodeErr(first.payload), seq: first.seq }, other: null, closed };
  return { err: null, other: first.payload, closed };
}

function expectErr(o: Outcome, errno: number, sqlState: string): void {
  expect(o.err, 'an ERR packet').to.not.equal(null);
  expect([o.err!.errno, o.err!.sqlState]).to.deep.equal([errno, sqlState]);
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

const query = (sql: string | Buffer): Buffer => Buffer.concat([Buffer.from([COM_QUERY]), Buffer.isBuffer(sql) ? sql : Buffer.from(sql, 'utf8')]);

/** A valid HandshakeResponse41 payload for app/app_pw against this greeting's scramble. */
function goodResponse(c: HandClient): Buffer {
  return encodeHandshakeResponse({
    capabilities: DEFAULT_CLIENT_CAPS, maxPacketSize: 1 << 24, charset: 45, user: 'app',
    authResponse: nativePasswordScramble('app_pw', c.greeting.scramble), database: 'dbmesh_test',
    authPlugin: MYSQL_NATIVE_PASSWORD, connectAttrs: null,
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('bad client input', function () {
  this.timeout(60000);
  let sb: SandboxInfo;
  let dbmesh: DbmeshProcess;
  let small: DbmeshProcess | undefined;
  let workersAtStart: number[] = [];
  const open: HandClient[] = [];

  before(async function () {
    this.timeout(120000);
    sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb);
    workersAtStart = dbmesh.workerPids().sort();
  });

  afterEach(() => {
    for (const c of open.splice(0)) c.destroy();
  });

  after(async function () {
    this.timeout(60000);
    await small?.stop();
    await dbmesh?.stop();
  });

  async function connect(to: DbmeshProcess = dbmesh): Promise<HandClient> {
    const c = await HandClient.connect('127.0.0.1', to.port);
    open.push(c);
    return c;
  }

  async function loggedIn(to: DbmeshProcess = dbmesh): Promise<HandClient> {
    const c = await connect(to);
    await c.login('app', 'app_pw', { database: 'dbmesh_test' });
    return c;
  }

  /** The reason dbmesh logged when it closed the connection it greeted with `c`. */
  async function closeReason(c: HandClient, to: DbmeshProcess = dbmesh): Promise<string> {
    const id = c.greeting.connectionId;
    const line: Log = await to.waitForLog((l) => l.message === 'client connection closed' && l.conn_id === id, 10000);
    expect(line.reason, 'close reason').to.be.a('string');
    return line.reason as string;
  }

  /** Which sandbox server and backend thread serve this session (dbmesh gives each its own). */
  async function backendOf(c: HandClient): Promise<{ server: SandboxServer; thread: number }> {
    const r = await c.query('SELECT @@pseudo_thread_id, @@port');
    expect(r.kind).to.equal('rows');
    const [thread, port] = (r as { rows: string[][] }).rows[0]!.map(Number) as [number, number];
    const server = [sb.primary, ...sb.replicas].find((s) => s.port === port);
    expect(server, `a sandbox server on port ${port}`).to.not.equal(undefined);
    return { server: server!, thread };
  }

  async function waitThreadGone(b: { server: SandboxServer; thread: number }, timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = (await rootQuery(b.server, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ${b.thread}`)).trim();
      if (n === '0') return;
      if (Date.now() > deadline) throw new Error(`backend thread ${b.thread} on ${b.server.id} still there after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  describe('handshake phase', () => {
    it('closes at once on garbage announcing a packet over the handshake limit', async () => {
      const c = await connect();
      const garbage = Buffer.from('9c2e7f01a5b3c7d9e1f30517293b4d5f61738597a9bbcddfe1f3', 'hex'); // length 0x7f2e9c
      const started = Date.now();
      c.writeRaw(garbage);
      const o = await outcome(c);
      expect(o.closed, 'closed').to.equal(true);
      if (o.err) expectErr(o, 1043, '08S01');
      expect(o.other).to.equal(null);
      expect(Date.now() - started, 'without waiting for the handshake timeout').to.be.below(3000);
      expect(await closeReason(c)).to.equal('malformed');
    });

    it('answers a framed packet of random bytes with an ERR or a clean close, and logs why (property)', async function () {
      this.timeout(120000);
      await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 120 }), async (bytes) => {
        const c = await connect();
        c.send(Buffer.from(bytes), 1);
        const o = await outcome(c, 1500);
        if (o.err) {
          // 1043 bad handshake; random capability bits may also read as a pre-4.1 client
          // (1251) or a well-formed answer for an unknown user (1045).
          expect(o.err.errno).to.be.oneOf([1043, 1251, 1045]);
          expect(o.err.seq).to.equal(2);
        } else if (o.other) {
          // A well-formed answer naming another auth plugin gets an auth switch request.
          expect(o.other[0]).to.equal(0xfe);
        }
        if (!o.closed) c.destroy();
        expect(await closeReason(c)).to.be.oneOf(['malformed', 'auth_failed', 'client_network']);
      }), { numRuns: 25 });
    });

    it('answers a truncated handshake response with ERR 1043 (08S01) and closes', async () => {
      for (const cut of [0, 3, 20, 31, 33, 36]) {
        const c = await connect();
        c.send(goodResponse(c).subarray(0, cut), 1);
        const o = await outcome(c);
        if (cut === 0) {
          // An empty packet is not even a capability word: bad handshake all the same.
          expect(o.closed, `cut ${cut}: closed`).to.equal(true);
          if (o.err) expectErr(o, 1043, '08S01');
        } else {
          expectErr(o, 1043, '08S01');
          expect(o.err!.seq).to.equal(2);
          expect(o.closed, `cut ${cut}: closed`).to.equal(true);
        }
        expect(await closeReason(c), `cut ${cut}`).to.equal('malformed');
      }
    });

    it('logs a client that sends half a handshake packet and closes', async () => {
      const c = await connect();
      const full = frame(goodResponse(c), 1).bytes;
      c.writeRaw(full.subarray(0, Math.floor(full.length / 2)));
      await new Promise((r) => setTimeout(r, 100));
      c.socket.end();
      expect(await c.waitClosed()).to.equal(true);
      expect(await closeReason(c)).to.equal('client_network');
    });

    it('refuses a pre-4.1 client with ERR 1251 (08004)', async () => {
      const c = await connect();
      // Pre-4.1 HandshakeResponse: caps u16 (no CLIENT_PROTOCOL_41), max packet u24, user, scramble.
      const old = Buffer.from('8da0' + 'ffffff' + Buffer.from('app\0').toString('hex') + '4142434445464748', 'hex');
      expect(old.readUInt16LE(0) & CLIENT_PROTOCOL_41).to.equal(0);
      c.send(old, 1);
      const o = await outcome(c);
      expectErr(o, 1251, '08004');
      expect(o.closed).to.equal(true);
      expect(await closeReason(c)).to.be.oneOf(['auth_failed', 'malformed']);
    });

    it('closes on a handshake packet announcing 10 MB without waiting for it', async () => {
      const c = await connect();
      const header = Buffer.alloc(4);
      header.writeUIntLE(10 * 1024 * 1024, 0, 3);
      header[3] = 1;
      const started = Date.now();
      c.writeRaw(Buffer.concat([header, goodResponse(c)]));
      const o = await outcome(c);
      expect(o.closed).to.equal(true);
      if (o.err) expectErr(o, 1043, '08S01');
      expect(Date.now() - started).to.be.below(3000);
      expect(await closeReason(c)).to.equal('malformed');
    });
  });

  describe('command phase', () => {
    it('answers a command with sequence id 5 with ERR 1156 (08S01) and closes', async () => {
      const c = await loggedIn();
      c.send(query('SELECT 1'), 5);
      const o = await outcome(c);
      expectErr(o, 1156, '08S01');
      expect(o.closed).to.equal(true);
      expect(await closeReason(c)).to.equal('out_of_order');
    });

    for (const [name, payload] of [
      ['0x12 COM_BINLOG_DUMP', Buffer.from('120400000000000100000000', 'hex')],
      ['0x99', Buffer.from([0x99, 1, 2, 3])],
      ['0x1e COM_BINLOG_DUMP_GTID', Buffer.from([0x1e])],
      ['an empty packet', Buffer.alloc(0)],
    ] as const) {
      it(`answers unknown command ${name} with ERR 1047 (08S01) and stays usable`, async () => {
        const c = await loggedIn();
        c.send(payload, 0);
        const o = await outcome(c, 1000);
        expectErr(o, 1047, '08S01');
        expect(o.err!.seq).to.equal(1);
        expect(o.closed).to.equal(false);
        const r = await c.query('SELECT 1');
        expect(r).to.deep.equal({ kind: 'rows', rows: [['1']] });
      });
    }

    it('answers a 2 MiB COM_QUERY over max_allowed_packet (1 MiB) with ERR 1153 (08S01) and closes', async function () {
      this.timeout(60000);
      small ??= await startDbmesh(sb, { overrides: { limits: { maxAllowedPacket: 1048576 } } });
      const c = await loggedIn(small);
      const sql = Buffer.concat([Buffer.from("SELECT LENGTH('"), Buffer.alloc(2 * 1024 * 1024, 0x61), Buffer.from("')")]);
      c.send(query(sql), 0);
      const o = await outcome(c, 5000);
      expectErr(o, 1153, '08S01');
      expect(o.err!.seq).to.equal(1);
      expect(o.closed).to.equal(true);
      expect(await closeReason(c, small)).to.equal('packet_too_large');
    });

    it('still takes a COM_QUERY of exactly max_allowed_packet bytes', async function () {
      this.timeout(60000);
      small ??= await startDbmesh(sb, { overrides: { limits: { maxAllowedPacket: 1048576 } } });
      const c = await loggedIn(small);
      const head = "SELECT LENGTH('";
      const fill = 1048576 - 1 - head.length - 2;
      const sql = Buffer.concat([Buffer.from(head), Buffer.alloc(fill, 0x61), Buffer.from("')")]);
      expect(query(sql).length).to.equal(1048576);
      c.send(query(sql), 0);
      expect(await c.readResult(10000)).to.deep.equal({ kind: 'rows', rows: [[String(fill)]] });
    });

    it('closes the backend when the client disconnects in the middle of a large result', async () => {
      const c = await loggedIn();
      const backend = await backendOf(c);
      const rssBefore = dbmesh.rss();
      const marker = c.receivedBytes;
      c.send(query("SELECT REPEAT('x', 1000) FROM seq_1_to_500000"), 0); // ~500 MB
      const deadline = Date.now() + 10000;
      while (c.receivedBytes - marker < 2 * 1024 * 1024) {
        if (Date.now() > deadline) throw new Error('the result did not start');
        await new Promise((r) => setTimeout(r, 10));
      }
      c.destroy();
      expect(await closeReason(c)).to.equal('client_network');
      await waitThreadGone(backend);
      expect(dbmesh.rss() - rssBefore, 'RSS growth').to.be.below(64 * 1024 * 1024);
    });

    it('closes the session and gives its idle backend connection back to the pool when the client sends half a packet and closes', async () => {
      const c = await loggedIn();
      const backend = await backendOf(c);
      const full = frame(query('SELECT 1234567890'), 0).bytes;
      c.writeRaw(full.subarray(0, 9));
      await new Promise((r) => setTimeout(r, 100));
      c.socket.end();
      expect(await c.waitClosed()).to.equal(true);
      expect(await closeReason(c)).to.equal('client_network');
      // Nothing was sent to the backend: the connection is clean and the next session gets it
      // (the pool hands out the most recently returned connection first).
      const next = await loggedIn();
      expect(await backendOf(next), 'same backend connection reused').to.deep.equal(backend);
      next.destroy();
    });

    /** COM_STMT_PREPARE on a logged-in hand client; returns the server's statement id. */
    async function prepareOn(c: HandClient, sql: string): Promise<number> {
      const answer = await c.captureAfter(() => c.send(Buffer.concat([Buffer.from([COM_STMT_PREPARE]), Buffer.from(sql)]), 0));
      expect(answer[4], 'PREPARE_OK').to.equal(0x00);
      return answer.readUInt32LE(5);
    }

    // Issue 8 #0: a 7-byte COM_STMT_EXECUTE for a two-parameter statement threw
    // MalformedPacket on the fast path and killed the worker (every session on it dropped).
    for (const [name, tail] of [
      ['cut before the null bitmap ends (the 7-byte packet)', [0x00, 0x01]],
      ['cut inside iteration count', [0x00, 0x01, 0x00, 0x00]],
      ['new-params-bound without types', [0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01]],
      ['types cut short', [0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08]],
    ] as const) {
      it(`answers a malformed COM_STMT_EXECUTE (${name}) as MariaDB does, in one write or split, and survives`, async () => {
        const direct = await HandClient.connect(sb.primary.host, sb.primary.port);
        open.push(direct);
        await direct.login('app', 'app_pw', { database: 'dbmesh_test' });
        const bystander = await loggedIn();
        const execute = (id: number): Buffer => Buffer.concat([Buffer.from([COM_STMT_EXECUTE]), u32(id), Buffer.from(tail)]);
        direct.send(execute(await prepareOn(direct, 'SELECT ?, ?')), 0);
        const expected = await outcome(direct, 1000);
        expect(expected.err, 'MariaDB answers with an ERR').to.not.equal(null);
        for (const split of [false, true]) {
          const c = await loggedIn();
          const bytes = frame(execute(await prepareOn(c, 'SELECT ?, ?')), 0).bytes;
          if (split) {
            c.writeRaw(bytes.subarray(0, 3));
            await new Promise((r) => setImmediate(r));
            c.writeRaw(bytes.subarray(3));
          } else c.writeRaw(bytes);
          const o = await outcome(c, 1000);
          expectErr(o, expected.err!.errno, expected.err!.sqlState);
          expect(o.closed, 'the session stays').to.equal(false);
          expect(await c.query('SELECT 7')).to.deep.equal({ kind: 'rows', rows: [['7']] });
        }
        expect(await bystander.query('SELECT 8')).to.deep.equal({ kind: 'rows', rows: [['8']] });
        expect(dbmesh.workerPids().sort(), 'no worker died').to.deep.equal(workersAtStart);
      });
    }

    it('answers a >16 MiB command that cannot be routed with one ERR and stays usable (its other pieces are not commands)', async function () {
      this.timeout(60000);
      const conn = await mysql.createConnection({ host: '127.0.0.1', port: dbmesh.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
      try {
        const big = `/* dbmesh:backend=nosuch */ SELECT LENGTH('${'x'.repeat(17 * 1024 * 1024)}')`;
        const err = await conn.query(big).then(() => null, (e: { errno?: number }) => e.errno);
        expect(err).to.equal(1105);
        const [rows] = await conn.query('SELECT 5 AS v');
        expect(rows).to.deep.equal([{ v: 5 }]);
      } finally {
        await conn.end();
      }
    });

    it('closes when a client sends half a command header and closes', async () => {
      const c = await loggedIn();
      c.writeRaw(Buffer.from([0x05, 0x00]));
      c.socket.end();
      expect(await c.waitClosed()).to.equal(true);
      expect(await closeReason(c)).to.equal('client_network');
    });
  });

  describe('afterwards', () => {
    it('serves a normal mysql2 client, and no dbmesh process died', async () => {
      const conn = await mysql.createConnection({ host: '127.0.0.1', port: dbmesh.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
      try {
        const [rows] = await conn.query('SELECT 1 AS one');
        expect(rows).to.deep.equal([{ one: 1 }]);
      } finally {
        await conn.end();
      }
      expect(alive(dbmesh.pid), 'dbmesh master alive').to.equal(true);
      expect(dbmesh.workerPids().sort(), 'same workers as at the start (none crashed)').to.deep.equal(workersAtStart);
      for (const pid of workersAtStart) expect(alive(pid), `worker ${pid}`).to.equal(true);
      const crashes = dbmesh.logs.filter((l) => /uncaught|unhandled/i.test(String(l.message)) || l.level === 'error');
      expect(crashes, JSON.stringify(crashes.slice(0, 3))).to.deep.equal([]);
    });
  });
});
