/**
 * Latency histograms: HDR (hdr-histogram-js), mergeable exactly, in microseconds with 3
 * significant digits (≤0.1% relative error) from 1 µs up to one hour. They travel between
 * processes compressed (base64 of the HDR V2 encoding) and are merged with `add`, never by
 * averaging percentiles.
 */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

const HIGHEST_US = 3_600_000_000;

export function newHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 'packed',
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
}

/** Records a duration given in ms (fractions kept to the µs); negatives count as 0. */
export function recordMs(h: Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  h.recordValue(Math.min(HIGHEST_US, Math.max(0, us)));
}

export function encodeHistogram(h: Histogram): string {
  return h.totalCount === 0 ? '' : hdr.encodeIntoCompressedBase64(h);
}

/** Adds an encoded histogram into `into`; '' (an empty interval) adds nothing. */
export function mergeEncoded(into: Histogram, encoded: string): void {
  if (!encoded) return;
  const h = hdr.decodeFromCompressedBase64(encoded, 'packed', false);
  into.add(h);
  h.destroy();
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
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}
