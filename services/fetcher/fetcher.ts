/**
 * The fetcher reads one source, turns each line into a record through the analyzer chain and
 * publishes batches, in source order, to the job's JetStream stream. The stream's message cap is
 * its backpressure: when the time wheel falls behind, publishing is refused and the fetcher waits
 * instead of reading ahead, so its memory is one batch.
 */
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { connectBus, type NatsConnection } from '../../shared/bus.js';
import { requireKeys, type HavokConfig } from '../../shared/config.js';
import { ConfigError, ProtocolError } from '../../shared/errors.js';
import { ensureJobStream } from '../../shared/job-stream.js';
import { Actor } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/log.js';
import { decode, encode, envelope, JOB_STATES, subjects, type LogRecord, type SourceMsg } from '../../shared/protocol.js';
import { openFileSource, type FileSource } from './source.js';

/** JetStream API error: the stream holds its maximum of messages (our backpressure signal). */
const STREAM_FULL = 10077;

export class Fetcher extends Actor {
  private nc!: NatsConnection;
  private js!: JetStreamClient;
  private stopping = false;
  /** The job was stopped (ctl stop): stop reading, report the counts so far. */
  private jobStopped = false;
  private batchNo = 0;
  /** Distinguishes this run's message ids from an earlier run's still in the dedupe window. */
  private readonly runId = randomUUID().slice(0, 8);
  private readonly sender = `fetcher-${process.pid}`;

  constructor(
    private readonly cfg: HavokConfig,
    log: Logger,
  ) {
    super(log);
  }

  protected async run(): Promise<void> {
    if (this.cfg.fetcher.type !== 'file') {
      throw new ConfigError([{ key: 'fetcher.type', message: `"${this.cfg.fetcher.type}" sources are not available in this version; use "file"` }]);
    }
    requireKeys(this.cfg, [['fetcher.file.path', this.cfg.fetcher.file.path]]);
    const source = await openFileSource(this.cfg);
    this.nc = await connectBus(this.cfg.nats, this.log, { name: this.sender });
    this.onClose('nats', () => this.nc.drain());
    await ensureJobStream(await jetstreamManager(this.nc), this.cfg.job.id, this.cfg.fetcher.max_pending_batches);
    this.js = jetstream(this.nc);
    this.nc.subscribe(subjects.status(this.cfg.job.id), {
      callback: (_err, msg) => {
        try {
          if (decode(msg.data, 'status').state === JOB_STATES.stopped && !this.jobStopped) {
            this.jobStopped = true;
            this.log.info('job stopped: no more reading');
          }
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      },
    });
    this.log.info({ files: source.files }, 'reading');
    void this.pump(source).then(
      () => this.finish(0, 'source exhausted'),
      (err: Error) => {
        this.log.error({ err }, 'fetcher failed');
        this.finish(1, 'fetcher failed');
      },
    );
  }

  protected async drain(): Promise<void> {
    this.stopping = true;
  }

  private async pump(source: FileSource): Promise<void> {
    const size = this.cfg.fetcher.batch_size;
    let batch: LogRecord[] = [];
    let seq = 0;
    const c = source.counts;
    for await (const rec of source.records()) {
      if (this.stopping) return;
      // The record was read (and counted): it goes out even when the job was just stopped.
      batch.push({ ...rec, src: 0, seq: seq++ });
      if (this.jobStopped) break;
      if (batch.length >= size) {
        await this.publish({ ...envelope('records', this.sender), src: 0, sources: 1, batch: this.batchNo, records: batch });
        c.published += batch.length;
        batch = [];
      }
    }
    if (batch.length) {
      await this.publish({ ...envelope('records', this.sender), src: 0, sources: 1, batch: this.batchNo, records: batch });
      c.published += batch.length;
    }
    await this.publish({ ...envelope('source_end', this.sender), src: 0, sources: 1, batches: this.batchNo, counts: c });
    this.log.info({ ...c, samples: c.samples.length }, 'source exhausted');
  }

  /** Publishes one message, waiting while the stream is full and retrying while NATS is away. */
  private async publish(msg: SourceMsg): Promise<void> {
    const data = encode(msg);
    const msgID = `${this.runId}-${msg.src}-${msg.kind === 'records' ? msg.batch : 'end'}`;
    let waitMs = 5;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.js.publish(subjects.records(this.cfg.job.id), data, { msgID, timeout: 5000 });
        if (msg.kind === 'records') this.batchNo++;
        return;
      } catch (err) {
        if (this.stopping) throw err;
        const full = err instanceof JetStreamApiError && err.code === STREAM_FULL;
        if (!full) this.log.warn({ err: (err as Error).message, attempt }, 'publish to job stream failed, retrying');
        await new Promise((r) => setTimeout(r, waitMs));
        waitMs = full ? Math.min(waitMs * 2, 50) : Math.min(waitMs * 2, 2000);
      }
    }
  }
}
