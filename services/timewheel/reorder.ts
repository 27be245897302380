/**
 * The re-order window: a min-heap of records by (ts, src, seq). A record may leave only once the
 * watermark has passed it — the watermark being the newest log time seen minus the window, or
 * +∞ once every source has ended — so a record arriving up to `window` ms of log time "late"
 * still leaves in order. Pure: no clock, no I/O.
 */
import type { LogRecord } from '../../shared/protocol.js';

function before(a: LogRecord, b: LogRecord): boolean {
  if (a.ts !== b.ts) return a.ts < b.ts;
  if (a.src !== b.src) return a.src < b.src;
  return a.seq < b.seq;
}

export class ReorderBuffer<T extends LogRecord = LogRecord> {
  private readonly heap: T[] = [];
  /** Newest log time seen per source; the watermark is the oldest of them minus the window. */
  private readonly newest = new Map<number, number>();
  private readonly ended = new Set<number>();
  /** Records that arrived after an earlier-ordered record had already left (ordering violated). */
  lateArrivals = 0;
  private lastOut: T | undefined;

  constructor(
    private readonly windowMs: number,
    private readonly sources: number,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  push(r: T): void {
    if (this.lastOut && before(r, this.lastOut)) this.lateArrivals++;
    const prev = this.newest.get(r.src);
    if (prev === undefined || r.ts > prev) this.newest.set(r.src, r.ts);
    const h = this.heap;
    h.push(r);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  /** The source has no more records: it no longer holds the watermark back. */
  endSource(src: number): void {
    this.ended.add(src);
  }

  get allEnded(): boolean {
    return this.ended.size >= this.sources;
  }

  /**
   * Log time up to which order is final. A source that has sent nothing yet (and not ended) holds
   * it at -∞, so a slow source never gets overtaken.
   */
  watermark(): number {
    let wm = Infinity;
    for (let src = 0; src < this.sources; src++) {
      if (this.ended.has(src)) continue;
      const n = this.newest.get(src);
      if (n === undefined) return -Infinity;
      wm = Math.min(wm, n - this.windowMs);
    }
    return wm;
  }

  /**
   * The next record in order if the watermark allows it (or `force`, when memory is full).
   * Strictly below the watermark: a source may still send a record at exactly the watermark, and
   * with a lower `src` that record must leave first.
   */
  peekReady(force = false): T | undefined {
    const head = this.heap[0];
    if (head === undefined) return undefined;
    return force || head.ts < this.watermark() ? head : undefined;
  }

  pop(): T | undefined {
    const h = this.heap;
    const top = h[0];
    if (top === undefined) return undefined;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    // The furthest record out so far: a late record leaving must not move it back, or the late
    // records after it would go uncounted.
    if (this.lastOut === undefined || before(this.lastOut, top)) this.lastOut = top;
    return top;
  }
}
