/**
 * Handing a lost replayer life's records over to the live ones. Pure: the router passes the clock.
 *
 * The router keeps, per life, the records it routed there that are still recent (`Retained`).
 * When a life is gone without saying goodbye (evicted after missed heartbeats, or replaced by a
 * restart under the same id), its records due at or after the **cutoff** are routed again to live
 * replayers (`rerouted`); the older ones stay with the lost life (the accounting counts them
 * `replayer_lost`, or the life's own final counts say what became of them).
 *
 * Why a cutoff and not "everything it had not reported as sent": a replayer cut off from NATS may
 * still be alive and sending. It fences itself (services/replayer/fence.ts): it sends nothing
 * once NATS has not answered it for `fence_ms`, or once a beat of its own has gone unseen by the
 * router for `fence_ms`. When was it cut off? A replayer with work beats every BUSY_BEAT_MS; an
 * idle one has nothing to send until records reach it. So if its last beat reached the router at
 * `lastSeen`, it was cut off by `since + BUSY_BEAT_MS` (+ transit), where `since` is `lastSeen`,
 * or later when the router first routed records to it after that beat: had it still been
 * connected then, it would have beaten again. It has stopped sending `fence_ms` (+ its check
 * period) after that. Whatever is due from then on was certainly never sent by it: sending it
 * elsewhere cannot duplicate a request. The replayer applies the same cutoff (published by the
 * router) to what it held when it fenced, so both sides agree which records moved.
 */
import { BUSY_BEAT_MS, type DueRecord } from '../../shared/protocol.js';

/** Transit both ways, the router's state period and the replayer's fence check period. */
export const CUTOFF_MARGIN_MS = 150;

/** Due time from which a life is certain to send nothing more (see above). */
export function handoverCutoff(m: { lastSeen: number; routedSince?: number }, fenceMs: number): number {
  return Math.max(m.lastSeen, m.routedSince ?? m.lastSeen) + BUSY_BEAT_MS + fenceMs + CUTOFF_MARGIN_MS;
}

/**
 * Splits a gone life's retained records (due order) at the cutoff. Call with
 * `max(cutoff, retained.floor)`: records older than the floor are no longer held, so the cutoff
 * published to the replayer must not reach below it.
 */
export function splitAtCutoff(records: readonly DueRecord[], cutoff: number): { kept: number; reroute: DueRecord[] } {
  let i = 0;
  // Retained records are in due order (the time wheel releases in order and routing keeps it).
  while (i < records.length && records[i]!.due < cutoff) i++;
  return { kept: i, reroute: records.slice(i) };
}

/**
 * Recent records routed to each life, oldest first; memory is bounded by `keepMs` of traffic
 * (records due before `now − keepMs` are let go on `trim`).
 */
export class Retained {
  private readonly byLife = new Map<string, { items: DueRecord[]; head: number }>();
  /** Every record due at or after this is still retained (the last trim's bound). */
  floor = -Infinity;

  constructor(private readonly keepMs: number) {}

  add(life: string, records: readonly DueRecord[]): void {
    let q = this.byLife.get(life);
    if (!q) this.byLife.set(life, (q = { items: [], head: 0 }));
    for (const r of records) q.items.push(r);
  }

  /** Lets go of records due before `now − keepMs`: no cutoff can reach back that far. */
  trim(now: number): void {
    const oldest = now - this.keepMs;
    this.floor = Math.max(this.floor, oldest);
    for (const q of this.byLife.values()) {
      while (q.head < q.items.length && q.items[q.head]!.due < oldest) q.items[q.head++] = undefined as unknown as DueRecord;
      if (q.head > 1024 && q.head * 2 > q.items.length) {
        q.items = q.items.slice(q.head);
        q.head = 0;
      }
    }
  }

  /** Removes and returns a life's retained records (when it is gone). */
  take(life: string): DueRecord[] {
    const q = this.byLife.get(life);
    this.byLife.delete(life);
    return q ? q.items.slice(q.head) : [];
  }

  /** Records retained over every life (for tests and the memory bound). */
  get size(): number {
    let n = 0;
    for (const q of this.byLife.values()) n += q.items.length - q.head;
    return n;
  }
}
