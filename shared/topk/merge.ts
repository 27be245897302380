/**
 * Merging replayers' Space-Saving summaries with their error bound (the mergeable variant of
 * Agarwal et al., "Mergeable Summaries", 2012, in Space-Saving form as Cafaro et al.'s parallel
 * Space-Saving): a key missing from a summary may have occurred there up to that summary's `min`
 * times, so its merged count adds that `min` to both the count and the error. Counts stay upper
 * bounds and `count − bound ≤ true ≤ count` holds for every merged entry; the k largest are kept.
 * A key not in the result occurred at most `min` times. Pure apart from histogram memory.
 */
import { mergeWire, newHistogram, type Histogram } from '../histogram.js';
import type { TopEntryWire, TopWire } from '../protocol.js';
import { byCountDesc } from './space-saving.js';

export interface MergedEntry {
  key: string;
  /** Upper bound of the true count; `count − bound ≤ true ≤ count` (exact when bound is 0). */
  count: number;
  bound: number;
  /** Failures and bytes the summaries saw (lower bounds; exact when bound is 0). */
  failed: number;
  bytes_sent: number;
  bytes_received: number;
  bytes_failed: number;
  /** Latency (µs) from the summaries that kept one for this key; absent when none did. */
  latency?: Histogram;
}

export interface MergedTop {
  /** Requests in all. */
  n: number;
  /** Upper bound on the count of any key not in `entries`. */
  min: number;
  entries: MergedEntry[];
}

/** Merges summaries of one dimension, keeping the `k` largest. */
export function mergeTop(parts: readonly TopWire[], k: number): MergedTop {
  let n = 0;
  let minSum = 0;
  /** Each key's counters, with the `min` of the summary each came from. */
  const union = new Map<string, Array<{ e: TopEntryWire; min: number }>>();
  for (const p of parts) {
    n += p.n;
    minSum += p.min;
    for (const e of p.e) {
      const list = union.get(e.k);
      if (list) list.push({ e, min: p.min });
      else union.set(e.k, [{ e, min: p.min }]);
    }
  }
  const all: MergedEntry[] = [];
  for (const [key, list] of union) {
    // Absent from a summary: up to its `min` there, all of it error.
    let count = minSum;
    let bound = minSum;
    const m: MergedEntry = { key, count: 0, bound: 0, failed: 0, bytes_sent: 0, bytes_received: 0, bytes_failed: 0 };
    for (const { e, min } of list) {
      count += e.c - min;
      bound += e.e - min;
      m.failed += e.f;
      m.bytes_sent += e.bs;
      m.bytes_received += e.br;
      m.bytes_failed += e.bf;
    }
    m.count = count;
    m.bound = bound;
    all.push(m);
  }
  all.sort(byCountDesc);
  const entries = all.slice(0, k);
  for (const m of entries) {
    for (const { e } of union.get(m.key)!) {
      if (!e.h || e.h.length === 0) continue;
      m.latency ??= newHistogram(2);
      mergeWire(m.latency, e.h);
    }
  }
  // A key left out is below the k-th count, and absent everywhere it is at most minSum.
  const min = Math.max(minSum, all.length > k ? all[k].count : 0);
  return { n, min, entries };
}
