/**
 * `type = "jetstream"`: the traffic stream (the shared contract in shared/protocol.ts). The
 * stream is created when missing (limits by age and bytes, replicas) and kept up to date. A
 * POST's lines are packed into one message per subject (pack.ts; more when they exceed the
 * server's payload or TRAFFIC_MAX_LINES), each published with the Idempotency-Key's message id,
 * all in flight at once; the POST is acknowledged when every publish ack is in. While NATS is
 * disconnected a POST fails at once (503) rather than waiting out the timeout in the client's
 * reconnect buffer.
 */
import { DiscardPolicy, jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '../../../shared/bus.js';
import { headers } from '@nats-io/transport-node';
import { TRAFFIC_LINES_HEADER, TRAFFIC_MAX_LINES, TRAFFIC_SUBJECTS, TRAFFIC_TRACES_HEADER } from '../../../shared/protocol.js';
import { StoreError } from '../errors.js';
import type { JetStreamProducerSettings } from '../settings.js';
import type { StoredLine } from '../pipeline/pipeline.js';
import { packLines, type PackedMessage } from './pack.js';
import type { Producer, ProducerContext } from './types.js';

/**
 * Publishes awaiting their ack at once, over all POSTs. Beyond it a message waits for a slot before
 * it is sent, so `store_timeout_ms` times the server's answer, not a queue in this process: a
 * loaded server makes POSTs slower, not failed.
 */
const PUBLISH_WINDOW = 256;
/** Room left in a message for its headers (the message id) under the server's max_payload. */
const HEADER_ROOM = 1024;

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
  const maxPayload = (nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM;
  const window = new Window(PUBLISH_WINDOW);
  const publish = async (m: PackedMessage, idKey: string | undefined): Promise<unknown> => {
    await window.acquire();
    try {
      const h = headers();
      h.set(TRAFFIC_LINES_HEADER, String(m.lines));
      if (m.traces) h.set(TRAFFIC_TRACES_HEADER, m.traces);
      return await js.publish(m.subject, m.payload, { headers: h, ...(idKey === undefined ? {} : { msgID: `${idKey}:${m.first}` }) });
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
      const messages = packLines(lines, maxPayload, TRAFFIC_MAX_LINES);
      const acks = await Promise.allSettled(messages.map((m) => publish(m, idKey)));
      const failed = acks.flatMap((a, i) => (a.status === 'rejected' ? [{ lines: messages[i]!.lines, err: a.reason as Error }] : []));
      if (failed.length) {
        const lost = failed.reduce((n, f) => n + f.lines, 0);
        throw new StoreError(`${lost} of ${lines.length} lines (${failed.length} of ${messages.length} messages) not acknowledged by stream ${s.stream}: ${failed[0]!.err.message}`, { cause: failed[0]!.err });
      }
    },
    // The connection is the gateway's (shared with the traffic store): it closes it after the outputs.
    close: async () => undefined,
  };
}
