/**
 * Child process for test/unit/insight/line-writer.test.ts: appends COUNT lines tagged TAG to
 * FILE through its own LineWriter while the parent appends to the same file. Started with
 * child_process.fork; says 'ready', waits for 'go' (so both write at once), then reports its
 * counters and disconnects.
 *
 *   fork(dist/test/helpers/line-writer-child.js, [FILE, TAG, COUNT])
 */
import { LineWriter } from '../../src/insight/line-writer.js';
import { writeInChunks } from './lines.js';

const [file, tag, count] = process.argv.slice(2);
const writer = new LineWriter({ file });

process.once('message', async () => {
  await writeInChunks((line) => writer.write(line), tag, Number(count), 50);
  await writer.close();
  process.send?.({ written: writer.written, dropped: writer.dropped }, () => process.disconnect());
});
process.send?.('ready');
