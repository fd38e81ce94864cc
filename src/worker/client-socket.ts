/**
 * Client sockets read through a SocketInput (net's `onread` with a reused buffer) instead of
 * the stream machinery: per query this saves a buffer allocation and the Readable push/emit
 * path, which on a 2-core machine shared with the database is CPU the database gets back.
 * Accepted sockets arrive paused (server option pauseOnConnect); their descriptor is moved
 * into a new net.Socket that reads into the session's buffer.
 *
 * Until a client has authenticated it reads into one buffer shared by every such connection
 * of the worker: the handshake copies the bytes it keeps, and reads run one at a time on the
 * event loop, so a connection that never logs in holds no read buffer of its own. The session
 * moves to a buffer of its own (SocketInput.retain()) when authentication succeeds.
 */
import net from 'node:net';
import { READ_BUFFER_SIZE, SocketInput } from '../pool/socket-input.js';

const UNAUTHENTICATED_READS = Buffer.allocUnsafe(READ_BUFFER_SIZE);

type HandleHolder = { _handle: unknown };

/** Re-create an accepted, still paused socket so that it reads through a SocketInput. */
export function adoptAccepted(accepted: net.Socket): { socket: net.Socket; input: SocketInput } | null {
  const handle = (accepted as unknown as HandleHolder)._handle;
  if (!handle) return null;
  // Detach the descriptor first: destroy() then only releases the JS object.
  (accepted as unknown as HandleHolder)._handle = null;
  accepted.destroy();
  return fromHandle(handle, UNAUTHENTICATED_READS);
}

/** A socket over a raw handle (accepted here, or received from another worker: then authenticated, with a buffer of its own). */
export function fromHandle(handle: unknown, readBuffer?: Buffer): { socket: net.Socket; input: SocketInput } {
  const input = new SocketInput(readBuffer);
  const socket = new net.Socket({ handle, readable: true, writable: true, onread: input.onread } as net.SocketConstructorOpts);
  return { socket, input };
}
