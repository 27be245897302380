/**
 * Replayer membership from heartbeats. Pure: the caller passes the clock. A replayer is a member
 * from its first heartbeat until it says it is leaving or misses `missed` heartbeats in a row.
 */
import { REPLAYER_STATES, type HeartbeatMsg } from '../../shared/protocol.js';

export interface Member {
  id: string;
  lastSeen: number;
  capacity: number;
  inflight: number;
  sent: number;
  dropped: number;
  /** Requests per second between its last two heartbeats. */
  rps: number;
}

export class Membership {
  private readonly byId = new Map<string, Member>();
  private sorted: string[] = [];

  constructor(
    private readonly heartbeatMs: number,
    private readonly missed: number,
  ) {}

  /** Silence after which a member is out: missed × period − period / 4. */
  get limitMs(): number {
    return this.heartbeatMs * this.missed - this.heartbeatMs / 4;
  }

  /** Applies a heartbeat; returns 'joined' | 'left' | undefined when nothing changed. */
  heartbeat(hb: Pick<HeartbeatMsg, 'id' | 'state' | 'capacity' | 'inflight'> & { sent?: number; dropped?: number }, now: number): 'joined' | 'left' | undefined {
    const prev = this.byId.get(hb.id);
    const known = prev !== undefined;
    if (hb.state === REPLAYER_STATES.leaving) {
      if (!known) return undefined;
      this.byId.delete(hb.id);
      this.refresh();
      return 'left';
    }
    const sent = hb.sent ?? 0;
    const rps = prev && now > prev.lastSeen ? ((sent - prev.sent) * 1000) / (now - prev.lastSeen) : 0;
    this.byId.set(hb.id, { id: hb.id, lastSeen: now, capacity: hb.capacity, inflight: hb.inflight, sent, dropped: hb.dropped ?? 0, rps: Math.max(0, Math.round(rps)) });
    if (known) return undefined;
    this.refresh();
    return 'joined';
  }

  /**
   * Removes members whose `missed`-th heartbeat is overdue by a quarter period; returns their
   * ids. The quarter period (not a whole one) keeps a replayer killed right after a heartbeat out
   * within `missed` periods of the kill (3 s with the defaults), the router's tick included.
   */
  expire(now: number): string[] {
    const limit = this.limitMs;
    const gone = [...this.byId.values()].filter((m) => now - m.lastSeen > limit).map((m) => m.id);
    for (const id of gone) this.byId.delete(id);
    if (gone.length) this.refresh();
    return gone;
  }

  /**
   * Counts every member as just seen: after the router's own connection was down, their silence
   * says nothing about them (their heartbeats could not reach us).
   */
  touchAll(now: number): void {
    for (const m of this.byId.values()) m.lastSeen = now;
  }

  /** Member ids, sorted (a stable order for round-robin and reports). */
  ids(): readonly string[] {
    return this.sorted;
  }

  get(id: string): Member | undefined {
    return this.byId.get(id);
  }

  private refresh(): void {
    this.sorted = [...this.byId.keys()].sort();
  }
}
