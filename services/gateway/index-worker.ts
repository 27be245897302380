/**
 * The trace indexer on a thread of the gateway's process (`index-thread.ts` starts it): its own
 * event loop and NATS connection, so reading the traffic stream's headers and writing the index
 * never delays a POST on the ingest loop. It stops on the `stop` message (the batch in hand is
 * finished and acked) and exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connectBus } from '../../shared/bus.js';
import { createLogger } from '../../shared/log.js';
import { runTraceIndexer } from '../traffic/trace-index.js';
import type { IndexThreadData } from './index-thread.js';

const data = workerData as IndexThreadData;
const log = createLogger('gateway', { part: 'trace-indexer', stream: data.stream });
const stop = new AbortController();
parentPort?.on('message', (m: unknown) => {
  if (m === 'stop') stop.abort(new Error('gateway closing'));
});

try {
  const nc = await connectBus(data.nats, log, { name: `havok-gateway-indexer-${process.pid}`, signal: stop.signal });
  try {
    // It logs its own stop, with its counts.
    await runTraceIndexer({ nc, js: jetstream(nc), jsm: await jetstreamManager(nc), stream: data.stream, traceFieldOf: (repo) => data.traceFields[repo], log, signal: stop.signal });
  } finally {
    await nc.drain().catch(() => nc.close());
  }
} catch (err) {
  // Closing the gateway stopped it mid-batch (that batch is indexed again next time): not a failure.
  if (stop.signal.aborted) log.info('trace indexer stopped (the gateway is closing)');
  else {
    log.error({ err: (err as Error).message }, 'trace indexer failed: trace-id lookups fall back to scanning; run `havok traffic index`');
  }
} finally {
  // Its last lines are written before the thread ends (the destination is asynchronous), and the
  // port, whose listener would keep the thread alive, is let go.
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  parentPort?.close();
}
