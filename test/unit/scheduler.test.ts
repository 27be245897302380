import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DueQueue, type Clock } from '../../services/replayer/scheduler.js';

/**
 * Manual time. Timers behave like Node's setTimeout: a delay below 1 ms becomes 1 ms, and a
 * timer fires at its deadline plus `lateness()` (0 unless a test simulates a loaded machine).
 * `advance(ms)` fires every timer due by then, in deadline order, with `now()` at each one.
 */
class FakeClock implements Clock {
  private t: number;
  private timers: Array<{ id: number; at: number; fn: () => void }> = [];
  private nextId = 1;
  constructor(
    start = 1_700_000_000_000,
    private readonly lateness: () => number = () => 0,
  ) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ id, at: this.t + Math.max(1, ms) + this.lateness(), fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  get pending(): number {
    return this.timers.length;
  }

  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.reduce<(typeof this.timers)[number] | undefined>((a, x) => (!a || x.at < a.at || (x.at === a.at && x.id < a.id) ? x : a), undefined);
      if (!next || next.at > end) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }
}

interface Item {
  due: number;
  n: number;
}

/** A queue whose consumer records (item, now) and accepts while `accept()` says so. */
function setup(clock: FakeClock, accept: () => boolean = () => true) {
  const out: Array<{ n: number; due: number; at: number }> = [];
  const q = new DueQueue<Item>(clock, (it, now) => {
    if (!accept()) return false;
    out.push({ n: it.n, due: it.due, at: now });
    return true;
  });
  return { q, out };
}

describe('DueQueue with a fake clock', () => {
  test('hands items out in order, each at its due time (not before due − 0.2 ms)', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const { q, out } = setup(clock);
    const dues = [0, 0, 5, 5.1, 5.3, 17, 17.25, 100, 1000];
    q.push(dues.map((d, n) => ({ due: t0 + d, n })));
    assert.deepEqual(out.map((o) => o.n), [0, 1], 'items due now go at once');
    clock.advance(2000);
    assert.deepEqual(out.map((o) => o.n), dues.map((_, n) => n), 'all, in order');
    for (const o of out) {
      assert.ok(o.at >= o.due - 0.2, `item ${o.n} due +${o.due - t0} handed out at +${o.at - t0}: more than 0.2 ms early`);
    }
    assert.equal(q.length, 0);
    assert.equal(clock.pending, 0, 'no timer left armed');
  });

  test('an item pushed while others wait gets the earlier timer when it is due sooner', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const { q, out } = setup(clock);
    q.push([{ due: t0 + 100, n: 0 }]);
    clock.advance(10);
    q.push([{ due: t0 + 200, n: 1 }]);
    clock.advance(89);
    assert.equal(out.length, 0, 'nothing before due − 1 ms');
    clock.advance(200);
    assert.deepEqual(out.map((o) => o.n), [0, 1]);
  });

  test('property: any dues, pushed in batches in due order, with timers firing late — in order, never early, none lost', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: 0, max: 500, noNaN: true }), { maxLength: 20 }), { maxLength: 10 }),
        fc.array(fc.double({ min: 0, max: 30, noNaN: true }), { minLength: 1, maxLength: 10 }),
        fc.array(fc.double({ min: 0, max: 50, noNaN: true }), { minLength: 1, maxLength: 10 }),
        (batches, late, steps) => {
          let k = 0;
          const clock = new FakeClock(1_700_000_000_000, () => late[k++ % late.length]);
          const t0 = clock.now();
          const { q, out } = setup(clock);
          // Dues keep rising across batches (the time wheel releases in order).
          let last = 0;
          let n = 0;
          for (const [i, b] of batches.entries()) {
            const items = [...b].sort((a, c) => a - c).map((d) => ({ due: t0 + last + d, n: n++ }));
            if (items.length) last = items[items.length - 1].due - t0;
            q.push(items);
            clock.advance(steps[i % steps.length]);
          }
          // Until everything is out (dues reach 10 × 500 ms, each timer up to 30 ms late); a queue
          // that loses an item fails below after a bounded wait.
          for (let i = 0; i < 1000 && q.length > 0; i++) clock.advance(100);
          clock.advance(2000);
          const desc = `batches ${JSON.stringify(batches)}, timer lateness ${JSON.stringify(late)}`;
          assert.deepEqual(out.map((o) => o.n), Array.from({ length: n }, (_, i) => i), `${desc}: all, in order`);
          for (const o of out) assert.ok(o.at >= o.due - 0.2, `${desc}: item ${o.n} due +${o.due - t0} out at +${o.at - t0}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a refused item stays at the head (nothing overtakes it) and goes on the next pump()', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    let room = false;
    const { q, out } = setup(clock, () => room);
    q.push([
      { due: t0, n: 0 },
      { due: t0, n: 1 },
      { due: t0 + 10, n: 2 },
    ]);
    assert.equal(out.length, 0, 'consumer full: nothing taken');
    assert.equal(q.length, 3);
    clock.advance(20);
    room = true;
    q.pump();
    assert.deepEqual(out.map((o) => o.n), [0, 1, 2], 'all three, in order, on pump()');
    assert.equal(q.length, 0);
  });

  test('refused half-way: the rest waits for pump(), then goes in order', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    let budget = 2;
    const { q, out } = setup(clock, () => budget-- > 0);
    q.push([0, 1, 2, 3, 4].map((n) => ({ due: t0, n })));
    assert.deepEqual(out.map((o) => o.n), [0, 1]);
    assert.equal(q.length, 3);
    budget = 1;
    q.pump();
    assert.deepEqual(out.map((o) => o.n), [0, 1, 2]);
    budget = 10;
    q.pump();
    assert.deepEqual(out.map((o) => o.n), [0, 1, 2, 3, 4]);
  });

  test('takeAll empties the queue, returns what waited in order, and disarms the timer', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const { q, out } = setup(clock);
    q.push([0, 10, 20, 30].map((d, n) => ({ due: t0 + d, n })));
    assert.equal(clock.pending, 1, 'one timer, for the head');
    const rest = q.takeAll();
    assert.deepEqual(rest.map((r) => r.n), [1, 2, 3]);
    assert.equal(q.length, 0);
    assert.equal(clock.pending, 0, 'timer cleared');
    clock.advance(1000);
    assert.deepEqual(out.map((o) => o.n), [0], 'nothing more handed out after takeAll');
    assert.deepEqual(q.takeAll(), [], 'takeAll again: empty');
  });

  test('the queue keeps working after takeAll', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const { q, out } = setup(clock);
    q.push([{ due: t0 + 50, n: 0 }]);
    q.takeAll();
    q.push([{ due: t0 + 60, n: 1 }]);
    clock.advance(100);
    assert.deepEqual(out.map((o) => o.n), [1]);
  });

  test('many items: compaction keeps order and length right', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const { q, out } = setup(clock);
    const N = 20_000;
    q.push(Array.from({ length: N }, (_, n) => ({ due: t0 + n / 10, n })));
    clock.advance(N / 10 + 10);
    assert.equal(out.length, N);
    assert.ok(out.every((o, i) => o.n === i), 'in order through compaction');
    assert.equal(q.length, 0);
  });
});
