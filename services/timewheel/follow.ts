/**
 * Follow mode's clock (a live source, `[fetcher.jetstream] follow`), pure: log time runs with the
 * wall clock, `delay` behind it, so a record is due at its own ts + delay:
 *
 *   due(ts) = originWall + (ts − originLog),   originLog = originWall − delay
 *
 * A pause freezes the position and a resume re-bases at it (pacer.ts), so after a pause of P ms
 * the job runs P ms behind live, at speed 1, for good: `behindLive` says so.
 */
import { logTimeAt, startPacer, type PacerState } from './pacer.js';

/**
 * The pacer of a followed job started (or continued) at wall time `now`. `lastTs`: the last
 * released record's log time after a restart (nothing leaves before it). No idle cap: log time
 * must stay wall time.
 */
export function followPacer(now: number, delayMs: number, lastTs?: number): PacerState {
  const p = startPacer(now, now - delayMs, 1, 0);
  if (lastTs !== undefined && lastTs > p.lastTs) p.lastTs = lastTs;
  return p;
}

/**
 * Log time a followed job is at: its clock's, held back to the oldest record still buffered when
 * that one is overdue (flow control holds it): the job is then only as far as what it released.
 */
export function followPosition(p: PacerState, oldestBuffered: number | undefined, now: number): number {
  const clock = Math.max(logTimeAt(p, now), p.originLog);
  return oldestBuffered !== undefined && oldestBuffered < clock ? oldestBuffered : clock;
}

/** How far behind live a followed job at log time `position` runs at wall time `now`, ms (≥ 0). */
export function behindLive(position: number, delayMs: number, now: number): number {
  return Math.max(0, Math.round(now - delayMs - position));
}
