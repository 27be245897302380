/**
 * shared/retry.ts: the backoff formula as a table, and the loop on a fake clock (sleeps recorded,
 * time advanced by them): doubling waits with a cap, jitter, max retries, a deadline, errors not
 * worth retrying, the onRetry hook, a per-error cap, and aborts that cut a real wait.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffDelay, retry, RetryError, type RetryOptions } from '../../shared/retry.js';

/** A fake clock: sleeping records the wait and moves time on by it. */
function fakeTime(): { sleeps: number[]; opts: Pick<RetryOptions, 'sleep' | 'now'> } {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    opts: {
      now: () => t,
      sleep: async (ms) => {
        sleeps.push(ms);
        t += ms;
      },
    },
  };
}

/** fn failing its first `n` attempts with `err(attempt)`, then returning 'ok'. */
function failing(n: number, err: (attempt: number) => Error = (a) => new Error(`fail ${a}`)): { fn: (attempt: number) => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    fn: async (attempt) => {
      calls++;
      if (attempt <= n) throw err(attempt);
      return 'ok';
    },
    calls: () => calls,
  };
}

describe('backoffDelay', () => {
  test('doubles from the first wait, is capped, and jitters within [1 − jitter, 1]', () => {
    const rows: Array<[attempt: number, jitter: number, u: number, want: number, why: string]> = [
      [1, 0, 0, 100, 'first retry: the first wait'],
      [2, 0, 0, 200, 'doubled'],
      [4, 0, 0, 800, 'doubled twice more'],
      [7, 0, 0, 5000, '6400 capped at 5000'],
      [99, 0, 0, 5000, 'no overflow for absurd attempts'],
      [1, 0.5, 1, 100, 'jitter 0.5, most: the whole wait'],
      [1, 0.5, 0, 50, 'jitter 0.5, least: half'],
      [3, 0.5, 0.5, 300, '400 × 0.75'],
      [3, 1, 0, 0, 'full jitter may not wait at all'],
    ];
    for (const [attempt, jitter, u, want, why] of rows) assert.equal(backoffDelay(attempt, 100, 5000, jitter, u), want, `backoffDelay(${attempt}, 100, 5000, ${jitter}, ${u}): ${why}`);
    for (let a = 1; a < 40; a++) assert.ok(backoffDelay(a + 1, 100, 5000) >= backoffDelay(a, 100, 5000), `monotonic without jitter at ${a}`);
  });
});

describe('retry', () => {
  test('retries until it succeeds, waiting 100, 200, 400… up to the cap', async () => {
    const time = fakeTime();
    const f = failing(6);
    assert.equal(await retry(f.fn, { backoff: { initialMs: 100, maxMs: 1000 }, ...time.opts }), 'ok');
    assert.equal(f.calls(), 7);
    assert.deepEqual(time.sleeps, [100, 200, 400, 800, 1000, 1000]);
  });

  test('max retries: the last error in a RetryError naming the attempts', async () => {
    const time = fakeTime();
    const f = failing(Infinity);
    await assert.rejects(retry(f.fn, { backoff: { initialMs: 10, maxMs: 100 }, retries: 2, ...time.opts }), (err: unknown) => {
      assert.ok(err instanceof RetryError, String(err));
      assert.equal(err.attempts, 3, 'the first attempt and 2 retries');
      assert.equal((err.cause as Error).message, 'fail 3');
      assert.equal(err.lastError, err.cause);
      assert.match(err.message, /^gave up after 3 attempts: fail 3$/);
      return true;
    });
    assert.equal(f.calls(), 3);
    assert.deepEqual(time.sleeps, [10, 20]);
  });

  test('retries = 0: one attempt, no wait', async () => {
    const time = fakeTime();
    await assert.rejects(retry(failing(1).fn, { backoff: { initialMs: 10, maxMs: 100 }, retries: 0, ...time.opts }), RetryError);
    assert.deepEqual(time.sleeps, []);
  });

  test('deadline: no attempt after the time budget is spent', async () => {
    const time = fakeTime();
    const f = failing(Infinity);
    // Waits 100, 200, 400, 800: the failure at t0 + 1500 is past the 1000 ms budget.
    await assert.rejects(retry(f.fn, { backoff: { initialMs: 100, maxMs: 10_000 }, deadlineMs: 1000, ...time.opts }), (err: unknown) => err instanceof RetryError && err.attempts === 5);
    assert.deepEqual(time.sleeps, [100, 200, 400, 800]);
  });

  test('an error not worth retrying is thrown as it is, at once', async () => {
    const time = fakeTime();
    const fatal = new Error('bad credentials');
    const f = failing(Infinity, (a) => (a === 2 ? fatal : new Error('flaky')));
    const seen: unknown[] = [];
    await assert.rejects(
      retry(f.fn, {
        backoff: { initialMs: 10, maxMs: 100 },
        isRetryable: (err, attempt) => {
          seen.push([attempt, (err as Error).message]);
          return err !== fatal;
        },
        ...time.opts,
      }),
      (err: unknown) => err === fatal,
    );
    assert.deepEqual(seen, [[1, 'flaky'], [2, 'bad credentials']]);
    assert.deepEqual(time.sleeps, [10]);
  });

  test('onRetry sees each failed attempt and the wait before the next, jittered by random()', async () => {
    const time = fakeTime();
    const infos: Array<[number, string, number]> = [];
    await retry(failing(3).fn, {
      backoff: { initialMs: 100, maxMs: 1000 },
      jitter: 0.5,
      random: () => 0,
      onRetry: ({ err, attempt, delayMs }) => infos.push([attempt, (err as Error).message, delayMs]),
      ...time.opts,
    });
    assert.deepEqual(infos, [[1, 'fail 1', 50], [2, 'fail 2', 100], [3, 'fail 3', 200]]);
    assert.deepEqual(time.sleeps, [50, 100, 200]);
  });

  test('a cap that depends on the error: backpressure polled fast, an outage backed off', async () => {
    const time = fakeTime();
    const full = (): Error => Object.assign(new Error('stream full'), { full: true });
    const f = failing(8, (a) => (a <= 4 ? full() : new Error('server away')));
    await retry(f.fn, { backoff: { initialMs: 5, maxMs: (err) => ((err as { full?: boolean }).full ? 50 : 2000) }, ...time.opts });
    assert.deepEqual(time.sleeps, [5, 10, 20, 40, 80, 160, 320, 640]);
    const g = failing(6, () => full());
    time.sleeps.length = 0;
    await retry(g.fn, { backoff: { initialMs: 5, maxMs: (err) => ((err as { full?: boolean }).full ? 50 : 2000) }, ...time.opts });
    assert.deepEqual(time.sleeps, [5, 10, 20, 40, 50, 50]);
  });

  test('an abort cuts the wait in progress (real timers): rejects with the reason, no further attempt', async () => {
    const ac = new AbortController();
    const f = failing(Infinity);
    const started = Date.now();
    const reason = new Error('closing');
    const p = retry(f.fn, { backoff: { initialMs: 60_000, maxMs: 60_000 }, signal: ac.signal, onRetry: () => setImmediate(() => ac.abort(reason)) });
    await assert.rejects(p, (err: unknown) => err === reason);
    assert.ok(Date.now() - started < 5000, 'did not wait the minute out');
    assert.equal(f.calls(), 1);
  });

  test('already aborted: fn is never called; failing while aborting: that error, not a retry', async () => {
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    const f = failing(0);
    await assert.rejects(retry(f.fn, { backoff: { initialMs: 1, maxMs: 1 }, signal: ac.signal }), /gone/);
    assert.equal(f.calls(), 0);
    const live = new AbortController();
    const cut = new Error('connection cut by close');
    await assert.rejects(
      retry(
        async () => {
          live.abort(new Error('closing'));
          throw cut;
        },
        { backoff: { initialMs: 1, maxMs: 1 }, signal: live.signal },
      ),
      (err: unknown) => err === cut,
    );
  });

  test('tiny real delays: the default sleep waits and then retries', async () => {
    const f = failing(2);
    const started = Date.now();
    assert.equal(await retry(f.fn, { backoff: { initialMs: 5, maxMs: 5 } }), 'ok');
    assert.ok(Date.now() - started >= 9, 'two waits of 5 ms');
    assert.equal(f.calls(), 3);
  });
});
