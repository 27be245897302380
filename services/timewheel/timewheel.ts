/**
 * The time wheel owns the job: it pulls record batches from the job's JetStream stream (as fast
 * as its re-order buffer has room: that is the fetcher's backpressure), orders them, filters by
 * `begin`/`end`, maps log time to wall time and releases each record `lead_ms` before it is due,
 * stamped with its due time, multiplied by `rate`. The pure decisions are in reorder.ts,
 * pacer.ts and rate.ts; this file is the I/O loop around them.
 */
import { AckPolicy, jetstream, jetstreamManager, type Consumer } from '@nats-io/jetstream';
import { connectBus, type NatsConnection } from '../../shared/bus.js';
import { toEpochMs, type HavokConfig } from '../../shared/config.js';
import { ProtocolError } from '../../shared/errors.js';
import { Actor } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/log.js';
import {
  consumerName,
  decode,
  encode,
  envelope,
  JOB_STATES,
  streamName,
  subjects,
  type ControlReplyMsg,
  type DueRecord,
  type JobState,
  type JobView,
  type LogRecord,
  type ParseErrorSample,
  type ReplayerInfo,
  type SourceCounts,
  type StatusMsg,
} from '../../shared/protocol.js';
import { decideControl } from './control.js';
import { dueAt, logTimeAt, peekDue, rebase, startPacer, type PacerState } from './pacer.js';
import { changeRate, copiesFor, rateOf, startRate, type RateState } from './rate.js';
import { ReorderBuffer } from './reorder.js';
import { ensureJobStream } from '../../shared/job-stream.js';

/** Records per dispatch message to the router. */
const DISPATCH_BATCH = 500;
const MAX_SAMPLES = 10;

export class TimeWheel extends Actor {
  private nc!: NatsConnection;
  private consumer!: Consumer;
  private buffer = new ReorderBuffer(0, 1);
  private sources = 0;
  private readonly sourceCounts = new Map<number, SourceCounts>();
  private state: JobState = JOB_STATES.pending;
  private pacer?: PacerState;
  private readonly rate: RateState;
  private readonly begin?: number;
  private readonly end?: number;
  private filtered = 0;
  private dispatched = 0;
  private copies = 0;
  private dispatchN = 0;
  private members: ReplayerInfo[] = [];
  /** Records the replayers have not sent yet, as the router last said (flow control). */
  private backlog = 0;
  /** Copies released since that router message (not in its backlog yet). */
  private sinceRouter = 0;
  /** Copies that will never be sent because the job was stopped. */
  private neverSent = 0;
  /** Log time frozen by a pause (the position resume continues from). */
  private frozenAt = 0;
  private firstTs = 0;
  private lastTs = 0;
  /** Copies released per second, over the last second (status). */
  private recent: Array<[number, number]> = [];
  private startedAt = 0;
  private finishedAt = 0;
  private timer?: NodeJS.Timeout;
  private pulling = false;
  private endedSeen = false;
  private readonly sender: string;

  constructor(
    private readonly cfg: HavokConfig,
    log: Logger,
  ) {
    super(log);
    this.rate = startRate(cfg.job.rate);
    this.begin = toEpochMs(cfg.job.begin);
    this.end = toEpochMs(cfg.job.end);
    this.sender = `timewheel-${process.pid}`;
  }

  protected async run(): Promise<void> {
    const job = this.cfg.job.id;
    this.nc = await connectBus(this.cfg.nats, this.log, { name: this.sender });
    this.onClose('nats', () => this.nc.drain());
    const jsm = await jetstreamManager(this.nc);
    await ensureJobStream(jsm, job, this.cfg.fetcher.max_pending_batches);
    await jsm.consumers.add(streamName(job), {
      durable_name: consumerName(job),
      ack_policy: AckPolicy.Explicit,
      filter_subject: subjects.records(job),
    });
    this.consumer = await jetstream(this.nc).consumers.get(streamName(job), consumerName(job));

    this.nc.subscribe(subjects.router(job), {
      callback: (_err, msg) => {
        try {
          const r = decode(msg.data, 'router');
          this.members = r.replayers;
          const wasHeld = this.held();
          this.backlog = r.backlog;
          this.sinceRouter = 0;
          this.maybeStart();
          if (wasHeld && !this.held()) this.release();
        } catch (err) {
          this.dropMalformed(err);
        }
      },
    });
    this.nc.subscribe(subjects.control(job), {
      callback: (_err, msg) => {
        let reply: ControlReplyMsg;
        try {
          const req = decode(msg.data, 'control');
          reply = this.control(req.op, req.value);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          reply = { ...envelope('control_reply', this.sender), ok: false, error: err.message, view: this.view() };
        }
        if (msg.reply) msg.respond(encode(reply));
      },
    });
    this.nc.subscribe(subjects.ended(job), {
      callback: () => {
        this.endedSeen = true;
        if (this.finishedAt) this.finish(0, 'job ended');
      },
    });
    const statusTimer = setInterval(() => this.publishStatus(), 1000);
    this.onClose('status timer', () => clearInterval(statusTimer));
    this.onClose('release timer', () => clearTimeout(this.timer));
    this.publishStatus();
    void this.pullLoop();
  }

  protected async drain(): Promise<void> {
    this.pulling = false;
    clearTimeout(this.timer);
    this.publishStatus();
  }

  /** Pulls batches while the buffer has room; stops when every source has ended. */
  private async pullLoop(): Promise<void> {
    this.pulling = true;
    while (this.pulling && !(this.sources > 0 && this.buffer.allEnded)) {
      if (this.buffer.size >= this.cfg.job.max_buffer && this.state !== JOB_STATES.stopped) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      try {
        const batch = await this.consumer.fetch({ max_messages: 16, expires: 1000 });
        for await (const m of batch) {
          this.ingest(m.data);
          m.ack();
        }
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'pull from job stream failed, retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
      this.maybeStart();
      this.release();
      if (this.state === JOB_STATES.stopped) this.drainStopped();
    }
  }

  private ingest(data: Uint8Array): void {
    let msg;
    try {
      msg = decode(data, 'records', 'source_end');
    } catch (err) {
      this.dropMalformed(err);
      return;
    }
    if (msg.sources > this.sources) {
      // The first message tells how many sources the job has; the window applies from then on.
      this.sources = msg.sources;
      const old = this.buffer;
      this.buffer = new ReorderBuffer<LogRecord>(this.cfg.job.reorder_window_ms, this.sources);
      for (let r = old.pop(); r; r = old.pop()) this.buffer.push(r);
    }
    if (msg.kind === 'source_end') {
      this.sourceCounts.set(msg.src, msg.counts);
      this.buffer.endSource(msg.src);
      this.log.info({ src: msg.src, counts: { ...msg.counts, samples: msg.counts.samples.length } }, 'source ended');
      return;
    }
    for (const r of msg.records) {
      if ((this.begin !== undefined && r.ts < this.begin) || (this.end !== undefined && r.ts >= this.end)) {
        this.filtered++;
        continue;
      }
      if (this.firstTs === 0 || r.ts < this.firstTs) this.firstTs = r.ts;
      if (r.ts > this.lastTs) this.lastTs = r.ts;
      this.buffer.push(r);
    }
  }

  /** The clock starts once enough replayers are up and the first record's place is known. */
  private maybeStart(): void {
    if (this.state !== JOB_STATES.pending) return;
    if (this.members.length < this.cfg.job.min_replayers) return;
    const head = this.buffer.peekReady(this.buffer.size >= this.cfg.job.max_buffer);
    if (!head && !(this.sources > 0 && this.buffer.allEnded)) return;
    const now = Date.now();
    this.startedAt = now;
    this.pacer = startPacer(now + this.cfg.job.warmup_ms, head?.ts ?? 0, this.cfg.job.speed, this.cfg.job.max_idle_ms);
    this.setState(JOB_STATES.running);
    this.log.info({ members: this.members.length, first_ts: head?.ts, speed: this.cfg.job.speed, rate: this.cfg.job.rate }, 'job started');
    this.release();
  }

  /** Releases every record due within the lead window, then sleeps until the next one is. */
  private release(): void {
    if (this.state !== JOB_STATES.running || !this.pacer) return;
    clearTimeout(this.timer);
    const horizon = Date.now() + this.cfg.job.lead_ms;
    const out: DueRecord[] = [];
    for (;;) {
      const head = this.buffer.peekReady(this.buffer.size >= this.cfg.job.max_buffer);
      if (!head) break;
      if (this.held(out.length)) {
        // Replayers are behind: wait until the router reports room (it does every 100 ms).
        this.timer = setTimeout(() => this.release(), 50);
        break;
      }
      if (peekDue(this.pacer, head.ts) > horizon) {
        const wait = peekDue(this.pacer, head.ts) - horizon;
        this.timer = setTimeout(() => this.release(), Math.max(1, wait));
        break;
      }
      this.buffer.pop();
      const due = dueAt(this.pacer, head.ts);
      this.dispatched++;
      const n = copiesFor(this.rate);
      for (let c = 0; c < n; c++) {
        out.push({ ...head, due, copy: c });
        if (out.length >= DISPATCH_BATCH) this.flush(out);
      }
    }
    this.flush(out);
    if (this.sources > 0 && this.buffer.allEnded && this.buffer.size === 0) this.complete();
  }

  private flush(out: DueRecord[]): void {
    if (out.length === 0) return;
    this.copies += out.length;
    this.sinceRouter += out.length;
    this.recent.push([Date.now(), out.length]);
    this.nc.publish(subjects.dispatch(this.cfg.job.id), encode({ ...envelope('dispatch', this.sender), n: this.dispatchN++, upto: this.copies, records: out }));
    out.length = 0;
  }

  private complete(): void {
    if (this.finishedAt) return;
    const job = this.cfg.job.id;
    this.nc.publish(subjects.dispatch(job), encode({ ...envelope('dispatch_end', this.sender), n: this.dispatchN, copies: this.copies }));
    this.finishedAt = Date.now();
    this.setState(this.state === JOB_STATES.stopped ? JOB_STATES.stopped : JOB_STATES.finished);
    this.log.info({ dispatched: this.dispatched, copies: this.copies, late_arrivals: this.buffer.lateArrivals }, 'all records released');
    // The job's records are all out: the stream has nothing left to resume from.
    void jetstreamManager(this.nc)
      .then((jsm) => jsm.streams.delete(streamName(job)))
      .catch((err: Error) => this.log.warn({ err: err.message }, 'could not delete the job stream'));
    if (this.endedSeen) this.finish(0, 'job ended');
    // Keep answering status until the reporter says the job ended, but not forever.
    const giveUp = setTimeout(() => this.finish(0, 'no reporter ended the job'), this.cfg.reporter.settle_ms + 30_000);
    giveUp.unref();
  }

  /** True while the replayers' backlog (plus `extra` about to go) is over `max_backlog`. */
  private held(extra = 0): boolean {
    const max = this.cfg.job.max_backlog;
    return max > 0 && this.backlog + this.sinceRouter + extra >= max;
  }

  /** Applies one control request; answers with the new view or why not. */
  private control(op: string, value: number | undefined): ControlReplyMsg {
    const d = decideControl(this.state, op, value);
    if (!d.ok) return { ...envelope('control_reply', this.sender), ok: false, error: d.error, view: this.view() };
    const now = Date.now();
    switch (d.op) {
      case 'pause':
        // Records already released (due within lead_ms) still go out; nothing after them.
        this.frozenAt = this.currentPosition(now);
        clearTimeout(this.timer);
        this.setState(JOB_STATES.paused);
        break;
      case 'resume':
        // Continue from the frozen log time: the next record is due after its own gap, no burst.
        if (this.pacer) this.pacer = rebase(this.pacer, now, this.frozenAt, this.pacer.speed);
        this.setState(JOB_STATES.running);
        this.release();
        break;
      case 'speed':
        if (this.pacer) {
          const at = this.state === JOB_STATES.paused ? this.frozenAt : this.currentPosition(now);
          this.pacer = rebase(this.pacer, now, at, d.value!);
          if (this.state === JOB_STATES.running) this.release();
        } else this.cfg.job.speed = d.value!;
        break;
      case 'rate':
        changeRate(this.rate, d.value!);
        break;
      case 'stop':
        clearTimeout(this.timer);
        this.setState(JOB_STATES.stopped);
        this.drainStopped();
        break;
      case 'status':
        break;
    }
    if (d.op !== 'status') this.log.info({ op: d.op, value: d.value, state: this.state }, 'control applied');
    this.publishStatus();
    return { ...envelope('control_reply', this.sender), ok: true, view: this.view() };
  }

  /**
   * After a stop every record not yet released is counted, with its copies under `rate`, as
   * never sent: the fetcher stops reading (it watches the status) and what it already published
   * is pulled and counted, so the accounting closes.
   */
  private drainStopped(): void {
    for (let r = this.buffer.pop(); r; r = this.buffer.pop()) {
      this.dispatched++;
      this.neverSent += copiesFor(this.rate);
    }
    if (this.sources > 0 && this.buffer.allEnded) this.complete();
  }

  /** Log time the job is at now: frozen while paused, never past the last released record. */
  private currentPosition(now: number): number {
    if (this.state === JOB_STATES.paused) return this.frozenAt;
    if (!this.pacer) return 0;
    return Math.min(Math.max(logTimeAt(this.pacer, now), this.pacer.originLog), this.pacer.lastTs);
  }

  private view(): JobView {
    const now = Date.now();
    this.recent = this.recent.filter(([t]) => now - t <= 1000);
    const total = this.dispatched + this.buffer.size;
    return {
      job: this.cfg.job.id,
      state: this.state,
      speed: this.pacer?.speed ?? this.cfg.job.speed,
      rate: rateOf(this.rate),
      position: this.currentPosition(now),
      first_ts: this.firstTs,
      last_ts: this.lastTs,
      progress: this.sources > 0 && this.buffer.allEnded ? (total === 0 ? 100 : Math.round((this.dispatched / total) * 1000) / 10) : null,
      dispatched: this.dispatched,
      copies: this.copies,
      req_per_s: this.recent.reduce((a, [, n]) => a + n, 0),
      replayers: this.members,
    };
  }

  private setState(state: JobState): void {
    this.state = state;
    this.publishStatus();
  }

  private publishStatus(): void {
    if (!this.nc || this.nc.isClosed()) return;
    const byReason: Record<string, number> = this.filtered ? { time_window: this.filtered } : {};
    const totals = { read: 0, parse_errors: 0, filtered: this.filtered, filtered_by_reason: byReason };
    const samples: ParseErrorSample[] = [];
    for (const c of this.sourceCounts.values()) {
      totals.read += c.read;
      totals.parse_errors += c.parse_errors;
      totals.filtered += c.filtered;
      for (const [k, v] of Object.entries(c.filtered_by_reason ?? {})) byReason[k] = (byReason[k] ?? 0) + v;
      samples.push(...c.samples.slice(0, MAX_SAMPLES - samples.length));
    }
    const msg: StatusMsg = {
      ...envelope('status', this.sender),
      job: this.cfg.job.id,
      state: this.state,
      speed: this.pacer?.speed ?? this.cfg.job.speed,
      rate: rateOf(this.rate),
      position: this.currentPosition(Date.now()),
      records: { ...totals, dispatched: this.dispatched },
      copies: this.copies,
      never_sent: this.neverSent,
      pending: this.buffer.size,
      sources_ended: this.sourceCounts.size,
      sources: this.sources,
      samples,
      started_at: this.startedAt,
      finished_at: this.finishedAt,
      replayer: {
        ...(this.cfg.replayer.target ? { target: this.cfg.replayer.target } : {}),
        headers: this.cfg.replayer.headers,
        remove_headers: this.cfg.replayer.remove_headers,
        timeout_ms: this.cfg.replayer.timeout_ms,
      },
    };
    this.nc.publish(subjects.status(this.cfg.job.id), encode(msg));
  }

  private dropMalformed(err: unknown): void {
    if (!(err instanceof ProtocolError)) throw err;
    this.log.warn({ err: err.message }, 'malformed message dropped');
  }
}
