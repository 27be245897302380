/**
 * `[gateway]`: the ingest gateway's listener, limits, repos and producers (docs/config.md).
 * Defined here, beside the actor, and added to shared/config.ts in one line. Checks that span
 * keys (a repo's `output` names a producer; a regex compiles) are in `gatewayIssues`, pure, so
 * every problem is reported at once, each naming its key (exit 2).
 */
import { z } from 'zod';
import { KAFKA_COMPRESSIONS } from '../../shared/kafka/codecs.js';
import { kafkaSaslSchema, kafkaSecurity, kafkaSslSchema, resolveSslPaths } from '../../shared/kafka/security.js';
import { ConfigError } from '../../shared/errors.js';
import { SAFE_TOKEN, TRAFFIC_STREAM } from '../../shared/protocol.js';
import { repoKeepSchema, type RetentionLimits } from '../traffic/keep.js';
import { EXECUTER_SCHEMAS } from './pipeline/executers.js';

/** `host:port`, IPv6 hosts in brackets. */
const listen = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9080');

const jetstreamProducer = z.strictObject({
  type: z.literal('jetstream'),
  /** Stream name; subjects `havok.traffic.>`. Created when missing, its limits updated. */
  stream: z.string().regex(SAFE_TOKEN, 'letters, digits, "_" and "-" only').default(TRAFFIC_STREAM),
  /** Messages older than this are deleted, ms; 0 = kept until max_bytes. Default 7 days. */
  max_age_ms: z.number().int().nonnegative().default(7 * 24 * 3600 * 1000),
  /** Oldest messages are deleted beyond this size, bytes; 0 = no cap. Default 1 GiB. */
  max_bytes: z.number().int().nonnegative().default(1024 ** 3),
  /** Copies on a NATS cluster (3 survives losing a node). */
  replicas: z.number().int().min(1).max(5).default(1),
  /** How long the stream remembers `Idempotency-Key` message ids: a retry later than this stores again, ms. */
  dedupe_window_ms: z.number().int().min(1000).default(10 * 60 * 1000),
});

const kafkaProducer = z.strictObject({
  type: z.literal('kafka'),
  /** Bootstrap brokers, `host:port`: a list, or one comma-separated string. */
  brokers: z
    .union([z.string(), z.array(z.string())])
    .transform((b) => (typeof b === 'string' ? b.split(',') : b).map((x) => x.trim()).filter((x) => x.length > 0))
    .pipe(z.array(z.string()).min(1, 'at least one host:port')),
  /** A fixed topic for every repo; absent = a topic per repo, `topic_prefix` + the repo's name. */
  topic: z.string().min(1).optional(),
  topic_prefix: z.string().default(''),
  client_id: z.string().min(1).default('havok-gateway'),
  /** TLS to the brokers: `true` (system CAs) or `{ ca, cert, key, passphrase, servername, reject_unauthorized }`. */
  ssl: kafkaSslSchema.optional(),
  /** SASL: `{ mechanism = "plain" | "scram-sha-256" | "scram-sha-512", username, password }`. */
  sasl: kafkaSaslSchema.optional(),
  /** Record-batch compression: `gzip` (built into kafkajs), `snappy`, `lz4`, `zstd` (shared/kafka/codecs.ts), `none`. */
  compression: z.enum(KAFKA_COMPRESSIONS).default('gzip'),
  /** Lines per produce request: a batch is sent once it holds this many. */
  batch_count: z.number().int().min(1).default(1000),
  /** Bytes of values per produce request: a batch is sent once it holds this many; 0 = no byte limit. Needs linger_ms. */
  batch_bytes: z.number().int().nonnegative().default(0),
  /** How long a batch that is not full waits for more lines (from other POSTs) before it is sent, ms; 0 = sent at once. */
  linger_ms: z.number().int().nonnegative().default(0),
  connect_timeout_ms: z.number().int().positive().default(3000),
});

export const producerSchema = z.discriminatedUnion('type', [jetstreamProducer, kafkaProducer], {
  error: 'expected type = "jetstream" or "kafka"',
});
export type ProducerSettings = z.output<typeof producerSchema>;
export type JetStreamProducerSettings = z.output<typeof jetstreamProducer>;
export type KafkaProducerSettings = z.output<typeof kafkaProducer>;

const scalar = z.union([z.string(), z.number(), z.boolean()]);

const constraintSchema = z.strictObject({
  /** Fields every line must have (non-null). */
  required: z.array(z.string().min(1)).default([]),
  /** Field = value: the line's field must equal it. */
  equals: z.record(z.string(), scalar).default({}),
  /** Field = regex: the line's field, as a string, must match it. */
  matches: z.record(z.string(), z.string()).default({}),
});
export type ConstraintSettings = z.output<typeof constraintSchema>;

const repoSchema = z.strictObject({
  /**
   * A bearer token every POST to this repo must carry (`Authorization: Bearer <token>`), else
   * 401; absent = none (then anyone who reaches the listener may write).
   */
  token: z.string().min(16, 'at least 16 characters').optional(),
  /** Producer label of `[gateway.producers.<label>]`; absent = the embedded JetStream traffic stream. */
  output: z.string().optional(),
  constraint: constraintSchema.prefault({}),
  /** Applied in order to each decoded line (see pipeline/executers.ts). */
  executers: z.array(z.discriminatedUnion('type', EXECUTER_SCHEMAS)).default([]),
  // What the traffic store keeps of this repo: trace_field, max_age_ms, max_bytes, sample (keep.ts).
  ...repoKeepSchema.shape,
});
export type RepoSettings = z.output<typeof repoSchema>;

export const gatewaySchema = z.strictObject({
  /** Where POST /log/repo/{repo} and /metrics listen. */
  listen: listen.default('127.0.0.1:9080'),
  /** A body (as sent, and once decompressed) over this is refused with 413, bytes. */
  max_body_bytes: z.number().int().min(1024).default(16 * 1024 * 1024),
  /**
   * Bytes of bodies being read or stored at once; a POST that would pass it gets 503 with
   * Retry-After (backpressure that bounds the gateway's memory). Must be ≥ max_body_bytes.
   */
  max_inflight_bytes: z.number().int().min(1024).default(64 * 1024 * 1024),
  /** Retry-After of a 503, seconds. */
  retry_after_s: z.number().int().min(1).default(1),
  /** A store that has not acknowledged a line in this time is treated as unreachable (503), ms. */
  store_timeout_ms: z.number().int().positive().default(5000),
  /**
   * Keep the trace-id index of the traffic stream current (`havok traffic query --trace-id`,
   * GET /traffic?trace_id=…) from this process. Off: run `havok traffic index` elsewhere.
   */
  index_traces: z.boolean().default(true),
  /** Malformed and dropped lines logged per minute (samples); the rest are only counted. */
  samples_per_minute: z.number().int().nonnegative().default(10),
  /**
   * How often per-repo retention (`[gateway.repos.<name>] max_age_ms`, `max_bytes`) purges the
   * traffic stream, ms. A repo may hold up to this long's worth more than its limits.
   */
  retention_interval_ms: z.number().int().min(100).default(60_000),
  repos: z.record(z.string(), repoSchema).default({}),
  producers: z.record(z.string(), producerSchema).default({}),
});
export type GatewaySettings = z.output<typeof gatewaySchema>;

/** The embedded default producer: the JetStream traffic stream with its defaults. */
export const DEFAULT_PRODUCER = 'default';

/** Checks across keys; each issue names its key. Pure. */
export function gatewayIssues(g: GatewaySettings): Array<{ key: string; message: string }> {
  const issues: Array<{ key: string; message: string }> = [];
  if (g.max_inflight_bytes < g.max_body_bytes) issues.push({ key: 'gateway.max_inflight_bytes', message: `must be at least max_body_bytes (${g.max_body_bytes}), or no body of that size could ever be taken` });
  for (const [label, p] of Object.entries(g.producers)) {
    // sarama's pitfall in chopper-go: a byte limit alone never sends a batch that stays small.
    if (p.type === 'kafka' && p.batch_bytes > 0 && p.linger_ms === 0) {
      issues.push({ key: `gateway.producers.${label}.linger_ms`, message: `batch_bytes (${p.batch_bytes}) needs a linger_ms > 0, or a batch smaller than it would never be sent` });
    }
  }
  for (const [name, repo] of Object.entries(g.repos)) {
    const key = `gateway.repos.${name}`;
    if (!SAFE_TOKEN.test(name)) issues.push({ key, message: 'a repo name is letters, digits, "_" and "-" only (it is a NATS subject token)' });
    if (repo.output !== undefined && repo.output !== DEFAULT_PRODUCER && !(repo.output in g.producers)) {
      issues.push({ key: `${key}.output`, message: `no producer ${JSON.stringify(repo.output)}; defined: ${[DEFAULT_PRODUCER, ...Object.keys(g.producers)].join(', ')}` });
    }
    if (repo.max_age_ms > 0 || repo.max_bytes > 0) {
      const { label, settings } = producerOf(g, repo);
      // Retention purges the JetStream traffic stream; a Kafka topic keeps its own retention.
      if (settings.type !== 'jetstream') issues.push({ key: `${key}.${repo.max_bytes > 0 ? 'max_bytes' : 'max_age_ms'}`, message: `per-repo retention applies to the JetStream traffic stream; this repo writes to the ${settings.type} producer ${JSON.stringify(label)} (set the topic's retention in Kafka)` });
    }
    for (const [field, re] of Object.entries(repo.constraint.matches)) {
      try {
        new RegExp(re);
      } catch (err) {
        issues.push({ key: `${key}.constraint.matches.${field}`, message: `not a regular expression: ${(err as Error).message}` });
      }
    }
  }
  return issues;
}

/**
 * Reads what the settings name on disk (the Kafka producers' PEM files), so an unreadable one
 * fails at start, each issue naming its key.
 */
export function gatewayFileIssues(g: GatewaySettings): Array<{ key: string; message: string }> {
  const issues: Array<{ key: string; message: string }> = [];
  for (const [label, p] of Object.entries(g.producers)) {
    if (p.type !== 'kafka') continue;
    try {
      kafkaSecurity(p, `gateway.producers.${label}`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues.push(...err.issues);
    }
  }
  return issues;
}

/** Makes the Kafka producers' PEM paths absolute: relative ones are relative to the config file. */
export function resolveGatewayPaths(g: GatewaySettings, abs: (path: string) => string): void {
  for (const p of Object.values(g.producers)) if (p.type === 'kafka') resolveSslPaths(p, abs);
}

/** The producer settings a repo writes to. Pure. */
export function producerOf(g: GatewaySettings, repo: RepoSettings): { label: string; settings: ProducerSettings } {
  const label = repo.output ?? DEFAULT_PRODUCER;
  return { label, settings: g.producers[label] ?? producerSchema.parse({ type: 'jetstream' }) };
}

/** Per traffic stream, the repos writing to it that have a retention limit, with their limits. Pure. */
export function retentionByStream(g: GatewaySettings): Map<string, Map<string, RetentionLimits>> {
  const out = new Map<string, Map<string, RetentionLimits>>();
  for (const [name, repo] of Object.entries(g.repos)) {
    const p = producerOf(g, repo).settings;
    if (p.type !== 'jetstream' || (repo.max_age_ms === 0 && repo.max_bytes === 0)) continue;
    let limits = out.get(p.stream);
    if (!limits) out.set(p.stream, (limits = new Map()));
    limits.set(name, { max_age_ms: repo.max_age_ms, max_bytes: repo.max_bytes });
  }
  return out;
}
