// Connection-phase packets: the v10 greeting (a real MariaDB one, captured as hex, and random
// ones round-tripped), HandshakeResponse41 in each optional-field layout (also real ones from
// the mariadb CLI and mysql2), and the auth switch request.
import { expect } from 'chai';
import fc from 'fast-check';
import {
  CLIENT_CONNECT_ATTRS, CLIENT_CONNECT_WITH_DB, CLIENT_DEPRECATE_EOF, CLIENT_LONG_PASSWORD,
  CLIENT_PLUGIN_AUTH, CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, CLIENT_PROTOCOL_41,
  CLIENT_SECURE_CONNECTION, CLIENT_SSL, CLIENT_TRANSACTIONS, MYSQL_NATIVE_PASSWORD,
} from '../../../src/protocol/constants.js';
import { MalformedPacket, PayloadWriter, lenencSize } from '../../../src/protocol/codec.js';
import {
  decodeAuthSwitch, decodeChangeUser, decodeGreeting, decodeHandshakeResponse, encodeAuthSwitch, encodeGreeting,
  encodeHandshakeResponse, isSslRequest, type Greeting, type HandshakeResponse,
} from '../../../src/protocol/handshake.js';
import { nativePasswordScramble } from '../../../src/protocol/auth.js';

/**
 * The first packet of MariaDB 10.11.19 (scripts/sandbox primary), header included.
 * Captured with test/fixtures/capture.ts.
 */
const GREETING_HEX =
  '680000000a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275312d6c6f6700090000006078' +
  '58322e31495e00fef72d0200ff81150000000000001d0000007c755837484359766473364f006d7973716c5f6e617469' +
  '76655f70617373776f726400';

/**
 * HandshakeResponse41 packets (header included) that real clients sent in answer to the greeting
 * above (user app, password app_pw, schema dbmesh_test), captured with a one-shot fake server.
 * The mariadb CLI 10.11 (libmariadb 3.3.20) sets MariaDB extended capabilities in the filler.
 */
const MARIADB_CLI_RESPONSE_HEX =
  'da0000018ca2bf000000100021000000000000000000000000000000000000001d0000006170700014f1dc453d30bf' +
  'f1b6d10d4314b8f570fb1e18722d64626d6573685f74657374006d7973716c5f6e61746976655f70617373776f7264' +
  '007e035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462045f70696404353630300f' +
  '5f636c69656e745f76657273696f6e06332e332e3230095f706c6174666f726d067838365f36340c70726f6772616d' +
  '5f6e616d65056d7973716c0c5f7365727665725f686f7374093132372e302e302e31';
const MYSQL2_RESPONSE_HEX =
  '8d000001cef3ba0800000000e000000000000000000000000000000000000000080000006170700014f1dc453d30bf' +
  'f1b6d10d4314b8f570fb1e18722d64626d6573685f74657374006d7973716c5f6e61746976655f70617373776f7264' +
  '00310c5f636c69656e745f6e616d650c4e6f64652d4d7953514c2d320f5f636c69656e745f76657273696f6e06332e' +
  '32342e36';

const payloadOf = (hex: string): Buffer => Buffer.from(hex, 'hex').subarray(4);

/** Connect attributes block as clients send it: lenenc total, then lenenc key/value pairs. */
function attrsBlock(pairs: readonly (readonly [string, string])[]): Buffer {
  const body = Buffer.concat(pairs.flatMap(([k, v]) => [k, v].map((s) => {
    const b = Buffer.from(s, 'utf8');
    return new PayloadWriter(lenencSize(b.length) + b.length).lenencBytes(b).done();
  })));
  return new PayloadWriter(lenencSize(body.length) + body.length).lenencBytes(body).done();
}

/** Reads the attribute pairs back out of a block (test-side, independent of the codec reader). */
function attrsPairs(block: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  const strAt = (pos: number): [string, number] => {
    const n = block[pos]!; // every test attribute is shorter than 251 bytes
    return [block.toString('utf8', pos + 1, pos + 1 + n), pos + 1 + n];
  };
  let pos = block[0]! < 0xfb ? 1 : 3;
  while (pos < block.length) {
    const [k, p1] = strAt(pos);
    const [v, p2] = strAt(p1);
    out[k] = v;
    pos = p2;
  }
  return out;
}

describe('protocol/handshake', () => {
  describe('greeting (Handshake v10)', () => {
    it('decodes a real MariaDB greeting', () => {
      const raw = Buffer.from(GREETING_HEX, 'hex');
      expect(raw.readUIntLE(0, 3)).to.equal(raw.length - 4);
      expect(raw[3]).to.equal(0);
      const g = decodeGreeting(raw.subarray(4));
      expect(g.protocolVersion).to.equal(10);
      expect(g.serverVersion).to.equal('5.5.5-10.11.19-MariaDB-0+deb12u1-log');
      expect(g.connectionId).to.equal(9);
      expect(g.scramble.toString('hex')).to.equal('607858322e31495e' + '7c755837484359766473364f');
      expect(g.capabilities).to.equal(0x81fff7fe);
      for (const flag of [CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION, CLIENT_PLUGIN_AUTH, CLIENT_DEPRECATE_EOF, CLIENT_CONNECT_ATTRS]) {
        expect(g.capabilities & flag, `flag 0x${flag.toString(16)}`).to.not.equal(0);
      }
      // MariaDB clears CLIENT_MYSQL (bit 0) to announce its extended capabilities; no TLS here.
      expect(g.capabilities & (CLIENT_LONG_PASSWORD | CLIENT_SSL)).to.equal(0);
      expect(g.charset).to.equal(45);
      expect(g.statusFlags).to.equal(0x0002);
      expect(g.authPlugin).to.equal(MYSQL_NATIVE_PASSWORD);
      // The 4 bytes after the 6-byte reserved filler: progress, COM_MULTI, bulk, metadata cache.
      expect(g.mariadbCapabilities).to.equal(0x1d);
    });

    it('re-encodes the real greeting byte for byte', () => {
      const payload = payloadOf(GREETING_HEX);
      expect(encodeGreeting(decodeGreeting(payload)).toString('hex')).to.equal(payload.toString('hex'));
    });

    it('decodes every truncation of the real greeting to a value or MalformedPacket', () => {
      const payload = payloadOf(GREETING_HEX);
      for (let n = 0; n < payload.length; n++) {
        try {
          decodeGreeting(payload.subarray(0, n));
        } catch (err) {
          expect(err, `cut at ${n}`).to.be.instanceOf(MalformedPacket);
        }
      }
    });

    it('rejects another protocol version', () => {
      const payload = Buffer.from(payloadOf(GREETING_HEX));
      payload[0] = 9;
      expect(() => decodeGreeting(payload)).to.throw(MalformedPacket, /protocol version 9/);
    });

    it('round-trips random greetings (property)', () => {
      const noNul = fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0'));
      const greeting = fc.record({
        protocolVersion: fc.constant(10),
        serverVersion: noNul,
        connectionId: fc.integer({ min: 0, max: 0xffffffff }),
        scramble: fc.uint8Array({ minLength: 20, maxLength: 20, min: 1, max: 255 }).map((a) => Buffer.from(a)),
        capabilities: fc.integer({ min: 0, max: 0xffffffff }).map((c) => (c | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH) >>> 0),
        charset: fc.integer({ min: 0, max: 255 }),
        statusFlags: fc.integer({ min: 0, max: 0xffff }),
        authPlugin: noNul,
        mariadbCapabilities: fc.integer({ min: 0, max: 0xffffffff }),
      }).map((g): Greeting => ({
        // Extended capabilities exist only when CLIENT_LONG_PASSWORD ("CLIENT_MYSQL") is clear.
        ...g, mariadbCapabilities: g.capabilities & CLIENT_LONG_PASSWORD ? 0 : g.mariadbCapabilities,
      }));
      fc.assert(fc.property(greeting, (g: Greeting) => {
        const d = decodeGreeting(encodeGreeting(g));
        expect({ ...d, scramble: d.scramble.toString('hex') }).to.deep.equal({ ...g, scramble: g.scramble.toString('hex') });
      }), { numRuns: 500 });
    });
  });

  describe('HandshakeResponse41', () => {
    it('decodes the mariadb CLI response: schema, plugin, lenenc auth data, connect attributes', () => {
      const raw = Buffer.from(MARIADB_CLI_RESPONSE_HEX, 'hex');
      expect(raw.readUIntLE(0, 3)).to.equal(raw.length - 4);
      const r = decodeHandshakeResponse(raw.subarray(4));
      expect(r.capabilities & (CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_CONNECT_ATTRS))
        .to.equal(CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_CONNECT_ATTRS);
      expect(r.user).to.equal('app');
      expect(r.database).to.equal('dbmesh_test');
      expect(r.authPlugin).to.equal(MYSQL_NATIVE_PASSWORD);
      expect(r.charset).to.equal(33);
      expect(r.maxPacketSize).to.equal(0x100000);
      const scramble = decodeGreeting(payloadOf(GREETING_HEX)).scramble;
      expect(r.authResponse.equals(nativePasswordScramble('app_pw', scramble))).to.equal(true);
      expect(r.connectAttrs).to.not.equal(null);
      expect(attrsPairs(r.connectAttrs!)).to.include({ _client_name: 'libmariadb', program_name: 'mysql', _server_host: '127.0.0.1' });
      expect(r.mariadbCapabilities).to.equal(0x1d);
      // The block runs to the end of the payload.
      expect(raw.subarray(raw.length - r.connectAttrs!.length).equals(r.connectAttrs!)).to.equal(true);
    });

    it('decodes the mysql2 response', () => {
      const r = decodeHandshakeResponse(payloadOf(MYSQL2_RESPONSE_HEX));
      expect(r.user).to.equal('app');
      expect(r.database).to.equal('dbmesh_test');
      expect(r.charset).to.equal(224);
      expect(r.authPlugin).to.equal(MYSQL_NATIVE_PASSWORD);
      expect(attrsPairs(r.connectAttrs!)).to.deep.equal({ _client_name: 'Node-MySQL-2', _client_version: '3.24.6' });
      expect(r.mariadbCapabilities).to.equal(0x08); // MARIADB_CLIENT_EXTENDED_TYPE_INFO
    });

    it('re-encodes the real responses byte for byte', () => {
      for (const hex of [MARIADB_CLI_RESPONSE_HEX, MYSQL2_RESPONSE_HEX]) {
        const payload = payloadOf(hex);
        expect(encodeHandshakeResponse(decodeHandshakeResponse(payload)).toString('hex')).to.equal(payload.toString('hex'));
      }
    });

    it('decodes every truncation of a real response to a value or MalformedPacket', () => {
      const payload = payloadOf(MARIADB_CLI_RESPONSE_HEX);
      for (let n = 0; n < payload.length; n++) {
        try {
          decodeHandshakeResponse(payload.subarray(0, n));
        } catch (err) {
          expect(err, `cut at ${n}`).to.be.instanceOf(MalformedPacket);
        }
      }
    });

    it('rejects a pre-4.1 response', () => {
      // Pre-4.1 layout: caps u16, max packet u24, user NUL, 8-byte scramble.
      const old = Buffer.from('8da0' + 'ffffff' + '61707000' + '4142434445464748', 'hex');
      expect(() => decodeHandshakeResponse(old)).to.throw(MalformedPacket, /pre-4.1/);
    });

    const base = {
      mariadbCapabilities: 0,
      maxPacketSize: 0x1000000, charset: 45, user: 'app', authResponse: Buffer.from('0123456789abcdef0123', 'latin1'),
    };
    const variants: [string, number, Partial<HandshakeResponse>][] = [
      ['no optional fields', 0, {}],
      ['CONNECT_WITH_DB', CLIENT_CONNECT_WITH_DB, { database: 'dbmesh_test' }],
      ['CONNECT_WITH_DB, empty schema', CLIENT_CONNECT_WITH_DB, { database: '' }],
      ['PLUGIN_AUTH', CLIENT_PLUGIN_AUTH, { authPlugin: MYSQL_NATIVE_PASSWORD }],
      ['PLUGIN_AUTH_LENENC_CLIENT_DATA', CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, {}],
      ['PLUGIN_AUTH_LENENC_CLIENT_DATA, 300-byte auth data', CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, { authResponse: Buffer.alloc(300, 7) }],
      ['empty auth data', 0, { authResponse: Buffer.alloc(0) }],
      ['CONNECT_ATTRS', CLIENT_CONNECT_ATTRS, { connectAttrs: attrsBlock([['_client_name', 'test'], ['k', '']]) }],
      ['all of them', CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_CONNECT_ATTRS,
        { database: 'db', authPlugin: 'caching_sha2_password', connectAttrs: attrsBlock([['a', 'b'.repeat(200)], ['c', 'd']]) }],
    ];
    for (const [name, extra, fields] of variants) {
      it(`round-trips with ${name}`, () => {
        const h: HandshakeResponse = {
          ...base, database: null, authPlugin: null, connectAttrs: null, ...fields,
          capabilities: (CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_TRANSACTIONS | extra) >>> 0,
        };
        const d = decodeHandshakeResponse(encodeHandshakeResponse(h));
        expect(d).to.deep.equal(h);
      });
    }

    it('leaves out the schema and attribute flags when there is nothing to send', () => {
      const caps = (CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_WITH_DB | CLIENT_CONNECT_ATTRS) >>> 0;
      const d = decodeHandshakeResponse(encodeHandshakeResponse({ ...base, capabilities: caps, database: null, authPlugin: null, connectAttrs: null }));
      expect(d.capabilities).to.equal((CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION) >>> 0);
      expect(d.database).to.equal(null);
      expect(d.connectAttrs).to.equal(null);
    });

    it('sets CLIENT_CONNECT_WITH_DB when it sends a schema', () => {
      // Regression: COM_CHANGE_USER naming a schema, for a client that logged in without one,
      // opened the backend with the schema but without the flag; the server read the schema as
      // the plugin name and the new session had no default schema.
      const caps = (CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH) >>> 0;
      const h: HandshakeResponse = { ...base, capabilities: caps, database: 'dbmesh_test', authPlugin: MYSQL_NATIVE_PASSWORD, connectAttrs: null };
      const d = decodeHandshakeResponse(encodeHandshakeResponse(h));
      expect(d.capabilities & CLIENT_CONNECT_WITH_DB).to.equal(CLIENT_CONNECT_WITH_DB);
      expect(d.database).to.equal('dbmesh_test');
      expect(d.authPlugin).to.equal(MYSQL_NATIVE_PASSWORD);
    });

    it('sends NUL-terminated auth data when neither SECURE_CONNECTION nor LENENC is set', () => {
      // HandshakeResponse41: "else: auth-response string[NUL]" (old 4.1 clients).
      const h: HandshakeResponse = {
        ...base, capabilities: CLIENT_PROTOCOL_41 | CLIENT_CONNECT_WITH_DB, database: 'db', authPlugin: null, connectAttrs: null,
      };
      const encoded = encodeHandshakeResponse(h);
      expect(encoded.subarray(32).toString('hex')).to.equal(Buffer.from('app\0' + '0123456789abcdef0123' + '\0' + 'db\0', 'latin1').toString('hex'));
      expect(decodeHandshakeResponse(encoded)).to.deep.equal(h);
    });

    it('round-trips random responses (property)', () => {
      const noNul = fc.string({ maxLength: 30 }).filter((s) => !s.includes('\0'));
      const response = fc.record({
        caps: fc.integer({ min: 0, max: 0xffffffff }),
        maxPacketSize: fc.integer({ min: 0, max: 0xffffffff }),
        charset: fc.integer({ min: 0, max: 255 }),
        user: noNul,
        auth: fc.uint8Array({ maxLength: 300 }),
        database: fc.option(noNul),
        authPlugin: noNul,
        attrs: fc.option(fc.array(fc.tuple(noNul, fc.string({ maxLength: 60 })), { maxLength: 5 })),
        mariadb: fc.integer({ min: 0, max: 0xffffffff }),
      }).map((r): HandshakeResponse => {
        let caps = (r.caps | CLIENT_PROTOCOL_41) & ~CLIENT_SSL;
        // Flags follow the fields present, as a client sets them.
        caps = r.database === null ? caps & ~CLIENT_CONNECT_WITH_DB : caps | CLIENT_CONNECT_WITH_DB;
        caps = r.attrs === null ? caps & ~CLIENT_CONNECT_ATTRS : caps | CLIENT_CONNECT_ATTRS;
        const lenenc = (caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) !== 0;
        const secure = (caps & CLIENT_SECURE_CONNECTION) !== 0;
        let auth = Buffer.from(r.auth);
        if (!lenenc && secure) auth = auth.subarray(0, 255);
        if (!lenenc && !secure) auth = Buffer.from(auth.filter((b) => b !== 0));
        return {
          capabilities: caps >>> 0, maxPacketSize: r.maxPacketSize, charset: r.charset, user: r.user, authResponse: auth,
          database: r.database,
          authPlugin: caps & CLIENT_PLUGIN_AUTH ? r.authPlugin : null,
          connectAttrs: r.attrs === null ? null : attrsBlock(r.attrs),
          mariadbCapabilities: caps & CLIENT_LONG_PASSWORD ? 0 : r.mariadb,
        };
      });
      fc.assert(fc.property(response, (h) => {
        expect(decodeHandshakeResponse(encodeHandshakeResponse(h))).to.deep.equal(h);
      }), { numRuns: 1000 });
    });

    it('recognises an SSLRequest', () => {
      const ssl = Buffer.alloc(32);
      ssl.writeUInt32LE((CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION) >>> 0, 0);
      expect(isSslRequest(ssl)).to.equal(true);
      ssl.writeUInt32LE(CLIENT_PROTOCOL_41, 0);
      expect(isSslRequest(ssl)).to.equal(false);
      expect(isSslRequest(payloadOf(MARIADB_CLI_RESPONSE_HEX))).to.equal(false);
    });
  });

  describe('client bytes before and during login', () => {
    it('decode to a value or MalformedPacket, never another error (property)', () => {
      // HandshakeResponse41 before authentication, COM_CHANGE_USER after: both straight from the client.
      const anyCaps = fc.integer({ min: 0, max: 0xffffffff });
      fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), anyCaps, (bytes, caps) => {
        const b = Buffer.from(bytes);
        const withCaps = Buffer.concat([Buffer.from([caps & 0xff, (caps >>> 8) & 0xff, (caps >>> 16) & 0xff, caps >>> 24]), b]);
        for (const decode of [() => decodeHandshakeResponse(b), () => decodeHandshakeResponse(withCaps), () => decodeChangeUser(Buffer.concat([Buffer.from([0x11]), b]), caps)]) {
          try {
            decode();
          } catch (err) {
            expect(err).to.be.instanceOf(MalformedPacket);
          }
        }
      }), { numRuns: 3000 });
    });
  });

  describe('AuthSwitchRequest', () => {
    it('round-trips plugin name and data, with the trailing NUL dropped', () => {
      const data = Buffer.from('0102030405060708090a0b0c0d0e0f1011121314', 'hex');
      const p = encodeAuthSwitch(MYSQL_NATIVE_PASSWORD, data);
      expect(p[0]).to.equal(0xfe);
      expect(p[p.length - 1]).to.equal(0);
      const d = decodeAuthSwitch(p);
      expect(d.plugin).to.equal(MYSQL_NATIVE_PASSWORD);
      expect(d.data.equals(data)).to.equal(true);
    });
  });
});
