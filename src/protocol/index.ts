// protocol/: MySQL wire code: framing (16 MiB split), codec primitives, connection-phase
// packets, OK/ERR/EOF, auth scrambles, the peek-then-relay response scanner, wire constants.
// Imports only node:* and errors/. Never routing, pools, config or sessions.
export * from './constants.js';
export * from './codec.js';
export * from './framing.js';
export * from './handshake.js';
export * from './responses.js';
export * from './auth.js';
export * from './response-scanner.js';
export * from './prepared.js';
