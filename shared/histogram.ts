/**
 * Latency histograms: HDR (hdr-histogram-js, Int32 buckets), mergeable exactly, in microseconds
 * with 3 significant digits (≤0.1% relative error) from 1 µs up to one hour.
 *
 * On the wire a histogram is a flat list of (bucket value, count) pairs of its non-empty buckets.
 * The library's own V2 encoding deflates in JavaScript and costs ~1.7 ms per histogram (350 ms
 * for a replayer's 200 per-API histograms every second: a stall that showed as lateness); a
 * scan of the bucket array costs ~20 µs and merges exactly, because a bucket's lowest value is
 * recorded back into the same bucket (the top bucket carries the exact maximum). Merging is `recordValueWithCount`, never averaging.
 */
import type * as hdr from 'hdr-histogram-js';
// The Int32 histogram alone: the package's index also loads its log writer, which builds an
// Intl.NumberFormat at import (ICU start-up, ~90 ms of CPU in every actor at start).
import Int32HistogramModule from 'hdr-histogram-js/dist/Int32Histogram.js';

export type Histogram = hdr.Histogram;
type HistogramClass = new (lowest: number, highest: number, digits: number) => Histogram;
// A CommonJS module: under Node's ESM loader the default import is its `exports` object.
const Int32Histogram = (Int32HistogramModule as unknown as { default: HistogramClass }).default;
/** Non-empty buckets as [value, count, value, count, …]; [] for an empty histogram. */
export type HistogramWire = number[];

const HIGHEST_US = 3_600_000_000;

/** `digits`: significant digits (3: ≤0.1% error; 2: ≤1% in about a fifth of the memory). */
export function newHistogram(digits: 2 | 3 = 3): Histogram {
  const h = new Int32Histogram(1, HIGHEST_US, digits);
  h.autoResize = true;
  return h;
}

/** Records a duration given in ms (fractions kept to the µs); negatives count as 0. */
export function recordMs(h: Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  h.recordValue(us > HIGHEST_US ? HIGHEST_US : us < 0 ? 0 : us);
}

interface BucketView {
  _counts: ArrayLike<number>;
  countsArrayIndex(value: number): number;
  valueFromIndex(index: number): number;
}

export function toWire(h: Histogram): HistogramWire {
  if (h.totalCount === 0) return [];
  const v = h as unknown as BucketView;
  const out: number[] = [];
  const last = Math.min(v.countsArrayIndex(h.maxValue), v._counts.length - 1);
  for (let i = 0; i <= last; i++) {
    const c = v._counts[i];
    // The top bucket is written with the exact maximum, so the merged max is exact too.
    if (c !== 0) out.push(i === last ? h.maxValue : v.valueFromIndex(i), c);
  }
  return out;
}

/** Adds a wire histogram into `into`. */
export function mergeWire(into: Histogram, wire: HistogramWire): void {
  for (let i = 0; i + 1 < wire.length; i += 2) into.recordValueWithCount(wire[i], wire[i + 1]);
}

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Percentiles in ms, rounded to µs. */
export function percentilesMs(h: Histogram): Percentiles {
  const ms = (us: number): number => Math.round(us) / 1000;
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  // HDR answers a percentile with the top of its bucket, which can exceed the exact maximum.
  const at = (p: number): number => ms(Math.min(h.getValueAtPercentile(p), h.maxValue));
  return {
    count: h.totalCount,
    p50: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    p999: at(99.9),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}
