/** Deterministic random streams for tests: the same every run, so a failure can be replayed. Not a stable API. */

/** Tiny deterministic PRNG (mulberry32): numbers in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` keys `<prefix><rank>` drawn from a Zipf(s) law over `distinct` ranks (rank 0 the most frequent), by inverse CDF. */
export function zipfKeys(n: number, distinct: number, s: number, seed: number, prefix = '/u'): string[] {
  const cdf = new Float64Array(distinct);
  let sum = 0;
  for (let i = 0; i < distinct; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  const r = prng(seed);
  const out = new Array<string>(n);
  for (let j = 0; j < n; j++) {
    const x = r() * sum;
    let lo = 0;
    let hi = distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    out[j] = prefix + lo;
  }
  return out;
}

/** Exact counts of each key (the reference the summaries are checked against). */
export function exactCounts(keys: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

/** The exact top `n` keys by count, ties by key (as the summaries sort). */
export function exactTop(counts: Map<string, number>, n: number): string[] {
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n).map(([k]) => k);
}
