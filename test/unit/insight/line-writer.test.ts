/**
 * LineWriter and rotateIfLarger over real files and real FIFOs (mkfifo) in a fresh temporary
 * directory: order and integrity of lines, several writers on one file (two objects, and a
 * forked process), FIFOs nobody reads or that stop reading (never blocking, bounded memory,
 * drops counted), reopen after a rename, unopenable paths, and size rotation.
 *
 * Synchronisation is on events and promises: close(), drained(), the first onProblem report,
 * a child's messages, a FIFO reader's data. The one wait on a clock is a FIFO that never
 * drains, where the bounded close() is the event under test.
 */
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { LineWriter } from '../../../src/insight/line-writer.js';
import { rotateIfLarger } from '../../../src/insight/rotate.js';
import { parseLines, range, sequenceOf, testLine, writeInChunks } from '../../helpers/lines.js';

const CHILD = fileURLToPath(new URL('../../helpers/line-writer-child.js', import.meta.url));
const KiB = 1024;

/** onProblem reports, and a promise for the first one. */
class Problems {
  readonly seen: { message: string; code: string | undefined; at: number }[] = [];
  private waiters: (() => void)[] = [];

  readonly report = (message: string, err: NodeJS.ErrnoException | null): void => {
    this.seen.push({ message, code: err?.code, at: Date.now() });
    for (const resolve of this.waiters.splice(0)) resolve();
  };

  first(): Promise<void> {
    return this.seen.length > 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

function mkfifo(dir: string): string {
  const fifo = path.join(dir, 'capture.fifo');
  execFileSync('mkfifo', [fifo]);
  return fifo;
}

/**
 * The read end of a FIFO, opened O_RDWR so that it never sees EOF between writers. Paused,
 * it reads about its high-water mark and then stops, and the pipe fills.
 */
class FifoReader {
  readonly socket: net.Socket;
  firstDataAt = 0;
  private chunks: Buffer[] = [];
  private newlines = 0;
  private waiter: { lines: number; resolve: () => void } | null = null;

  constructor(fifo: string, paused = false) {
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    this.socket = new net.Socket({ fd, readable: true, writable: false });
    this.socket.on('data', (chunk: Buffer) => this.take(chunk));
    if (paused) this.socket.pause();
  }

  /** Resolves once `lines` whole lines have arrived. */
  until(lines: number): Promise<void> {
    if (this.newlines >= lines) return Promise.resolve();
    return new Promise((resolve) => (this.waiter = { lines, resolve }));
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  private take(chunk: Buffer): void {
    if (this.firstDataAt === 0) this.firstDataAt = Date.now();
    this.chunks.push(chunk);
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) this.newlines++;
    if (this.waiter !== null && this.newlines >= this.waiter.lines) {
      this.waiter.resolve();
      this.waiter = null;
    }
  }
}

/** Everything a non-blocking read end holds now. */
function readAvailable(fd: number): string {
  const chunks: Buffer[] = [];
  for (;;) {
    const buf = Buffer.alloc(64 * KiB);
    try {
      const n = fs.readSync(fd, buf);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw err;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A fresh temporary directory for each test of the suite, removed after it; `file` a path in it. */
function tempDirEachTest(fileName: string): { dir: string; file: string } {
  const tmp = { dir: '', file: '' };
  beforeEach(() => {
    tmp.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbmesh-insight-'));
    tmp.file = path.join(tmp.dir, fileName);
  });
  afterEach(() => fs.rmSync(tmp.dir, { recursive: true, force: true }));
  return tmp;
}

describe('insight/line-writer', () => {
  const tmp = tempDirEachTest('capture.log');
  let dir: string;
  let file: string;
  beforeEach(() => ({ dir, file } = tmp));

  const fileLines = (name = file) => parseLines(fs.readFileSync(name, 'utf8'));

  it('writes 10,000 lines whole and in order, then drops what comes after close()', async () => {
    const writer = new LineWriter({ file });
    for (let seq = 0; seq < 10_000; seq++) expect(writer.write(testLine('w', seq))).to.equal(true);
    await writer.close();

    const lines = fileLines();
    expect(lines.map((line) => line.seq)).to.deep.equal(range(10_000));
    expect(fs.statSync(file).mode & 0o777 & ~0o640).to.equal(0); // 0640, less the umask
    expect([writer.written, writer.dropped, writer.queuedBytes]).to.deep.equal([10_000, 0, 0]);
    expect(writer.write(testLine('w', 10_000))).to.equal(false);
    expect(writer.dropped).to.equal(1);
  });

  it('keeps the lines of two writers on one file whole', async () => {
    const a = new LineWriter({ file });
    const b = new LineWriter({ file });
    await Promise.all([
      writeInChunks((line) => a.write(line), 'a', 5000, 50),
      writeInChunks((line) => b.write(line), 'b', 5000, 50),
    ]);
    await Promise.all([a.close(), b.close()]);

    const lines = fileLines();
    expect(lines).to.have.length(10_000);
    expect(sequenceOf(lines, 'a')).to.deep.equal(range(5000));
    expect(sequenceOf(lines, 'b')).to.deep.equal(range(5000));
  });

  it('keeps the lines of two processes on one file whole', async () => {
    const child = fork(CHILD, [file, 'child', '5000'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const exited = once(child, 'exit');
    await once(child, 'message');
    const writer = new LineWriter({ file });
    const reported = once(child, 'message');
    child.send('go');
    await writeInChunks((line) => writer.write(line), 'parent', 5000, 50);
    await writer.close();
    const [childCounters] = (await reported) as [{ written: number; dropped: number }];
    expect(await exited).to.deep.equal([0, null]);

    expect(childCounters).to.deep.equal({ written: 5000, dropped: 0 });
    const lines = fileLines();
    expect(lines).to.have.length(10_000);
    expect(sequenceOf(lines, 'parent')).to.deep.equal(range(5000));
    expect(sequenceOf(lines, 'child')).to.deep.equal(range(5000));
  });

  it('drops everything for a FIFO nobody reads, without blocking or growing', async () => {
    const fifo = mkfifo(dir);
    const problems = new Problems();
    const maxQueueBytes = 64 * KiB;
    const writer = new LineWriter({ file: fifo, maxQueueBytes, onProblem: problems.report });
    // A ticker on the event loop's check phase: it must advance between chunks, which it
    // cannot if the writer blocks the loop (sync I/O, a long loop of its own).
    let ticks = 0;
    let ticking = true;
    const tick = (): void => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    tick();
    let maxSeen = 0;
    // The first chunk alone (about 120 KiB) overflows the queue while the open is in flight.
    for (let chunk = 0; chunk < 50; chunk++) {
      for (let i = 0; i < 2000; i++) {
        writer.write(testLine('w', chunk * 2000 + i));
        maxSeen = Math.max(maxSeen, writer.queuedBytes);
      }
      const before = ticks;
      await nextTurn();
      await nextTurn();
      expect(ticks).to.be.greaterThan(before);
    }
    ticking = false;
    await writer.close();

    expect(maxSeen).to.be.at.most(maxQueueBytes).and.greaterThan(maxQueueBytes - 200);
    expect([writer.written, writer.dropped, writer.queuedBytes]).to.deep.equal([0, 100_000, 0]);
    // The open's ENXIO came within 10 s of the overflow report: counted, not reported.
    expect(problems.seen.map((p) => p.message)).to.have.length(1);
    expect(problems.seen[0].message).to.match(/queue full \(65536 bytes\)/);
  });

  it('opens a FIFO again a second after it had no reader, once it has one', async () => {
    const fifo = mkfifo(dir);
    const problems = new Problems();
    const writer = new LineWriter({ file: fifo, onProblem: problems.report });
    writer.write(testLine('w', 0));
    await problems.first();
    expect(problems.seen[0].code).to.equal('ENXIO');
    const reader = new FifoReader(fifo);
    // Traffic, not synchronisation: a line every 20 ms until the writer has opened the FIFO.
    let seq = 1;
    const traffic = setInterval(() => writer.write(testLine('w', seq++)), 20);
    try {
      await reader.until(1);
    } finally {
      clearInterval(traffic);
    }
    await writer.close();
    await reader.until(writer.written);
    reader.socket.destroy();

    expect(reader.firstDataAt - problems.seen[0].at).to.be.at.least(990);
    const lines = parseLines(reader.text());
    expect(lines).to.have.length(writer.written);
    expect(writer.written + writer.dropped).to.equal(seq);
    expect(lines.map((line) => line.seq)).to.deep.equal(range(seq).slice(seq - lines.length));
  });

  it('keeps lines while a FIFO reader pauses, then delivers all of them whole', async () => {
    const fifo = mkfifo(dir);
    const reader = new FifoReader(fifo, true);
    const problems = new Problems();
    const writer = new LineWriter({ file: fifo, onProblem: problems.report });
    // Every 25th line is longer than PIPE_BUF: written alone, possibly in parts.
    const count = 3000;
    for (let seq = 0; seq < count; seq++) expect(writer.write(testLine('w', seq, 25, 9000))).to.equal(true);
    await problems.first();
    expect(problems.seen[0].code).to.equal('EAGAIN');
    reader.socket.resume();
    await writer.drained();
    await writer.close();
    await reader.until(count);
    reader.socket.destroy();

    expect(parseLines(reader.text()).map((line) => line.seq)).to.deep.equal(range(count));
    expect([writer.written, writer.dropped]).to.deep.equal([count, 0]);
  });

  it('keeps the lines of two writers on one FIFO whole while its reader pauses', async () => {
    const fifo = mkfifo(dir);
    const reader = new FifoReader(fifo, true);
    const problems = new Problems();
    const a = new LineWriter({ file: fifo, onProblem: problems.report });
    const b = new LineWriter({ file: fifo, onProblem: problems.report });
    for (let seq = 0; seq < 5000; seq++) {
      a.write(testLine('a', seq));
      b.write(testLine('b', seq));
    }
    await problems.first(); // the pipe is full: from here on, writes are partial or refused
    reader.socket.resume();
    await Promise.all([a.drained(), b.drained()]);
    await Promise.all([a.close(), b.close()]);
    await reader.until(10_000);
    reader.socket.destroy();

    const lines = parseLines(reader.text());
    expect(sequenceOf(lines, 'a')).to.deep.equal(range(5000));
    expect(sequenceOf(lines, 'b')).to.deep.equal(range(5000));
  });

  it('drops and counts once a FIFO reader stops reading, never blocking', async () => {
    const fifo = mkfifo(dir);
    const readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const maxQueueBytes = 256 * KiB;
      const writer = new LineWriter({ file: fifo, maxQueueBytes });
      let maxSeen = 0;
      await writeInChunks((line) => {
        writer.write(line);
        maxSeen = Math.max(maxSeen, writer.queuedBytes);
      }, 'w', 20_000, 500);
      // The pipe never drains: close() gives up after its bound, and a write that was still
      // in flight then is counted when it returns.
      await writer.close(200);
      await writer.drained();

      const piped = readAvailable(readFd);
      const lines = parseLines(piped);
      expect(maxSeen).to.be.at.most(maxQueueBytes);
      expect(Buffer.byteLength(piped)).to.be.at.most(64 * KiB).and.greaterThan(32 * KiB);
      expect(lines.map((line) => line.seq)).to.deep.equal(range(lines.length));
      expect(writer.written).to.equal(lines.length);
      expect(writer.dropped).to.equal(20_000 - lines.length);
    } finally {
      fs.closeSync(readFd);
    }
  });

  it('drops and reports when the FIFO reader goes away (EPIPE), without dying of SIGPIPE', async () => {
    const fifo = mkfifo(dir);
    const reader = new FifoReader(fifo);
    const problems = new Problems();
    const writer = new LineWriter({ file: fifo, onProblem: problems.report });
    for (let seq = 0; seq < 100; seq++) writer.write(testLine('w', seq));
    await reader.until(100);
    reader.socket.destroy();
    await once(reader.socket, 'close');
    for (let seq = 100; seq < 200; seq++) writer.write(testLine('w', seq));
    await problems.first();
    await writer.close();

    expect(problems.seen[0].code).to.equal('EPIPE');
    expect(parseLines(reader.text()).map((line) => line.seq)).to.deep.equal(range(100));
    expect([writer.written, writer.dropped]).to.deep.equal([100, 100]);
  });

  it('drops and reports lines a device refuses (ENOSPC on /dev/full)', async function () {
    if (!fs.existsSync('/dev/full')) this.skip();
    const problems = new Problems();
    const writer = new LineWriter({ file: '/dev/full', onProblem: problems.report });
    for (let seq = 0; seq < 10; seq++) expect(writer.write(testLine('w', seq))).to.equal(true);
    await problems.first();
    // Within the second after the failure: dropped at once, nothing queued.
    for (let seq = 10; seq < 20; seq++) expect(writer.write(testLine('w', seq))).to.equal(false);
    expect(writer.queuedBytes).to.equal(0);
    await writer.close();

    expect(problems.seen.map((p) => p.code)).to.deep.equal(['ENOSPC']);
    expect(problems.seen[0].message).to.equal('line writer /dev/full: write failed (ENOSPC); dropping lines, opening again in 1 s');
    expect([writer.written, writer.dropped]).to.deep.equal([0, 20]);
  });

  it('moves to a new file on reopen() after a rename, losing and splitting nothing', async () => {
    const writer = new LineWriter({ file });
    for (let seq = 0; seq < 1000; seq++) writer.write(testLine('w', seq));
    await writer.drained();
    fs.renameSync(file, `${file}.1`);
    writer.reopen();
    for (let seq = 1000; seq < 2000; seq++) writer.write(testLine('w', seq));
    await writer.close();

    expect(fileLines(`${file}.1`).map((line) => line.seq)).to.deep.equal(range(1000));
    expect(fileLines().map((line) => line.seq)).to.deep.equal(range(2000).slice(1000));
  });

  it('survives reopen() at any moment, also during writes and repeatedly', async () => {
    const writer = new LineWriter({ file, maxQueueBytes: 64 * 1024 * KiB });
    const rotated: string[] = [];
    for (let chunk = 0; chunk < 100; chunk++) {
      for (let i = 0; i < 100; i++) writer.write(testLine('w', chunk * 100 + i));
      if (chunk % 10 === 9) {
        // The file exists once the latest open is done; drained() waits for it if need be.
        if (!fs.existsSync(file)) await writer.drained();
        rotated.push(`${file}.${rotated.length + 1}`);
        fs.renameSync(file, rotated[rotated.length - 1]);
      }
      writer.reopen();
      if (chunk % 2 === 1) writer.reopen();
      await nextTurn();
    }
    await writer.close();

    const lines = [...rotated, file].flatMap((name) => fileLines(name));
    expect(lines.map((line) => line.seq)).to.deep.equal(range(10_000));
    expect([writer.written, writer.dropped]).to.deep.equal([10_000, 0]);
  });

  it('drops lines for a path in a missing directory and reports it once', async () => {
    const problems = new Problems();
    const writer = new LineWriter({
      file: path.join(dir, 'missing', 'capture.log'),
      onProblem: (message, err) => {
        problems.report(message, err);
        throw new Error('a failing logger');
      },
    });
    for (let seq = 0; seq < 10; seq++) writer.write(testLine('w', seq));
    await problems.first();
    for (let seq = 10; seq < 20; seq++) expect(writer.write(testLine('w', seq))).to.equal(false);
    writer.reopen(); // an immediate retry, failing again: not reported within 10 s
    await writer.drained();
    await writer.close();

    expect([writer.written, writer.dropped]).to.deep.equal([0, 20]);
    expect(problems.seen).to.have.length(1);
    expect(problems.seen[0].code).to.equal('ENOENT');
    expect(problems.seen[0].message).to.contain('missing/capture.log');
  });
});

describe('insight/rotate', () => {
  const tmp = tempDirEachTest('slow.log');
  let dir: string;
  let file: string;
  beforeEach(() => ({ dir, file } = tmp));

  it('leaves a missing file or one within the limit alone', async () => {
    expect(await rotateIfLarger(file, 100, 2)).to.equal(false);
    fs.writeFileSync(file, 'x'.repeat(100));
    expect(await rotateIfLarger(file, 100, 2)).to.equal(false);
    expect(fs.readdirSync(dir)).to.deep.equal(['slow.log']);
  });

  it('renames a larger file to file.1 and keeps at most `keep` old files', async () => {
    for (let generation = 1; generation <= 4; generation++) {
      fs.writeFileSync(file, `generation ${generation}\n`.repeat(20));
      expect(await rotateIfLarger(file, 100, 2)).to.equal(true);
      expect(fs.existsSync(file)).to.equal(false);
      expect(fs.readFileSync(`${file}.1`, 'utf8')).to.equal(`generation ${generation}\n`.repeat(20));
    }
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['slow.log.1', 'slow.log.2']);
    expect(fs.readFileSync(`${file}.2`, 'utf8')).to.equal('generation 3\n'.repeat(20));
  });

  it('removes the file itself with keep 0', async () => {
    fs.writeFileSync(file, 'x'.repeat(200));
    expect(await rotateIfLarger(file, 100, 0)).to.equal(true);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  it('splits a live writer\'s lines between file.1 and the new file, none lost or torn', async () => {
    const writer = new LineWriter({ file });
    let rotations = 0;
    for (let chunk = 0; chunk < 20; chunk++) {
      for (let i = 0; i < 500; i++) writer.write(testLine('w', chunk * 500 + i));
      await nextTurn();
      // What the master does: rotate, then tell the writer; lines in between land in file.1.
      if (await rotateIfLarger(file, 64 * KiB, 50)) {
        rotations++;
        writer.reopen();
      }
    }
    await writer.close();

    const names = [...range(rotations).map((i) => `${file}.${rotations - i}`), file];
    expect(rotations).to.be.greaterThan(0);
    expect(names.flatMap((name) => parseLines(fs.readFileSync(name, 'utf8'))).map((line) => line.seq)).to.deep.equal(range(10_000));
  });

  it('rotates once when asked twice at the same time', async () => {
    fs.writeFileSync(file, 'x'.repeat(200));
    fs.writeFileSync(`${file}.1`, 'older');
    expect(await Promise.all([rotateIfLarger(file, 100, 3), rotateIfLarger(file, 100, 3)])).to.deep.equal([true, false]);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['slow.log.1', 'slow.log.2']);
    expect(fs.readFileSync(`${file}.2`, 'utf8')).to.equal('older');
  });
});
