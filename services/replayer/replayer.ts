/**
 * A replayer registers with heartbeats, takes the records the router assigns it, sends each at
 * its due time through a keep-alive undici Pool, and publishes what happened every interval:
 * cumulative counters plus interval histograms of latency (from the send and from the due time,
 * wrk2-style coordinated-omission correction) and lateness (send − due).
 */
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { connectBus, type NatsConnection } from '../../shared/bus.js';
import { requireKeys, type HavokConfig } from '../../shared/config.js';
import { ProtocolError } from '../../shared/errors.js';
import { Actor } from '../../shared/lifecycle.js';
import { observeHeartbeat, observeStats } from '../../shared/metrics.js';
import type { Logger } from '../../shared/log.js';
import { BUSY_BEAT_MS, decode, decodeOn, encode, envelope, JOB_STATES, REPLAYER_STATES, SAFE_TOKEN, subjects, type DueRecord, type ReplayerState, type StatsMsg } from '../../shared/protocol.js';
import { buildRequest, compileRules, type RequestRules } from './request.js';
import { DueQueue, systemClock } from './scheduler.js';
import { ReplayerStats } from './stats.js';
import { TargetConnections } from './connections.js';
import { errorKind, Exchange, type ExchangeOwner } from './exchange.js';
import { startSink, WARMUP_BATCH, WARMUP_REQUESTS, warmupRecords } from './warmup.js';
import { splitHeld, type FenceReason } from './fence.js';
import { FenceWatch } from './fence-watch.js';
import { DiffSender } from '../diff/sender.js';
import { adoptDiff } from '../diff/settings.js';
import { compileTracer, type Tracer } from '../../shared/trace/propagate.js';
import { Findings } from './findings.js';

/** Longest wait for in-flight requests when stopping. */
const DRAIN_WAIT_MS = 6000;
/** Records waiting (due or not) beyond which new ones are dropped as `overload`. */
const MAX_QUEUED = 200_000;
/** Stats go out this long after the replayer ran out of work (the reporter sees the end sooner). */
const IDLE_STATS_MS = 50;

export class Replayer extends Actor implements ExchangeOwner {
  private nc!: NatsConnection;
  private pool!: Pool;
  private stats = new ReplayerStats();
  private readonly queue: DueQueue<DueRecord>;
  private rules: RequestRules;
  private inflight = 0;
  private state: ReplayerState = REPLAYER_STATES.up;
  private idle?: () => void;
  private readonly sender: string;
  private readonly free: Exchange[] = [];
  /** True while pool.dispatch runs: an error it reports synchronously is settled after it. */
  private dispatching = false;
  private connections?: TargetConnections;
  /** Under `[diff]`: sends each record to the diff targets instead of the Pool (after the warm-up). */
  private diff?: DiffSender;
  private warmedForRun = false;
  private idleStats?: NodeJS.Timeout;
  /** While the code warm-up runs: its requests and counts are not the job's. */
  private warming = false;
  /** Set as the warm-up ends: its requests still queued in the Pool are aborted (exchange.ts). */
  private warmupEnded = false;
  private sentAtLastStats = 0;
  /** Sets each request's trace context (`[replayer.trace]`); undefined = adds none. */
  private readonly tracer: Tracer | undefined;
  /** Heavy hitters and request samples for the report. */
  private findings: Findings;
  /**
   * This life of the replayer: a restart under the same id is a new life whose counters start at
   * 0, and the router and reporter keep each life's counts apart (lifeKey in the protocol). A
   * replayer that fenced itself rejoins as a new life too.
   */
  boot = newBoot();
  /** Set while fenced (fence.ts): what it held, kept until the router says which were handed over. */
  private fence?: { reason: FenceReason; held: DueRecord[]; at: number; giveUp: NodeJS.Timeout };
  private rejoining = false;
  private watch?: FenceWatch;
  /** Records routed to an earlier life of this id (the router accounts for them). */
  private foreign = 0;
  /** The connections' byte counts when this life began (they count for the whole process). */
  private wireBase = { sent: 0, received: 0 };

  constructor(
    private readonly cfg: HavokConfig,
    log: Logger,
    readonly id: string,
  ) {
    super(log);
    if (!SAFE_TOKEN.test(id)) throw new Error(`replayer id ${JSON.stringify(id)} must be letters, digits, "_" or "-"`);
    this.sender = `replayer-${id}`;
    this.rules = compileRules(cfg.replayer.headers, cfg.replayer.remove_headers);
    this.queue = new DueQueue(systemClock, (rec, now) => this.trySend(rec, now));
    this.tracer = compileTracer(cfg.replayer.trace, cfg.job.id);
    this.findings = new Findings(cfg.reporter.top, id);
  }

  protected async run(): Promise<void> {
    const job = this.cfg.job.id;
    this.nc = await connectBus(this.cfg.nats, this.log, { name: this.sender, signal: this.signal });
    this.onClose('nats', () => this.nc.drain());
    // Under [diff] the Pool to the primary serves the code warm-up only; records go to DiffSender.
    if (this.cfg.diff) this.cfg.replayer.target ??= this.cfg.diff.primary;
    if (!this.cfg.replayer.target) await this.adoptJobSettings();
    requireKeys(this.cfg, [['replayer.target', this.cfg.replayer.target]]);
    const r = this.cfg.replayer;
    const origin = new URL(new URL(r.target!).origin);
    this.connections = new TargetConnections(origin);
    this.pool = new Pool(origin, {
      connections: r.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: r.timeout_ms,
      bodyTimeout: r.timeout_ms,
      connect: this.connections.connect,
    });
    this.onClose('target connections', () => {
      this.log.debug({ opened_ahead_used: this.connections?.hits, opened_on_demand: this.connections?.misses }, 'connections to the target');
      this.connections?.close();
    });
    // Before joining: cold, the send path is several times slower for its first few thousand
    // requests (interpreted code, and the Pool creating its clients), which showed as ~0.5 s of
    // lateness at the start of a replay.
    await this.warmUpCode();
    // Closed during the warm-up: do not join the job.
    if (this.signal.aborted) return;
    if (this.cfg.diff) {
      const diff = (this.diff = new DiffSender(this.cfg.diff, { timeoutMs: r.timeout_ms, connections: r.connections, clock: systemClock }));
      this.onClose('diff targets', () => diff.close());
      const t0 = performance.now();
      diff.warmUp();
      this.log.debug({ ms: Math.round(performance.now() - t0) }, 'comparison warmed up on synthetic responses');
    }
    // Connections open now, before the first due time (the job's warmup_ms), not on the first
    // requests; again when the job starts, replacing any that waited too long.
    void this.openConnections('start');
    // close() waits for in-flight requests; a request stuck past the drain must not hold the exit.
    this.onClose('http pool', async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.pool.close(), new Promise<void>((r) => (timer = setTimeout(r, 1500)))]);
      clearTimeout(timer);
      if (!this.pool.destroyed) await this.pool.destroy().catch(() => undefined);
    });
    const sub = this.nc.subscribe(subjects.replayer(job, this.id), {
      callback: (_err, msg) => {
        this.guard(() => {
          const m = decodeOn('replayer', msg.data);
          this.accept(m.records, m.boot);
        });
      },
    });
    this.onClose('assign subscription', () => sub.unsubscribe());
    this.nc.subscribe(subjects.ended(job), { callback: (_err, msg) => this.guard(() => decodeOn('ended', msg.data).job === job && this.finish(0, 'job ended')) });
    const statusSub = this.nc.subscribe(subjects.status(job), {
      callback: (_err, msg) => {
        try {
          if (!this.warmedForRun && decodeOn('status', msg.data).state === JOB_STATES.running) {
            this.warmedForRun = true;
            if (this.stats.sent === 0) void this.openConnections('job running');
          }
        } catch (err) {
          this.dropMalformed(err);
        }
        if (this.warmedForRun) statusSub.unsubscribe();
      },
    });
    const hb = setInterval(() => this.heartbeat(), r.heartbeat_ms);
    // Between heartbeats, a short beat while there is work: the router's backlog (the time
    // wheel's flow control) then lags by BUSY_BEAT_MS, not a whole heartbeat period, and a
    // busy replayer whose beats stop was cut off within BUSY_BEAT_MS (router/handover.ts).
    let lastBeat = 0;
    const progress = setInterval(() => {
      const done = this.stats.sent + this.stats.droppedTotal();
      if (done !== lastBeat || this.inflight > 0 || this.queue.length > 0) {
        lastBeat = done;
        this.heartbeat();
      }
    }, BUSY_BEAT_MS);
    this.onClose('progress timer', () => clearInterval(progress));
    const st = setInterval(() => this.publishStats(false), this.cfg.reporter.interval_ms);
    this.onClose('timers', () => (clearInterval(hb), clearInterval(st), clearTimeout(this.idleStats)));
    this.watch = new FenceWatch({
      nc: this.nc,
      job,
      id: this.id,
      boot: () => this.boot,
      fenceMs: r.fence_ms,
      now: () => Date.now(),
      onFence: (reason) => this.fenceOff(reason),
      onHandover: (cutoff) => void this.rejoin(cutoff),
      onResume: () => this.resume(),
      onMalformed: (err) => this.dropMalformed(err),
    });
    this.watch.start();
    this.onClose('fence watch', () => this.watch?.stop());
    this.heartbeat();
    this.log.info({ id: this.id, target: r.target, subject: subjects.replayer(job, this.id) }, 'replayer ready');
  }

  /**
   * The code warm-up (warmup.ts): synthetic records through the whole path to a loopback sink,
   * then fresh stats. Nothing reaches the target and nothing is counted. Before any
   * subscription, so no real record is in the queue meanwhile.
   */
  private async warmUpCode(): Promise<void> {
    const t0 = performance.now();
    const sink = await startSink();
    this.warming = true;
    this.connections!.redirectTo(sink.address);
    try {
      for (let i = 0; i < WARMUP_REQUESTS && !this.signal.aborted; i += WARMUP_BATCH) {
        // Through the codec too, as records arrive from the router.
        const records = warmupRecords(i, WARMUP_BATCH, systemClock.now());
        this.accept(decode(encode({ ...envelope('assign', this.sender), records }), 'assign').records);
        await new Promise((r) => setImmediate(r));
      }
      // Bounded: a sink that stops answering must not hold the replayer's start.
      const deadline = Date.now() + 5000;
      while ((this.inflight > 0 || this.queue.length > 0) && Date.now() < deadline && !this.signal.aborted) await new Promise((r) => setTimeout(r, 2));
    } finally {
      this.warmupEnded = true;
      this.queue.takeAll();
      // Closed mid-warm-up: warm-up requests still in the Pool must never reach the target, so
      // the connector keeps pointing at the (closing) sink.
      // Under [diff] the Pool never sends a record: it stays on the sink, so a warm-up request
      // still queued after the deadline (a loaded machine) can never reach the primary.
      if (!this.signal.aborted && !this.cfg.diff) this.connections!.redirectTo(undefined);
      // The Pool's clients see their sink connections close and connect to the target on their
      // next request (through the connections opened ahead).
      sink.close();
      const deadline = Date.now() + 1000;
      while (this.pool.stats.connected > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      this.stats = new ReplayerStats();
      this.warming = false;
    }
    this.log.debug({ requests: WARMUP_REQUESTS, ms: Math.round(performance.now() - t0) }, 'send path warmed up on a loopback sink');
  }

  /** Opens `connections` keep-alive connections to the target (no request is sent). */
  private async openConnections(why: string): Promise<void> {
    const conns = this.diff ?? this.connections;
    if (!conns) return;
    const t0 = performance.now();
    const { idle, errors } = await conns.open(this.cfg.replayer.connections);
    const ms = Math.round(performance.now() - t0);
    if (errors.length) this.log.warn({ idle, errors, ms, why }, 'could not open every connection to the target ahead of time; the rest open on demand');
    else this.log.debug({ idle, ms, why }, 'connections to the target open');
  }

  /**
   * A replayer started without `[replayer] target` (e.g. `havok replayer --job ID --nats URL`
   * on a new machine) takes the job's settings from the time wheel's status: target, headers,
   * removed headers and timeout. Waits until a time wheel of the job answers.
   */
  private async adoptJobSettings(): Promise<void> {
    this.log.info('no [replayer] target configured: waiting for the job\'s settings from its time wheel');
    const sub = this.nc.subscribe(subjects.status(this.cfg.job.id));
    try {
      for await (const msg of sub) {
        let settings;
        try {
          settings = decodeOn('status', msg.data).replayer;
        } catch (err) {
          if (err instanceof ProtocolError) continue;
          throw err;
        }
        const diff = adoptDiff(settings?.diff);
        if (!settings?.target && !diff) continue;
        const r = this.cfg.replayer;
        if (diff) this.cfg.diff = diff;
        r.target = settings.target ?? diff?.primary;
        r.headers = { ...settings.headers, ...r.headers };
        r.remove_headers = [...new Set([...settings.remove_headers, ...r.remove_headers])];
        r.timeout_ms = settings.timeout_ms;
        this.rules = compileRules(r.headers, r.remove_headers);
        this.log.info({ target: r.target }, 'joined with the job\'s settings');
        return;
      }
    } finally {
      sub.unsubscribe();
    }
  }

  /** Leaves the membership, drops what is not yet sent, waits for in-flight requests. */
  protected async drain(reason: string): Promise<void> {
    if (!this.nc) return;
    this.state = REPLAYER_STATES.leaving;
    this.heartbeat();
    if (this.fence) {
      clearTimeout(this.fence.giveUp);
      // Stopping before the router said which of them it handed over: none sent by this life.
      if (this.fence.held.length) this.stats.drop('fenced', this.fence.held.length);
      this.fence.held = [];
    }
    const rest = this.queue.takeAll();
    if (rest.length) {
      this.stats.drop('stopped', rest.length);
      this.log.warn({ records: rest.length, reason }, 'replayer stopping: queued records dropped');
    }
    if (this.inflight > 0) {
      // Bounded well inside the process's drain grace (10 s), so final stats always go out.
      const waitMs = Math.min(this.cfg.replayer.timeout_ms + 1000, DRAIN_WAIT_MS);
      this.log.info({ inflight: this.inflight, wait_ms: waitMs }, 'waiting for in-flight requests');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => (this.idle = r)),
        new Promise<void>((r) => (timer = setTimeout(r, waitMs))),
      ]);
      clearTimeout(timer);
      if (this.inflight > 0) this.log.warn({ inflight: this.inflight }, 'in-flight requests unanswered at exit (counted as sent, not completed)');
    }
    if (this.foreign) this.log.info({ records: this.foreign }, 'records routed to an earlier life of this replayer were left to the router');
    this.publishStats(true);
    await this.nc.flush().catch(() => undefined);
  }

  private accept(records: DueRecord[], boot?: string): void {
    if (boot !== undefined && boot !== this.boot) {
      // Routed to an earlier life of this id, before it was gone: the router hands them over.
      this.foreign += records.length;
      return;
    }
    this.stats.received += records.length;
    if (this.fence) {
      for (const r of records) this.fence.held.push(r);
      return;
    }
    if (this.state !== REPLAYER_STATES.up) {
      this.stats.drop('stopped', records.length);
      return;
    }
    if (this.queue.length + records.length > MAX_QUEUED) {
      this.stats.drop('overload', records.length);
      return;
    }
    this.queue.push(records);
  }

  /** Called by the queue when `rec` is due; false = no room now (the queue keeps it). */
  private trySend(rec: DueRecord, now: number): boolean {
    const maxLate = this.cfg.replayer.max_lateness_ms;
    if (maxLate > 0 && now - rec.due > maxLate) {
      this.stats.drop('late');
      return true;
    }
    if (this.inflight >= this.cfg.replayer.max_inflight) return false;
    this.inflight++;
    this.stats.dispatched();
    this.send(rec, now);
    return true;
  }

  private send(rec: DueRecord, sentAt: number): void {
    const ex = this.free.pop() ?? new Exchange(this);
    ex.rec = rec;
    ex.sentAt = sentAt;
    ex.status = 0;
    ex.received = 0;
    ex.warmup = this.warming;
    this.dispatching = true;
    try {
      const req = buildRequest(rec, this.rules);
      ex.traceId = this.tracer?.apply(rec, req.headers);
      (this.diff ?? this.pool).dispatch(req, ex);
    } finally {
      this.dispatching = false;
    }
  }

  warmupOver(): boolean {
    return this.warmupEnded;
  }

  /** The request is on the wire: lateness and latency count from now. */
  written(ex: Exchange): void {
    const now = systemClock.now();
    ex.sentAt = now;
    if (!ex.warmup) this.stats.written(now - ex.rec.due);
  }

  /** The response ended (`err` undefined) or the request failed. */
  settle(ex: Exchange, err: Error | undefined): void {
    if (this.dispatching) {
      // Reported from inside dispatch (e.g. a request undici refuses): settle after it returns,
      // not inside the queue's pump that is sending it.
      queueMicrotask(() => this.settle(ex, err));
      return;
    }
    const end = systemClock.now();
    const rec = ex.rec;
    // The route template learned from the traffic names the request's API (shared/topk/route-learner.ts).
    const api = ex.warmup ? undefined : this.findings.route(rec);
    if (ex.warmup) {
      // The code warm-up's: not the job's.
    } else if (err === undefined) this.stats.answered(rec.url, api, ex.status, end - ex.sentAt, end - rec.due);
    else this.stats.failedWith(rec.url, api, errorKind(err), end - ex.sentAt, end - rec.due);
    if (api !== undefined) this.findings.settled(ex, err && errorKind(err), end - ex.sentAt, end - rec.due, api);
    ex.rec = undefined as unknown as DueRecord;
    this.free.push(ex);
    this.inflight--;
    if (this.inflight === 0 && this.idle) this.idle();
    // A slot is free: anything held back by max_inflight can go now.
    if (this.queue.length) this.queue.pump();
    else if (this.inflight === 0 && !this.idleStats && !this.warming) {
      // Out of work: report now rather than at the next interval (at the end of a replay, the
      // reporter closes the job when these counts arrive).
      this.idleStats = setTimeout(() => {
        this.idleStats = undefined;
        if (this.inflight === 0 && this.queue.length === 0 && this.stats.sent !== this.sentAtLastStats) this.publishStats(false);
      }, IDLE_STATS_MS);
    }
  }

  /**
   * Cut off (fence.ts): nothing more goes out; what is queued is held until the router either
   * hears this life again (resume) or hands it over (rejoin). In-flight requests finish.
   */
  private fenceOff(reason: FenceReason): void {
    if (this.fence || this.state !== REPLAYER_STATES.up || this.warming) return;
    // The router never published a cutoff nor heard us again (no router left?): all held count as fenced.
    const giveUpMs = this.cfg.replayer.heartbeat_ms * this.cfg.router.missed_heartbeats + 10_000;
    this.fence = { reason, held: this.queue.takeAll(), at: Date.now(), giveUp: setTimeout(() => void this.rejoin(undefined), giveUpMs) };
    this.log.warn({ reason, held: this.fence.held.length, fence_ms: this.cfg.replayer.fence_ms }, 'cut off from the job: fenced, sending nothing until the router hears this replayer again or hands it over');
  }

  /** Never evicted after all (fence-watch.ts onResume): what it held goes out, late. */
  private resume(): void {
    if (!this.fence || this.rejoining) return;
    const { held, at, giveUp } = this.fence;
    clearTimeout(giveUp);
    this.fence = undefined;
    this.log.warn({ held: held.length, fenced_for_ms: Date.now() - at }, 'the router hears this replayer again and never handed it over: sending what it held');
    this.queue.push(held);
  }

  /**
   * The router handed this fenced life over at `cutoff`: its final counts go out (held records
   * due from the cutoff on are the new owners'; the rest `fenced`), and it joins as a new life.
   */
  private async rejoin(cutoff: number | undefined): Promise<void> {
    if (!this.fence || this.rejoining || this.state !== REPLAYER_STATES.up) return;
    this.rejoining = true;
    // In-flight requests belong to this life's counts: let them settle first (bounded).
    const deadline = Date.now() + this.cfg.replayer.timeout_ms + 1000;
    while (this.inflight > 0 && Date.now() < deadline && !this.signal.aborted) await new Promise((r) => setTimeout(r, 10));
    if (this.signal.aborted) return;
    clearTimeout(this.fence.giveUp);
    const { handedOver, fenced } = splitHeld(this.fence.held, cutoff);
    this.stats.received -= handedOver;
    if (fenced > 0) this.stats.drop('fenced', fenced);
    this.publishStats(true);
    const old = this.boot;
    this.wireBase = (this.diff ?? this.connections)?.bytes() ?? this.wireBase;
    this.stats = new ReplayerStats();
    this.diff?.newLife();
    // Summaries and samples are cumulative per life too.
    this.findings = new Findings(this.cfg.reporter.top, this.id);
    this.boot = newBoot();
    this.log.warn({ old_life: old, life: this.boot, handed_over: handedOver, fenced, cutoff, was_fenced_for_ms: Date.now() - this.fence.at }, 'rejoining as a new life');
    this.fence = undefined;
    this.rejoining = false;
    this.watch?.rejoined();
    this.heartbeat();
  }

  private heartbeat(): void {
    // Fenced, it still beats: a router that hears it does not evict it (fence-watch.ts onResume).
    if (this.nc.isClosed() || this.warming) return;
    this.watch?.beatSent(Date.now());
    const r = this.cfg.replayer;
    observeHeartbeat(this.cfg.job.id, { inflight: this.inflight, capacity: r.max_inflight });
    this.nc.publish(
      subjects.heartbeat(this.cfg.job.id),
      encode({ ...envelope('heartbeat', this.sender), id: this.id, boot: this.boot, state: this.state, capacity: r.max_inflight, inflight: this.inflight, received: this.stats.received, sent: this.stats.sent, dropped: this.stats.droppedTotal() }),
    );
  }

  private publishStats(final: boolean): void {
    // Stopped during the warm-up: its counts are not the job's (the real ones are all zero).
    if (this.warming) this.stats = new ReplayerStats();
    if (this.nc.isClosed()) return;
    this.sentAtLastStats = this.stats.sent;
    const all = (this.diff ?? this.connections)?.bytes() ?? { sent: 0, received: 0 };
    const wire = { sent: all.sent - this.wireBase.sent, received: all.received - this.wireBase.received };
    const msg: StatsMsg = { ...envelope('stats', this.sender), ...this.stats.snapshot(this.id, final, wire), ...this.findings.wire(), boot: this.boot, ...(this.diff ? { diff: this.diff.snapshot() } : {}) };
    observeStats(this.cfg.job.id, msg);
    this.nc.publish(subjects.stats(this.cfg.job.id), encode(msg));
  }
}

function newBoot(): string {
  return randomBytes(6).toString('hex');
}
