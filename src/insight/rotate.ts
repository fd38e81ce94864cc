/**
 * Size rotation of the capture and slow-query files, run by the master: when `file` has grown
 * past the limit it becomes `file.1` (file.1 becoming file.2, and so on), and the master then
 * tells every worker to reopen.
 *
 * No line is lost or split by the window between the rename and a worker's reopen: rename()
 * keeps the inode, and every worker's fd still refers to it, so until that worker reopens it
 * keeps appending whole lines (O_APPEND) to what is now `file.1`. `file.1` thus ends a little
 * after the rename, and the first line after the reopen starts the new `file`; each line is
 * whole in exactly one of them. (A second rotation before every worker has reopened would
 * move those late lines on to `file.2`, still whole.)
 */
import fs from 'node:fs/promises';

/** Files being rotated by this process: a second call meanwhile would shift them twice. */
const rotating = new Set<string>();

/**
 * If `file` is larger than `maxBytes`, rename it to `file.1` (shifting file.1 → file.2 … up to
 * `keep` files; the oldest is removed; with keep 0, `file` itself is). Returns true when it
 * rotated (the caller then tells every writer to reopen). Never throws (missing file → false).
 */
export async function rotateIfLarger(file: string, maxBytes: number, keep: number): Promise<boolean> {
  if (rotating.has(file)) return false;
  rotating.add(file);
  try {
    const { size } = await fs.stat(file);
    if (size <= maxBytes) return false;
    await shift(file, Math.max(0, Math.floor(keep)));
    return true;
  } catch {
    // Missing file, or a rename refused: not rotated, and nothing overwritten that was kept.
    return false;
  } finally {
    rotating.delete(file);
  }
}

async function shift(file: string, keep: number): Promise<void> {
  if (keep === 0) return fs.unlink(file);
  // Oldest first; renaming onto `file.keep` replaces (removes) the oldest kept file.
  for (let i = keep - 1; i >= 1; i--) await renameIfExists(`${file}.${i}`, `${file}.${i + 1}`);
  await fs.rename(file, `${file}.1`);
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
