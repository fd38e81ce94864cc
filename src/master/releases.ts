/**
 * Releases: `releases.dir/<version>/` holds a complete built dbmesh (its package.json with
 * that version, dist/, production node_modules). The master forks workers from a release by
 * pointing node:cluster at the worker entry named in that release's package.json
 * (`dbmesh.workerEntry`, default dist/src/worker/main.js). `current` is a symlink to the
 * active version. Without a releases directory, workers run from dbmesh's own installation.
 */
import { existsSync, readFileSync, readlinkSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { installRoot } from '../config/index.js';

export interface Release {
  readonly version: string;
  readonly dir: string;
  readonly workerEntry: string;
}

const DEFAULT_ENTRY = 'dist/src/worker/main.js';

export class ReleaseError extends Error {}

/** Read a release directory (the installation itself when `dir` is the install root). */
export function readRelease(dir: string): Release {
  const pkgPath = path.join(dir, 'package.json');
  if (!existsSync(pkgPath)) throw new ReleaseError(`${dir} is not a dbmesh release: no package.json`);
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { name?: string; version?: string; dbmesh?: { workerEntry?: string } };
  if (pkg.name !== 'dbmesh' || typeof pkg.version !== 'string') throw new ReleaseError(`${dir} is not a dbmesh release: package.json names ${pkg.name ?? 'nothing'}`);
  const workerEntry = path.join(dir, pkg.dbmesh?.workerEntry ?? DEFAULT_ENTRY);
  if (!existsSync(workerEntry)) throw new ReleaseError(`release ${pkg.version} at ${dir} is not built: ${workerEntry} is missing`);
  return { version: pkg.version, dir, workerEntry };
}

/** The installation dbmesh runs from (used when there is no releases directory). */
export function ownRelease(): Release {
  return readRelease(installRoot());
}

export function releaseFor(releasesDir: string, version: string): Release {
  if (!/^[0-9A-Za-z._+-]+$/.test(version)) throw new ReleaseError(`invalid version "${version}"`);
  const dir = path.join(releasesDir, version);
  if (!existsSync(dir)) throw new ReleaseError(`release ${version} not found in ${releasesDir}`);
  const r = readRelease(dir);
  if (r.version !== version) throw new ReleaseError(`release directory ${version} holds version ${r.version}`);
  return r;
}

/** What `releases.dir/current` points at, or null when there is no such link. */
export function currentVersion(releasesDir: string): string | null {
  try {
    return path.basename(readlinkSync(path.join(releasesDir, 'current')));
  } catch {
    return null;
  }
}

/** The release new workers start from: `current` when it exists, else the installation. */
export function activeRelease(releasesDir: string): Release {
  const v = currentVersion(releasesDir);
  return v ? releaseFor(releasesDir, v) : ownRelease();
}

/** Point `current` at `version`, atomically (symlink beside it, then rename over). */
export function setCurrent(releasesDir: string, version: string): void {
  if (!existsSync(releasesDir)) return;
  const tmp = path.join(releasesDir, `.current-${process.pid}`);
  try {
    unlinkSync(tmp);
  } catch {
    // not there
  }
  symlinkSync(version, tmp);
  renameSync(tmp, path.join(releasesDir, 'current'));
}
