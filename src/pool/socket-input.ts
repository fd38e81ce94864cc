/**
 * Reads from a backend socket into a reused buffer (net's `onread` option) instead of a
 * fresh 64 KiB Buffer per read. Relaying a large result then allocates nothing while the
 * client keeps up, and memory does not ride on garbage-collector timing (V8 only collects
 * external buffers after tens of MiB of them pile up).
 *
 * Contract: a chunk is valid only during the handler call. A consumer that keeps a reference
 * beyond that (a socket write that was queued rather than written at once) calls retain(), and
 * the next read goes into a new buffer.
 */
export const READ_BUFFER_SIZE = 64 * 1024;

export class SocketInput {
  /**
   * `buf`: where reads go until retain(). Several sockets may read into one buffer as long as
   * every consumer copies what it keeps (unauthenticated clients: see worker/client-socket.ts).
   */
  constructor(private buf: Buffer = Buffer.allocUnsafe(READ_BUFFER_SIZE)) {}

  /** Receives each chunk read (a view into the shared buffer). */
  handler: (chunk: Buffer) => void = () => {};

  /** Pass as `onread` to net.connect. */
  readonly onread = {
    buffer: (): Buffer => this.buf,
    callback: (n: number, b: Uint8Array): boolean => {
      this.handler((b as Buffer).subarray(0, n));
      return true; // flow control is done with socket.pause()/resume()
    },
  };

  /** The last chunk is still referenced elsewhere: read the next one into a new buffer. */
  retain(): void {
    this.buf = Buffer.allocUnsafe(READ_BUFFER_SIZE);
  }
}
