/**
 * Who owns a job's role (time wheel, router, reporter): the pure half of the lease. The shell
 * (lease.ts) reads the role's KV entry, asks `decideLease`, and does what it says; the tests
 * drive it with a fake clock.
 *
 * The rules:
 * - no entry (or a deleted one): try to create it (the KV's create fails if someone else won);
 * - our own entry at the revision we last wrote: renew it every `renewMs` (update at that
 *   revision, so a takeover in between makes the renew fail);
 * - someone else's entry: stand by, and remember when its revision last changed *on our clock*;
 *   once it has not changed for `ttlMs`, take it over (update at the revision we saw);
 * - fencing: the holder counts itself the owner only until `validUntil`, a fraction of the TTL
 *   after it *sent* its last successful write. A standby waits a whole TTL after it *saw* that
 *   write, which is later, so an owner cut off from NATS stops before anyone else starts (given
 *   clocks that run at the same rate; no clock needs to agree with another).
 */
export interface LeaseTiming {
  /** A holder silent this long loses the role. */
  ttlMs: number;
  /** How often the holder renews and a standby looks. */
  renewMs: number;
}

export interface LeaseState {
  /** Revision of our last successful write, when we hold the lease. */
  heldRevision: number | null;
  /** Until when we count ourselves the owner (fencing), epoch ms on our clock. */
  validUntil: number;
  /** The other holder's revision we last saw, and when (our clock) it changed. */
  seenRevision: number | null;
  seenAt: number;
}

/** What the lease's KV entry holds now: nothing (or deleted), or a holder at a revision. */
export type LeaseObservation = { exists: false; revision: number | null } | { exists: true; revision: number; holder: string };

export type LeaseAction =
  | { kind: 'create' }
  | { kind: 'renew'; revision: number }
  | { kind: 'take_over'; revision: number }
  | { kind: 'stand_by'; holder: string; silentMs: number }
  /** Our entry was replaced by another holder: we are no longer the owner. */
  | { kind: 'lost'; holder: string };

export function startLease(): LeaseState {
  return { heldRevision: null, validUntil: 0, seenRevision: null, seenAt: 0 };
}

/** Decides the next step from what the entry holds at `now`. Updates the standby bookkeeping. */
export function decideLease(s: LeaseState, me: string, seen: LeaseObservation, now: number, t: LeaseTiming): LeaseAction {
  if (!seen.exists) return { kind: 'create' };
  if (seen.holder === me) return { kind: 'renew', revision: seen.revision };
  if (s.heldRevision !== null) return { kind: 'lost', holder: seen.holder };
  if (seen.revision !== s.seenRevision) {
    s.seenRevision = seen.revision;
    s.seenAt = now;
  }
  const silentMs = now - s.seenAt;
  if (silentMs >= t.ttlMs) return { kind: 'take_over', revision: seen.revision };
  return { kind: 'stand_by', holder: seen.holder, silentMs };
}

/** A write (create, renew, take-over) sent at `sentAt` succeeded at `revision`. */
export function wrote(s: LeaseState, revision: number, sentAt: number, t: LeaseTiming): void {
  s.heldRevision = revision;
  // Well inside the TTL: a standby starts a whole TTL after it saw this write land.
  s.validUntil = sentAt + t.ttlMs - Math.max(t.renewMs, t.ttlMs / 4);
}

/** A write failed because the entry moved on (someone else holds it now). */
export function lostLease(s: LeaseState): void {
  s.heldRevision = null;
  s.validUntil = 0;
  s.seenRevision = null;
}

/** Fencing: may the holder act now? */
export function isOwner(s: LeaseState, now: number): boolean {
  return s.heldRevision !== null && now < s.validUntil;
}
