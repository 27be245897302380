/**
 * The router keeps replayer membership from heartbeats and sends each dispatched record to one
 * replayer's own subject (route.ts decides which). It counts what it routed to each replayer
 * life, and every record it could not route, by reason, so the reporter can close the accounting.
 *
 * One router is active per job (the router lease). Others are hot standbys: they keep membership
 * and the dispatch sequence from the same messages and make the same routing decisions without
 * publishing, adopting the active router's counts from each of its state messages; on takeover
 * they route from the next dispatch batch on. What the old router did in its last ~100 ms (since
 * its last state message) is estimated by the standby's own decisions.
 */
import { connectBus, type NatsConnection } from '../../shared/bus.js';
import type { HavokConfig } from '../../shared/config.js';
import { Actor } from '../../shared/lifecycle.js';
import { observeRouter } from '../../shared/metrics.js';
import { Lease } from '../../shared/lease/lease.js';
import type { Logger } from '../../shared/log.js';
import { decodeOn, encode, envelope, subjects, type DispatchMsg, type DueRecord, type RouterMsg } from '../../shared/protocol.js';
import { handoverCutoff, Retained, splitAtCutoff } from './handover.js';
import { Membership, type GoneWhy, type Member } from './membership.js';
import { RoutePicker } from './route.js';
import { acceptBatch, acceptEnd, startSequence } from './sequence.js';

/** Records held at most while the lease is not renewed; the time wheel's backlog limit keeps it far below. */
const MAX_HELD_RECORDS = 200_000;

export class Router extends Actor {
  private nc!: NatsConnection;
  private readonly members: Membership;
  private readonly picker: RoutePicker;
  private readonly routed: Record<string, number> = {};
  private readonly dropped: Record<string, number> = {};
  private duplicates = 0;
  private readonly sequence = startSequence();
  private done = false;
  private connected = true;
  /** True while this process holds the router lease (it routes and publishes). */
  private active = false;
  /** Dispatch batches held while the lease is not renewed (see route). */
  private held: DueRecord[][] = [];
  private heldRecords = 0;
  private lease!: Lease;
  /** Recent records per life, for handing a lost life's records over (handover.ts). */
  private readonly retained: Retained;
  private rerouted = 0;
  private readonly handovers: Record<string, number> = {};
  private readonly sender = `router-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  constructor(
    private readonly cfg: HavokConfig,
    log: Logger,
  ) {
    super(log);
    this.members = new Membership(cfg.replayer.heartbeat_ms, cfg.router.missed_heartbeats, (m, why) => this.handOver(m, why));
    this.picker = new RoutePicker(cfg.router.hash);
    // Every cutoff lies within the eviction time of the life's last heartbeat (handover.ts).
    this.retained = new Retained(this.members.limitMs + cfg.replayer.heartbeat_ms);
  }

  protected async run(signal: AbortSignal): Promise<void> {
    const job = this.cfg.job.id;
    this.nc = await connectBus(this.cfg.nats, this.log, { name: this.sender, signal: this.signal });
    this.onClose('nats', () => this.nc.drain());
    this.lease = new Lease({ nc: this.nc, job, role: 'router', holder: this.sender, log: this.log, replicas: this.cfg.nats.stream_replicas });
    this.lease.onLost(() => this.finish(1, 'another router is active for the job'));
    this.nc.subscribe(subjects.router(job), {
      callback: (_err, msg) => this.guard(() => {
        const r = decodeOn('router', msg.data);
        if (this.active || r.sender === this.sender) return;
        // A standby carries the active router's counts (its own decisions fill in after them).
        Object.assign(this.routed, r.routed);
        Object.assign(this.dropped, r.dropped_by_reason);
        Object.assign(this.handovers, r.handovers);
        this.duplicates = r.duplicates;
        this.rerouted = r.rerouted ?? this.rerouted;
      }),
    });
    this.nc.subscribe(subjects.heartbeat(job), {
      callback: (_err, msg) => this.guard(() => {
        const hb = decodeOn('heartbeat', msg.data);
        const change = this.members.heartbeat(hb, Date.now());
        if (change) {
          this.log.info({ replayer: hb.id, boot: hb.boot, change, members: this.members.ids().length }, `replayer ${change}`);
          this.publishState();
        }
      }),
    });
    this.nc.subscribe(subjects.dispatch(job), {
      callback: (_err, msg) => this.guard(() => {
        const m = decodeOn('dispatch', msg.data);
        if (m.kind === 'dispatch') this.route(m);
        else this.end(m.copies);
      }),
    });
    this.nc.subscribe(subjects.ended(job), { callback: (_err, msg) => this.guard(() => decodeOn('ended', msg.data).job === job && this.finish(0, 'job ended')) });
    void this.watchConnection();
    const tick = setInterval(() => {
      // While our own connection is down, missing heartbeats are our problem, not theirs.
      if (!this.connected) return;
      this.releaseHeld();
      this.retained.trim(Date.now());
      const gone = this.members.expire(Date.now());
      if (gone.length) this.log.warn({ replayers: gone }, 'replayer missed heartbeats, evicted');
      this.publishState();
    }, Math.min(100, this.cfg.replayer.heartbeat_ms));
    this.onClose('tick', () => clearInterval(tick));
    // Membership and the dispatch sequence are kept from here on, active or not.
    void this.lease
      .acquire(signal)
      .then(() => {
        this.active = true;
        this.onClose('lease', () => this.lease.release());
        this.publishState();
      })
      .catch(() => undefined);
  }

  private async watchConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') this.connected = false;
      else if (s.type === 'reconnect') {
        this.connected = true;
        this.members.touchAll(Date.now());
      }
    }
  }

  protected async drain(): Promise<void> {
    if (this.heldRecords) this.count('router_fenced', this.heldRecords);
    this.publishState();
    await this.nc?.flush().catch(() => undefined);
  }

  private route(m: DispatchMsg): void {
    const verdict = acceptBatch(this.sequence, m.n, m.upto, m.records.length);
    if (verdict.duplicate) {
      // Already routed (a re-sent batch): sending it again would duplicate requests.
      this.duplicates += m.records.length;
      return;
    }
    if (verdict.lost > 0) this.count('bus_lost', verdict.lost);
    if (this.active && !this.lease.isOwner()) {
      // Fencing: our lease was not renewed in time (NATS away?). Held until it is, so nothing
      // goes out while another router might be sending; counted if it never is.
      if (this.heldRecords + m.records.length > MAX_HELD_RECORDS) this.count('router_fenced', m.records.length);
      else {
        this.held.push(m.records);
        this.heldRecords += m.records.length;
      }
      return;
    }
    this.releaseHeld(); // in order: what was held goes first
    this.assign(m.records);
  }

  /** Routes once the lease is renewed what arrived while it was not. */
  private releaseHeld(): void {
    if (!this.held.length || !this.lease.isOwner()) return;
    const held = this.held;
    this.held = [];
    this.heldRecords = 0;
    for (const records of held) this.assign(records);
  }

  /** Groups records by replayer (route.ts decides) and sends each group to its replayer. */
  private assign(records: DueRecord[]): void {
    const ids = this.members.ids();
    if (ids.length === 0) {
      this.count('no_replayer', records.length);
      return;
    }
    const groups = new Map<string, DueRecord[]>();
    const weightOf = (id: string): number => {
      const mem = this.members.get(id);
      return mem ? mem.capacity - mem.inflight : 1;
    };
    for (const r of records) {
      const id = this.picker.pick(r.key, ids, weightOf);
      let g = groups.get(id);
      if (!g) groups.set(id, (g = []));
      g.push(r);
    }
    for (const [id, group] of groups) {
      const member = this.members.get(id)!;
      // A standby decides as the active router would, without sending.
      if (this.active) this.nc.publish(subjects.replayer(this.cfg.job.id, id), encode({ ...envelope('assign', this.sender), ...(member.boot ? { boot: member.boot } : {}), records: group }));
      // Counted per life: a replayer restarted under this id starts its counts again at 0.
      this.routed[member.life] = (this.routed[member.life] ?? 0) + group.length;
      member.routedSince ??= Date.now();
      if (member.boot) this.retained.add(member.life, group);
    }
  }

  /**
   * A life gone without a goodbye: its records due from the cutoff on go to live replayers
   * (handover.ts says why that cannot duplicate a request); the rest stay counted to it.
   */
  private handOver(m: Member, why: GoneWhy): void {
    const records = this.retained.take(m.life);
    if (!m.boot) return;
    const r = this.cfg.replayer;
    const cutoff = Math.max(handoverCutoff(m, r.fence_ms), this.retained.floor);
    this.handovers[m.life] = cutoff;
    const { reroute } = splitAtCutoff(records, cutoff);
    if (reroute.length === 0 || this.members.ids().length === 0) return;
    this.routed[m.life] = (this.routed[m.life] ?? 0) - reroute.length;
    this.rerouted += reroute.length;
    if (this.active) this.log.warn({ replayer: m.id, why, records: reroute.length, cutoff }, 'records of a lost replayer handed to live ones');
    this.assign(reroute);
  }

  private end(copies: number): void {
    const lost = acceptEnd(this.sequence, copies);
    if (lost > 0) this.count('bus_lost', lost);
    this.done = true;
    this.log.info({ routed: this.routed, dropped: this.dropped }, 'dispatch ended');
    this.publishState();
  }

  private count(reason: string, n: number): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + n;
    if (this.active) this.log.warn({ reason, records: n }, 'records not routed');
  }

  private publishState(): void {
    if (!this.nc || this.nc.isClosed() || !this.active) return;
    const msg: RouterMsg = {
      ...envelope('router', this.sender),
      members: this.members.lives(),
      backlog: this.members.ids().reduce((sum, id) => {
        const m = this.members.get(id)!;
        return sum + Math.max(0, (this.routed[m.life] ?? 0) - m.sent - m.dropped);
      }, 0),
      replayers: this.members.ids().map((id) => {
        const m = this.members.get(id)!;
        return { id, ...(m.boot ? { boot: m.boot } : {}), capacity: m.capacity, inflight: m.inflight, last_heartbeat_ms: Date.now() - m.lastSeen, routed: this.routed[m.life] ?? 0, rps: m.rps };
      }),
      routed: this.routed,
      dropped_by_reason: this.dropped,
      duplicates: this.duplicates,
      done: this.done,
      rerouted: this.rerouted,
      handovers: this.handovers,
      at: Date.now(),
    };
    observeRouter(this.cfg.job.id, msg);
    this.nc.publish(subjects.router(this.cfg.job.id), encode(msg));
  }
}
