/**
 * Which dispatch batches the router routes, and how many copies never reached it. Pure.
 *
 * The time wheel numbers its dispatch batches from 0 (`n`) and carries the cumulative count of
 * copies released so far including the batch (`upto`). So:
 * - a batch whose `n` is below the next expected one was routed before (a re-sent batch after a
 *   time wheel restart, or a redelivery): routing it again would send its requests twice;
 * - `upto − records − copies seen so far` copies were released in batches that never arrived
 *   (lost on the bus, or published in the instant a time wheel died): `bus_lost`;
 * - the dispatch end's total closes the count the same way.
 */
export interface SequenceState {
  /** The next dispatch batch number expected. */
  nextN: number;
  /** Copies accounted for so far: routed, or counted lost. */
  seenCopies: number;
}

export type BatchVerdict = { duplicate: true } | { duplicate: false; lost: number };

export function startSequence(): SequenceState {
  return { nextN: 0, seenCopies: 0 };
}

/** Decides one dispatch batch (`n`, `upto`, `count` records); updates the state. */
export function acceptBatch(s: SequenceState, n: number, upto: number, count: number): BatchVerdict {
  if (n < s.nextN) return { duplicate: true };
  s.nextN = n + 1;
  const lost = Math.max(0, upto - count - s.seenCopies);
  s.seenCopies = Math.max(s.seenCopies, upto);
  return { duplicate: false, lost };
}

/** The dispatch end: copies of the job in all; returns the copies that never arrived. */
export function acceptEnd(s: SequenceState, copies: number): number {
  const lost = Math.max(0, copies - s.seenCopies);
  s.seenCopies = Math.max(s.seenCopies, copies);
  return lost;
}
