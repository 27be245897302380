/**
 * Where a Kafka source reads: the partitions of the topic and each one's start and end offset,
 * looked up once when the job opens the source (kafka/index.ts says how they are chosen), and
 * the kafkajs client options both the lookup and the consumer use.
 */
import kafkajs from 'kafkajs';
import type { Admin, KafkaConfig, logCreator } from 'kafkajs';
import { ConfigError, SourceError } from '../../../../shared/errors.js';
import { kafkaSecurity } from '../../../../shared/kafka/security.js';
import type { Logger } from '../../../../shared/log.js';
import { retry, RetryError } from '../../../../shared/retry.js';
import type { KafkaSection } from './schema.js';

const { Kafka, logLevel } = kafkajs;

/**
 * Start and end offsets of one partition (pure). `low`/`high`: its earliest offset and high
 * watermark; `beginOffset`/`endOffset`: ListOffsets answers for `[job] begin`/`end` (kafkajs gives
 * the high watermark when no record is that late).
 */
export function offsetRange(p: { low: number; high: number; offset?: number | string; beginOffset?: number; endOffset?: number }): { start: number; end: number } {
  const clamp = (o: number): number => Math.min(Math.max(o, p.low), p.high);
  let start: number;
  if (p.offset === 'oldest' || p.offset === 'earliest') start = p.low;
  else if (p.offset === 'newest' || p.offset === 'latest') start = p.high;
  else if (typeof p.offset === 'number') start = clamp(p.offset < 0 ? p.high + p.offset : p.offset);
  else if (p.beginOffset !== undefined) start = clamp(p.beginOffset);
  else start = p.low;
  const end = Math.max(start, p.endOffset === undefined ? p.high : clamp(p.endOffset));
  return { start, end };
}

/** kafkajs client options from `[fetcher.kafka]`. */
export function clientConfig(k: KafkaSection, log: Logger, retries: number): KafkaConfig {
  return {
    clientId: k.client_id,
    brokers: k.brokers,
    ...kafkaSecurity(k, 'fetcher.kafka'),
    connectionTimeout: k.connect_timeout_ms,
    requestTimeout: k.request_timeout_ms,
    retry: { retries, initialRetryTime: k.backoff_ms, maxRetryTime: k.backoff_max_ms },
    logLevel: log.isLevelEnabled('trace') ? logLevel.DEBUG : log.isLevelEnabled('debug') ? logLevel.INFO : logLevel.WARN,
    logCreator: kafkajsLogs(log),
  };
}

/** kafkajs logs go to our logger at debug: Havok logs retries and failures itself, once. */
function kafkajsLogs(log: Logger): logCreator {
  return () =>
    ({ namespace, log: entry }) => {
      const { message, timestamp: _t, logger: _l, ...extra } = entry as typeof entry & { logger?: string };
      log.debug({ kafkajs: namespace, ...extra }, message);
    };
}

/** True for errors that trying again cannot fix (bad credentials, missing topic). */
function isPermanent(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ConfigError || (e instanceof SourceError && !e.retryable)) return true;
    const { name, type } = e as { name?: string; type?: string };
    if (name === 'KafkaJSSASLAuthenticationError' || type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'TOPIC_AUTHORIZATION_FAILED') return true;
  }
  return false;
}

export function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown };
  while (e.cause && typeof e.cause === 'object' && (e.cause as Error).message) e = e.cause as Error;
  return e.message ?? String(err);
}

export interface Range {
  partition: number;
  start: number;
  end: number;
}

/**
 * Looks up the partitions and their offset ranges, retrying while the brokers are unreachable
 * (`retries`, doubling from `backoff_ms` to `backoff_max_ms`). Every error names the brokers and
 * the step that failed.
 */
export async function discover(k: KafkaSection, window: { begin?: number; end?: number }, log: Logger): Promise<Range[]> {
  const topic = k.topic!;
  const { begin, end } = window;
  const brokers = k.brokers.join(',');
  /** The step of the attempt in progress, for the messages. */
  let step = 'connect';
  const attempt = async (n: number): Promise<Range[]> => {
    let admin: Admin | undefined;
    step = 'connect';
    try {
      // One try per attempt (kafkajs retries nothing here; the attempts are ours, and logged),
      // each starting from the next broker of the list.
      const shift = (n - 1) % k.brokers.length;
      const kafka = new Kafka(clientConfig({ ...k, brokers: [...k.brokers.slice(shift), ...k.brokers.slice(0, shift)] }, log, 0));
      admin = kafka.admin({ retry: { retries: 0 } });
      await admin.connect();
      step = `read the metadata of topic "${topic}"`;
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const all = (meta.topics[0]?.partitions ?? []).map((p) => p.partitionId).sort((a, b) => a - b);
      if (all.length === 0) throw new SourceError(`Kafka topic "${topic}" has no partitions (brokers ${brokers})`, false);
      const wanted = k.partitions ?? all;
      const missing = wanted.filter((p) => !all.includes(p));
      if (missing.length) {
        throw new ConfigError([{ key: 'fetcher.kafka.partitions', message: `topic "${topic}" has no partition ${missing.join(', ')} (it has ${all.join(', ')})` }]);
      }
      step = `list the offsets of topic "${topic}"`;
      const byPartition = (rows: Array<{ partition: number; offset: string }>): Map<number, number> => new Map(rows.map((r) => [r.partition, Number(r.offset)]));
      const watermarks = await admin.fetchTopicOffsets(topic);
      const low = new Map(watermarks.map((w) => [w.partition, Number(w.low)]));
      const high = new Map(watermarks.map((w) => [w.partition, Number(w.high)]));
      const beginOffsets = begin !== undefined && k.offset === undefined ? byPartition(await admin.fetchTopicOffsetsByTimestamp(topic, begin)) : undefined;
      const endOffsets = end !== undefined ? byPartition(await admin.fetchTopicOffsetsByTimestamp(topic, end)) : undefined;
      return wanted.map((partition) => ({
        partition,
        ...offsetRange({ low: low.get(partition) ?? 0, high: high.get(partition) ?? 0, offset: k.offset, beginOffset: beginOffsets?.get(partition), endOffset: endOffsets?.get(partition) }),
      }));
    } finally {
      await admin?.disconnect().catch(() => undefined);
    }
  };
  try {
    return await retry(attempt, {
      backoff: { initialMs: k.backoff_ms, maxMs: k.backoff_max_ms },
      retries: k.retries,
      isRetryable: (err) => !(err instanceof ConfigError || err instanceof SourceError || isPermanent(err)),
      onRetry: ({ err, attempt: n, delayMs }) => log.warn({ brokers: k.brokers, attempt: n, retries: k.retries, retry_in_ms: delayMs, err: rootMessage(err) }, `kafka: could not ${step}, retrying`),
    });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof SourceError) throw err;
    if (err instanceof RetryError) {
      throw new SourceError(`Kafka brokers ${brokers} unreachable: could not ${step} after ${err.attempts} attempts: ${rootMessage(err.lastError)}`, true, { cause: err.lastError });
    }
    throw new SourceError(`Kafka brokers ${brokers}: could not ${step}: ${rootMessage(err)}`, false, { cause: err });
  }
}
