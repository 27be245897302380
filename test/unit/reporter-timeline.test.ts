import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { prepareTimeline } from '../../services/reporter/html.js';
import { MAX_TIMELINE_POINTS, Timeline } from '../../services/reporter/timeline.js';
import { newHistogram, percentilesMs, recordMs, type Histogram } from '../../shared/histogram.js';

/** A histogram of `n` copies of each latency (ms) given as [ms, n] pairs. */
function hist(...runs: Array<[number, number]>): Histogram {
  const h = newHistogram();
  for (const [ms, n] of runs) for (let i = 0; i < n; i++) recordMs(h, ms);
  return h;
}

describe('Timeline', () => {
  test('two intervals with different distributions in one point: p50 and p99 of the merged histogram, not an average or a max', () => {
    // Interval 1: 60 fast answers, and a lateness tail; interval 2: 40 slow answers, one very late.
    const lat1 = hist([1, 60]);
    const lat2 = hist([100, 40]);
    const late1 = hist([0.2, 990]);
    const late2 = hist([0.5, 9], [200, 1]);
    const whole = hist([1, 60], [100, 40]);
    const wholeLate = hist([0.2, 990], [0.5, 9], [200, 1]);
    const tl = new Timeline(1);
    tl.add(1_000, 60, 0, lat1, late1);
    tl.add(2_000, 40, 2, lat2, late2);
    const pts = tl.points();
    assert.equal(pts.length, 1);
    const p = pts[0]!;
    assert.deepEqual({ t: p.t, sent: p.sent, completed: p.completed, failed: p.failed }, { t: 2_000, sent: 100, completed: 100, failed: 2 });
    assert.equal(p.p50_ms, percentilesMs(whole).p50);
    assert.equal(p.p50_ms, 1);
    assert.equal(p.p99_ms, percentilesMs(whole).p99);
    assert.equal(p.lateness_p99_ms, percentilesMs(wholeLate).p99);
    assert.equal(p.lateness_p99_ms, 0.2);
    // What the chart used to show for this bucket: answers-weighted mean of p50s, largest p99.
    const averaged = (percentilesMs(lat1).p50 * 60 + percentilesMs(lat2).p50 * 40) / 100;
    assert.notEqual(p.p50_ms, averaged, `averaging p50s would give ${averaged}`);
    assert.notEqual(p.lateness_p99_ms, Math.max(percentilesMs(late1).p99, percentilesMs(late2).p99));
    // And the chart draws the point as it is.
    assert.deepEqual(prepareTimeline(pts).p50, [1]);
  });

  test('a short job keeps one point per interval, each with its own percentiles', () => {
    const tl = new Timeline();
    tl.add(1_000, 3, 0, hist([2, 3]), hist([0.1, 3]));
    tl.add(2_000, 0, 0, newHistogram(), newHistogram());
    tl.add(3_000, 1, 1, hist([7, 1]), hist([0.3, 1]));
    assert.deepEqual(tl.points(), [
      { t: 1_000, sent: 3, completed: 3, failed: 0, p50_ms: 2, p99_ms: 2, lateness_p99_ms: 0.1 },
      { t: 2_000, sent: 0, completed: 0, failed: 0, p50_ms: 0, p99_ms: 0, lateness_p99_ms: 0 },
      { t: 3_000, sent: 1, completed: 1, failed: 1, p50_ms: 7, p99_ms: 7, lateness_p99_ms: 0.3 },
    ]);
    assert.deepEqual(prepareTimeline(tl.points()).p50, [2, null, 7], 'no latency where nothing was answered');
  });

  test('a long job stays within MAX_TIMELINE_POINTS points of equal spans, counts kept, percentiles exact per point', () => {
    const tl = new Timeline();
    const n = 10 * MAX_TIMELINE_POINTS + 7;
    // Every 100th interval slow: a point's p99 is the tail of its own span only.
    const slow = (i: number): boolean => i % 100 === 0;
    for (let i = 0; i < n; i++) tl.add((i + 1) * 1000, 10, i % 3 === 0 ? 1 : 0, hist([slow(i) ? 50 : 2, 10]), hist([0.1, 10]));
    const pts = tl.points();
    assert.ok(pts.length <= MAX_TIMELINE_POINTS && pts.length > MAX_TIMELINE_POINTS / 2, `${pts.length} points`);
    assert.equal(pts.reduce((s, p) => s + p.sent, 0), 10 * n);
    assert.equal(pts.reduce((s, p) => s + p.completed, 0), 10 * n);
    assert.equal(pts.reduce((s, p) => s + p.failed, 0), Math.ceil(n / 3));
    assert.equal(pts[pts.length - 1]!.t, n * 1000, 'the last point ends with the last interval');
    const spans = pts.slice(1).map((p, i) => p.t - pts[i]!.t);
    const width = spans[0]!;
    assert.ok(spans.slice(0, -1).every((s) => s === width), 'every point but the newest covers the same span');
    assert.equal(pts[0]!.t, width, 'the first point covers as many intervals as the others');
    // Reference: each point's percentiles from the histogram of exactly the intervals it spans.
    pts.forEach((p, k) => {
      const ref = newHistogram();
      for (let i = k ? pts[k - 1]!.t / 1000 : 0; i < p.t / 1000; i++) recordMs(ref, slow(i) ? 50 : 2);
      const want = percentilesMs(ref);
      assert.deepEqual([p.completed / 10, p.p50_ms, p.p99_ms], [want.count, want.p50, want.p99], `point ${k} at ${p.t}`);
    });
    assert.ok(pts.some((p) => p.p99_ms === 50) && pts.some((p) => p.p99_ms === 2), 'some spans have a slow tail, some not');
    const tlp = prepareTimeline(pts);
    assert.equal(tlp.xs.length, pts.length, 'the chart draws every point, none merged again');
  });

  test('a timeline needs room for a point', () => {
    assert.throws(() => new Timeline(0), RangeError);
  });
});
