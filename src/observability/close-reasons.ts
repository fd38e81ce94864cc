/**
 * Why a client connection closed: one enum, counted in one place.
 */
export const CloseReason = {
  CLIENT_QUIT: 'client_quit',
  CLIENT_NETWORK: 'client_network',
  AUTH_FAILED: 'auth_failed',
  HANDSHAKE_TIMEOUT: 'handshake_timeout',
  MALFORMED: 'malformed',
  OUT_OF_ORDER: 'out_of_order',
  PACKET_TOO_LARGE: 'packet_too_large',
  TOO_MANY_CONNECTIONS: 'too_many_connections',
  USER_CONNECTIONS: 'user_connections',
  NO_BACKEND: 'no_backend',
  BACKEND_NETWORK: 'backend_network',
  BACKEND_AUTH: 'backend_auth',
  KILLED: 'killed',
  DRAINED: 'drained',
  SHUTDOWN: 'shutdown',
  INTERNAL: 'internal',
} as const;

export type CloseReason = (typeof CloseReason)[keyof typeof CloseReason];

const counts = new Map<CloseReason, number>();

export function countClose(reason: CloseReason): void {
  counts.set(reason, (counts.get(reason) ?? 0) + 1);
}

export function closeCounts(): ReadonlyMap<CloseReason, number> {
  return counts;
}
