/**
 * Whether the replay is falling behind, decided once per reporter interval from that interval's
 * lateness p99 (send time minus due time), and whether to say so in the log. Pure: the reporter
 * passes the clock in, so the rate limit is tested with fake time.
 *
 * A lagging run can stay over the threshold for its whole length; warning every interval would
 * bury everything else in the log. So there is at most one warning per episode (from crossing the
 * threshold to falling back under it) and at most one per LAG_WARN_GAP_MS, so a lateness that
 * flaps around the threshold does not warn every other second. An episode whose warning was held
 * back by the gap still gets it once the gap has passed, if it is still going on then.
 */

/** The shortest time between two warnings, ms. */
export const LAG_WARN_GAP_MS = 10_000;

export interface LagState {
  /** The last measured interval was over the threshold (the progress line's BEHIND). */
  behind: boolean;
  /** The current episode has been warned about. */
  warned: boolean;
  /** When the last warning was logged, epoch ms (null = never). */
  lastWarnAt: number | null;
}

export const LAG_START: LagState = { behind: false, warned: false, lastWarnAt: null };

export interface LagVerdict {
  state: LagState;
  /** Log the warning now. */
  warn: boolean;
}

/**
 * @param p99Ms the interval's lateness p99, ms; undefined when nothing was sent in the interval
 *   (no evidence either way, so the state is kept).
 * @param thresholdMs 0 = off: never behind, never a warning.
 * @param now epoch ms.
 */
export function lagVerdict(prev: LagState, p99Ms: number | undefined, thresholdMs: number, now: number): LagVerdict {
  // Off, or back under the threshold: the episode (if any) is over.
  if (thresholdMs <= 0 || (p99Ms !== undefined && p99Ms <= thresholdMs)) return { state: { ...prev, behind: false, warned: false }, warn: false };
  if (p99Ms === undefined) return { state: prev, warn: false };
  const gapPassed = prev.lastWarnAt === null || now - prev.lastWarnAt >= LAG_WARN_GAP_MS;
  const warn = !prev.warned && gapPassed;
  return { state: { behind: true, warned: prev.warned || warn, lastWarnAt: warn ? now : prev.lastWarnAt }, warn };
}
