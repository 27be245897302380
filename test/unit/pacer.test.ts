import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { dueAt, logTimeAt, peekDue, rebase, startPacer, type PacerState } from '../../services/timewheel/pacer.js';
import { prng } from '../support/zipf.js';

/** Wall origin (epoch ms, as in a real run) and log origin. */
const W = 1_700_000_000_000;
const L = 1_431_857_103_000;

describe('pacer: dueAt and peekDue', () => {
  // Log-time offsets from L, in order, and the wall offsets from W they must be due at.
  const rows: Array<{ why: string; speed: number; maxIdleMs: number; ts: number[]; due: number[] }> = [
    // speed 1: log gaps are wall gaps
    { why: 'speed 1', speed: 1, maxIdleMs: 0, ts: [0, 100, 250, 250, 1000], due: [0, 100, 250, 250, 1000] },
    // speed 2: twice as fast, gaps halve
    { why: 'speed 2', speed: 2, maxIdleMs: 0, ts: [0, 100, 250, 1000], due: [0, 50, 125, 500] },
    // speed 0.5: half as fast, gaps double
    { why: 'speed 0.5', speed: 0.5, maxIdleMs: 0, ts: [0, 100, 250, 1000], due: [0, 200, 500, 2000] },
    // cap 0 means no cap, even for a day-long gap
    { why: 'max_idle 0 = no cap', speed: 1, maxIdleMs: 0, ts: [0, 86_400_000], due: [0, 86_400_000] },
    // cap 100: gaps 50 and 100 kept, 150 and 101 shortened to 100
    { why: 'cap shortens only gaps longer than it', speed: 1, maxIdleMs: 100, ts: [0, 50, 200, 300, 401], due: [0, 50, 150, 250, 350] },
    // speed 2, cap 100: log gap 150 → wall 75 kept; log 300 → wall 150 → 100; log 200 → wall 100 (= cap) kept
    { why: 'cap applies after speed (speed 2)', speed: 2, maxIdleMs: 100, ts: [0, 150, 450, 650], due: [0, 75, 175, 275] },
    // speed 0.5, cap 100: log gap 40 → wall 80 kept; log gap 60 → wall 120 → 100
    { why: 'cap applies after speed (speed 0.5)', speed: 0.5, maxIdleMs: 100, ts: [0, 40, 100], due: [0, 80, 180] },
    // a long gap after capped ones: everything after a capped gap shifts earlier by what was skipped
    { why: 'skipped time accumulates across capped gaps', speed: 1, maxIdleMs: 10, ts: [0, 1000, 1005, 3000, 3001], due: [0, 10, 15, 25, 26] },
    // the wait before the first record counts from the log origin, and is capped too
    { why: 'first record after the origin, capped', speed: 1, maxIdleMs: 100, ts: [500, 510], due: [100, 110] },
    // a record older than the previous one (should not happen after the re-order window) goes at once
    { why: 'out-of-order ts is clamped to the latest', speed: 1, maxIdleMs: 0, ts: [0, 100, 50, 120], due: [0, 100, 100, 120] },
  ];

  for (const { why, speed, maxIdleMs, ts, due } of rows) {
    test(`${why}: speed ${speed}, max_idle ${maxIdleMs}, ts +${ts.join(',+')} → due +${due.join(',+')}`, () => {
      const p = startPacer(W, L, speed, maxIdleMs);
      const got: number[] = [];
      for (const t of ts) {
        const peeked = peekDue(p, L + t);
        assert.equal(peekDue(p, L + t), peeked, `peekDue(+${t}) twice gives the same (it changes nothing)`);
        const d = dueAt(p, L + t);
        assert.equal(d, peeked, `peekDue(+${t}) = dueAt(+${t})`);
        got.push(d - W);
      }
      assert.deepEqual(got, due, `speed ${speed}, max_idle ${maxIdleMs}, ts +${ts.join(',+')}`);
    });
  }

  test('peekDue of a later record does not change the cap state of the next dueAt', () => {
    const p = startPacer(W, L, 1, 100);
    dueAt(p, L);
    peekDue(p, L + 10_000); // would skip 9900 if it were recorded
    assert.equal(dueAt(p, L + 50) - W, 50);
  });
});

describe('pacer: scheduled from the origin, no accumulated error', () => {
  // speed = p/q exactly, so the reference is whole numbers until one division per record:
  //   due·p = W·p + (t − L)·q − Σ over capped gaps (gap·q − cap·p)
  // (a gap is capped when gap·q/p > cap ⇔ gap·q > cap·p).
  const rows: Array<{ why: string; p: number; q: number; cap: number }> = [
    // speed 1, no cap: the trivial case, exact
    { why: 'speed 1, no cap', p: 1, q: 1, cap: 0 },
    // speed 3: 1/3 is not a binary fraction
    { why: 'speed 3, cap 250 ms', p: 3, q: 1, cap: 250 },
    // speed 0.7 (= 7/10): the float speed itself is inexact
    { why: 'speed 0.7, cap 250 ms', p: 7, q: 10, cap: 250 },
    // speed 2/3, many capped gaps: `skipped` is summed a million times
    { why: 'speed 2/3, cap 40 ms', p: 2, q: 3, cap: 40 },
  ];
  const N = 1_000_000;

  for (const { why, p: sp, q: sq, cap } of rows) {
    test(`${why}: ${N} records stay within 1 µs of the exact due time`, () => {
      const speed = sp / sq;
      const pacer = startPacer(W, L, speed, cap);
      const rnd = prng(sp * 1000 + sq * 10 + cap);
      let t = L;
      let skippedNum = 0; // Σ (gap·q − cap·p) over capped gaps, an exact integer
      let worst = 0;
      let worstAt = -1;
      for (let i = 0; i < N; i++) {
        const gap = Math.floor(rnd() * 1000); // 0…999 ms of log time
        t += gap;
        if (cap > 0 && gap * sq > cap * sp) skippedNum += gap * sq - cap * sp;
        const want = W + ((t - L) * sq - skippedNum) / sp;
        const err = Math.abs(dueAt(pacer, t) - want);
        if (err > worst) {
          worst = err;
          worstAt = i;
        }
      }
      assert.ok(worst <= 0.001, `${why}: worst error ${worst} ms at record ${worstAt} of ${N} (want ≤ 0.001 ms)`);
    });
  }
});

describe('pacer: logTimeAt and rebase', () => {
  test('property: logTimeAt inverts dueAt, idle cap included', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0.5, 1, 2, 3, 10),
        fc.constantFrom(0, 1, 100, 5000),
        fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 50 }),
        (speed, cap, gaps) => {
          const p = startPacer(W, L, speed, cap);
          let t = L;
          for (const g of gaps) {
            t += g;
            const d = dueAt(p, t);
            const back = logTimeAt(p, d);
            // 1 µs of wall time is `speed` µs of log time (epoch ms carry ~0.25 µs of float grain)
            assert.ok(Math.abs(back - t) <= 1e-3 * Math.max(1, speed), `speed ${speed}, cap ${cap}, gaps ${gaps}: logTimeAt(dueAt(${t - L})) = ${back - L}`);
          }
        },
      ),
    );
  });

  const rows: Array<{ why: string; speed: number; cap: number; before: number[]; nowOff: number; newSpeed: number; after: number[]; due: number[] }> = [
    // speed 1 → 2 at wall +500 (log +500): the next 200 ms of log take 100 ms of wall
    { why: 'speed up', speed: 1, cap: 0, before: [0, 400], nowOff: 500, newSpeed: 2, after: [700, 900], due: [600, 700] },
    // speed 2 → 0.5 at wall +100 (log +200)
    { why: 'slow down', speed: 2, cap: 0, before: [0, 150], nowOff: 100, newSpeed: 0.5, after: [200, 250], due: [100, 200] },
    // cap 100 skipped 900 ms before the change: wall +150 is log +1050, and stays so
    { why: 'after a capped gap', speed: 1, cap: 100, before: [0, 1000], nowOff: 150, newSpeed: 2, after: [1250], due: [250] },
  ];
  for (const { why, speed, cap, before, nowOff, newSpeed, after, due } of rows) {
    test(`rebase keeps log time continuous — ${why}: ×${speed} → ×${newSpeed} at wall +${nowOff}`, () => {
      const p = startPacer(W, L, speed, cap);
      for (const t of before) dueAt(p, L + t);
      const now = W + nowOff;
      const position = logTimeAt(p, now);
      const q: PacerState = rebase(p, now, position, newSpeed);
      assert.equal(logTimeAt(q, now), position, `log time at the change: before ${position - L}, after ${logTimeAt(q, now) - L}`);
      assert.equal(q.maxIdleMs, cap, 'the idle cap survives a rebase');
      const got = after.map((t) => dueAt(q, L + t) - W);
      assert.deepEqual(got, due, `${why}: after the change, ts +${after.join(',+')}`);
    });
  }

  test('pause then resume: the next record is due its log gap after the resume, not at once', () => {
    const p = startPacer(W, L, 2, 0);
    dueAt(p, L + 1000); // due W + 500
    const position = logTimeAt(p, W + 600); // paused at wall +600 = log +1200
    assert.equal(position, L + 1200);
    const resumedAt = W + 3_600_000; // an hour later
    const q = rebase(p, resumedAt, position, 2);
    assert.equal(dueAt(q, L + 1300) - resumedAt, 50, 'log +1300 is 100 ms of log after the pause, 50 ms of wall at ×2');
    assert.equal(dueAt(q, L + 1250) - resumedAt, 50, 'an older record after it is clamped, not sent in the past');
  });

  test('a record from before the pause position, arriving after the resume, goes at the resume', () => {
    const p = startPacer(W, L, 1, 0);
    dueAt(p, L + 10);
    const q = rebase(p, W + 5000, L + 500, 1);
    assert.equal(dueAt(q, L + 400), W + 5000);
  });
});
