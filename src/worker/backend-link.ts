/**
 * Open the backend connection that serves one client session: the cluster's primary, logged
 * in with the user's backend credentials and the client's own capabilities, charset, schema
 * and connect attributes, so that every byte the backend sends is what the client expects.
 */
import type { UserConfig } from '../config/types.js';
import {
  CLIENT_DEPRECATE_EOF, CLIENT_MULTI_RESULTS, CLIENT_PROTOCOL_41, CLIENT_PS_MULTI_RESULTS,
  CLIENT_SESSION_TRACK,
} from '../protocol/constants.js';
import type { HandshakeResponse } from '../protocol/handshake.js';
import { BackendLoginError, connectBackend } from '../pool/backend-connect.js';
import type { SessionHost } from './session-host.js';
import type net from 'node:net';
import type { SocketInput } from '../pool/socket-input.js';

export interface OpenedBackend {
  readonly socket: net.Socket;
  readonly input: SocketInput;
  readonly backendId: string;
  readonly threadId: number;
  readonly okPayload: Buffer;
  readonly statusFlags: number;
}

/** Capabilities that change the shape of responses: client and backend must agree on them. */
const SHAPE_CAPS = CLIENT_DEPRECATE_EOF | CLIENT_PROTOCOL_41 | CLIENT_SESSION_TRACK | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS;

export class BackendUnavailable extends Error {
  /** The server's ERR payload when the server refused (relayed to the client unchanged). */
  constructor(message: string, readonly payload?: Buffer) {
    super(message);
  }
}

export async function openBackendFor(host: SessionHost, user: UserConfig, hs: Pick<HandshakeResponse, 'capabilities' | 'charset' | 'database' | 'connectAttrs' | 'mariadbCapabilities'>): Promise<OpenedBackend> {
  let target = host.directory.primary(user.cluster);
  if (target === null) {
    await host.directory.refresh();
    target = host.directory.primary(user.cluster);
    if (target === null) throw new BackendUnavailable('no writable backend is up');
  }
  const login = {
    host: target.host, port: target.port, user: user.backendUser, password: user.backendPassword,
    database: hs.database, capabilities: hs.capabilities, charset: hs.charset,
    mariadbCapabilities: hs.mariadbCapabilities ?? 0,
    connectAttrs: hs.connectAttrs, timeoutMs: host.config.limits.connectTimeoutMs,
  };
  try {
    const s = await connectBackend(login);
    host.directory.noteGreeting(user.cluster, s.greeting);
    if ((s.capabilities & SHAPE_CAPS) !== (hs.capabilities & SHAPE_CAPS) || s.mariadbCapabilities !== (hs.mariadbCapabilities ?? 0)) {
      s.socket.destroy();
      throw new BackendUnavailable(`backend ${target.id} does not support the client's protocol capabilities`);
    }
    if (s.leftover) host.log.warn('backend sent bytes after login OK; dropped', { backend: target.id, bytes: s.leftover.length });
    return { socket: s.socket, input: s.input, backendId: target.id, threadId: s.greeting.connectionId, okPayload: s.okPayload, statusFlags: s.statusFlags };
  } catch (err) {
    if (err instanceof BackendLoginError) throw new BackendUnavailable(err.message, err.errPayload);
    if (err instanceof BackendUnavailable) throw err;
    // Network failure: roles may have changed (failover); look again before giving up.
    void host.directory.refresh();
    throw new BackendUnavailable(`backend ${target.id} unreachable: ${(err as Error).message}`);
  }
}
