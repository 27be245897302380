/**
 * One retry loop for every "try, wait, try again" in Havok (the NATS connection, the fetcher's
 * publish and checkpoint, the Kafka offset lookup, SLS GetLogs): waits that double from
 * `backoff.initialMs` up to a cap, optionally jittered so concurrent callers do not retry in
 * lockstep, until the attempts or the time budget run out, the error is not worth another try,
 * or the signal aborts. What a failure means and how it is logged stays with the caller
 * (`isRetryable`, `onRetry`), so each keeps its own messages.
 *
 * The outcome tells the three endings apart: the value; the caller's own error when it was not
 * retryable (or came after an abort); a RetryError (`attempts`, `cause` = the last error) when
 * the retries or the deadline ran out; the signal's reason when an abort cut a wait.
 */

export interface Backoff {
  /** The wait after the first failure, ms; doubled after each further one. */
  initialMs: number;
  /**
   * The longest wait, ms. A function of the error when failures differ: the fetcher polls a
   * full stream (backpressure) every ≤ 50 ms but backs off to 2 s from a lost server.
   */
  maxMs: number | ((err: unknown) => number);
}

export interface RetryInfo {
  /** The error of the attempt that just failed. */
  err: unknown;
  /** Which attempt failed, 1-based. */
  attempt: number;
  /** The wait before the next attempt, ms. */
  delayMs: number;
}

export interface RetryOptions {
  backoff: Backoff;
  /** Aborts the wait in progress, and no further attempt starts. */
  signal?: AbortSignal;
  /**
   * Share of each wait that is random: the wait is d·(1 − jitter + jitter·u), u uniform in
   * [0, 1). 0 = exact waits (default); 0.5 = between half of d and d.
   */
  jitter?: number;
  /** Attempts after the first one. Default: no limit. */
  retries?: number;
  /** No further attempt once a failure comes this long (ms) after the first attempt started. */
  deadlineMs?: number;
  /** Whether this error is worth another try. Default: every error is. */
  isRetryable?(err: unknown, attempt: number): boolean;
  /** Called before each wait: where callers log the attempt. */
  onRetry?(info: RetryInfo): void;
  /** Test seams: the wait, the clock (ms) and the jitter's randomness. */
  sleep?(ms: number, signal?: AbortSignal): Promise<void>;
  now?(): number;
  random?(): number;
}

/** The retries or the deadline ran out; `cause` is the last attempt's error. */
export class RetryError extends Error {
  override readonly name = 'RetryError' as const;
  constructor(
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(`gave up after ${attempts} attempts: ${lastError instanceof Error ? lastError.message : String(lastError)}`, { cause: lastError });
  }
}

/**
 * The wait before retry number `attempt` (1-based), pure:
 *   d = min(maxMs, initialMs · 2^(attempt − 1)), then d · (1 − jitter + jitter · u), rounded.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, jitter = 0, u = 1): number {
  const d = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(d * (1 - jitter + jitter * u));
}

/** Resolves after `ms`; rejects with the signal's reason as soon as it aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `fn(attempt)` until it resolves; see the module header for how it ends otherwise. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? abortableSleep;
  const random = opts.random ?? Math.random;
  const retries = opts.retries ?? Infinity;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      // Failed because the caller is going away: that error is the news, not a retry.
      if (opts.signal?.aborted) throw err;
      if (opts.isRetryable && !opts.isRetryable(err, attempt)) throw err;
      if (attempt > retries || (opts.deadlineMs !== undefined && now() - started > opts.deadlineMs)) throw new RetryError(attempt, err);
      const { initialMs, maxMs } = opts.backoff;
      const delayMs = backoffDelay(attempt, initialMs, typeof maxMs === 'function' ? maxMs(err) : maxMs, opts.jitter ?? 0, random());
      opts.onRetry?.({ err, attempt, delayMs });
      await sleep(delayMs, opts.signal);
    }
  }
}
