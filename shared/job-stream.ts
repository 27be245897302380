/**
 * The job's JetStream stream, fetcher → time wheel. A work queue (a batch is deleted once the
 * time wheel acks it) with `discard: new` and a message cap, so a fetcher that runs ahead gets
 * "stream full" and waits: that is the backpressure that bounds every actor's memory. Batches
 * are published with a message id, so a re-published batch is dropped by the server.
 */
import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import type { HavokConfig } from './config.js';
import { streamName, subjects } from './protocol.js';

/** How long the server remembers message ids for de-duplication. */
/** JetStream API error code: a stream of that name exists (with another config). */
const STREAM_NAME_IN_USE = 10058;
const DUPLICATE_WINDOW_NS = 10 * 60 * 1e9;

/**
 * The stream holds batches until the time wheel has released all their records (restart
 * safety), so it must hold what the time wheel may buffer (`max_buffer` records) plus the
 * fetcher's read-ahead (`max_pending_batches`); otherwise a full stream could stall a re-order
 * window that is waiting for more data.
 */
export async function ensureJobStream(jsm: JetStreamManager, cfg: HavokConfig): Promise<void> {
  const job = cfg.job.id;
  const maxPendingBatches = cfg.fetcher.max_pending_batches + Math.ceil(cfg.job.max_buffer / cfg.fetcher.batch_size);
  const name = streamName(job);
  const config = {
    name,
    subjects: [subjects.records(job)],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    // + room for the sources' end messages behind a full window.
    max_msgs: maxPendingBatches + 8,
    duplicate_window: DUPLICATE_WINDOW_NS,
    num_replicas: cfg.nats.stream_replicas,
  };
  try {
    await jsm.streams.add(config);
  } catch (err) {
    // Fetcher and time wheel both ensure the stream; whichever comes second updates it.
    if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NAME_IN_USE) throw err;
    await jsm.streams.update(name, config);
  }
}
