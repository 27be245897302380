/**
 * The time wheel owns the job: it pulls record batches from the job's JetStream stream (as fast
 * as its re-order buffer has room: that is the fetcher's backpressure), orders them, filters by
 * `begin`/`end`, maps log time to wall time and releases each record `lead_ms` before it is due,
 * stamped with its due time, multiplied by `rate`. The pure decisions are in reorder.ts,
 * pacer.ts, rate.ts, control.ts and ledger.ts; this file is the I/O loop around them.
 *
 * Restart safety: before each release is published a checkpoint is saved (last released record
 * key, counters, rate and pacing state), and a stream batch is acked only when all its records
 * are out. A restarted time wheel loads the checkpoint, re-reads every unacked batch and skips
 * what it had released: no record is released twice, and none is lost.
 */
import { AckPolicy, jetstream, jetstreamManager, type Consumer, type JsMsg } from '@nats-io/jetstream';
import { CheckpointStore } from '../../shared/checkpoint.js';
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
  type RecordKey,
  type ReplayerInfo,
  type SourceCounts,
  type StatusMsg,
  type TimewheelCheckpoint,
} from '../../shared/protocol.js';
import { AckLedger } from './ledger.js';
import { decideControl } from './control.js';
import { dueAt, logTimeAt, peekDue, rebase, startPacer, type PacerState } from './pacer.js';
import { changeRate, copiesFor, rateOf, startRate, type RateState } from './rate.js';
import { ReorderBuffer } from './reorder.js';
import { ensureJobStream } from '../../shared/job-stream.js';

/** Records per dispatch message to the router. */
const DISPATCH_BATCH = 500;
const MAX_SAMPLES = 10;
/** Records kept buffered while flow control holds releases (see pullLoop). */
const HELD_BUFFER_FLOOR = 10_000;
/** Stream messages (record batches) per pull. */
const PULL_MESSAGES = 4;
/** Unacked batches stay with the time wheel while it runs; redelivery only follows a restart. */
const ACK_WAIT_NS = 24 * 3600 * 1e9;

/** (ts, src, seq) order, as the time wheel releases records. */
function keyOf(r: LogRecord): RecordKey {
  return [r.ts, r.src, r.seq];
}
function notAfter(r: LogRecord, k: RecordKey): boolean {
  return r.ts !== k[0] ? r.ts < k[0] : r.src !== k[1] ? r.src < k[1] : r.seq <= k[2];
}

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
  private store!: CheckpointStore;
  private readonly ledger = new AckLedger<JsMsg>();
  /** Last record released (survives restarts through the checkpoint). */
  private last: RecordKey | null = null;
  private releasing = false;
  private releaseAgain = false;
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
    await ensureJobStream(jsm, this.cfg);
    this.store = new CheckpointStore(this.nc, job, this.cfg.nats.stream_replicas);
    const cp = await this.store.load('timewheel');
    if (cp && cp.state !== JOB_STATES.finished && cp.state !== JOB_STATES.stopped) this.restore(cp);
    else if (cp) await this.store.clear();
    // A fresh consumer delivers every batch still in the stream: after a restart, exactly the
    // unacked ones (acked batches are gone from a work-queue stream).
    await jsm.consumers.delete(streamName(job), consumerName(job)).catch(() => undefined);
    await jsm.consumers.add(streamName(job), {
      durable_name: consumerName(job),
      ack_policy: AckPolicy.Explicit,
      ack_wait: ACK_WAIT_NS,
      max_ack_pending: -1,
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
      // Full, or the replayers are behind (flow control holds releases): reading more now would
      // only grow memory. A floor keeps enough buffered to release at once when they catch up.
      const full = this.buffer.size >= this.cfg.job.max_buffer || (this.held() && this.buffer.size >= HELD_BUFFER_FLOOR);
      if (full && this.state !== JOB_STATES.stopped) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      try {
        // A few messages per pull (up to ~2,000 records): ingesting is then a short task between
        // releases, not a ~100 ms burst that competes with the replayers for the CPU.
        const batch = await this.consumer.fetch({ max_messages: PULL_MESSAGES, expires: 1000 });
        for await (const m of batch) {
          this.ingest(m);
          // What this message made ready goes out now, not when the fetch ends: a fetch waits up
          // to its expiry for more messages when fewer are left in the stream.
          if (this.state === JOB_STATES.running) this.release();
        }
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'pull from job stream failed, retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
      this.maybeStart();
      if (this.state === JOB_STATES.stopped) this.drainStopped();
      // Releases what is due, saves a checkpoint and acks what is settled (also before the start).
      this.release();
    }
  }

  private ingest(m: JsMsg): void {
    let msg;
    try {
      msg = decode(m.data, 'records', 'source_end');
    } catch (err) {
      this.dropMalformed(err);
      m.term();
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
      if (!this.sourceCounts.has(msg.src)) {
        this.sourceCounts.set(msg.src, msg.counts);
        this.log.info({ src: msg.src, counts: { ...msg.counts, samples: msg.counts.samples.length } }, 'source ended');
      }
      this.buffer.endSource(msg.src);
      this.ledger.settleMessage(m);
      return;
    }
    const id = `${msg.src}:${msg.batch}`;
    if (this.ledger.isOpen(id)) return; // redelivered while we still hold it
    const kept: LogRecord[] = [];
    for (const r of msg.records) {
      // Released before a restart (the checkpoint says so): already out, already counted.
      if (this.last && notAfter(r, this.last)) continue;
      if ((this.begin !== undefined && r.ts < this.begin) || (this.end !== undefined && r.ts >= this.end)) {
        this.filtered++;
        continue;
      }
      if (this.firstTs === 0 || r.ts < this.firstTs) this.firstTs = r.ts;
      if (r.ts > this.lastTs) this.lastTs = r.ts;
      kept.push(r);
      this.buffer.push(r);
    }
    this.ledger.track(m, id, kept);
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

  /**
   * Releases every record due within the lead window (then sleeps until the next one is), saves
   * the checkpoint, publishes, and acks settled batches. One at a time: a call while one runs
   * makes it run once more.
   */
  private release(): void {
    if (this.releasing) {
      this.releaseAgain = true;
      return;
    }
    this.releasing = true;
    void this.releaseOnce()
      .catch((err: Error) => this.log.error({ err }, 'release failed'))
      .finally(() => {
        this.releasing = false;
        if (this.releaseAgain) {
          this.releaseAgain = false;
          this.release();
        }
      });
  }

  private async releaseOnce(): Promise<void> {
    const batches = this.collectDue();
    if (batches.length || this.ledger.pendingAcks) await this.commit(batches);
    if (this.sources > 0 && this.buffer.allEnded && this.buffer.size === 0 && this.state !== JOB_STATES.pending && this.state !== JOB_STATES.paused) await this.complete();
  }

  /** Takes due records out of the buffer (pure state changes; nothing is published yet). */
  private collectDue(): DueRecord[][] {
    if (this.state !== JOB_STATES.running || !this.pacer) return [];
    clearTimeout(this.timer);
    const horizon = Date.now() + this.cfg.job.lead_ms;
    const batches: DueRecord[][] = [];
    let out: DueRecord[] = [];
    let released = 0;
    let lastOut: LogRecord | undefined;
    for (;;) {
      const head = this.buffer.peekReady(this.buffer.size >= this.cfg.job.max_buffer);
      if (!head) break;
      if (this.held(released)) {
        // Replayers are behind: wait until the router reports room (it does every 100 ms).
        this.timer = setTimeout(() => this.release(), 50);
        break;
      }
      if (peekDue(this.pacer, head.ts) > horizon) {
        // Wake when the head enters the lead window, but at most every lead_ms/5: each release
        // then carries a fifth of the window (one dispatch message and one checkpoint per step,
        // not per record), and every record still leaves at least 4/5 of lead_ms before its due.
        const wait = peekDue(this.pacer, head.ts) - horizon;
        this.timer = setTimeout(() => this.release(), Math.max(1, wait, this.cfg.job.lead_ms / 5));
        break;
      }
      this.buffer.pop();
      this.ledger.settle(head);
      lastOut = head;
      const due = dueAt(this.pacer, head.ts);
      this.dispatched++;
      const n = copiesFor(this.rate);
      for (let c = 0; c < n; c++) {
        // The first copy is the record itself, stamped (it left the buffer and the ledger: no one
        // else holds it); further copies under `rate` are new objects.
        let rec: DueRecord;
        if (c === 0) {
          rec = head as DueRecord;
          rec.due = due;
          rec.copy = 0;
        } else rec = { ...head, due, copy: c };
        out.push(rec);
        released++;
        if (out.length >= DISPATCH_BATCH) {
          batches.push(out);
          out = [];
        }
      }
    }
    if (out.length) batches.push(out);
    if (lastOut) this.last = keyOf(lastOut);
    this.copies += released;
    this.sinceRouter += released;
    if (released) this.recent.push([Date.now(), released]);
    return batches;
  }

  /**
   * Saves the checkpoint (retrying while NATS is away), then publishes the dispatch batches and
   * acks the settled stream batches. A crash before the save loses nothing (the batches are still
   * unacked); a crash after it loses at most these dispatch batches, which the router then counts
   * as `bus_lost` from the next batch's cumulative count: nothing is ever released twice.
   */
  private async commit(batches: DueRecord[][]): Promise<void> {
    let upto = this.copies - batches.reduce((a, b) => a + b.length, 0);
    const n0 = this.dispatchN;
    this.dispatchN += batches.length;
    const acks = this.ledger.takeReady();
    await this.saveCheckpoint();
    batches.forEach((records, i) => {
      upto += records.length;
      this.nc.publish(subjects.dispatch(this.cfg.job.id), encode({ ...envelope('dispatch', this.sender), n: n0 + i, upto, records }));
    });
    for (const m of acks) m.ack();
  }

  private async saveCheckpoint(): Promise<void> {
    const cp: TimewheelCheckpoint = {
      ...envelope('tw_checkpoint', this.sender),
      last: this.last,
      state: this.state,
      dispatched: this.dispatched,
      copies: this.copies,
      filtered: this.filtered,
      never_sent: this.neverSent,
      dispatch_n: this.dispatchN,
      rate_units: this.rate.units,
      rate_acc: this.rate.acc,
      speed: this.pacer?.speed ?? this.cfg.job.speed,
      started_at: this.startedAt,
      first_ts: this.firstTs,
      last_ts: this.lastTs,
      sources: this.sources,
      source_counts: [...this.sourceCounts.entries()],
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.save('timewheel', cp);
        return;
      } catch (err) {
        if (this.nc.isClosed()) throw err;
        if (attempt === 1 || attempt % 10 === 0) this.log.warn({ err: (err as Error).message, attempt }, 'cannot save the checkpoint yet; holding releases');
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * attempt)));
      }
    }
  }

  /** Continues a job from its checkpoint (this process replaces one that died). */
  private restore(cp: TimewheelCheckpoint): void {
    this.last = cp.last;
    this.dispatched = cp.dispatched;
    this.copies = cp.copies;
    this.filtered = cp.filtered;
    this.neverSent = cp.never_sent;
    this.dispatchN = cp.dispatch_n;
    this.rate.units = cp.rate_units;
    this.rate.acc = cp.rate_acc;
    this.startedAt = cp.started_at;
    this.firstTs = cp.first_ts;
    this.lastTs = cp.last_ts;
    this.sources = cp.sources;
    for (const [src, c] of cp.source_counts) this.sourceCounts.set(src, c);
    if (this.sources > 0) {
      this.buffer = new ReorderBuffer<LogRecord>(this.cfg.job.reorder_window_ms, this.sources);
      for (const src of this.sourceCounts.keys()) this.buffer.endSource(src);
    }
    if (cp.state === JOB_STATES.running || cp.state === JOB_STATES.paused) {
      // Carry on from the last released record's log time, after a warm-up: no catch-up burst.
      const at = cp.last ? cp.last[0] : cp.first_ts;
      this.pacer = startPacer(Date.now() + this.cfg.job.warmup_ms, at, cp.speed, this.cfg.job.max_idle_ms);
      this.state = cp.state;
      this.frozenAt = at;
    }
    this.log.warn({ last: cp.last, dispatched: cp.dispatched, state: cp.state }, 'resuming the job from its checkpoint');
  }

  private async complete(): Promise<void> {
    if (this.finishedAt) return;
    const job = this.cfg.job.id;
    this.finishedAt = Date.now();
    this.state = this.state === JOB_STATES.stopped ? JOB_STATES.stopped : JOB_STATES.finished;
    await this.saveCheckpoint();
    for (const m of this.ledger.takeReady()) m.ack();
    this.nc.publish(subjects.dispatch(job), encode({ ...envelope('dispatch_end', this.sender), n: this.dispatchN, copies: this.copies }));
    this.publishStatus();
    this.log.info({ dispatched: this.dispatched, copies: this.copies, late_arrivals: this.buffer.lateArrivals }, 'all records released');
    // The job's records are all out: nothing is left to resume from.
    try {
      const jsm = await jetstreamManager(this.nc);
      await jsm.streams.delete(streamName(job));
      await this.store.clear();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not delete the job stream');
    }
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
        this.release();
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
      this.ledger.settle(r);
      this.last = keyOf(r);
      this.dispatched++;
      this.neverSent += copiesFor(this.rate);
    }
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
    const cutoff = Date.now() - 1000;
    if (this.recent.length && this.recent[0][0] < cutoff) this.recent = this.recent.filter(([t]) => t > cutoff);
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
