/**
 * The fetcher reads one source, turns each line into a record through the analyzer chain and
 * publishes batches, in source order, to the job's JetStream stream. The stream's message cap is
 * its backpressure: when the time wheel falls behind, publishing is refused and the fetcher waits
 * instead of reading ahead, so its memory is one batch.
 */
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { connectBus, type NatsConnection } from '../../shared/bus.js';
import type { HavokConfig } from '../../shared/config.js';
import { CheckpointStore } from '../../shared/checkpoint.js';
import { ensureJobStream } from '../../shared/job-stream.js';
import { Actor } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/log.js';
import { retry, RetryError } from '../../shared/retry.js';
import { decodeOn, encode, envelope, JOB_STATES, subjects, type FollowMark, type LogRecord, type SourceCounts, type SourceMsg } from '../../shared/protocol.js';
import { openSources, type Source } from './source.js';
import { Linger, LINGERED } from './linger.js';
import type { ChainRecord } from './analyzers/chain.js';
import { emptyCounts } from './sources/lines.js';

/** JetStream API error: the stream holds its maximum of messages (our backpressure signal). */
const STREAM_FULL = 10077;

export class Fetcher extends Actor {
  private nc!: NatsConnection;
  private js!: JetStreamClient;
  private stopping = false;
  /** The job was stopped (ctl stop): stop reading, report the counts so far. */
  private jobStopped = false;
  private store!: CheckpointStore;
  /** Batches already published per source, and sources already ended (from the checkpoint). */
  private published: number[] = [];
  private ended = new Set<number>();
  private readonly sender = `fetcher-${process.pid}`;
  /** Sources that end only when stopped (follow): stopped when the job is. */
  private followed: Source[] = [];
  /** Followed sources that tell their position: the batch each is publishing (the checkpoint's `follow`). */
  private marks = new Map<number, FollowMark>();

  constructor(
    private readonly cfg: HavokConfig,
    log: Logger,
  ) {
    super(log);
  }

  protected async run(): Promise<void> {
    this.nc = await connectBus(this.cfg.nats, this.log, { name: this.sender, signal: this.signal });
    this.onClose('nats', () => this.nc.drain());
    await ensureJobStream(await jetstreamManager(this.nc), this.cfg);
    this.js = jetstream(this.nc);
    this.store = new CheckpointStore(this.nc, this.cfg.job.id, this.cfg.nats.stream_replicas);
    const cp = await this.store.load('fetcher');
    if (cp) {
      this.published = cp.published;
      this.ended = new Set(cp.ended);
      this.marks = new Map((cp.follow ?? []).map((m) => [m.src, m]));
      this.log.warn({ published: cp.published, ended: cp.ended, follow: cp.follow?.map(({ src, batch, from }) => ({ src, batch, from })) }, 'resuming: batches already published are re-read but not sent again; a followed source goes on from its last batch');
    }
    // A followed source's kind has one source: it continues from its mark's first line position.
    const resumeAt = this.marks.get(0)?.from;
    const sources = await openSources(this.cfg, { log: this.log, ...(resumeAt === undefined ? {} : { resumeAt }) });
    // A source may hold connections (Kafka, SLS): closing its generator releases them, so a
    // stopped fetcher exits at once instead of waiting out the drain grace.
    this.followed = sources.filter((s) => s.stop);
    this.onClose('sources', () => Promise.all(sources.map((s) => (s.stop?.(), s.records.return(undefined)))));
    this.nc.subscribe(subjects.status(this.cfg.job.id), {
      callback: (_err, msg) =>
        this.guard(() => {
          if (decodeOn('status', msg.data).state === JOB_STATES.stopped && !this.jobStopped) {
            this.jobStopped = true;
            this.log.info('job stopped: no more reading');
            // A followed source waits for records that may never come: end it (after what it holds).
            for (const s of this.followed) s.stop?.();
          }
        }),
    });
    this.log.info({ sources: sources.map((s) => s.name) }, 'reading');
    void this.pump(sources).then(
      () => this.finish(0, 'source exhausted'),
      (err: Error) => {
        // Closing cut a wait (a publish or checkpoint retry): not a failure.
        if (err === this.signal.reason) return;
        this.log.error({ err }, 'fetcher failed');
        this.finish(1, 'fetcher failed');
      },
    );
  }

  protected async drain(): Promise<void> {
    this.stopping = true;
  }

  /**
   * Reads every source, always taking the next batch from the source that is furthest behind in
   * log time (a k-way merge at batch granularity). The time wheel orders records exactly with
   * per-source watermarks; reading this way keeps its buffer small and never lets a dense file
   * run far ahead of a sparse one.
   */
  private async pump(sources: Source[]): Promise<void> {
    const n = sources.length;
    // A followed source's read that the linger cut short: the next batch starts with it.
    const reading: Array<Promise<IteratorResult<ChainRecord>> | undefined> = new Array(n);
    const linger = new Linger();
    const size = this.cfg.fetcher.batch_size;
    const newest = new Array<number>(n).fill(-Infinity);
    const seq = new Array<number>(n).fill(0);
    // A followed source does not read the same records again after a restart (it starts at now −
    // delay_ms): its batches are numbered on from the checkpoint, none skipped as already sent.
    const batchNo = sources.map((src, i) => (src.stop ? (this.published[i] ?? 0) : 0));
    // A followed source that tells its position (a line's, in stream order) continues exactly: the
    // batch its mark names is formed again (read from `from`, ended at the record at `to`) and
    // published under the same number (a duplicate the job stream drops if it got through), counts
    // and sequence continued.
    const exact = sources.map((s) => s.stop !== undefined && s.position !== undefined);
    /**
     * Per exact source: the position of the last record read, and the counts then. The next batch
     * starts at `pos + 1`: the next line of that message, or, past its last line, nothing of it
     * (the source skips lines before the resume line of that message only, then reads on).
     */
    const lastRecord: Array<{ pos: number; counts: SourceCounts } | undefined> = new Array(n);
    /** A batch formed again after a restart ends with the record at this position. */
    const until: Array<number | undefined> = new Array(n);
    for (const [src, m] of this.marks) {
      if (!exact[src]) continue;
      Object.assign(sources[src].counts, copyCounts(m.counts));
      seq[src] = m.seq;
      batchNo[src] = m.batch;
      until[src] = m.to;
      lastRecord[src] = { pos: m.from - 1, counts: copyCounts(m.counts) };
    }
    const live = new Set(sources.map((_, i) => i));
    while (live.size > 0) {
      let src = -1;
      for (const i of live) if (src < 0 || newest[i] < newest[src]) src = i;
      const s = sources[src];
      const batch: LogRecord[] = [];
      let exhausted = false;
      // Where this batch starts, for its mark: the source position, the counts and the record sequence.
      const prev = lastRecord[src];
      const before = exact[src] ? { from: prev ? prev.pos + 1 : 0, counts: prev?.counts ?? emptyCounts(), seq: seq[src] } : undefined;
      while (batch.length < size) {
        if (this.stopping) return;
        const read = reading[src] ?? s.records.next();
        reading[src] = undefined;
        // A followed source goes quiet for as long as nothing is recorded: what it has read goes
        // out after LINGER_MS instead of waiting for a full batch.
        // (Not while a batch is formed again: it must end where its mark says.)
        const next = s.stop && batch.length > 0 && until[src] === undefined ? await linger.race(read) : await read;
        if (next === LINGERED) {
          reading[src] = read;
          break;
        }
        if (next.done) {
          exhausted = true;
          break;
        }
        // The record was read (and counted): it goes out even when the job was just stopped.
        // The analyzer chain made it for us alone: it is stamped in place, not copied.
        const rec = next.value as LogRecord;
        rec.src = src;
        rec.seq = seq[src]++;
        batch.push(rec);
        if (next.value.ts > newest[src]) newest[src] = next.value.ts;
        if (exact[src]) {
          const pos = s.position!().last;
          lastRecord[src] = { pos, counts: copyCounts(s.counts) };
          const end = until[src];
          if (end !== undefined && pos >= end) {
            until[src] = undefined;
            break;
          }
        }
        // A followed source ends itself once stopped, after handing over what it read.
        if (this.jobStopped && !s.stop) break;
      }
      linger.reset();
      if (batch.length) {
        // After a restart, batches the checkpoint says went out are read again (the counts and
        // the batch boundaries depend on it) but not re-sent.
        const no = batchNo[src]++;
        s.counts.published += batch.length;
        const last = lastRecord[src];
        if (before && last) {
          last.counts.published += batch.length;
          // Saved before the publish: a fetcher killed in between forms this batch again. Once the
          // job is stopped the time wheel may end it and delete its state at any moment: then the
          // save may fail (a stopped job is not resumed).
          this.marks.set(src, { src, batch: no, from: before.from || s.position!().first, to: last.pos, seq: before.seq, counts: before.counts });
          await this.checkpoint(this.jobStopped ? 3 : Infinity);
          await this.publish({ ...envelope('records', this.sender), src, sources: n, batch: no, records: batch });
          this.published[src] = no + 1;
        } else if (no >= (this.published[src] ?? 0)) {
          await this.publish({ ...envelope('records', this.sender), src, sources: n, batch: no, records: batch });
          this.published[src] = no + 1;
          await this.checkpoint();
        }
      }
      if (exhausted || (this.jobStopped && !s.stop)) {
        if (!exhausted) await s.records.return(undefined);
        if (!this.ended.has(src)) {
          await this.publish({ ...envelope('source_end', this.sender), src, sources: n, batches: batchNo[src], counts: s.counts });
          this.ended.add(src);
          // The time wheel may finish the job (and clear its state) the moment the last source
          // ends, so this last save is allowed to fail: a re-sent end message is harmless.
          await this.checkpoint(live.size > 1 ? Infinity : 3);
        }
        this.log.info({ source: s.name, ...s.counts, samples: s.counts.samples.length }, exhausted ? 'source exhausted' : 'source stopped');
        live.delete(src);
      }
    }
  }

  /** Saves the progress, retrying while NATS is away; after `attempts` failures it lets go. */
  private async checkpoint(attempts = Infinity): Promise<void> {
    try {
      const follow = this.marks.size > 0 ? { follow: [...this.marks.values()] } : {};
      await retry(() => this.store.save('fetcher', { ...envelope('fetcher_checkpoint', this.sender), published: this.published, ended: [...this.ended], ...follow }), {
        signal: this.signal,
        backoff: { initialMs: 100, maxMs: 2000 },
        retries: attempts - 1,
        isRetryable: () => !this.stopping,
        onRetry: ({ err, attempt }) => this.log.warn({ err: (err as Error).message, attempt }, 'cannot save the checkpoint yet, retrying'),
      });
    } catch (err) {
      if (!(err instanceof RetryError)) throw err;
    }
  }

  /**
   * Publishes one message, waiting while the stream is full and retrying while NATS is away.
   * The message id is the batch's place in its source, so the server drops a re-published batch
   * (a fetcher that died between publishing and checkpointing).
   */
  private async publish(msg: SourceMsg): Promise<void> {
    const data = encode(msg);
    const msgID = `${msg.src}-${msg.kind === 'records' ? msg.batch : 'end'}`;
    const full = (err: unknown): boolean => err instanceof JetStreamApiError && err.code === STREAM_FULL;
    await retry(() => this.js.publish(subjects.records(this.cfg.job.id), data, { msgID, timeout: 5000 }), {
      signal: this.signal,
      // A full stream is backpressure: look again soon (≤ 50 ms), quietly. Anything else is NATS
      // being away: back off up to 2 s and say so.
      backoff: { initialMs: 5, maxMs: (err) => (full(err) ? 50 : 2000) },
      isRetryable: () => !this.stopping,
      onRetry: ({ err, attempt }) => {
        if (!full(err)) this.log.warn({ err: (err as Error).message, attempt }, 'publish to job stream failed, retrying');
      },
    });
  }
}

/** A copy of a source's counts (a mark keeps them as they were). */
function copyCounts(c: SourceCounts): SourceCounts {
  return { ...c, samples: [...c.samples], ...(c.filtered_by_reason ? { filtered_by_reason: { ...c.filtered_by_reason } } : {}) };
}
