import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { mergeWire, newHistogram, percentilesMs, recordMs, toWire, type Histogram } from '../../shared/histogram.js';

/** Latencies as whole µs (what the histogram stores), mostly small with a long tail up to an hour. */
const latencyUs = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 5_000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 2_000_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3_600_000_000 }) },
);

function histOf(us: readonly number[]): Histogram {
  const h = newHistogram();
  for (const v of us) recordMs(h, v / 1000);
  return h;
}

/** Percentiles (in per mille) the report prints, plus a few more. */
const PERMILLE = [0, 1, 100, 250, 500, 750, 900, 950, 990, 999, 1000];

describe('histogram: merge of parts = histogram of the whole', () => {
  test('property: any split into parts, each sent as wire buckets and merged, gives the same count and percentiles', () => {
    fc.assert(
      fc.property(
        fc.array(latencyUs, { maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (values, cuts) => {
          // Cut points into the array (duplicates give empty parts, whose wire form is []).
          const at = [...new Set(cuts.map((c) => (values.length ? c % (values.length + 1) : 0)))].sort((a, b) => a - b);
          const bounds = [0, ...at, values.length];
          const parts = bounds.slice(1).map((end, i) => values.slice(bounds[i], end));

          const whole = histOf(values);
          const merged = newHistogram();
          for (const part of parts) {
            const h = histOf(part);
            mergeWire(merged, toWire(h));
            h.destroy();
          }
          const desc = `${values.length} values in parts of ${parts.map((p) => p.length).join('+')}`;
          assert.deepEqual(percentilesMs(merged), percentilesMs(whole), desc);
          for (const pm of PERMILLE) {
            assert.equal(merged.getValueAtPercentile(pm / 10), whole.getValueAtPercentile(pm / 10), `${desc}: p${pm / 10}`);
          }
          whole.destroy();
          merged.destroy();
        },
      ),
      { numRuns: 200 },
    );
  });

  test('an empty interval is [] on the wire and merges as nothing', () => {
    assert.deepEqual(toWire(newHistogram()), []);
    const h = histOf([1000, 2000]);
    mergeWire(h, []);
    assert.equal(h.totalCount, 2);
  });

  test('merging is associative: ((a + b) + c) sent on = a + (b + c) sent on', () => {
    const [a, b, c] = [[1, 5352, 90_000], [5352, 5353, 2_000_000_000], [0, 0, 77]].map(histOf);
    const left = newHistogram();
    const ab = newHistogram();
    mergeWire(ab, toWire(a));
    mergeWire(ab, toWire(b));
    mergeWire(left, toWire(ab));
    mergeWire(left, toWire(c));
    const right = newHistogram();
    const bc = newHistogram();
    mergeWire(bc, toWire(b));
    mergeWire(bc, toWire(c));
    mergeWire(right, toWire(a));
    mergeWire(right, toWire(bc));
    assert.deepEqual(toWire(left), toWire(right));
    assert.deepEqual(percentilesMs(left), percentilesMs(right));
  });
});

describe('histogram: percentiles against a naive sorted-array quantile', () => {
  /**
   * HDR's definition: the value at percentile p is the smallest recorded value v such that at least
   * p% of the values are ≤ v, i.e. sorted[⌈p·n/100⌉ − 1] (at least the first). Per mille in whole
   * numbers, so the reference has no float rounding.
   */
  function naive(sorted: readonly number[], permille: number): number {
    const k = Math.max(1, Math.floor((permille * sorted.length + 999) / 1000));
    return sorted[k - 1];
  }

  test('property: p50/p90/p95/p99/p99.9/max within HDR relative error (3 digits: < 0.1%, never below)', () => {
    fc.assert(
      fc.property(fc.array(latencyUs, { minLength: 1, maxLength: 2000 }), (values) => {
        const sorted = [...values].sort((a, b) => a - b);
        const h = histOf(values);
        const got = percentilesMs(h);
        assert.equal(got.count, values.length);
        const rows: Array<[string, number, number]> = [
          ['p50', got.p50, naive(sorted, 500)],
          ['p90', got.p90, naive(sorted, 900)],
          ['p95', got.p95, naive(sorted, 950)],
          ['p99', got.p99, naive(sorted, 990)],
          ['p99.9', got.p999, naive(sorted, 999)],
          ['max', got.max, sorted[sorted.length - 1]],
        ];
        for (const [name, ms, wantUs] of rows) {
          const us = Math.round(ms * 1000);
          // HDR reports the top of the bucket holding the value: never less, at most 1/1024 more.
          assert.ok(us >= wantUs && us <= wantUs + wantUs / 1000, `${name} of ${values.length} values: HDR ${us} µs, naive ${wantUs} µs (allowed ${wantUs}…${wantUs + wantUs / 1000})`);
        }
        const mean = values.reduce((a, b) => a + b, 0) / values.length;
        assert.ok(Math.abs(got.mean * 1000 - mean) <= mean / 1000 + 1, `mean: HDR ${got.mean * 1000} µs, naive ${mean} µs`);
        h.destroy();
      }),
      { numRuns: 200 },
    );
  });
});

describe('histogram: recordMs and percentilesMs', () => {
  const rows: Array<[number, number, string]> = [
    [12, 12, 'whole ms'],
    [0.25, 0.25, 'fractions kept to the µs'],
    [0.0004, 0, 'below half a µs rounds to 0'],
    [0.0006, 0.001, 'above half a µs rounds to 1 µs'],
    [-5, 0, 'negative counts as 0'],
    [7_200_000, 3_600_000, 'beyond an hour is clamped to an hour'],
  ];
  for (const [ms, want, why] of rows) {
    test(`${why}: recordMs(${ms}) → max ${want} ms`, () => {
      const h = newHistogram();
      recordMs(h, ms);
      const got = percentilesMs(h);
      assert.equal(got.count, 1, `recordMs(${ms}) counts once`);
      assert.ok(got.max >= want && got.max <= want * 1.001, `recordMs(${ms}): max ${got.max} ms, want ${want} ms (+0.1%)`);
    });
  }

  test('an empty histogram reports zeros', () => {
    assert.deepEqual(percentilesMs(newHistogram()), { count: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0 });
  });
});
