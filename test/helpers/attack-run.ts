/**
 * Runs one AttackCase (attack-cases.ts) on a fresh logged-in connection, to dbmesh or to a
 * server directly, and reports what came back: one token per packet, the ERR packets, and how
 * it ended (the sentinel query answered, the connection closed, or silence).
 *
 * Silence is judged with two clocks: when every byte sent belongs to a complete packet the
 * server owes an answer, and `hangMs` of silence is a hang; when the bytes end inside a packet
 * (a header announcing more than was sent) the server is right to wait, and `silentMs` only
 * bounds how long the case watches for a premature reaction.
 */
import { HandClient, DEFAULT_CLIENT_CAPS } from './hand-client.js';
import {
  AttackCase, SENTINEL, SENTINEL_TEXT, STATEMENTS, bytesOf, needsStatements, walkFrames, type FrameWalk,
} from './attack-cases.js';
import { CLIENT_DEPRECATE_EOF, COM_STMT_PREPARE } from '../../src/protocol/constants.js';
import { frame, type Packet } from '../../src/protocol/framing.js';
import { decodePrepareOk } from '../../src/protocol/prepared.js';
import { decodeErr, type ErrFields } from '../../src/protocol/responses.js';

export interface Observed {
  /** One per packet received after the case's first byte: `err <errno> <state>`, ok, eof, data; `sentinel` last when it was answered. */
  readonly tokens: readonly string[];
  readonly errs: readonly (ErrFields & { readonly seq: number })[];
  readonly end: 'sentinel' | 'closed' | 'silent';
  /** The case's bytes and the sentinel as the server frames them (with the limit it was run with). */
  readonly walk: FrameWalk;
}

export interface RunOptions {
  /** max_allowed_packet of the server the case runs on. */
  readonly limit: number;
  readonly hangMs: number;
  readonly silentMs: number;
}

export interface Attacker {
  readonly client: HandClient;
  /** The statement ids STATEMENTS got on this connection (empty when the case names none). */
  readonly ids: readonly number[];
}

/** Log in (with or without CLIENT_DEPRECATE_EOF) and prepare STATEMENTS when the case needs them. */
export async function attacker(port: number, c: AttackCase, timeoutMs = 5000, statements = needsStatements(c)): Promise<Attacker> {
  const client = await HandClient.connect('127.0.0.1', port, timeoutMs);
  try {
    const caps = DEFAULT_CLIENT_CAPS | (c.deprecateEof ? CLIENT_DEPRECATE_EOF : 0);
    await client.login('app', 'app_pw', { capabilities: caps, database: 'dbmesh_test' });
    const ids: number[] = [];
    if (statements) for (const sql of STATEMENTS) ids.push(await prepare(client, sql, c.deprecateEof, timeoutMs));
    return { client, ids };
  } catch (err) {
    client.destroy();
    throw err;
  }
}

async function must(p: Promise<Packet | null>): Promise<Packet> {
  const packet = await p;
  if (packet === null) throw new Error('connection closed during setup');
  return packet;
}

/** COM_STMT_PREPARE; resolves with the statement id once the whole response is read. */
export async function prepare(c: HandClient, sql: string, deprecateEof: boolean, timeoutMs = 5000): Promise<number> {
  c.send(Buffer.concat([Buffer.from([COM_STMT_PREPARE]), Buffer.from(sql, 'utf8')]), 0);
  const first = await must(c.packet(timeoutMs));
  if (first.payload[0] === 0xff) throw new Error(`prepare "${sql}" failed: ${decodeErr(first.payload).message}`);
  const { statementId, columns, params } = decodePrepareOk(first.payload);
  const defs = params + columns + (deprecateEof ? 0 : (params > 0 ? 1 : 0) + (columns > 0 ? 1 : 0));
  for (let i = 0; i < defs; i++) await must(c.packet(timeoutMs));
  return statementId;
}

/** Write the case (then the sentinel) as its write mode says. */
async function write(a: Attacker, c: AttackCase, chunks: Buffer[], sentinel: Buffer): Promise<void> {
  const sock = a.client.socket;
  if (c.mode === 'pipelined') {
    sock.write(Buffer.concat([...chunks, sentinel]));
  } else if (c.mode === 'split') {
    const all = Buffer.concat([...chunks, sentinel]);
    let from = 0;
    for (const k of c.cuts) {
      const at = Math.floor((all.length * k) / 1000);
      if (at <= from || at >= all.length) continue;
      sock.write(all.subarray(from, at));
      from = at;
      await new Promise((r) => setImmediate(r)); // separate reads as far as the kernel allows
    }
    sock.write(all.subarray(from));
  } else {
    for (const chunk of [...chunks, sentinel]) {
      if (a.client.isClosed) return;
      sock.write(chunk);
      // Wait for the answer, so the next packet arrives alone (fast path); a command without
      // an answer (CLOSE, SEND_LONG_DATA) lets 40 ms of silence pass instead.
      if (chunk !== sentinel) await a.client.activity(40);
    }
  }
}

function token(p: Packet): string {
  const head = p.payload[0];
  if (head === 0xff) {
    const e = decodeErr(p.payload);
    return `err ${e.errno} ${e.sqlState}`;
  }
  if (head === 0x00) return 'ok';
  if (head === 0xfe && p.payload.length < 9) return 'eof';
  return 'data';
}

const SENTINEL_ROW = Buffer.concat([Buffer.from([SENTINEL_TEXT.length]), Buffer.from(SENTINEL_TEXT)]);

/** Send the case on a logged-in attacker and read until the sentinel's answer, a close, or silence. */
export async function runCase(a: Attacker, c: AttackCase, opts: RunOptions): Promise<Observed> {
  const chunks = c.steps.map((s) => bytesOf(s, a.ids, opts.limit));
  const sentinel = frame(SENTINEL, 0).bytes;
  const walk = walkFrames(Buffer.concat([...chunks, sentinel]), opts.limit);
  const tokens: string[] = [];
  const errs: (ErrFields & { seq: number })[] = [];
  await write(a, c, chunks, sentinel);
  const deadline = Date.now() + (walk.aligned ? opts.hangMs : opts.silentMs);
  for (;;) {
    let p: Packet | null;
    try {
      p = await a.client.packet(Math.max(1, deadline - Date.now()));
    } catch {
      return { tokens, errs, end: 'silent', walk };
    }
    if (p === null) return { tokens, errs, end: 'closed', walk };
    if (p.payload.equals(SENTINEL_ROW)) {
      await a.client.packet(Math.max(1, deadline - Date.now())).catch(() => null); // the EOF/OK after the row
      // Column count, column definition and (classic) EOF before the row were the sentinel's.
      tokens.splice(Math.max(0, tokens.length - (c.deprecateEof ? 2 : 3)));
      tokens.push('sentinel');
      return { tokens, errs, end: 'sentinel', walk };
    }
    tokens.push(token(p));
    if (p.payload[0] === 0xff) errs.push({ ...decodeErr(p.payload), seq: p.seq });
  }
}
