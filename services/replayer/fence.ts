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
 * - the router's own view, which it hears every 100 ms, says its last heartbeat arrived more
 *   than `heartbeat_ms + fence_ms` ago (an idle replayer beats once per `heartbeat_ms`), or that
 *   this life is gone: the path to the router is broken even though NATS answers (another node
 *   of a NATS cluster, one direction of a link).
 * A fenced replayer keeps what it holds until the router publishes the cutoff it used for this
 * life: records due from the cutoff on were handed over (not this life's any more); the rest are
 * counted `fenced`. Then it joins again as a new life.
 */
import type { DueRecord } from '../../shared/protocol.js';

/** What the replayer last heard, on its own clock (epoch ms). */
export interface FenceInput {
  now: number;
  /** When the last answered NATS round trip was sent. */
  lastAnswerAt: number;
  /** The router's last view of this life, if one arrived: when it arrived, and what it said. */
  router?: { at: number; silentMs: number; gone: boolean };
  fenceMs: number;
  heartbeatMs: number;
}

export type FenceReason = 'nats_silent' | 'router_silent' | 'evicted';

/** Why the replayer must stop sending now, or undefined while it may go on. */
export function fenceVerdict(i: FenceInput): FenceReason | undefined {
  if (i.router?.gone) return 'evicted';
  if (i.now - i.lastAnswerAt > i.fenceMs) return 'nats_silent';
  // The router's figure grows while its view travels to us: add the time since it arrived.
  if (i.router && i.router.silentMs + (i.now - i.router.at) > i.heartbeatMs + i.fenceMs) return 'router_silent';
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
