// worker/: the data path of one worker process: accepting clients, sessions (handshake,
// commands, relay), backend links, change user, KILL, hand-off and draining. Entry point
// for a worker process: main.ts (started by the master); standalone.ts runs one in-process.
export { ProxyServer } from './server.js';
export { ClientSession } from './session.js';
export { startStandalone } from './standalone.js';
export { HealthDirectory, LocalMonitor, type BackendDirectory, type BackendStatus } from './backends.js';
