/** The error fields of a statement that must fail (throws when it succeeds). */
export interface Failure { errno?: number; code?: string; sqlState?: string; sqlMessage?: string }

export async function failure(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (err) {
    const e = err as Failure;
    return { errno: e.errno, code: e.code, sqlState: e.sqlState, sqlMessage: e.sqlMessage };
  }
  throw new Error('expected the statement to fail');
}
