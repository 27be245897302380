/**
 * Replayer membership from heartbeats. Pure: the caller passes the clock. A replayer is a member
 * from its first heartbeat until it says it is leaving or misses `missed` heartbeats in a row.
 * Each member is one life of a replayer (`boot`): a heartbeat with the same id and another boot
 * is a restart, which replaces the old life at once (its counters start again at 0, so the old
 * life's figures must not be compared with the new one's). A replaced or evicted life (with a
 * boot) never comes back: its records may have been handed over (handover.ts), so the replayer
 * returns as a new life.
 */
import { lifeKey, REPLAYER_STATES, type HeartbeatMsg } from '../../shared/protocol.js';

export interface Member {
  id: string;
  /** This life's key, `lifeKey(id, boot)`: what routed counts are kept by. */
  life: string;
  boot?: string;
  lastSeen: number;
  capacity: number;
  inflight: number;
  sent: number;
  dropped: number;
  /** Requests per second between its last two heartbeats. */
  rps: number;
  /** When the router first routed records to it after this heartbeat (undefined: not since). */
  routedSince?: number;
}

/** Why a life left the membership without saying goodbye. */
export type GoneWhy = 'evicted' | 'restarted';

export class Membership {
  private readonly byId = new Map<string, Member>();
  /** Lives replaced by a newer one of the same id (bounded by the restarts in one job). */
  private readonly retired = new Set<string>();
  private sorted: string[] = [];

  /** `onGone` hears of every life gone without a goodbye (its records may be handed over). */
  constructor(
    private readonly heartbeatMs: number,
    private readonly missed: number,
    private readonly onGone: (m: Member, why: GoneWhy) => void = () => undefined,
  ) {}

  /** Silence after which a member is out: missed × period − period / 4. */
  get limitMs(): number {
    return this.heartbeatMs * this.missed - this.heartbeatMs / 4;
  }

  /** Applies a heartbeat; returns what changed ('restarted': a new life replaced the old one). */
  heartbeat(hb: Pick<HeartbeatMsg, 'id' | 'state' | 'capacity' | 'inflight'> & { boot?: string; sent?: number; dropped?: number }, now: number): 'joined' | 'left' | 'restarted' | undefined {
    const life = lifeKey(hb.id, hb.boot);
    const old = this.byId.get(hb.id);
    // A heartbeat of a life already replaced (delayed on the bus) changes nothing.
    if (this.retired.has(life)) return undefined;
    const restarted = old !== undefined && old.life !== life;
    if (restarted) this.retired.add(old.life);
    const prev = restarted ? undefined : old;
    const known = prev !== undefined;
    let change: 'joined' | 'left' | 'restarted' | undefined;
    if (hb.state === REPLAYER_STATES.leaving) {
      if (known || restarted) {
        this.byId.delete(hb.id);
        this.refresh();
        change = 'left';
      }
    } else {
      const sent = hb.sent ?? 0;
      const rps = prev && now > prev.lastSeen ? ((sent - prev.sent) * 1000) / (now - prev.lastSeen) : 0;
      this.byId.set(hb.id, { id: hb.id, life, ...(hb.boot ? { boot: hb.boot } : {}), lastSeen: now, capacity: hb.capacity, inflight: hb.inflight, sent, dropped: hb.dropped ?? 0, rps: Math.max(0, Math.round(rps)) });
      if (!known) {
        this.refresh();
        change = restarted ? 'restarted' : 'joined';
      }
    }
    // Told once the membership is up to date: the gone life's records may be routed at once.
    if (restarted) this.onGone(old, 'restarted');
    return change;
  }

  /**
   * Removes members whose `missed`-th heartbeat is overdue by a quarter period; returns their
   * ids. The quarter period (not a whole one) keeps a replayer killed right after a heartbeat out
   * within `missed` periods of the kill (3 s with the defaults), the router's tick included.
   */
  expire(now: number): string[] {
    const limit = this.limitMs;
    const gone = [...this.byId.values()].filter((m) => now - m.lastSeen > limit);
    for (const m of gone) {
      this.byId.delete(m.id);
      // Its records may be handed over: the life must come back as a new one (a fenced replayer
      // does). A replayer without a boot (older release) rejoins as before.
      if (m.boot) this.retired.add(m.life);
    }
    if (gone.length) this.refresh();
    for (const m of gone) this.onGone(m, 'evicted');
    return gone.map((m) => m.id);
  }

  /**
   * Counts every member as just seen: after the router's own connection was down, their silence
   * says nothing about them (their heartbeats could not reach us).
   */
  touchAll(now: number): void {
    for (const m of this.byId.values()) m.lastSeen = now;
  }

  /** Life keys of the members, in `ids()` order. */
  lives(): string[] {
    return this.sorted.map((id) => this.byId.get(id)!.life);
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
