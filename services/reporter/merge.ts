/**
 * Merges replayers' stats exactly. Counters are cumulative per replayer life (one process start,
 * `lifeKey(id, boot)`: a replayer restarted under the same id counts from 0 again), so the job's
 * total is the sum of each life's latest message; interval histograms are added (HDR `add`),
 * never averaged. Pure apart from histogram memory.
 */
import { mergeWire, newHistogram, type Histogram } from '../../shared/histogram.js';
import { lifeKey, type StatsMsg } from '../../shared/protocol.js';
import { DiffMerger } from '../diff/merge.js';

export interface ApiTotals {
  count: number;
  failed: number;
  latency: Histogram;
}

export interface ReplayerTotals {
  received: number;
  sent: number;
  ok: number;
  failed: number;
  dropped: number;
  final: boolean;
  lastN: number;
}

/** What arrived during one reporter interval (for InfluxDB and the live view). */
export interface IntervalStats {
  latency: Histogram;
  latencyFromDue: Histogram;
  lateness: Histogram;
  byApi: Map<string, ApiTotals>;
  sent: number;
}

function newInterval(): IntervalStats {
  return { latency: newHistogram(), latencyFromDue: newHistogram(), lateness: newHistogram(), byApi: new Map(), sent: 0 };
}

function mergeApis(into: Map<string, ApiTotals>, from: StatsMsg['by_api']): void {
  for (const [name, a] of Object.entries(from)) {
    let t = into.get(name);
    if (!t) into.set(name, (t = { count: 0, failed: 0, latency: newHistogram() }));
    t.count += a.count;
    t.failed += a.failed;
    mergeWire(t.latency, a.latency);
  }
}

export class StatsMerger {
  private interval = newInterval();
  readonly latency = newHistogram();
  readonly latencyFromDue = newHistogram();
  readonly lateness = newHistogram();
  readonly byApi = new Map<string, ApiTotals>();
  /** The latest message of each replayer life, by `lifeKey(id, boot)`. */
  private readonly latest = new Map<string, StatsMsg>();
  /** Stats messages that arrived out of order or twice (within one life), ignored for counters. */
  stale = 0;
  /** Replayers' response comparisons (`[diff]`). */
  readonly diff = new DiffMerger();

  add(m: StatsMsg): void {
    // `n` counts from 0 in each life, so it orders messages within a life only.
    const key = lifeKey(m.id, m.boot);
    const prev = this.latest.get(key);
    if (prev && m.n <= prev.n) {
      this.stale++;
      return;
    }
    this.latest.set(key, m);
    if (m.diff) this.diff.add(key, m.diff);
    for (const [h, i] of [
      [m.latency, 'latency'],
      [m.latency_from_due, 'latencyFromDue'],
      [m.lateness, 'lateness'],
    ] as const) {
      mergeWire(this[i], h);
      mergeWire(this.interval[i], h);
    }
    mergeApis(this.byApi, m.by_api);
    mergeApis(this.interval.byApi, m.by_api);
    this.interval.sent += m.interval_sent;
  }

  /** What arrived since the last call; starts a new interval. */
  takeInterval(): IntervalStats {
    const i = this.interval;
    this.interval = newInterval();
    return i;
  }

  /** Each life's latest message (its cumulative heavy hitters and samples). */
  lives(): Iterable<StatsMsg> {
    return this.latest.values();
  }

  /** Each life's latest counters, by `lifeKey(id, boot)` (the keys of RouterMsg `routed`). */
  replayers(): Map<string, ReplayerTotals> {
    const out = new Map<string, ReplayerTotals>();
    for (const [key, m] of this.latest) {
      out.set(key, { received: m.received, sent: m.sent, ok: m.ok, failed: m.failed, dropped: sumValues(m.dropped_by_reason), final: m.final, lastN: m.n });
    }
    return out;
  }

  /** Sums of every replayer life's latest cumulative counters. */
  totals(): { received: number; sent: number; ok: number; failed: number; bytes_sent: number; bytes_received: number; dropped_by_reason: Record<string, number>; by_status: Record<string, number>; by_error: Record<string, number> } {
    const t = { received: 0, sent: 0, ok: 0, failed: 0, bytes_sent: 0, bytes_received: 0, dropped_by_reason: {}, by_status: {}, by_error: {} };
    for (const m of this.latest.values()) {
      t.received += m.received;
      t.sent += m.sent;
      t.ok += m.ok;
      t.failed += m.failed;
      t.bytes_sent += m.bytes_sent ?? 0;
      t.bytes_received += m.bytes_received ?? 0;
      addInto(t.dropped_by_reason, m.dropped_by_reason);
      addInto(t.by_status, m.by_status);
      addInto(t.by_error, m.by_error);
    }
    return t;
  }
}

export function sumValues(r: Record<string, number>): number {
  let s = 0;
  for (const v of Object.values(r)) s += v;
  return s;
}

export function addInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}
