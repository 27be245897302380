/**
 * Exact fractional rate: record i (from 0) is sent
 *
 *   copies(i) = ⌊(i + 1) · rate⌋ − ⌊i · rate⌋
 *
 * times, so after n records exactly ⌊n · rate⌋ copies went out (never random, never drifting):
 * rate 1.5 sends records alternately once and twice, rate 0.5 every other record. The sum
 * telescopes, which the property tests check.
 *
 * Computed in integer units of 1e-9 (the rate is quantised to that), keeping only the fractional
 * remainder, so the sum stays exact however many records pass (no float drift, no overflow).
 * A rate change keeps the fractional progress made so far.
 */
const SCALE = 1_000_000_000;

export interface RateState {
  /** Copies per record in units of 1e-9. */
  units: number;
  /** Accumulated fraction of a copy, in units of 1e-9 (0 ≤ acc < SCALE). */
  acc: number;
}

export function startRate(rate: number): RateState {
  return { units: Math.round(rate * SCALE), acc: 0 };
}

/** Copies to send of the next record. */
export function copiesFor(s: RateState): number {
  s.acc += s.units;
  const n = Math.floor(s.acc / SCALE);
  s.acc -= n * SCALE;
  return n;
}

/** Changes the rate from the next record on; the fractional progress so far is kept. */
export function changeRate(s: RateState, rate: number): void {
  s.units = Math.round(rate * SCALE);
}

export function rateOf(s: RateState): number {
  return s.units / SCALE;
}
