// ipc/: typed, versioned, acknowledged master <-> worker messages. Imports only config types.
export * from './messages.js';
export * from './channel.js';
