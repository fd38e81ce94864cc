/**
 * COM_CHANGE_USER, answered by dbmesh: the new user is authenticated against the config
 * (the answer is computed over the greeting's scramble; a client that used another plugin is
 * switched to mysql_native_password with a fresh scramble), then the session starts afresh as
 * the new user: its state is cleared and a connection of the new backend identity is borrowed
 * to check the login and schema. A failed change closes the
 * connection, as MySQL does.
 */
import { DBM_ERR } from '../errors/index.js';
import { MYSQL_NATIVE_PASSWORD } from '../protocol/constants.js';
import { encodeOk } from '../protocol/responses.js';
import { frame, type Packet } from '../protocol/framing.js';
import { decodeChangeUser, encodeAuthSwitch } from '../protocol/handshake.js';
import { newScramble, verifyNativePassword } from '../protocol/auth.js';
import { MalformedPacket } from '../protocol/codec.js';
import type { ClientSession } from './session.js';
import type { SessionHost } from './session-host.js';

export async function changeUser(session: ClientSession, host: SessionHost, p: Packet): Promise<boolean> {
  let req;
  try {
    req = decodeChangeUser(p.payload, session.capabilities);
  } catch (err) {
    if (!(err instanceof MalformedPacket)) throw err;
    session.sendError(DBM_ERR.HANDSHAKE, p.seq + 1);
    return false;
  }
  const user = host.config.users.find((u) => u.name === req.user);
  let seq = p.seq + 1;
  let ok = false;
  if (user && (req.authPlugin ?? MYSQL_NATIVE_PASSWORD) === MYSQL_NATIVE_PASSWORD) {
    ok = verifyNativePassword(user.password, session.scramble, req.authResponse);
  }
  if (!ok && user) {
    // Ask again with mysql_native_password over a fresh scramble.
    const scramble = newScramble();
    session.writeToClient(frame(encodeAuthSwitch(MYSQL_NATIVE_PASSWORD, scramble), seq).bytes, seq);
    const answer = await session.nextClientPacket();
    seq = answer.seq + 1;
    ok = verifyNativePassword(user.password, scramble, answer.payload);
  }
  if (!ok || !user) {
    const e = DBM_ERR.ACCESS_DENIED;
    session.sendError(e, seq, [req.user, session.remoteHost, req.authResponse.length > 0 ? 'YES' : 'NO']);
    host.log.info('change user refused', { conn_id: session.id, user: req.user });
    return false;
  }
  const charset = req.charset ?? session.charset;
  try {
    const flags = await session.becomeUser(user, charset, req.database.length > 0 ? req.database : null, req.connectAttrs ?? session.connectAttrs);
    session.writeToClient(frame(encodeOk({ affectedRows: 0, lastInsertId: 0, statusFlags: flags, warnings: 0 }), seq).bytes, seq);
    return true;
  } catch (err) {
    session.writeToClient(session.failurePacket(err, seq), seq);
    return false;
  }
}
