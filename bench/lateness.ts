/**
 * Lateness as a target saw it, arrival − due for each request, over time: overall, the first
 * STEADY_AFTER_S seconds apart from the rest, per second and the worst 100 ms windows, so a
 * start-up burst shows apart from a periodic stall. Pure: arrivals in, percentiles out.
 */
import { newHistogram, percentilesMs, recordMs, type Percentiles } from '../shared/histogram.js';
import { tsOf } from './generate-log.js';

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;


export interface LatenessWindow {
  /** Window start, seconds after the first due time. */
  at_s: number;
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface TargetLateness {
  overall: Percentiles;
  /** Records due in the first STEADY_AFTER_S seconds: cold JIT, connections being opened. */
  start: Percentiles;
  /** Records due after that. */
  steady: Percentiles;
  /** Fractions arriving more than LATE_MS after their due time. */
  start_late_5ms: number;
  steady_late_5ms: number;
  per_second: LatenessWindow[];
  /** The 100 ms windows with the highest max lateness, worst first. */
  worst_100ms: LatenessWindow[];
}

export const LATE_MS = 5;
export const STEADY_AFTER_S = 2;
/** job.warmup_ms default (shared/config.ts): the pacer's origin is started_at + warmup. */
export const WARMUP_MS = 500;

/**
 * Lateness as the target saw it, arrival − due, for each request, where (pacer.ts: speed 1, no
 * idle cap, origin at the job's start + warmup)
 *   due(i) = started_at + warmup_ms + (ts(i) − ts(0))
 * and ts(i) is the generated log's timestamp of line i. It includes the HTTP hop (~0.1 ms here)
 * and whatever the replayer does between deciding to send and the bytes leaving (undici's queue,
 * connecting), which the report's lateness (taken at the decision) does not see.
 */
export function targetLateness(arrivals: number[], startedAtMs: number, rate: number): TargetLateness {
  const origin = startedAtMs + WARMUP_MS;
  const n = arrivals.length >> 1;
  return latenessProfile(
    n,
    (k) => tsOf(arrivals[2 * k], 0, rate),
    (k, rel) => arrivals[2 * k + 1] - origin - rel,
  );
}

/**
 * Lateness of a tool that has no log to keep time by (hey -q): the k-th arrival, in arrival
 * order, against a uniform schedule at `rate` from the first arrival,
 *   due(k) = first + k × 1000 / rate,
 * so a tool that falls behind its rate shows it, and one that sends in bursts shows the bursts'
 * late side (arrivals ahead of the schedule count as 0, as the replay's early ones do).
 */
export function uniformLateness(arrivalsMs: readonly number[], rate: number): TargetLateness {
  const a = Float64Array.from(arrivalsMs).sort();
  return latenessProfile(
    a.length,
    (k) => (k * 1000) / rate,
    (k, rel) => a[k] - a[0] - rel,
  );
}

/** Percentiles over all, the first STEADY_AFTER_S s and after, per second and worst 100 ms; rel(k): due ms after the origin. */
function latenessProfile(n: number, relOf: (k: number) => number, lateOf: (k: number, rel: number) => number): TargetLateness {
  const hist = { all: newHistogram(), start: newHistogram(), steady: newHistogram() };
  const late = { start: 0, steady: 0 };
  const count = { start: 0, steady: 0 };
  const bySecond = new Map<number, number[]>();
  const by100 = new Map<number, number[]>();
  const add = (m: Map<number, number[]>, k: number, v: number): void => {
    const list = m.get(k);
    if (list) list.push(v);
    else m.set(k, [v]);
  };
  for (let k = 0; k < n; k++) {
    const rel = relOf(k);
    const l = lateOf(k, rel);
    const part = rel < STEADY_AFTER_S * 1000 ? 'start' : 'steady';
    recordMs(hist.all, l);
    recordMs(hist[part], l);
    count[part]++;
    if (l > LATE_MS) late[part]++;
    add(bySecond, Math.floor(rel / 1000), l);
    add(by100, Math.floor(rel / 100), l);
  }
  const summarize = (m: Map<number, number[]>, ms: number): LatenessWindow[] =>
    [...m.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([w, ls]) => {
        const h = newHistogram();
        for (const l of ls) recordMs(h, l);
        const q = percentilesMs(h);
        return { at_s: round((w * ms) / 1000, 1), count: ls.length, p50: q.p50, p99: q.p99, max: q.max };
      });
  return {
    overall: percentilesMs(hist.all),
    start: percentilesMs(hist.start),
    steady: percentilesMs(hist.steady),
    start_late_5ms: count.start ? round(late.start / count.start, 4) : 0,
    steady_late_5ms: count.steady ? round(late.steady / count.steady, 4) : 0,
    per_second: summarize(bySecond, 1000),
    worst_100ms: summarize(by100, 100)
      .sort((a, b) => b.max - a.max)
      .slice(0, 8),
  };
}
