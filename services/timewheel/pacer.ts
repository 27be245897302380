/**
 * Maps log time to wall time. Pure: the caller passes the clock.
 *
 *   due(ts) = originWall + (ts − originLog) / speed − skipped
 *
 * Scheduled from a fixed origin (k6 / wrk2 style), never "previous due + gap", so rounding never
 * accumulates. `skipped` grows when an idle gap is capped: a gap whose wall length exceeds
 * `maxIdleMs` is shortened to `maxIdleMs` (GoReplay's max-wait). A speed change or a pause
 * re-bases the origin at the current position, so log time never jumps.
 */
export interface PacerState {
  originWall: number;
  originLog: number;
  speed: number;
  /** Longest wall wait between consecutive records, ms; 0 = no cap. */
  maxIdleMs: number;
  skipped: number;
  lastTs: number;
}

export function startPacer(originWall: number, originLog: number, speed: number, maxIdleMs: number): PacerState {
  return { originWall, originLog, speed, maxIdleMs, skipped: 0, lastTs: originLog };
}

/** Wall time skipped by the idle cap if the next record has log time `ts`. */
function skippedBefore(p: PacerState, t: number): number {
  const gapWall = (t - p.lastTs) / p.speed;
  return p.maxIdleMs > 0 && gapWall > p.maxIdleMs ? p.skipped + gapWall - p.maxIdleMs : p.skipped;
}

/** Due wall time the next record (in order: ts ≥ every earlier ts) would get; changes nothing. */
export function peekDue(p: PacerState, ts: number): number {
  const t = Math.max(ts, p.lastTs);
  return p.originWall + (t - p.originLog) / p.speed - skippedBefore(p, t);
}

/** Due wall time of the next record in order; records it as the latest (for the idle cap). */
export function dueAt(p: PacerState, ts: number): number {
  const t = Math.max(ts, p.lastTs);
  p.skipped = skippedBefore(p, t);
  p.lastTs = t;
  return p.originWall + (t - p.originLog) / p.speed - p.skipped;
}

/** Log time the wall clock `now` corresponds to (for progress and re-basing). */
export function logTimeAt(p: PacerState, now: number): number {
  return p.originLog + (now - p.originWall + p.skipped) * p.speed;
}

/**
 * Re-bases so that from wall time `now` the pacer runs at `speed`, continuing from log time
 * `position` (a speed change, or a resume after a pause frozen at `position`).
 */
export function rebase(p: PacerState, now: number, position: number, speed: number): PacerState {
  return { originWall: now, originLog: position, speed, maxIdleMs: p.maxIdleMs, skipped: 0, lastTs: Math.max(p.lastTs, position) };
}
