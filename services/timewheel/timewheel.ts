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
  type DueRecord,
  type JobState,
  type LogRecord,
  type ParseErrorSample,
  type SourceCounts,
  type StatusMsg,
} from '../../shared/protocol.js';
import { dueAt, peekDue, startPacer, type PacerState } from './pacer.js';
import { copiesFor, rateOf, startRate, type RateState } from './rate.js';
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
  private position = 0;
  private members = 0;
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
          this.members = decode(msg.data, 'router').members.length;
          this.maybeStart();
        } catch (err) {
          this.dropMalformed(err);
        }
      },
    });
    this.nc.subscribe(subjects.ended(job), {
      callback: () => {
        this.endedSeen = true;
        if (this.state === JOB_STATES.finished) this.finish(0, 'job ended');
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
      if (this.buffer.size >= this.cfg.job.max_buffer) {
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
      this.buffer.push(r);
    }
  }

  /** The clock starts once enough replayers are up and the first record's place is known. */
  private maybeStart(): void {
    if (this.state !== JOB_STATES.pending) return;
    if (this.members < this.cfg.job.min_replayers) return;
    const head = this.buffer.peekReady(this.buffer.size >= this.cfg.job.max_buffer);
    if (!head && !(this.sources > 0 && this.buffer.allEnded)) return;
    const now = Date.now();
    this.startedAt = now;
    this.pacer = startPacer(now + this.cfg.job.warmup_ms, head?.ts ?? 0, this.cfg.job.speed, this.cfg.job.max_idle_ms);
    this.setState(JOB_STATES.running);
    this.log.info({ members: this.members, first_ts: head?.ts, speed: this.cfg.job.speed, rate: this.cfg.job.rate }, 'job started');
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
      if (peekDue(this.pacer, head.ts) > horizon) {
        const wait = peekDue(this.pacer, head.ts) - horizon;
        this.timer = setTimeout(() => this.release(), Math.max(1, wait));
        break;
      }
      this.buffer.pop();
      const due = dueAt(this.pacer, head.ts);
      this.position = head.ts;
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
    this.nc.publish(subjects.dispatch(this.cfg.job.id), encode({ ...envelope('dispatch', this.sender), n: this.dispatchN++, upto: this.copies, records: out }));
    out.length = 0;
  }

  private complete(): void {
    if (this.state === JOB_STATES.finished) return;
    const job = this.cfg.job.id;
    this.nc.publish(subjects.dispatch(job), encode({ ...envelope('dispatch_end', this.sender), n: this.dispatchN, copies: this.copies }));
    this.finishedAt = Date.now();
    this.setState(JOB_STATES.finished);
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

  private setState(state: JobState): void {
    this.state = state;
    this.publishStatus();
  }

  private publishStatus(): void {
    if (!this.nc || this.nc.isClosed()) return;
    const totals = { read: 0, parse_errors: 0, filtered: this.filtered };
    const samples: ParseErrorSample[] = [];
    for (const c of this.sourceCounts.values()) {
      totals.read += c.read;
      totals.parse_errors += c.parse_errors;
      totals.filtered += c.filtered;
      samples.push(...c.samples.slice(0, MAX_SAMPLES - samples.length));
    }
    const msg: StatusMsg = {
      ...envelope('status', this.sender),
      job: this.cfg.job.id,
      state: this.state,
      speed: this.pacer?.speed ?? this.cfg.job.speed,
      rate: rateOf(this.rate),
      position: this.position,
      records: { ...totals, dispatched: this.dispatched },
      copies: this.copies,
      never_sent: 0,
      sources_ended: this.sourceCounts.size,
      sources: this.sources,
      samples,
      started_at: this.startedAt,
      finished_at: this.finishedAt,
    };
    this.nc.publish(subjects.status(this.cfg.job.id), encode(msg));
  }

  private dropMalformed(err: unknown): void {
    if (!(err instanceof ProtocolError)) throw err;
    this.log.warn({ err: err.message }, 'malformed message dropped');
  }
}
