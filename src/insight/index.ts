// insight/: what dbmesh writes down about the statements it relays, for people and tools:
// the line writer behind the SQL capture and the slow-query log (workers, after a statement's
// response), and the size rotation of those files (the master). Nothing here may block or
// await on a statement's path, nor import the data path (worker/, pool/, protocol/).
export { LineWriter, type LineWriterOptions } from './line-writer.js';
export { rotateIfLarger } from './rotate.js';
