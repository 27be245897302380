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
import type { Logger } from '../../shared/log.js';
import { decode, decodeOn, encode, envelope, JOB_STATES, REPLAYER_STATES, SAFE_TOKEN, subjects, type DueRecord, type ReplayerState } from '../../shared/protocol.js';
import { buildRequest, compileRules, type RequestRules } from './request.js';
import { DueQueue, systemClock } from './scheduler.js';
import { ReplayerStats } from './stats.js';
import { TargetConnections } from './connections.js';
import { errorKind, Exchange, type ExchangeOwner } from './exchange.js';
import { startSink, WARMUP_BATCH, WARMUP_REQUESTS, warmupRecords } from './warmup.js';
import { compileTracer, type Tracer } from '../../shared/trace/propagate.js';
import { Findings } from './findings.js';

/** Period of progress heartbeats while requests are going out. */
const PROGRESS_MS = 100;
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
  private warmedForRun = false;
  private idleStats?: NodeJS.Timeout;
  /** While the code warm-up runs: its requests and counts are not the job's. */
  private warming = false;
  private sentAtLastStats = 0;
  /** Sets each request's trace context (`[replayer.trace]`); undefined = adds none. */
  private readonly tracer: Tracer | undefined;
  /** Heavy hitters and request samples for the report. */
  private readonly findings: Findings;
  /**
   * This life of the replayer: a restart under the same id is a new life whose counters start at
   * 0, and the router and reporter keep each life's counts apart (lifeKey in the protocol).
   */
  readonly boot = randomBytes(6).toString('hex');

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
        try {
          this.accept(decodeOn('replayer', msg.data).records);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          this.log.warn({ err: err.message }, 'malformed message dropped');
        }
      },
    });
    this.onClose('assign subscription', () => sub.unsubscribe());
    this.nc.subscribe(subjects.ended(job), { callback: () => this.finish(0, 'job ended') });
    const statusSub = this.nc.subscribe(subjects.status(job), {
      callback: (_err, msg) => {
        try {
          if (!this.warmedForRun && decodeOn('status', msg.data).state === JOB_STATES.running) {
            this.warmedForRun = true;
            if (this.stats.sent === 0) void this.openConnections('job running');
          }
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
        if (this.warmedForRun) statusSub.unsubscribe();
      },
    });
    const hb = setInterval(() => this.heartbeat(), r.heartbeat_ms);
    // Between heartbeats, a short progress beat whenever something was sent: the router's backlog
    // (the time wheel's flow control) then lags by 100 ms, not a whole heartbeat period.
    let lastBeat = 0;
    const progress = setInterval(() => {
      const done = this.stats.sent + this.stats.droppedTotal();
      if (done !== lastBeat) {
        lastBeat = done;
        this.heartbeat();
      }
    }, PROGRESS_MS);
    this.onClose('progress timer', () => clearInterval(progress));
    const st = setInterval(() => this.publishStats(false), this.cfg.reporter.interval_ms);
    this.onClose('timers', () => (clearInterval(hb), clearInterval(st), clearTimeout(this.idleStats)));
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
      this.queue.takeAll();
      // Closed mid-warm-up: warm-up requests still in the Pool must never reach the target, so
      // the connector keeps pointing at the (closing) sink.
      if (!this.signal.aborted) this.connections!.redirectTo(undefined);
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
    if (!this.connections) return;
    const t0 = performance.now();
    const { idle, errors } = await this.connections.open(this.cfg.replayer.connections);
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
        if (!settings?.target) continue;
        const r = this.cfg.replayer;
        r.target = settings.target;
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
    this.publishStats(true);
    await this.nc.flush().catch(() => undefined);
  }

  private accept(records: DueRecord[]): void {
    this.stats.received += records.length;
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
      this.pool.dispatch(req, ex);
    } finally {
      this.dispatching = false;
    }
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

  private heartbeat(): void {
    if (this.nc.isClosed() || this.warming) return;
    const r = this.cfg.replayer;
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
    const wire = this.connections?.bytes() ?? { sent: 0, received: 0 };
    this.nc.publish(subjects.stats(this.cfg.job.id), encode({ ...envelope('stats', this.sender), ...this.stats.snapshot(this.id, final, wire), ...this.findings.wire(), boot: this.boot }));
  }
}
