/**
 * Client side of the connection phase: open a TCP connection to a backend and log in.
 * Supports mysql_native_password and the caching_sha2_password fast path (full
 * authentication over plain TCP needs the server's RSA key; dbmesh asks for it).
 * The socket reads through a SocketInput (reused read buffer); on success its handler is left
 * as a no-op for the new owner to set. Bytes that arrived after the final OK (there should be
 * none) are returned in `leftover`.
 */
import net from 'node:net';
import { constants as cryptoConstants, publicEncrypt } from 'node:crypto';
import {
  AUTH_MORE_DATA_HEADER, AUTH_SWITCH_HEADER, CACHING_SHA2_PASSWORD, CLIENT_PLUGIN_AUTH,
  ERR_HEADER, MYSQL_NATIVE_PASSWORD, OK_HEADER,
} from '../protocol/constants.js';
import { PacketAssembler, frame } from '../protocol/framing.js';
import { decodeAuthSwitch, decodeGreeting, encodeHandshakeResponse, type Greeting } from '../protocol/handshake.js';
import { cachingSha2Scramble, nativePasswordScramble } from '../protocol/auth.js';
import { decodeErr, decodeOk, type ErrFields } from '../protocol/responses.js';
import { SocketInput } from './socket-input.js';

export interface BackendLogin {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string | null;
  /** Capabilities the client side wants; intersected with the server's. */
  readonly capabilities: number;
  /** MariaDB extended capabilities wanted (intersected with the server's offer). */
  readonly mariadbCapabilities?: number;
  readonly charset: number;
  readonly connectAttrs: Buffer | null;
  readonly timeoutMs: number;
}

export interface BackendSession {
  readonly socket: net.Socket;
  /** Where the socket's bytes arrive: set `input.handler`. */
  readonly input: SocketInput;
  readonly greeting: Greeting;
  /** Capabilities in force on this connection (client wish AND server offer). */
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  /** The server's final OK payload (status flags, session-track data). */
  readonly okPayload: Buffer;
  readonly statusFlags: number;
  readonly leftover: Buffer | null;
}

/** Login failed with an ERR from the server (wrong backend credentials, unknown db, ...). */
export class BackendLoginError extends Error {
  constructor(readonly err: ErrFields, readonly errPayload: Buffer) {
    super(`backend refused login: ${err.errno} ${err.message}`);
  }
}

function authAnswer(plugin: string, password: string, scramble: Buffer): Buffer {
  if (plugin === CACHING_SHA2_PASSWORD) return cachingSha2Scramble(password, scramble);
  if (plugin === MYSQL_NATIVE_PASSWORD) return nativePasswordScramble(password, scramble);
  throw new Error(`backend asks for unsupported auth plugin ${plugin}`);
}

export function connectBackend(login: BackendLogin): Promise<BackendSession> {
  return new Promise((resolve, reject) => {
    const input = new SocketInput();
    const socket = net.connect({ host: login.host, port: login.port, onread: input.onread });
    socket.setNoDelay(true);
    const packets = new PacketAssembler();
    let greeting: Greeting | null = null;
    let caps = 0;
    let extCaps = 0;
    let plugin = '';
    let scramble: Buffer = Buffer.alloc(0);
    let settled = false;

    const timer = setTimeout(() => fail(new Error(`login to ${login.host}:${login.port} timed out after ${login.timeoutMs} ms`)), login.timeoutMs);
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      input.handler = () => {};
      socket.destroy();
      reject(err);
    };
    const send = (payload: Buffer, seq: number): void => {
      socket.write(frame(payload, seq).bytes);
    };
    const onData = (chunk: Buffer): void => {
      packets.push(Buffer.from(chunk)); // the read buffer is reused: keep a copy
      try {
        for (let p = packets.next(); p !== null && !settled; p = packets.next()) handle(p.payload, p.seq);
      } catch (err) {
        fail(err as Error);
      }
    };
    const handle = (payload: Buffer, seq: number): void => {
      if (greeting === null) {
        if (payload[0] === ERR_HEADER) throw new BackendLoginError(decodeErr(payload), payload);
        greeting = decodeGreeting(payload);
        caps = (login.capabilities & greeting.capabilities) >>> 0;
        extCaps = ((login.mariadbCapabilities ?? 0) & (greeting.mariadbCapabilities ?? 0)) >>> 0;
        plugin = greeting.capabilities & CLIENT_PLUGIN_AUTH ? greeting.authPlugin : MYSQL_NATIVE_PASSWORD;
        if (plugin !== CACHING_SHA2_PASSWORD) plugin = MYSQL_NATIVE_PASSWORD;
        scramble = greeting.scramble;
        send(encodeHandshakeResponse({
          capabilities: caps, maxPacketSize: 0x40000000, charset: login.charset || greeting.charset,
          user: login.user, authResponse: authAnswer(plugin, login.password, scramble),
          database: login.database, authPlugin: plugin, connectAttrs: login.connectAttrs,
          mariadbCapabilities: extCaps,
        }), seq + 1);
        return;
      }
      const head = payload[0];
      if (head === OK_HEADER) {
        settled = true;
        clearTimeout(timer);
        input.handler = () => {};
        socket.removeListener('error', fail);
        socket.removeListener('close', onClose);
        const rest = packets.bufferedBytes > 0 ? packets.drain() : null;
        resolve({ socket, input, greeting, capabilities: caps, mariadbCapabilities: extCaps, okPayload: Buffer.from(payload), statusFlags: decodeOk(payload).statusFlags, leftover: rest });
      } else if (head === ERR_HEADER) {
        throw new BackendLoginError(decodeErr(payload), Buffer.from(payload));
      } else if (head === AUTH_SWITCH_HEADER) {
        const sw = decodeAuthSwitch(payload);
        plugin = sw.plugin;
        scramble = sw.data;
        send(authAnswer(plugin, login.password, scramble), seq + 1);
      } else if (head === AUTH_MORE_DATA_HEADER && plugin === CACHING_SHA2_PASSWORD) {
        onCachingSha2More(payload, seq);
      } else {
        throw new Error(`unexpected packet 0x${(head ?? 0).toString(16)} during backend login`);
      }
    };
    const onCachingSha2More = (payload: Buffer, seq: number): void => {
      const status = payload[1];
      if (status === 0x03) return; // fast auth succeeded; OK follows
      if (status === 0x04) {
        send(Buffer.from([0x02]), seq + 1); // full auth: request the server's public key
        return;
      }
      // Otherwise this is the PEM public key: send the XOR-obfuscated password, RSA-encrypted.
      const pem = payload.subarray(1).toString('ascii');
      const pw = Buffer.from(login.password + '\0', 'utf8');
      for (let i = 0; i < pw.length; i++) pw[i]! ^= scramble[i % scramble.length]!;
      send(publicEncrypt({ key: pem, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING }, pw), seq + 1);
    };
    const onClose = (): void => fail(new Error(`backend ${login.host}:${login.port} closed the connection during login`));
    input.handler = onData;
    socket.on('error', fail);
    socket.on('close', onClose);
  });
}
