/**
 * Space-Saving (Metwally, Agrawal, El Abbadi 2005): the heavy hitters of a stream in k counters.
 * Each tracked key has a count that never under-estimates its true count and an error `err`
 * with `count − err ≤ true ≤ count`; a key not tracked occurred at most `min()` times. With k
 * counters every error is at most N/k (N: total weight).
 *
 * A new key, when all k counters are taken, replaces the key of the smallest counter and inherits
 * its count as its error. A min-heap on count finds that counter in O(log k); a map finds a key's.
 * Memory: k entries, whatever the number of distinct keys.
 *
 * Merging is in merge.ts (the mergeable variant: Agarwal et al., "Mergeable Summaries", 2012).
 */

/** One counter. Fields besides key/count/err are the caller's, reset when the counter changes key. */
export interface Counter<A> {
  key: string;
  count: number;
  err: number;
  /** The caller's per-key figures (failures, bytes…); `reset` clears them on eviction. */
  aux: A;
  /** Place in the heap. */
  at: number;
}

export class SpaceSaving<A> {
  private readonly byKey = new Map<string, Counter<A>>();
  /** Min-heap on count. */
  private readonly heap: Counter<A>[] = [];
  /** Total weight added. */
  n = 0;
  /**
   * What a key not tracked may have had after `rekey` emptied counters: a new key starts from it
   * (count and error), as it would from an evicted counter.
   */
  private floor = 0;

  /**
   * @param k counters (≥ 1)
   * @param newAux the figures of a new counter
   * @param resetAux clears a counter's figures when it is taken over by another key (no allocation)
   */
  constructor(
    readonly k: number,
    private readonly newAux: () => A,
    private readonly resetAux: (a: A) => void,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Upper bound on the count of any key not tracked: the smallest counter once all k are taken, else 0. */
  min(): number {
    return this.heap.length < this.k ? this.floor : this.heap[0].count;
  }

  /** Counts `weight` more of `key`; returns its counter (for the caller's figures). */
  add(key: string, weight = 1): Counter<A> {
    this.n += weight;
    let c = this.byKey.get(key);
    if (c) {
      c.count += weight;
      this.down(c.at);
      return c;
    }
    if (this.heap.length < this.k) {
      c = { key, count: this.floor + weight, err: this.floor, aux: this.newAux(), at: this.heap.length };
      this.heap.push(c);
      this.byKey.set(key, c);
      this.up(c.at);
      return c;
    }
    // Evict the smallest: the new key may have occurred up to its count times unseen.
    c = this.heap[0];
    this.byKey.delete(c.key);
    c.key = key;
    c.err = c.count;
    c.count += weight;
    this.resetAux(c.aux);
    this.byKey.set(key, c);
    this.down(0);
    return c;
  }

  /**
   * Renames every key by `fn` (route templates learned since the key was counted); counters that
   * now share a key are added up (counts, errors, and the caller's figures by `mergeAux`).
   */
  rekey(fn: (key: string) => string, mergeAux: (into: A, from: A) => void): void {
    this.floor = this.min();
    const old = this.heap.splice(0);
    this.byKey.clear();
    for (const c of old) {
      const key = fn(c.key);
      const into = this.byKey.get(key);
      if (into) {
        into.count += c.count;
        into.err += c.err;
        mergeAux(into.aux, c.aux);
        continue;
      }
      c.key = key;
      c.at = this.heap.length;
      this.heap.push(c);
      this.byKey.set(key, c);
    }
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get(key: string): Counter<A> | undefined {
    return this.byKey.get(key);
  }

  /** Counters, largest count first (ties by key, so the order is stable). */
  top(limit = this.k): Counter<A>[] {
    return [...this.heap].sort(byCountDesc).slice(0, limit);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].count <= h[i].count) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].count < h[m].count) m = l;
      if (r < h.length && h[r].count < h[m].count) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(i: number, j: number): void {
    const h = this.heap;
    const t = h[i];
    h[i] = h[j];
    h[j] = t;
    h[i].at = i;
    h[j].at = j;
  }
}

export function byCountDesc(a: { key: string; count: number }, b: { key: string; count: number }): number {
  return b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
