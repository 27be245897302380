/**
 * `[fetcher.kafka]`: a Kafka topic, read with kafkajs from a start to an end offset per
 * partition (a bounded replay: `[job] end` by timestamp, else the high watermark when the job
 * starts). No offsets are committed: the consumer group is a throwaway one of the fetcher's own.
 */
import { z } from 'zod';
import { kafkaSaslSchema, kafkaSslSchema } from '../../../../shared/kafka/security.js';
import { ANALYZERS } from '../../analyzers/names.js';

export const kafkaSchema = z.strictObject({
  /** Bootstrap brokers, `host:port`: a list, or one comma-separated string (handy in env). */
  brokers: z
    .union([z.string(), z.array(z.string())])
    .transform((b) => (typeof b === 'string' ? b.split(',') : b).map((s) => s.trim()).filter((s) => s.length > 0))
    .default([]),
  topic: z.string().min(1).optional(),
  /** Partitions to read, each its own source; absent = all of the topic's. */
  partitions: z.array(z.number().int().nonnegative()).min(1).optional(),
  /**
   * Where each partition starts: `oldest` (`earliest`), `newest` (`latest`), an offset, or a
   * negative number: that many records before the end. Absent: the first offset at or after
   * `[job] begin` (by message timestamp) when begin is set, else `oldest`.
   */
  offset: z
    .union([z.number().int(), z.enum(['oldest', 'newest', 'earliest', 'latest'])], { error: 'expected "oldest", "newest" or an offset (negative: that many records before the end)' })
    .optional(),
  client_id: z.string().min(1).default('havok'),
  ssl: kafkaSslSchema.optional(),
  sasl: kafkaSaslSchema.optional(),
  /** Connection attempts after the first failed one before the fetcher gives up (exit 1). */
  retries: z.number().int().nonnegative().default(5),
  /** First retry delay; doubled per retry up to `backoff_max_ms`. */
  backoff_ms: z.number().int().positive().default(300),
  backoff_max_ms: z.number().int().positive().default(10_000),
  connect_timeout_ms: z.number().int().positive().default(3_000),
  request_timeout_ms: z.number().int().positive().default(30_000),
  /** Bytes fetched per partition and request; a partition holds at most two such batches. */
  max_bytes_per_partition: z.number().int().min(1024).default(1 << 20),
  /** Analyzer of the message values (one log line each). Absent: `[fetcher.file] format`. */
  format: z.enum(ANALYZERS).optional(),
});

export type KafkaSection = z.output<typeof kafkaSchema>;
