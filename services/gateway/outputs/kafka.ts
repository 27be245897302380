/**
 * `type = "kafka"`: each line is one Kafka message (its value the stored JSON, header
 * `havok-msg-id` = `<Idempotency-Key>:<index>` when the POST had one) on the repo's topic
 * (`topic`, else `topic_prefix` + repo), sent by kafkajs's idempotent producer with acks = all
 * (-1) and the producer's `compression` (gzip by default; shared/kafka/codecs.ts). Lines of concurrent POSTs to one topic share batches (batch.ts); a POST is
 * acknowledged when every batch holding its lines is. Kafka unreachable, or no ack within
 * `store_timeout_ms`: StoreError (503), logged once per failure with the brokers and the cause.
 * kafkajs loads only when a Kafka producer is opened (registry.ts).
 */
import kafkajs from 'kafkajs';
import type { Message, Producer as KafkaProducer } from 'kafkajs';
import { COMPRESSION_TYPES, registerKafkaCodecs } from '../../../shared/kafka/codecs.js';
import { kafkaSecurity } from '../../../shared/kafka/security.js';
import { StoreError } from '../errors.js';
import type { StoredLine } from '../pipeline/pipeline.js';
import type { KafkaProducerSettings } from '../settings.js';
import { batchDue, type BatchLimits } from './batch.js';
import type { Producer, ProducerContext } from './types.js';

const { Kafka, logLevel } = kafkajs;

/** Kafka's default message.max.bytes is about 1 MB: a longer line is dropped as too large. */
const MAX_MESSAGE_BYTES = 1_000_000;

interface Pending {
  messages: Message[];
  bytes: number;
  firstAt: number;
  waiters: Array<{ resolve: () => void; reject: (err: Error) => void }>;
  timer?: NodeJS.Timeout;
}

/** The topic of a repo's lines. Pure. */
export function topicOf(s: KafkaProducerSettings, repo: string): string {
  return s.topic ?? `${s.topic_prefix}${repo}`;
}

export async function openKafkaProducer(s: KafkaProducerSettings, ctx: ProducerContext): Promise<Producer> {
  await registerKafkaCodecs();
  const kafka = new Kafka({
    clientId: s.client_id,
    brokers: s.brokers,
    ...kafkaSecurity(s, `gateway.producers.${ctx.label}`),
    connectionTimeout: s.connect_timeout_ms,
    requestTimeout: ctx.timeoutMs,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: logLevel.NOTHING,
  });
  // Idempotent: the broker drops a batch kafkajs re-sends after a lost answer (one in flight, acks all).
  const producer: KafkaProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  let connecting: Promise<void> | undefined;
  const connected = (): Promise<void> =>
    (connecting ??= producer.connect().catch((err: unknown) => {
      connecting = undefined;
      throw err;
    }));
  connected().catch((err: Error) => ctx.log.warn({ brokers: s.brokers, err: err.message }, 'Kafka not reachable yet; POSTs get 503 until it is'));
  const limits: BatchLimits = { count: s.batch_count, bytes: s.batch_bytes, lingerMs: s.linger_ms };
  const pending = new Map<string, Pending>();

  const send = async (topic: string, messages: Message[]): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no acknowledgement in ${ctx.timeoutMs} ms`)), ctx.timeoutMs)));
    try {
      await Promise.race([
        (async () => {
          await connected();
          await producer.send({ topic, acks: -1, compression: COMPRESSION_TYPES[s.compression], messages });
        })(),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  };

  const flush = (topic: string): void => {
    const b = pending.get(topic);
    if (!b) return;
    pending.delete(topic);
    clearTimeout(b.timer);
    send(topic, b.messages).then(
      () => b.waiters.forEach((w) => w.resolve()),
      (err: Error) => {
        ctx.log.error({ brokers: s.brokers, topic, lines: b.messages.length, err: err.message }, 'Kafka did not acknowledge a batch: its POSTs get 503');
        const e = new StoreError(`Kafka (${s.brokers.join(',')}) topic ${topic}: ${err.message}`, { cause: err });
        b.waiters.forEach((w) => w.reject(e));
      },
    );
  };

  return {
    maxPayload: MAX_MESSAGE_BYTES,
    async store(repo: string, lines: readonly StoredLine[], idKey: string | undefined): Promise<void> {
      const topic = topicOf(s, repo);
      const done: Array<Promise<void>> = [];
      /** The batch this POST waits on already (one waiter per batch holding its lines). */
      let joined: Pending | undefined;
      for (const l of lines) {
        let b = pending.get(topic);
        if (!b) {
          b = { messages: [], bytes: 0, firstAt: Date.now(), waiters: [] };
          pending.set(topic, b);
        }
        b.messages.push({ value: l.payload, headers: idKey === undefined ? undefined : { 'havok-msg-id': `${idKey}:${l.index}` } });
        b.bytes += Buffer.byteLength(l.payload);
        if (joined !== b) {
          const batch = (joined = b);
          done.push(new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject })));
        }
        if (batchDue(b.messages.length, b.bytes, b.firstAt, Date.now(), { ...limits, lingerMs: Infinity })) flush(topic);
      }
      const b = pending.get(topic);
      if (b) {
        // This POST's last lines wait for the linger (more lines from other POSTs), or go now.
        if (limits.lingerMs === 0) flush(topic);
        else b.timer ??= setTimeout(() => flush(topic), Math.max(0, b.firstAt + limits.lingerMs - Date.now()));
      }
      await Promise.all(done);
    },
    async close(): Promise<void> {
      for (const topic of [...pending.keys()]) flush(topic);
      await producer.disconnect();
    },
  };
}
