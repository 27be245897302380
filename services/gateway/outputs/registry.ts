/**
 * Every gateway output type, in one list: a new type is a file in this folder and one line here.
 * Each is loaded when a producer of its type is opened (kafkajs only for Kafka producers).
 */
import type { ProducerSettings } from '../settings.js';
import type { Producer, ProducerContext } from './types.js';

type Opener<T extends ProducerSettings['type']> = (s: Extract<ProducerSettings, { type: T }>, ctx: ProducerContext) => Promise<Producer>;

const OUTPUTS: { [T in ProducerSettings['type']]: Opener<T> } = {
  jetstream: async (s, ctx) => (await import('./jetstream.js')).openJetStreamProducer(s, ctx),
  kafka: async (s, ctx) => (await import('./kafka.js')).openKafkaProducer(s, ctx),
};

export function openProducer(s: ProducerSettings, ctx: ProducerContext): Promise<Producer> {
  return (OUTPUTS[s.type] as Opener<typeof s.type>)(s, ctx);
}
