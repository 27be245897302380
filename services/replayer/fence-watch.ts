/**
 * The shell around fence.ts: probes NATS with round trips, listens to the router's view of this
 * replayer, and asks `fenceVerdict` every tick. It only tells the replayer; the replayer acts.
 */
import type { NatsConnection } from '../../shared/bus.js';
import { decodeOn, lifeKey, subjects } from '../../shared/protocol.js';
import { fenceVerdict, type FenceReason, type RouterView } from './fence.js';

/** How often NATS is asked for a round trip, and the fence check runs (within the cutoff margin). */
const PROBE_MS = 50;
const TICK_MS = 25;
/** Beats remembered: a few seconds' worth at the busy beat rate. */
const MAX_BEATS = 64;
/** A tick this late means our own event loop stalled: silence it measured may be ours, not NATS's. */
const MAX_TICK_LAG_MS = 100;

export interface FenceWatchOptions {
  nc: NatsConnection;
  job: string;
  id: string;
  /** The life being watched (changes when the replayer rejoins as a new one). */
  boot: () => string;
  fenceMs: number;
  now: () => number;
  /** The replayer must stop sending. Called once per life. */
  onFence: (reason: FenceReason) => void;
  /** The router published the cutoff it handed this (fenced) life's records over at. */
  onHandover: (cutoff: number) => void;
  /**
   * The router heard a beat this life sent after it fenced, and still lists it: it was never
   * evicted, so nothing was handed over, and what it holds is still its own (a NATS restart).
   */
  onResume: () => void;
  /** A router message that does not decode (the replayer counts it). */
  onMalformed: (err: unknown) => void;
}

export class FenceWatch {
  private lastAnswerAt: number;
  private router?: RouterView;
  private beats: number[] = [];
  private wasMember = false;
  private fenced = false;
  private fencedAt = Infinity;
  private probing = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private lastTick: number;

  constructor(private readonly o: FenceWatchOptions) {
    this.lastAnswerAt = o.now();
    this.lastTick = o.now();
  }

  start(): void {
    const sub = this.o.nc.subscribe(subjects.router(this.o.job), {
      callback: (_err, msg) => {
        let view;
        try {
          view = decodeOn('router', msg.data);
        } catch (err) {
          this.o.onMalformed(err);
          return;
        }
        this.onRouterView(view);
      },
    });
    this.timers.push(setInterval(() => this.probe(), PROBE_MS), setInterval(() => this.tick(), TICK_MS));
    this.stop = () => {
      sub.unsubscribe();
      for (const t of this.timers) clearInterval(t);
    };
  }

  stop: () => void = () => undefined;

  /** The replayer sent a beat of the watched life (at `t`). */
  beatSent(t: number): void {
    this.beats.push(t);
    if (this.beats.length > MAX_BEATS) this.beats.shift();
  }

  /** The replayer joined again as a new life: watch that one from a clean slate. */
  rejoined(): void {
    this.fenced = false;
    this.fencedAt = Infinity;
    this.wasMember = false;
    this.router = undefined;
    this.beats = [];
    this.lastAnswerAt = this.o.now();
  }

  private probe(): void {
    if (this.probing || this.o.nc.isClosed()) return;
    this.probing = true;
    const sentAt = this.o.now();
    this.o.nc
      .flush()
      .then(() => (this.lastAnswerAt = Math.max(this.lastAnswerAt, sentAt)))
      .catch(() => undefined)
      .finally(() => (this.probing = false));
  }

  private onRouterView(v: { at?: number; members: string[]; replayers: Array<{ id: string; boot?: string; last_heartbeat_ms: number }>; handovers?: Record<string, number> }): void {
    const life = lifeKey(this.o.id, this.o.boot());
    const member = v.members.includes(life);
    const cutoff = v.handovers?.[life];
    if (member) this.wasMember = true;
    const me = v.replayers.find((r) => r.id === this.o.id && r.boot === this.o.boot());
    // The router's own publish time: a view held up on a broken link is as old as it says.
    const at = v.at ?? this.o.now();
    const gone = cutoff !== undefined || (this.wasMember && !member);
    // Not listed yet (the first beat is on its way): nothing to judge the beats by.
    this.router = me ? { at, lastSeen: at - me.last_heartbeat_ms, gone } : gone ? { at, lastSeen: -Infinity, gone } : undefined;
    // Beats the router has seen need no more watching.
    if (me) while (this.beats.length && this.beats[0]! <= this.router!.lastSeen) this.beats.shift();
    if (this.fenced && cutoff !== undefined) this.o.onHandover(cutoff);
    else if (this.fenced && member && me && this.router!.lastSeen >= this.fencedAt) {
      this.fenced = false;
      this.o.onResume();
    }
  }

  private tick(): void {
    const now = this.o.now();
    const lag = now - this.lastTick - TICK_MS;
    this.lastTick = now;
    if (this.fenced) return;
    const reason = fenceVerdict({ now, lastAnswerAt: this.lastAnswerAt, beats: this.beats, router: this.router, fenceMs: this.o.fenceMs });
    // After a stall of our own, the silence may be ours: decide on the next, punctual tick.
    if (reason === undefined || (reason !== 'evicted' && lag > MAX_TICK_LAG_MS)) return;
    this.fenced = true;
    this.fencedAt = now;
    this.o.onFence(reason);
  }
}
