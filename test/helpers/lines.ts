/**
 * JSON lines for the LineWriter tests (test/unit/insight/line-writer.test.ts and the child
 * process it forks): each names its writer and sequence number, carries multi-byte text (so
 * byte accounting is UTF-8, not characters), and every `longEvery`-th one a long padding.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface TestLine {
  readonly tag: string;
  readonly seq: number;
  readonly text: string;
  readonly pad?: string;
}

export function testLine(tag: string, seq: number, longEvery = 0, longBytes = 0): string {
  const line: TestLine = { tag, seq, text: `select 'héllo 日本' from t${seq}` };
  if (longEvery > 0 && seq % longEvery === 0) return JSON.stringify({ ...line, pad: 'x'.repeat(longBytes) });
  return JSON.stringify(line);
}

/** Writes `count` lines in chunks of `chunk`, yielding to the event loop between chunks. */
export async function writeInChunks(write: (line: string) => unknown, tag: string, count: number, chunk: number): Promise<void> {
  for (let seq = 0; seq < count; seq++) {
    write(testLine(tag, seq));
    if (seq % chunk === chunk - 1) await nextTurn();
  }
}

/** Every line of `text` parsed (each must be valid JSON); the text must end with a newline. */
export function parseLines(text: string): TestLine[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`text does not end with a newline: ...${JSON.stringify(text.slice(-80))}`);
  return text.slice(0, -1).split('\n').map((line) => JSON.parse(line) as TestLine);
}

/** The sequence numbers of `tag`'s lines, in file order. */
export function sequenceOf(lines: readonly TestLine[], tag: string): number[] {
  return lines.filter((line) => line.tag === tag).map((line) => line.seq);
}

export function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}
