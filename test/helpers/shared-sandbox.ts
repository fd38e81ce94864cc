/**
 * One sandbox (primary + 2 replicas) shared by every integration test file in a run: starting
 * it takes ~2 s, so files share it and each file starts its own dbmesh. Stopped by a root-level
 * `after` hook registered once (ES modules are evaluated once).
 */
import { startSandbox, stopSandbox, type SandboxInfo } from './sandbox.js';

let shared: Promise<SandboxInfo> | null = null;

export function sharedSandbox(): Promise<SandboxInfo> {
  shared ??= startSandbox({ replicas: 2 });
  return shared;
}

after(async function () {
  this.timeout(60000);
  if (shared) {
    const sb = await shared.catch(() => null);
    shared = null;
    if (sb) await stopSandbox(sb);
  }
});
