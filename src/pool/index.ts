// pool/: the client side of the protocol towards backends: connect and log in, reused read
// buffers, small control queries. Knows nothing of clients or routing rules.
export * from './backend-connect.js';
export * from './socket-input.js';
export * from './simple-query.js';
