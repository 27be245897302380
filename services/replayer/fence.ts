/**
 * Self-fencing of a replayer cut off from the job. Pure: the caller passes the clock and what it
 * last heard.
 *
 * A replayer that the router can no longer hear is evicted after `heartbeat_ms × missed −
 * heartbeat_ms / 4`, and its records due from a cutoff on are routed to other replayers
 * (services/router/handover.ts). If it is still alive (a partition, not a crash) it must not send
 * those records too, so it stops sending on its own, before that cutoff, when either:
 * - NATS has not answered a round trip (PING/PONG) for `fence_ms`: it is cut off, and whatever it
 *   says no longer reaches the router; or
 * - a beat it sent `fence_ms` ago is still unseen in the router's view (which it hears every
 *   100 ms), or that view says this life is gone: the path to the router is broken even though
 *   NATS answers (another node of a NATS cluster, one direction of a link). Only a view newer
 *   than the beat by `fence_ms` counts, so a router that is silent altogether (a takeover in
 *   progress) fences nobody.
 * A fenced replayer keeps what it holds until the router publishes the cutoff it used for this
 * life: records due from the cutoff on were handed over (not this life's any more); the rest are
 * counted `fenced`. Then it joins again as a new life.
 */
import type { DueRecord } from '../../shared/protocol.js';

/** The router's view of this life, as last heard (times on the replayer's clock, epoch ms). */
export interface RouterView {
  /** When the router published the view (epoch ms; the job's hosts keep their clocks in sync, as due times need). */
  at: number;
  /** When the router last heard a beat of this life: `at − last_heartbeat_ms`. */
  lastSeen: number;
  /** The router handed this life over or no longer lists it. */
  gone: boolean;
}

export interface FenceInput {
  now: number;
  /** When the last answered NATS round trip was sent. */
  lastAnswerAt: number;
  /** Send times of this life's recent beats, oldest first. */
  beats: readonly number[];
  router?: RouterView;
  fenceMs: number;
}

export type FenceReason = 'nats_silent' | 'router_silent' | 'evicted';

/** Clock skew and transit allowed between a beat's send and the router's receipt of it. */
export const BEAT_SLACK_MS = 50;

/** Why the replayer must stop sending now, or undefined while it may go on. */
export function fenceVerdict(i: FenceInput): FenceReason | undefined {
  if (i.router?.gone) return 'evicted';
  if (i.now - i.lastAnswerAt > i.fenceMs) return 'nats_silent';
  const v = i.router;
  if (v) {
    // A beat sent well after the router's last receipt, and long enough before this view that
    // the router should have seen it: lost on the way.
    for (const b of i.beats) if (b > v.lastSeen + BEAT_SLACK_MS && b + i.fenceMs < v.at) return 'router_silent';
  }
  return undefined;
}

/**
 * Splits what a fenced life held by the router's cutoff: due at or after it = handed over to
 * other replayers by the router (no longer this life's: not counted as received); before it =
 * never sent by anyone, counted `fenced`. No cutoff (the router never published one) = all fenced.
 */
export function splitHeld(held: readonly DueRecord[], cutoff: number | undefined): { handedOver: number; fenced: number } {
  if (cutoff === undefined) return { handedOver: 0, fenced: held.length };
  let handedOver = 0;
  for (const r of held) if (r.due >= cutoff) handedOver++;
  return { handedOver, fenced: held.length - handedOver };
}
