// observability/: the logger, the close-reason counters and the metrics registry. Leaf
// modules: everything may import them; they import nothing of the data path.
export * from './logger.js';
export * from './close-reasons.js';
