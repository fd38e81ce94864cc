/**
 * sql/ owns pure statement analysis: the lexer, routing hints, the read/write classifier
 * and session pins (plus KILL translation), and statement fingerprints, digest ids and
 * password masking for logs. It must stay pure and synchronous: no I/O, no timers, no
 * imports from worker/, pool/, master/ or config loading.
 */
export * from './lexer.js';
export * from './classifier.js';
export { parseHint } from './hints.js';
export { isTrackedVariable } from './session-vars.js';
export * from './kill.js';
export * from './session-assignments.js';
export * from './rewrite-session-fns.js';
export * from './fingerprint.js';
