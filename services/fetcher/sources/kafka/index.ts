/**
 * `[fetcher] type = "kafka"` (the original Havok's `kafka-single-partition`): each partition of
 * the topic is one source, `topic/partition`, read from a start to an end offset fixed when the
 * job opens it (offsets.ts, consumer.ts). kafkajs loads only when a Kafka job opens its sources.
 */
import { resolveSslPaths } from '../../../../shared/kafka/security.js';
import type { ChainOverride, SourceKind } from '../types.js';
import { kafkaSchema, type KafkaSection } from './schema.js';

/** The analyzer of the message values: `[fetcher.kafka] format` over the file's. Pure. */
export function kafkaChain(k: KafkaSection): ChainOverride {
  return { format: k.format };
}

export const kafka = {
  schema: kafkaSchema,
  validate(k) {
    const issues = [];
    if (k.brokers.length === 0) issues.push({ key: 'fetcher.kafka.brokers', message: 'required (a list of host:port)' });
    if (!k.topic) issues.push({ key: 'fetcher.kafka.topic', message: 'required' });
    return issues;
  },
  async open(k, ctx) {
    const { openKafkaSources } = await import('./consumer.js');
    return openKafkaSources(k, ctx, await ctx.chain(kafkaChain(k)), ctx.log);
  },
  resolvePaths(k, abs) {
    resolveSslPaths(k, abs);
  },
} satisfies SourceKind<typeof kafkaSchema>;
