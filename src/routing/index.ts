/**
 * routing/ owns pure decisions: where a statement goes (read/write split), and later
 * firewall verdicts and balancers. It must stay pure and synchronous: no I/O, no timers;
 * it imports only sql/ (for statement facts) and never worker/, pool/ or master/.
 */
export * from './read-write.js';
export * from './balancer.js';
