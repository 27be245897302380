/**
 * `type = "jetstream"`: the traffic stream (the shared contract in shared/protocol.ts). The
 * stream is created when missing (limits by age and bytes, replicas) and kept up to date. Each
 * line is one publish with the Idempotency-Key's message id, all of a POST's lines in flight at
 * once; the POST is acknowledged when every publish ack is in. While NATS is disconnected a POST
 * fails at once (503) rather than waiting out the timeout in the client's reconnect buffer.
 */
import { DiscardPolicy, jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '../../../shared/bus.js';
import { TRAFFIC_SUBJECTS } from '../../../shared/protocol.js';
import { StoreError } from '../errors.js';
import type { JetStreamProducerSettings } from '../settings.js';
import type { StoredLine } from '../pipeline/pipeline.js';
import type { Producer, ProducerContext } from './types.js';

/**
 * Publishes awaiting their ack at once, over all POSTs. Beyond it a line waits for a slot before
 * it is sent, so `store_timeout_ms` times the server's answer, not a queue in this process: a
 * loaded server makes POSTs slower, not failed.
 */
const PUBLISH_WINDOW = 2048;

/** A counting semaphore: `acquire` resolves when a slot is free. */
class Window {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(size: number) {
    this.free = size;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** JetStream API error: a stream of that name exists (update it instead). */
const STREAM_NAME_IN_USE = 10058;

/** The traffic stream's config from the producer block. Pure. */
export function trafficStreamConfig(s: JetStreamProducerSettings) {
  return {
    name: s.stream,
    subjects: [TRAFFIC_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    // JetStream counts ages in ns; -1 = no byte cap, 0 = no age limit.
    max_age: s.max_age_ms * 1e6,
    max_bytes: s.max_bytes === 0 ? -1 : s.max_bytes,
    duplicate_window: s.dedupe_window_ms * 1e6,
    num_replicas: s.replicas,
  };
}

export async function openJetStreamProducer(s: JetStreamProducerSettings, ctx: ProducerContext): Promise<Producer> {
  const nc: NatsConnection = await ctx.nats();
  const js: JetStreamClient = jetstream(nc, { timeout: ctx.timeoutMs });
  let connected = true;
  void (async () => {
    for await (const st of nc.status()) {
      if (st.type === 'disconnect') connected = false;
      else if (st.type === 'reconnect') connected = true;
    }
  })();
  let ready: Promise<void> | undefined;
  const ensureStream = (): Promise<void> =>
    (ready ??= (async () => {
      const jsm = await jetstreamManager(nc, { timeout: ctx.timeoutMs });
      const config = trafficStreamConfig(s);
      try {
        await jsm.streams.add(config);
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) throw err;
        await jsm.streams.update(config.name, config);
      }
      ctx.log.info({ stream: s.stream }, 'traffic stream ready');
    })().catch((err: unknown) => {
      ready = undefined;
      throw err;
    }));
  try {
    await ensureStream();
  } catch (err) {
    // NATS may come back later: the first POST tries again (and gets 503 until it works).
    ctx.log.warn({ err: (err as Error).message, stream: s.stream }, 'cannot create the traffic stream yet');
  }
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  const window = new Window(PUBLISH_WINDOW);
  const publish = async (l: StoredLine, idKey: string | undefined): Promise<unknown> => {
    await window.acquire();
    try {
      return await js.publish(l.subject, l.payload, idKey === undefined ? undefined : { msgID: `${idKey}:${l.index}` });
    } finally {
      window.release();
    }
  };
  return {
    maxPayload,
    async store(_repo: string, lines: readonly StoredLine[], idKey: string | undefined): Promise<void> {
      if (!connected || nc.isClosed()) throw new StoreError('NATS is disconnected');
      try {
        await ensureStream();
      } catch (err) {
        throw new StoreError(`cannot create stream ${s.stream}: ${(err as Error).message}`, { cause: err });
      }
      const acks = await Promise.allSettled(lines.map((l) => publish(l, idKey)));
      const failed = acks.filter((a) => a.status === 'rejected');
      if (failed.length) {
        const first = (failed[0] as PromiseRejectedResult).reason as Error;
        throw new StoreError(`${failed.length} of ${lines.length} lines not acknowledged by stream ${s.stream}: ${first.message}`, { cause: first });
      }
    },
    // The connection is the gateway's (shared with the traffic store): it closes it after the outputs.
    close: async () => undefined,
  };
}
