// errors/: the one registry of dbmesh errors (code -> MySQL errno, SQLSTATE, message).
// Imports nothing from the project. Every ERR packet dbmesh itself sends comes from here.
export * from './registry.js';
