/**
 * What a replay of these timestamps will look like, without sending anything. Pure: the same
 * pacer and rate the time wheel uses, run over the sorted log times.
 */
import { dueAt, startPacer } from '../timewheel/pacer.js';
import { copiesFor, startRate } from '../timewheel/rate.js';

export interface Timeline {
  records: number;
  requests: number;
  /** Wall time from the first due time to the last, ms. */
  durationMs: number;
  /** Most requests due in any one-second window of wall time. */
  peakRps: number;
}

/** `sortedTs` ascending (log epoch ms). */
export function planTimeline(sortedTs: ArrayLike<number>, speed: number, rate: number, maxIdleMs: number): Timeline {
  const n = sortedTs.length;
  if (n === 0) return { records: 0, requests: 0, durationMs: 0, peakRps: 0 };
  const pacer = startPacer(0, sortedTs[0], speed, maxIdleMs);
  const r = startRate(rate);
  const due = new Float64Array(n);
  const copies = new Uint32Array(n);
  let requests = 0;
  for (let i = 0; i < n; i++) {
    due[i] = dueAt(pacer, sortedTs[i]);
    copies[i] = copiesFor(r);
    requests += copies[i];
  }
  // Two pointers over due times: requests in [due[lo], due[lo] + 1000).
  let peak = 0;
  let inWindow = 0;
  let lo = 0;
  for (let hi = 0; hi < n; hi++) {
    inWindow += copies[hi];
    while (due[hi] - due[lo] >= 1000) inWindow -= copies[lo++];
    if (inWindow > peak) peak = inWindow;
  }
  return { records: n, requests, durationMs: due[n - 1] - due[0], peakRps: peak };
}

/** Records appearing after a later one (in file order), and the deepest such step back (ms). */
export class DisorderMeter {
  count = 0;
  depthMs = 0;
  private maxSeen = -Infinity;

  see(ts: number): void {
    if (ts < this.maxSeen) {
      this.count++;
      if (this.maxSeen - ts > this.depthMs) this.depthMs = this.maxSeen - ts;
    } else this.maxSeen = ts;
  }
}
