/**
 * Connection-phase packets: Handshake v10 (greeting), HandshakeResponse41, AuthSwitchRequest.
 * Reference: MySQL protocol docs "Connection Phase"; MariaDB KB "Connection".
 * Pure encode/decode; the auth flows live in worker/ (server side) and pool/ (client side).
 */
import {
  CLIENT_LONG_PASSWORD, CLIENT_CONNECT_ATTRS, CLIENT_CONNECT_WITH_DB, CLIENT_PLUGIN_AUTH,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION,
  CLIENT_SSL, AUTH_SWITCH_HEADER, PROTOCOL_VERSION_10,
} from './constants.js';
import { MalformedPacket, PayloadReader, PayloadWriter, lenencSize } from './codec.js';

export interface Greeting {
  readonly protocolVersion: number;
  readonly serverVersion: string;
  readonly connectionId: number;
  readonly scramble: Buffer; // 20 bytes for native password
  readonly capabilities: number;
  readonly charset: number;
  readonly statusFlags: number;
  readonly authPlugin: string;
  /** MariaDB extended capabilities; 0 unless the server cleared CLIENT_LONG_PASSWORD. */
  readonly mariadbCapabilities?: number;
}

export function encodeGreeting(g: Greeting): Buffer {
  const version = Buffer.from(g.serverVersion, 'utf8');
  const plugin = Buffer.from(g.authPlugin, 'utf8');
  const part1 = g.scramble.subarray(0, 8);
  const part2 = g.scramble.subarray(8);
  const size = 1 + version.length + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + part2.length + 1 + plugin.length + 1;
  return new PayloadWriter(size)
    .u8(g.protocolVersion)
    .nulBytes(version)
    .u32(g.connectionId)
    .bytes(part1)
    .u8(0)
    .u16(g.capabilities & 0xffff)
    .u8(g.charset)
    .u16(g.statusFlags)
    .u16((g.capabilities >>> 16) & 0xffff)
    .u8(g.scramble.length + 1)
    .zeros(6)
    .u32(g.capabilities & CLIENT_LONG_PASSWORD ? 0 : g.mariadbCapabilities ?? 0)
    .nulBytes(part2)
    .nulBytes(plugin)
    .done();
}

export function decodeGreeting(payload: Buffer): Greeting {
  const r = new PayloadReader(payload);
  const protocolVersion = r.u8();
  if (protocolVersion !== PROTOCOL_VERSION_10) throw new MalformedPacket(`unsupported protocol version ${protocolVersion}`);
  const serverVersion = r.nulString();
  const connectionId = r.u32();
  const part1 = r.bytes(8);
  r.skip(1);
  let capabilities = r.u16();
  let charset = 0;
  let statusFlags = 0;
  let part2: Buffer = Buffer.alloc(0);
  let authPlugin = 'mysql_native_password';
  let mariadbCapabilities = 0;
  if (r.remaining() > 0) {
    charset = r.u8();
    statusFlags = r.u16();
    capabilities |= r.u16() << 16;
    capabilities >>>= 0;
    const authLen = r.u8();
    r.skip(6); // reserved
    const ext = r.u32(); // MariaDB: extended capabilities when CLIENT_LONG_PASSWORD is clear
    if (!(capabilities & CLIENT_LONG_PASSWORD)) mariadbCapabilities = ext;
    if (capabilities & CLIENT_SECURE_CONNECTION) {
      const n = Math.max(13, authLen - 8);
      part2 = r.bytes(Math.min(n, r.remaining()));
      if (part2.length > 0 && part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
    }
    if (capabilities & CLIENT_PLUGIN_AUTH) authPlugin = r.nulString();
  }
  return {
    protocolVersion, serverVersion, connectionId, capabilities, charset, statusFlags, authPlugin, mariadbCapabilities,
    scramble: Buffer.concat([part1, part2]),
  };
}

export interface HandshakeResponse {
  readonly capabilities: number;
  readonly maxPacketSize: number;
  readonly charset: number;
  readonly user: string;
  readonly authResponse: Buffer;
  readonly database: string | null;
  readonly authPlugin: string | null;
  /** Raw connect-attributes block (lenenc total length + pairs), relayed unchanged. */
  readonly connectAttrs: Buffer | null;
  /** MariaDB extended capabilities (filler bytes 19..22) when CLIENT_LONG_PASSWORD is clear. */
  readonly mariadbCapabilities?: number;
}

/** True when the 32-byte packet is an SSLRequest rather than a full response. */
export function isSslRequest(payload: Buffer): boolean {
  return payload.length === 32 && (payload.readUInt32LE(0) & CLIENT_SSL) !== 0;
}

export function decodeHandshakeResponse(payload: Buffer): HandshakeResponse {
  const r = new PayloadReader(payload);
  const capabilities = r.u32();
  if (!(capabilities & CLIENT_PROTOCOL_41)) throw new MalformedPacket('pre-4.1 handshake');
  const maxPacketSize = r.u32();
  const charset = r.u8();
  r.skip(19);
  const ext = r.u32();
  const mariadbCapabilities = capabilities & CLIENT_LONG_PASSWORD ? 0 : ext;
  const user = r.nulString();
  let authResponse: Buffer;
  if (capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = r.lenencBytes();
  else if (capabilities & CLIENT_SECURE_CONNECTION) authResponse = r.bytes(r.u8());
  else authResponse = r.nulBytes();
  let database: string | null = null;
  if (capabilities & CLIENT_CONNECT_WITH_DB && r.remaining() > 0) database = r.nulString();
  let authPlugin: string | null = null;
  if (capabilities & CLIENT_PLUGIN_AUTH && r.remaining() > 0) authPlugin = r.nulString();
  let connectAttrs: Buffer | null = null;
  if (capabilities & CLIENT_CONNECT_ATTRS && r.remaining() > 0) {
    const start = r.pos;
    const len = r.lenenc();
    r.skip(len);
    connectAttrs = payload.subarray(start, r.pos);
  }
  return { capabilities, maxPacketSize, charset, user, authResponse, database, authPlugin, connectAttrs, mariadbCapabilities };
}

export function encodeHandshakeResponse(h: HandshakeResponse): Buffer {
  const user = Buffer.from(h.user, 'utf8');
  const db = h.database !== null ? Buffer.from(h.database, 'utf8') : null;
  const plugin = h.authPlugin !== null ? Buffer.from(h.authPlugin, 'utf8') : null;
  let caps = h.capabilities;
  // The flag follows the field: a schema sent without it would be read as the plugin name
  // (e.g. COM_CHANGE_USER naming a schema for a client that logged in without one).
  if (db === null) caps &= ~CLIENT_CONNECT_WITH_DB;
  else caps |= CLIENT_CONNECT_WITH_DB;
  if (h.connectAttrs === null) caps &= ~CLIENT_CONNECT_ATTRS;
  const lenencAuth = (caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) !== 0;
  // Without either flag the auth data is NUL-terminated (as decodeHandshakeResponse reads it).
  const secureAuth = (caps & CLIENT_SECURE_CONNECTION) !== 0;
  const size = 4 + 4 + 1 + 23 + user.length + 1 +
    (lenencAuth ? lenencSize(h.authResponse.length) : 1) + h.authResponse.length +
    (db ? db.length + 1 : 0) + (plugin && caps & CLIENT_PLUGIN_AUTH ? plugin.length + 1 : 0) +
    (h.connectAttrs ? h.connectAttrs.length : 0);
  const w = new PayloadWriter(size).u32(caps).u32(h.maxPacketSize).u8(h.charset).zeros(19)
    .u32(caps & CLIENT_LONG_PASSWORD ? 0 : h.mariadbCapabilities ?? 0).nulBytes(user);
  if (lenencAuth) w.lenencBytes(h.authResponse);
  else if (secureAuth) w.u8(h.authResponse.length).bytes(h.authResponse);
  else w.nulBytes(h.authResponse);
  if (db) w.nulBytes(db);
  if (plugin && caps & CLIENT_PLUGIN_AUTH) w.nulBytes(plugin);
  if (h.connectAttrs) w.bytes(h.connectAttrs);
  return w.done();
}

/** AuthSwitchRequest: 0xfe, plugin name NUL, plugin data (for native password: scramble + NUL). */
export function encodeAuthSwitch(plugin: string, data: Buffer): Buffer {
  const name = Buffer.from(plugin, 'utf8');
  return new PayloadWriter(1 + name.length + 1 + data.length + 1)
    .u8(AUTH_SWITCH_HEADER).nulBytes(name).nulBytes(data).done();
}

export function decodeAuthSwitch(payload: Buffer): { plugin: string; data: Buffer } {
  const r = new PayloadReader(payload, 1);
  const plugin = r.nulString();
  let data = r.restBytes();
  if (data.length > 0 && data[data.length - 1] === 0) data = data.subarray(0, data.length - 1);
  return { plugin, data };
}

export interface ChangeUserRequest {
  readonly user: string;
  readonly authResponse: Buffer;
  readonly database: string;
  readonly charset: number | null;
  readonly authPlugin: string | null;
  readonly connectAttrs: Buffer | null;
}

/** COM_CHANGE_USER payload (after the command byte). */
export function decodeChangeUser(payload: Buffer, capabilities: number): ChangeUserRequest {
  const r = new PayloadReader(payload, 1);
  const user = r.nulString();
  const authResponse = capabilities & CLIENT_SECURE_CONNECTION ? r.bytes(r.u8()) : r.nulBytes();
  const database = r.nulString();
  let charset: number | null = null;
  let authPlugin: string | null = null;
  let connectAttrs: Buffer | null = null;
  if (r.remaining() >= 2) charset = r.u16() & 0xff;
  if (capabilities & CLIENT_PLUGIN_AUTH && r.remaining() > 0) authPlugin = r.nulString();
  if (capabilities & CLIENT_CONNECT_ATTRS && r.remaining() > 0) {
    const start = r.pos;
    r.skip(r.lenenc());
    connectAttrs = payload.subarray(start, r.pos);
  }
  return { user, authResponse, database, charset, authPlugin, connectAttrs };
}
