/**
 * The job's JetStream stream, fetcher → time wheel. A work queue (a batch is deleted once the
 * time wheel acks it) with `discard: new` and a message cap, so a fetcher that runs ahead gets
 * "stream full" and waits: that is the backpressure that bounds every actor's memory. Batches
 * are published with a message id, so a re-published batch is dropped by the server.
 */
import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { streamName, subjects } from './protocol.js';

/** How long the server remembers message ids for de-duplication. */
/** JetStream API error code: a stream of that name exists (with another config). */
const STREAM_NAME_IN_USE = 10058;
const DUPLICATE_WINDOW_NS = 10 * 60 * 1e9;

export async function ensureJobStream(jsm: JetStreamManager, job: string, maxPendingBatches: number): Promise<void> {
  const name = streamName(job);
  const config = {
    name,
    subjects: [subjects.records(job)],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    // +1 leaves room for the source-end message behind a full window.
    max_msgs: maxPendingBatches + 1,
    duplicate_window: DUPLICATE_WINDOW_NS,
  };
  try {
    await jsm.streams.add(config);
  } catch (err) {
    // Fetcher and time wheel both ensure the stream; whichever comes second updates it.
    if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NAME_IN_USE) throw err;
    await jsm.streams.update(name, config);
  }
}
