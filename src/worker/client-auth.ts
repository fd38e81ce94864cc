/**
 * Server side of the connection phase for one client: greet, read the handshake response,
 * switch a client that asked for another plugin (e.g. caching_sha2_password, the MySQL 8
 * driver default) to mysql_native_password, and check the password against the config.
 * A wrong password is answered by dbmesh itself (1045/28000); no backend is contacted.
 *
 * Packets are valid only while onPacket() runs (worker/handshake-input.ts assembles them in
 * one scratch buffer): what is kept across packets is copied, connection attributes as a string
 * until the client has authenticated, and the outcome's response owns its bytes.
 */
import type net from 'node:net';
import type { Config, UserConfig } from '../config/types.js';
import { DBM_ERR, formatMessage } from '../errors/index.js';
import {
  CLIENT_LOCAL_FILES, CLIENT_PLUGIN_AUTH, DBMESH_MARIADB_CAPABILITIES, CLIENT_PROTOCOL_41, DBMESH_CAPABILITIES,
  MYSQL_NATIVE_PASSWORD, PROTOCOL_VERSION_10, SERVER_STATUS_AUTOCOMMIT, UTF8MB4_GENERAL_CI,
} from '../protocol/constants.js';
import { frame, type Packet } from '../protocol/framing.js';
import { decodeHandshakeResponse, encodeAuthSwitch, encodeGreeting, isSslRequest, type Greeting, type HandshakeResponse } from '../protocol/handshake.js';
import { newScramble, verifyNativePassword } from '../protocol/auth.js';
import { encodeErr } from '../protocol/responses.js';
import { MalformedPacket } from '../protocol/codec.js';

export type AuthOutcome =
  | { readonly kind: 'pending' }
  | { readonly kind: 'ok'; readonly user: UserConfig; readonly response: HandshakeResponse; readonly nextSeq: number }
  | { readonly kind: 'fail'; readonly reason: 'auth_failed' | 'malformed'; readonly message: string };

const PENDING: AuthOutcome = { kind: 'pending' };
const NO_BYTES = Buffer.alloc(0);

/** Capabilities dbmesh offers clients, given what the backend offered and the config. */
export function offeredCapabilities(backend: Greeting | null, config: Config): number {
  let caps = DBMESH_CAPABILITIES;
  if (backend) caps &= backend.capabilities;
  if (!config.protocol.allowLocalInfile) caps &= ~CLIENT_LOCAL_FILES;
  return (caps | CLIENT_PROTOCOL_41 | CLIENT_PLUGIN_AUTH) >>> 0;
}

export class ClientAuth {
  readonly scramble = newScramble();
  /** The HandshakeResponse, without its byte fields (see connectAttrs). */
  private response: HandshakeResponse | null = null;
  /** Its connection attributes, latin1 (no Buffer per unauthenticated connection). */
  private connectAttrs: string | null = null;
  private user: UserConfig | undefined;
  private switched = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly config: Config,
    readonly capabilities: number,
    private readonly remoteHost: string,
  ) {}

  /** Send the greeting (sequence id 0). */
  greet(connectionId: number, backend: Greeting | null): void {
    const payload = encodeGreeting({
      protocolVersion: PROTOCOL_VERSION_10,
      serverVersion: backend?.serverVersion ?? '5.5.5-10.11.0-MariaDB',
      connectionId,
      scramble: this.scramble,
      capabilities: this.capabilities,
      charset: backend?.charset || UTF8MB4_GENERAL_CI,
      statusFlags: SERVER_STATUS_AUTOCOMMIT,
      authPlugin: MYSQL_NATIVE_PASSWORD,
      mariadbCapabilities: (backend?.mariadbCapabilities ?? 0) & DBMESH_MARIADB_CAPABILITIES,
    });
    this.socket.write(frame(payload, 0).bytes);
  }

  /** Feed one client packet; returns the outcome once the exchange is over. */
  onPacket(p: Packet): AuthOutcome {
    // The response follows the greeting (seq 0), the switch answer our switch request (seq 2).
    const expected = this.response === null ? 1 : 3;
    if (p.seq !== expected) {
      const e = DBM_ERR.PACKETS_OUT_OF_ORDER;
      return this.reject(p.seq + 1, 'malformed', e.errno, e.sqlState, e.template);
    }
    try {
      return this.response === null ? this.onResponse(p) : this.onSwitchAnswer(p);
    } catch (err) {
      if (err instanceof MalformedPacket) return this.reject(p.seq + 1, 'malformed', DBM_ERR.HANDSHAKE.errno, DBM_ERR.HANDSHAKE.sqlState, DBM_ERR.HANDSHAKE.template);
      throw err;
    }
  }

  private onResponse(p: Packet): AuthOutcome {
    if (isSslRequest(p.payload)) {
      // TLS is not offered; a client that insists cannot be served.
      return this.reject(p.seq + 1, 'malformed', DBM_ERR.HANDSHAKE.errno, DBM_ERR.HANDSHAKE.sqlState, 'SSL connection error: dbmesh does not offer TLS on this listener');
    }
    if (p.payload.length >= 4 && !(p.payload.readUInt32LE(0) & CLIENT_PROTOCOL_41)) {
      const e = DBM_ERR.NOT_SUPPORTED_AUTH;
      return this.reject(p.seq + 1, 'auth_failed', e.errno, e.sqlState, e.template);
    }
    const r = decodeHandshakeResponse(p.payload);
    this.response = {
      ...r, capabilities: (r.capabilities & this.capabilities) >>> 0, authResponse: NO_BYTES, connectAttrs: null,
      mariadbCapabilities: (r.mariadbCapabilities ?? 0) & DBMESH_MARIADB_CAPABILITIES,
    };
    this.connectAttrs = r.connectAttrs === null ? null : r.connectAttrs.toString('latin1');
    this.user = this.config.users.find((u) => u.name === r.user);
    const plugin = r.authPlugin ?? MYSQL_NATIVE_PASSWORD;
    if (plugin !== MYSQL_NATIVE_PASSWORD) {
      // e.g. caching_sha2_password: ask for a native-password answer to the same scramble.
      this.switched = true;
      this.socket.write(frame(encodeAuthSwitch(MYSQL_NATIVE_PASSWORD, this.scramble), p.seq + 1).bytes);
      return PENDING;
    }
    return this.check(r.authResponse, p.seq + 1);
  }

  private onSwitchAnswer(p: Packet): AuthOutcome {
    if (!this.switched) return this.reject(p.seq + 1, 'malformed', DBM_ERR.HANDSHAKE.errno, DBM_ERR.HANDSHAKE.sqlState, DBM_ERR.HANDSHAKE.template);
    return this.check(p.payload, p.seq + 1);
  }

  private check(answer: Buffer, seq: number): AuthOutcome {
    const u = this.user;
    if (u && verifyNativePassword(u.password, this.scramble, answer)) {
      const connectAttrs = this.connectAttrs === null ? null : Buffer.from(this.connectAttrs, 'latin1');
      return { kind: 'ok', user: u, response: { ...this.response!, connectAttrs }, nextSeq: seq };
    }
    const e = DBM_ERR.ACCESS_DENIED;
    const msg = formatMessage(e, [this.response!.user, this.remoteHost, answer.length > 0 ? 'YES' : 'NO']);
    return this.reject(seq, 'auth_failed', e.errno, e.sqlState, msg);
  }

  private reject(seq: number, reason: 'auth_failed' | 'malformed', errno: number, sqlState: string, message: string): AuthOutcome {
    this.socket.write(frame(encodeErr(errno, sqlState, message), seq).bytes);
    return { kind: 'fail', reason, message };
  }
}
