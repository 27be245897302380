/**
 * Poll a condition instead of sleeping a guessed time (nats.js tests' `check`): a test waits
 * exactly as long as the system needs, and on a loaded machine only the timeout is generous.
 */

const POLL_MS = 20;

/**
 * Resolves once `fn` returns true; rejects after `timeoutMs` naming `what`. A throw from `fn`
 * counts as "not yet"; the last one is kept as the timeout error's `cause`.
 */
export async function check(fn: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await fn()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`, lastError === undefined ? undefined : { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
