/**
 * How many cases each fuzz property runs: 10,000 in `npm test`, more with HAVOK_FUZZ_RUNS
 * (`npm run fuzz` sets 1,000,000). A failure prints fast-check's seed and path to replay it.
 */
export const FUZZ_RUNS = Number(process.env.HAVOK_FUZZ_RUNS ?? 10_000);

/** Per-test time allowed: generous, the cases scale with FUZZ_RUNS. */
export const FUZZ_TIMEOUT_MS = Math.max(120_000, FUZZ_RUNS * 2);

/** Runs `fn`; true when it returned or threw an instance of `typed` (anything else fails the property). */
export function onlyThrows(typed: abstract new (...args: never[]) => Error, fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof typed) return true;
    throw err;
  }
}
