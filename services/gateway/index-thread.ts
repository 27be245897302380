/**
 * Starting and stopping the gateway's trace indexer on a worker thread (index-worker.ts). On the
 * gateway's own event loop the indexer's batches (tens of thousands of index entries at a time)
 * took turns with the POSTs: it cost a quarter of the ingest rate in the gateway bench, while the
 * machine had a core's share idle.
 */
import { Worker } from 'node:worker_threads';
import type { HavokConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/log.js';

/** What the thread is given (plain data: it is copied into the thread). */
export interface IndexThreadData {
  nats: HavokConfig['nats'];
  stream: string;
  /** Each repo's `trace_field`, where it has one. */
  traceFields: Record<string, string>;
}

/** A stopped thread that has not exited after this long is terminated, ms. */
const STOP_GRACE_MS = 10_000;

/** Starts the indexer thread; the result stops it (after its batch in hand) and resolves when it has exited. */
export function startIndexThread(data: IndexThreadData, log: Logger): () => Promise<void> {
  const worker = new Worker(new URL('./index-worker.js', import.meta.url), { workerData: data });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (err) => log.error({ err: err.message }, 'trace indexer thread failed: trace-id lookups fall back to scanning; run `havok traffic index`'));
  return async () => {
    worker.postMessage('stop');
    const timer = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
}
