/**
 * A new worker runs one real client session through itself before it reports ready: login,
 * text statements, a prepared statement, quit. V8 compiles a function the first time it runs,
 * so without this the first sessions moved here in an upgrade pay ~5 ms of compilation on
 * their next statements (measured: first query 6 ms, later ones 0.5 ms). The session goes
 * through a private listener (not the shared port) and is logged in as the first configured
 * user, exactly as a client would be.
 */
import net from 'node:net';
import {
  CLIENT_DEPRECATE_EOF, CLIENT_LONG_PASSWORD, CLIENT_MULTI_RESULTS, CLIENT_PLUGIN_AUTH, CLIENT_PROTOCOL_41,
  CLIENT_SECURE_CONNECTION, CLIENT_SESSION_TRACK, CLIENT_TRANSACTIONS, COM_QUIT, COM_STMT_EXECUTE,
  COM_STMT_PREPARE, UTF8MB4_GENERAL_CI,
} from '../protocol/constants.js';
import { frame } from '../protocol/framing.js';
import { ResponseKind } from '../protocol/response-scanner.js';
import { decodePrepareOk } from '../protocol/prepared.js';
import { connectBackend } from '../pool/backend-connect.js';
import { BackendConn, loginShape } from '../pool/backend-conn.js';
import { command, exchange } from '../pool/conn-exchange.js';
import type { ProxyServer } from './server.js';

/** The capabilities of a typical modern client (the common response shapes get compiled). */
const CLIENT_CAPS = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
  CLIENT_TRANSACTIONS | CLIENT_MULTI_RESULTS | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF;

export async function warmUpCode(server: ProxyServer, timeoutMs: number): Promise<void> {
  const user = server.config.users[0];
  if (user === undefined) return;
  const listener = net.createServer({ noDelay: true, pauseOnConnect: true }, (s) => server.accept(s, true));
  // exclusive: a port of this worker's own, not one the cluster master shares out.
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve());
  });
  try {
    const port = (listener.address() as net.AddressInfo).port;
    const s = await connectBackend({
      host: '127.0.0.1', port, user: user.name, password: user.password, database: null,
      capabilities: CLIENT_CAPS, charset: UTF8MB4_GENERAL_CI, connectAttrs: null, timeoutMs,
    });
    const conn = BackendConn.fromSession(s, 'self', loginShape(user, CLIENT_CAPS, 0, UTF8MB4_GENERAL_CI, null), null);
    for (let i = 0; i < 3; i++) await command(conn, `SELECT ${i} /* dbmesh warm-up */`, timeoutMs);
    const prepared = await exchange(conn, Buffer.concat([Buffer.from([COM_STMT_PREPARE]), Buffer.from('SELECT 1 /* dbmesh warm-up */')]), ResponseKind.Prepare, timeoutMs);
    const id = decodePrepareOk(prepared.packets[0]!.payload).statementId;
    const execute = Buffer.alloc(10);
    execute[0] = COM_STMT_EXECUTE;
    execute.writeUInt32LE(id, 1);
    execute.writeUInt32LE(1, 6); // iteration count
    for (let i = 0; i < 3; i++) await exchange(conn, execute, ResponseKind.Result, timeoutMs);
    conn.socket.end(frame(Buffer.from([COM_QUIT]), 0).bytes);
  } finally {
    listener.close();
  }
}
