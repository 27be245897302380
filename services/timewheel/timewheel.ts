/**
 * The time wheel actor: the I/O shell around wheel.ts. It holds the job's time wheel lease (one
 * active time wheel per job; a second one stands by and takes over from the checkpoint when the
 * first goes silent), pulls record batches from the job's JetStream stream (as fast as the
 * re-order buffer has room: that is the fetcher's backpressure), and loops: `step` says what is
 * due and when to wake; this file saves the checkpoint, publishes and acks.
 *
 * Restart safety: before each release is published the checkpoint (`WheelProgress`) is saved,
 * and a stream batch is acked only when all its records are out (ledger.ts). A restarted or
 * standby time wheel loads the checkpoint, re-reads every unacked batch and skips what was
 * released: no record is released twice, and none is lost. Fencing: nothing is saved or
 * published unless the lease is still held at that moment.
 */
import { AckPolicy, jetstream, jetstreamManager, type Consumer, type JsMsg } from '@nats-io/jetstream';
import { CheckpointStore } from '../../shared/checkpoint.js';
import { connectBus, type NatsConnection } from '../../shared/bus.js';
import type { HavokConfig } from '../../shared/config.js';
import { ensureJobStream } from '../../shared/job-stream.js';
import { Lease } from '../../shared/lease/lease.js';
import { Actor } from '../../shared/lifecycle.js';
import { observeStatus } from '../../shared/metrics.js';
import { abortableSleep, retry } from '../../shared/retry.js';
import type { Logger } from '../../shared/log.js';
import { consumerName, decodeOn, encode, envelope, JOB_STATES, streamName, subjects, type ControlReplyMsg, type DueRecord, type ReplayerInfo, type TimewheelCheckpoint } from '../../shared/protocol.js';
import { AckLedger } from './ledger.js';
import { jobView, ReleaseRate, statusMessage } from './status.js';
import { allRead, control, endSource, finishJob, ingestBatch, isHeld, newWheel, routerSaid, shouldPull, step, streamDrained, type WheelProgress, type WheelState } from './wheel.js';
import { wheelSettings } from './settings.js';

/** Records kept buffered while flow control holds releases (see pullLoop). */
const HELD_BUFFER_FLOOR = 10_000;
/** Stream messages (record batches) per pull. */
const PULL_MESSAGES = 4;
/** Unacked batches stay with the time wheel while it runs; redelivery only follows a restart. */
const ACK_WAIT_NS = 24 * 3600 * 1e9;

/** The checkpoint is the job's progress plus an envelope. */
function withoutEnvelope({ v: _v, kind: _k, sender: _s, ...progress }: TimewheelCheckpoint): WheelProgress {
  return progress;
}

export class TimeWheel extends Actor {
  private nc!: NatsConnection;
  private consumer!: Consumer;
  private wheel!: WheelState;
  private lease!: Lease;
  private store!: CheckpointStore;
  private readonly ledger = new AckLedger<JsMsg>();
  private readonly releases = new ReleaseRate();
  private members: ReplayerInfo[] = [];
  private finishedAt = 0;
  private timer?: NodeJS.Timeout;
  private pulling = false;
  private endedSeen = false;
  private releasing = false;
  private releaseAgain = false;
  private readonly sender = `timewheel-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  constructor(
    private readonly cfg: HavokConfig,
    log: Logger,
  ) {
    super(log);
  }

  protected async run(signal: AbortSignal): Promise<void> {
    const job = this.cfg.job.id;
    this.nc = await connectBus(this.cfg.nats, this.log, { name: this.sender, signal });
    this.onClose('nats', () => this.nc.drain());
    const jsm = await jetstreamManager(this.nc);
    await ensureJobStream(jsm, this.cfg);
    this.lease = new Lease({ nc: this.nc, job, role: 'timewheel', holder: this.sender, log: this.log, replicas: this.cfg.nats.stream_replicas });
    this.lease.onLost(() => this.finish(1, 'another time wheel owns the job'));
    // A standby waits here (answering nothing) until the active time wheel goes silent.
    await this.lease.acquire(signal);
    this.onClose('lease', () => this.lease.release());
    this.store = new CheckpointStore(this.nc, job, this.cfg.nats.stream_replicas);
    const cp = await this.store.load('timewheel');
    const resumable = cp && cp.state !== JOB_STATES.finished && cp.state !== JOB_STATES.stopped;
    if (cp && !resumable) await this.store.clear();
    this.wheel = newWheel(wheelSettings(this.cfg), resumable ? withoutEnvelope(cp) : undefined, Date.now());
    if (resumable) this.log.warn({ last: cp.last, dispatched: cp.dispatched, state: cp.state }, 'resuming the job from its checkpoint');
    // A fresh consumer delivers every batch still in the stream: after a restart or a takeover,
    // exactly the unacked ones (acked batches are gone from a work-queue stream).
    await jsm.consumers.delete(streamName(job), consumerName(job)).catch(() => undefined);
    await jsm.consumers.add(streamName(job), {
      durable_name: consumerName(job),
      ack_policy: AckPolicy.Explicit,
      ack_wait: ACK_WAIT_NS,
      max_ack_pending: -1,
      filter_subject: subjects.records(job),
    });
    this.consumer = await jetstream(this.nc).consumers.get(streamName(job), consumerName(job));
    this.subscribe();
    const statusTimer = setInterval(() => this.publishStatus(), 1000);
    this.onClose('status timer', () => clearInterval(statusTimer));
    this.onClose('release timer', () => clearTimeout(this.timer));
    this.publishStatus();
    void this.pullLoop();
  }

  protected async drain(): Promise<void> {
    this.pulling = false;
    clearTimeout(this.timer);
    if (this.wheel) this.publishStatus();
  }

  private subscribe(): void {
    const job = this.cfg.job.id;
    this.nc.subscribe(subjects.router(job), {
      callback: (_err, msg) => this.guard(() => {
        const r = decodeOn('router', msg.data);
        this.members = r.replayers;
        const wasHeld = isHeld(this.wheel);
        routerSaid(this.wheel, r.members.length, r.backlog);
        if (this.wheel.progress.state === JOB_STATES.pending || (wasHeld && !isHeld(this.wheel))) this.release();
      }),
    });
    this.nc.subscribe(subjects.control(job), {
      callback: (_err, msg) => {
        let reply: ControlReplyMsg;
        try {
          const req = decodeOn('control', msg.data);
          const d = control(this.wheel, req.op, req.value, Date.now());
          if (d.ok && d.op !== 'status') {
            this.log.info({ op: d.op, value: d.value, state: this.wheel.progress.state }, 'control applied');
            if (d.op === 'pause') clearTimeout(this.timer);
            this.release();
            this.publishStatus();
          }
          reply = d.ok ? this.reply(true) : this.reply(false, d.error);
        } catch (err) {
          this.dropMalformed(err);
          reply = this.reply(false, (err as Error).message);
        }
        if (msg.reply) msg.respond(encode(reply));
      },
    });
    this.nc.subscribe(subjects.ended(job), {
      callback: (_err, msg) =>
        this.guard(() => {
          if (decodeOn('ended', msg.data).job !== job) return;
          this.endedSeen = true;
          if (this.finishedAt) this.finish(0, 'job ended');
        }),
    });
  }

  private reply(ok: boolean, error?: string): ControlReplyMsg {
    const view = jobView(this.wheel, this.cfg.job.id, this.members, this.releases.perSecond(Date.now()), Date.now());
    return { ...envelope('control_reply', this.sender), ok, ...(error ? { error } : {}), view };
  }

  /** Pulls batches while the buffer has room; stops when every source has ended. */
  private async pullLoop(): Promise<void> {
    this.pulling = true;
    const w = this.wheel;
    // Messages the last fetch brought: only a short one can have emptied the stream.
    let fetched = 0;
    while (this.pulling && !allRead(w)) {
      // After a restart, sources that had ended count as ended once their unacked batches are in.
      if (w.endedBeforeRestart.length && fetched < PULL_MESSAGES && (await this.streamEmpty())) {
        streamDrained(w);
        this.release();
        continue;
      }
      // Full, or the replayers are behind (flow control holds releases): reading more now would
      // only grow memory. A floor keeps enough buffered to release at once when they catch up.
      if (!shouldPull(w, HELD_BUFFER_FLOOR)) {
        await abortableSleep(20, this.signal).catch(() => undefined);
        continue;
      }
      fetched = 0;
      try {
        // A few messages per pull (up to ~2,000 records): ingesting is then a short task between
        // releases, not a ~100 ms burst that competes with the replayers for the CPU.
        const batch = await this.consumer.fetch({ max_messages: PULL_MESSAGES, expires: 1000 });
        for await (const m of batch) {
          fetched++;
          this.ingest(m);
          // What this message made ready goes out now, not when the fetch ends: a fetch waits up
          // to its expiry for more messages when fewer are left in the stream.
          if (w.progress.state === JOB_STATES.running) this.release();
        }
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'pull from job stream failed, retrying');
        await abortableSleep(500, this.signal).catch(() => undefined);
      }
      // Starts the clock, releases what is due, saves a checkpoint and acks what is settled.
      this.release();
    }
  }

  /** True when the consumer has delivered every message in the stream. */
  private async streamEmpty(): Promise<boolean> {
    try {
      return (await this.consumer.info()).num_pending === 0;
    } catch {
      return false;
    }
  }

  private ingest(m: JsMsg): void {
    let msg;
    try {
      msg = decodeOn('records', m.data);
    } catch (err) {
      this.dropMalformed(err);
      m.term();
      return;
    }
    if (msg.kind === 'source_end') {
      if (endSource(this.wheel, msg)) this.log.info({ src: msg.src, counts: { ...msg.counts, samples: msg.counts.samples.length } }, 'source ended');
      this.ledger.settleMessage(m);
      return;
    }
    const id = `${msg.src}:${msg.batch}`;
    if (this.ledger.isOpen(id)) return; // redelivered while we still hold it
    this.ledger.track(m, id, ingestBatch(this.wheel, msg));
  }

  /** Steps, then saves, publishes and acks. One at a time: a call while one runs makes it run once more. */
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
    if (this.finishedAt || this.signal.aborted) return;
    const now = Date.now();
    const r = step(this.wheel, now);
    if (r.started) {
      this.log.info({ members: this.wheel.members, speed: this.wheel.progress.speed, rate: this.cfg.job.rate }, 'job started');
      this.publishStatus();
    }
    for (const rec of r.settled) this.ledger.settle(rec);
    clearTimeout(this.timer);
    if (r.wakeAt !== null) this.timer = setTimeout(() => this.release(), Math.max(1, r.wakeAt - now));
    this.releases.add(now, r.copies);
    if (r.batches.length || this.ledger.pendingAcks) await this.commit(r.batches, r.copies);
    if (r.complete) await this.complete();
  }

  /**
   * Saves the checkpoint (retrying while NATS is away), then publishes the dispatch batches and
   * acks the settled stream batches. A crash before the save loses nothing (the batches are still
   * unacked); a crash after it loses at most these dispatch batches, which the router then counts
   * as `bus_lost` from the next batch's cumulative count: nothing is ever released twice.
   */
  private async commit(batches: DueRecord[][], copies: number): Promise<void> {
    const p = this.wheel.progress;
    let upto = p.copies - copies;
    const n0 = p.dispatch_n;
    p.dispatch_n += batches.length;
    const acks = this.ledger.takeReady();
    await this.saveCheckpoint();
    if (!(await this.owned())) return;
    batches.forEach((records, i) => {
      upto += records.length;
      this.nc.publish(subjects.dispatch(this.cfg.job.id), encode({ ...envelope('dispatch', this.sender), n: n0 + i, upto, records }));
    });
    for (const m of acks) m.ack();
  }

  /**
   * Fencing: resolves true while this process holds the lease. While the lease is not renewed
   * (NATS away) releases hold until it is again; when another process has taken it over, the
   * lease's onLost closes this one and this resolves false: nothing more is saved or published.
   */
  private async owned(): Promise<boolean> {
    let warned = false;
    while (!this.lease.isOwner()) {
      if (this.signal.aborted) return false;
      if (!warned) this.log.warn('the time wheel lease is not renewed (NATS away?): holding releases');
      warned = true;
      await abortableSleep(50, this.signal).catch(() => undefined);
    }
    return !this.signal.aborted;
  }

  /** Saves the checkpoint, retrying while NATS is away (releases hold meanwhile). */
  private async saveCheckpoint(): Promise<void> {
    await retry(
      async () => {
        if (!(await this.owned())) throw new Error('the time wheel is closing; checkpoint not saved');
        await this.store.save('timewheel', { ...envelope('tw_checkpoint', this.sender), ...this.wheel.progress });
      },
      {
        backoff: { initialMs: 50, maxMs: 1000 },
        signal: this.signal,
        isRetryable: () => !this.nc.isClosed() && !this.signal.aborted,
        onRetry: ({ err, attempt }) => {
          if (attempt === 1 || attempt % 10 === 0) this.log.warn({ err: (err as Error).message, attempt }, 'cannot save the checkpoint yet; holding releases');
        },
      },
    );
  }

  private async complete(): Promise<void> {
    if (this.finishedAt) return;
    const job = this.cfg.job.id;
    const p = this.wheel.progress;
    this.finishedAt = Date.now();
    finishJob(this.wheel);
    await this.saveCheckpoint();
    if (!(await this.owned())) return;
    for (const m of this.ledger.takeReady()) m.ack();
    this.nc.publish(subjects.dispatch(job), encode({ ...envelope('dispatch_end', this.sender), n: p.dispatch_n, copies: p.copies }));
    this.publishStatus();
    this.log.info({ dispatched: p.dispatched, copies: p.copies, late_arrivals: this.wheel.buffer.lateArrivals }, 'all records released');
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

  private publishStatus(): void {
    if (!this.nc || this.nc.isClosed() || !this.wheel) return;
    const status = statusMessage(this.wheel, this.cfg, this.sender, this.finishedAt, Date.now());
    observeStatus(status);
    this.nc.publish(subjects.status(this.cfg.job.id), encode(status));
  }
}
