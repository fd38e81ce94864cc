/**
 * Hostile command-phase input, for the robustness properties: a case is one to three steps
 * (malformed, random or valid packets, unframed bytes, packets over max_allowed_packet) that
 * a logged-in client sends, written so that the proxy meets them on its fast path (one
 * complete packet per read) or its slow path (split and pipelined writes).
 *
 * Cases are plain data, so a failing one prints as the bytes to send: statement ids are
 * references (`STATEMENTS[i]`, prepared first on the connection) resolved when the bytes are
 * made. Commands that could reach other sessions are defused here, once, for every runner:
 * COM_PROCESS_KILL always names an id no connection has (>= 0x40000000) and COM_CREATE_DB /
 * COM_DROP_DB always name an invalid schema, in framed steps and in random bytes alike.
 */
import fc from 'fast-check';
import {
  COM_CREATE_DB, COM_DROP_DB, COM_INIT_DB, COM_PING, COM_PROCESS_KILL, COM_QUERY, COM_RESET_CONNECTION, COM_STMT_CLOSE,
  COM_STMT_EXECUTE, COM_STMT_FETCH, COM_STMT_PREPARE, COM_STMT_RESET, COM_STMT_SEND_LONG_DATA, PACKET_HEADER_SIZE,
} from '../../src/protocol/constants.js';
import { frame } from '../../src/protocol/framing.js';

/** Prepared on the attacking connection (in this order) before a case that names statements. */
export const STATEMENTS = [
  'SELECT 1',
  'SELECT ?',
  'SELECT ?, ?',
  `SELECT ${new Array(20).fill('?').join(', ')}`,
  'SELECT seq FROM seq_1_to_5 WHERE seq > ?',
] as const;
export const STATEMENT_PARAMS = [0, 1, 2, 20, 1] as const;
/** The statement that can open a cursor (its execute with CURSOR_TYPE_READ_ONLY returns rows). */
const CURSOR_STATEMENT = 4;

export type StmtRef = { readonly index: number } | { readonly unknownId: number };

/** One framed packet: command byte, optional statement id, body, then framing faults. */
export interface PacketStep {
  readonly kind: 'packet';
  readonly cmd: number;
  readonly stmt: StmtRef | null;
  readonly body: Uint8Array;
  /** The payload is cut to this many bytes (null: whole). */
  readonly cut: number | null;
  readonly seq: number;
  /** The header announces the payload length plus this (more: the server waits; less: the rest reads as the next header). */
  readonly lengthDelta: number;
}
/** Unframed random bytes. */
export interface RawStep { readonly kind: 'raw'; readonly bytes: Uint8Array }
/** A packet announcing `over` bytes more than max_allowed_packet; whole: all of it is sent. */
export interface OversizeStep { readonly kind: 'oversize'; readonly cmd: number; readonly over: number; readonly whole: boolean }
export type Step = PacketStep | RawStep | OversizeStep;

/**
 * alone: each step in its own write, the next one after the answer (or 40 ms of silence), so
 * a complete query or execute meets the fast path; pipelined: everything and the sentinel in
 * one write; split: the same bytes cut into several writes.
 */
export type WriteMode = 'alone' | 'pipelined' | 'split';

export interface AttackCase {
  readonly deprecateEof: boolean;
  readonly steps: readonly Step[];
  readonly mode: WriteMode;
  /** split: cut points as thousandths of the byte stream. */
  readonly cuts: readonly number[];
}

/** Sent after the case: its answer proves the session still reads commands correctly. */
export const SENTINEL_TEXT = 'dbmesh-sentinel';
export const SENTINEL = Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(`SELECT '${SENTINEL_TEXT}'`)]);

export function needsStatements(c: AttackCase): boolean {
  return c.steps.some((s) => s.kind === 'packet' && s.stmt !== null && 'index' in s.stmt);
}

function header(len: number, seq: number): Buffer {
  const h = Buffer.alloc(PACKET_HEADER_SIZE);
  h.writeUIntLE(Math.max(0, Math.min(0xffffff, len)), 0, 3);
  h[3] = seq & 0xff;
  return h;
}

/** Payload of a framed step: never a kill of a live id, never a real schema to create or drop. */
export function payloadOf(s: PacketStep, ids: readonly number[]): Buffer {
  const parts: Buffer[] = [Buffer.from([s.cmd])];
  if (s.stmt !== null) {
    const id = Buffer.alloc(4);
    id.writeUInt32LE('index' in s.stmt ? ids[s.stmt.index] ?? 0 : s.stmt.unknownId, 0);
    parts.push(id);
  }
  parts.push(Buffer.from(s.body));
  const all = Buffer.concat(parts);
  const payload = s.cut === null ? all : all.subarray(0, Math.min(s.cut, all.length));
  return defuse(Buffer.from(payload), 0, payload.length);
}

/** Make the command payload at [at, end) harmless to other sessions (see the file comment). */
function defuse(buf: Buffer, at: number, end: number): Buffer {
  const cmd = buf[at];
  if (cmd === COM_PROCESS_KILL) {
    if (end - at < 5) {
      // Too short to hold a far id: make it a ping of the same length.
      buf[at] = COM_PING;
    } else buf[at + 4] = buf[at + 4]! | 0x40;
  } else if ((cmd === COM_CREATE_DB || cmd === COM_DROP_DB) && end - at >= 2) {
    buf[at + 1] = 0xff; // not valid utf8: no such schema
  } else if (cmd === COM_CREATE_DB || cmd === COM_DROP_DB) {
    buf[at] = COM_PING;
  }
  return buf;
}

/** Defuse every frame that can be found in unframed bytes, in place. */
function defuseFrames(buf: Buffer): Buffer {
  let pos = 0;
  while (pos + PACKET_HEADER_SIZE < buf.length) {
    const len = buf.readUIntLE(pos, 3);
    const end = Math.min(buf.length, pos + PACKET_HEADER_SIZE + len);
    if (len > 0) defuse(buf, pos + PACKET_HEADER_SIZE, end);
    pos += PACKET_HEADER_SIZE + len;
  }
  return buf;
}

/** The bytes a step puts on the wire. */
export function bytesOf(s: Step, ids: readonly number[], maxAllowedPacket: number): Buffer {
  if (s.kind === 'raw') return defuseFrames(Buffer.from(s.bytes));
  if (s.kind === 'oversize') {
    const len = Math.min(0xffffff, maxAllowedPacket + s.over);
    const sent = s.whole ? len : 16;
    const payload = Buffer.alloc(sent, 0x61);
    payload[0] = s.cmd;
    return defuse(Buffer.concat([header(len, 0), payload]), PACKET_HEADER_SIZE, PACKET_HEADER_SIZE + sent);
  }
  const payload = payloadOf(s, ids);
  if (s.lengthDelta === 0) return frame(payload, s.seq).bytes; // split at 16 MiB like a client
  return Buffer.concat([header(payload.length + s.lengthDelta, s.seq), payload]);
}

/** What a server reading `bytes` would see, framed with `limit` as max_allowed_packet. */
export interface FrameWalk {
  /** Every byte belongs to a complete packet (a sentinel written after them is read as one). */
  readonly aligned: boolean;
  /** Some packet announces more than the limit. */
  readonly oversize: boolean;
  /** Command bytes of the complete packets read before the first one with a wrong sequence id (-1: empty). */
  readonly commands: readonly number[];
  /** Their payload lengths (first physical packet). */
  readonly lengths: readonly number[];
}

export function walkFrames(bytes: Buffer, limit: number): FrameWalk {
  let pos = 0;
  let oversize = false;
  let seqBroken = false;
  let continued = false;
  let logical = 0;
  let nextSeq = 0;
  const commands: number[] = [];
  const lengths: number[] = [];
  while (pos + PACKET_HEADER_SIZE <= bytes.length) {
    const len = bytes.readUIntLE(pos, 3);
    const seq = bytes[pos + 3]!;
    logical = continued ? logical + len : len;
    if (logical > limit) oversize = true;
    if (pos + PACKET_HEADER_SIZE + len > bytes.length) break;
    if (seq !== (continued ? nextSeq : 0)) seqBroken = true;
    if (!continued && !seqBroken) {
      commands.push(len > 0 ? bytes[pos + PACKET_HEADER_SIZE]! : -1);
      lengths.push(len);
    }
    continued = len === 0xffffff;
    nextSeq = (seq + 1) & 0xff;
    pos += PACKET_HEADER_SIZE + len;
  }
  return { aligned: pos === bytes.length, oversize, commands, lengths };
}

/** A case as the bytes to send, for failure reports. */
export function describeCase(c: AttackCase, ids: readonly number[], maxAllowedPacket: number): string {
  const steps = c.steps.map((s) => {
    if (s.kind === 'oversize') return `oversize(cmd 0x${s.cmd.toString(16)}, limit+${s.over}, ${s.whole ? 'whole' : 'header only'})`;
    return bytesOf(s, ids, maxAllowedPacket).toString('hex');
  });
  const prepared = needsStatements(c) ? `STATEMENTS prepared as ${ids.map((id) => `#${id}`).join(', ')}; ` : '';
  const cuts = c.mode === 'split' ? ` at ${c.cuts.map((x) => x / 1000).join(',')}` : '';
  return `DEPRECATE_EOF ${c.deprecateEof ? 'on' : 'off'}, ${c.mode}${cuts}: ${prepared}send ${steps.join(' | ')}`;
}

// ---------------------------------------------------------------- arbitraries

const seqArb = fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 255 }) });
const lengthDeltaArb = fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) });
const cutArb = fc.option(fc.nat(48), { freq: 3 });
const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

const stmtRefArb: fc.Arbitrary<StmtRef> = fc.oneof(
  { weight: 5, arbitrary: fc.nat(STATEMENTS.length - 1).map((index) => ({ index })) },
  // Not 0xffffffff: MariaDB reads it as "the statement just prepared" (see RECORDED).
  { weight: 1, arbitrary: fc.constantFrom(0, 1000, 0x7fff1234, 0xfffffffe).map((unknownId) => ({ unknownId })) },
);

function paramsOf(ref: StmtRef): number {
  return 'index' in ref ? STATEMENT_PARAMS[ref.index]! : 2;
}

/** MYSQL_TYPE_* codes a driver binds. */
const TYPES = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0a, 0x0b, 0x0c, 0x0f, 0xf6, 0xfc, 0xfd, 0xfe];
const typePairArb = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...TYPES), fc.constantFrom(0, 0x80)) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })) },
);

/** COM_STMT_EXECUTE after the statement id, for a statement with `params` parameters. */
function executeBodyArb(params: number): fc.Arbitrary<Uint8Array> {
  return fc.record({
    flags: fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 0, max: 255 })),
    iterations: fc.oneof(fc.constant(1), fc.nat()),
    nulls: fc.uint8Array({ minLength: (params + 7) >> 3, maxLength: (params + 7) >> 3 }),
    bound: fc.oneof(fc.constant(1), fc.constant(0), fc.integer({ min: 0, max: 255 })),
    types: fc.array(typePairArb, { minLength: params, maxLength: params }),
    values: fc.uint8Array({ maxLength: 48 }),
  }).map((e) => {
    const bytes = [e.flags, ...u32(e.iterations)];
    if (params > 0) {
      bytes.push(...e.nulls, e.bound);
      if (e.bound !== 0) for (const [t, f] of e.types) bytes.push(t, f);
    }
    return Uint8Array.from([...bytes, ...e.values]);
  });
}

/** Statement commands, with a valid or unknown id and a plausible, random or cut body. */
const statementStepArb: fc.Arbitrary<PacketStep> = fc.tuple(stmtRefArb, fc.constantFrom(
  COM_STMT_EXECUTE, COM_STMT_EXECUTE, COM_STMT_EXECUTE, COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE, COM_STMT_RESET, COM_STMT_FETCH,
)).chain(([stmt, cmd]) => {
  const body = cmd === COM_STMT_EXECUTE ? executeBodyArb(paramsOf(stmt))
    : cmd === COM_STMT_SEND_LONG_DATA ? fc.tuple(fc.nat(24), fc.uint8Array({ maxLength: 32 })).map(([p, d]) => Uint8Array.from([p & 0xff, p >> 8, ...d]))
      : cmd === COM_STMT_FETCH ? fc.tuple(fc.oneof(fc.constant(1), fc.nat()), fc.uint8Array({ maxLength: 4 })).map(([n, x]) => Uint8Array.from([...u32(n), ...x]))
        : fc.uint8Array({ maxLength: 4 });
  return fc.record({
    kind: fc.constant('packet' as const), cmd: fc.constant(cmd), stmt: fc.constant(stmt), body,
    cut: cutArb, seq: seqArb, lengthDelta: lengthDeltaArb,
  });
});

/** Any command byte with a random body. */
const commandStepArb: fc.Arbitrary<PacketStep> = fc.record({
  kind: fc.constant('packet' as const),
  cmd: fc.integer({ min: 0, max: 255 }),
  stmt: fc.constant(null),
  body: fc.uint8Array({ maxLength: 48 }),
  cut: fc.constant(null),
  seq: seqArb,
  lengthDelta: lengthDeltaArb,
});

function valid(cmd: number, stmt: StmtRef | null, body: number[] | string): PacketStep {
  const b = typeof body === 'string' ? Buffer.from(body) : Uint8Array.from(body);
  return { kind: 'packet', cmd, stmt, body: b, cut: null, seq: 0, lengthDelta: 0 };
}

/** Well-formed commands that leave state behind (a cursor, long data, a transaction, a pin). */
export const VALID_STEPS: readonly PacketStep[] = [
  valid(COM_QUERY, null, 'SELECT 1'),
  valid(COM_PING, null, []),
  valid(COM_STMT_EXECUTE, { index: 0 }, [0, ...u32(1)]),
  valid(COM_STMT_EXECUTE, { index: 1 }, [0, ...u32(1), 0, 1, 0x08, 0, ...u32(7), 0, 0, 0, 0]),
  valid(COM_STMT_EXECUTE, { index: CURSOR_STATEMENT }, [1, ...u32(1), 0, 1, 0x08, 0, ...u32(2), 0, 0, 0, 0]),
  valid(COM_STMT_FETCH, { index: CURSOR_STATEMENT }, u32(2)),
  valid(COM_STMT_SEND_LONG_DATA, { index: 2 }, [0, 0, 0x61, 0x62]),
  valid(COM_STMT_RESET, { index: 2 }, []),
  valid(COM_STMT_CLOSE, { index: 1 }, []),
  valid(COM_QUERY, null, 'BEGIN'),
  valid(COM_QUERY, null, 'ROLLBACK'),
  valid(COM_RESET_CONNECTION, null, []),
  valid(COM_INIT_DB, null, 'dbmesh_test'),
];

const rawStepArb: fc.Arbitrary<RawStep> = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({ kind: 'raw' as const, bytes }));

const oversizeStepArb: fc.Arbitrary<OversizeStep> = fc.record({
  kind: fc.constant('oversize' as const),
  cmd: fc.constantFrom(COM_QUERY, COM_STMT_EXECUTE, COM_STMT_PREPARE, 0x99),
  over: fc.integer({ min: 1, max: 65536 }),
  whole: fc.boolean(),
});

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: statementStepArb },
  { weight: 4, arbitrary: commandStepArb },
  { weight: 3, arbitrary: fc.constantFrom(...VALID_STEPS) },
  { weight: 1, arbitrary: rawStepArb },
  { weight: 1, arbitrary: oversizeStepArb },
);

export const attackCaseArb: fc.Arbitrary<AttackCase> = fc.record({
  deprecateEof: fc.boolean(),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 3 }),
  mode: fc.constantFrom<WriteMode>('alone', 'pipelined', 'split'),
  cuts: fc.uniqueArray(fc.integer({ min: 1, max: 999 }), { minLength: 1, maxLength: 4 }).map((a) => a.sort((x, y) => x - y)),
});
