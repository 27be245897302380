/**
 * The trace-id index of a traffic stream: a JetStream KV bucket (`<stream>_TRACES`) with one
 * key per stored line that carries a trace id, `<trace token>.<seq>` (empty value). Write-only
 * and idempotent — a redelivered line writes the same key again, there is no read-modify-write
 * — and a lookup is one key listing by prefix (`<token>.>`), which the server answers from its
 * subject index. The key `watermark` holds the last indexed sequence, so a query knows which
 * tail of the stream it must still scan.
 *
 * `runTraceIndexer` is the writer: a durable consumer on the stream (ack all), hosted by the
 * gateway process or `havok traffic index`.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../shared/log.js';
import { kvKeySubject, TRAFFIC_STREAM, trafficIndexerConsumer, trafficSubjectParts, trafficTracesBucket } from '../../shared/protocol.js';
import { traceIdOf, type JsonObject } from './line.js';

const WATERMARK_KEY = 'watermark';
const SAFE_KEY_TOKEN = /^[A-Za-z0-9_-]{1,200}$/;

/**
 * A trace id as one KV key token: as is when it is letters, digits, `_` and `-` (W3C and most
 * ids), else `=` + base64url of its UTF-8 (raw tokens never contain `=`, so the two never meet).
 */
export function traceKeyToken(traceId: string): string {
  return SAFE_KEY_TOKEN.test(traceId) ? traceId : `=${Buffer.from(traceId, 'utf8').toString('base64url')}`;
}

export const traceKey = (traceId: string, seq: number): string => `${traceKeyToken(traceId)}.${seq}`;

export interface IndexWatermark {
  /** Every stored line up to this sequence is indexed. */
  seq: number;
  /** When it was written, epoch ms. */
  at_ms: number;
}

/**
 * Writes a batch's keys, then the watermark. Keys go out pipelined as plain publishes (an acked
 * put per key would cost as much as storing the line did); the acked watermark put is the
 * barrier: the bucket's stream stores one connection's messages in order, so when the watermark
 * is acked, the keys before it were processed. Its sequence proves none was refused: it must
 * be the previous watermark's + keys + 1. Otherwise (first batch of a run, another writer, a
 * refused key) the batch's keys are written again with acked puts — harmless, keys are idempotent.
 * Returns the watermark's sequence in the bucket's stream and whether the batch was rewritten.
 */
async function writeBatch(nc: NatsConnection, kv: KV, bucket: string, keys: readonly string[], seq: number, prevWatermarkSeq: number): Promise<{ watermarkSeq: number; rewritten: boolean }> {
  const empty = new Uint8Array(0);
  for (const k of keys) nc.publish(kvKeySubject(bucket, k), empty);
  const watermark = (): Promise<number> => kv.put(WATERMARK_KEY, JSON.stringify({ seq, at_ms: Date.now() } satisfies IndexWatermark));
  const at = await watermark();
  if (prevWatermarkSeq > 0 && at === prevWatermarkSeq + keys.length + 1) return { watermarkSeq: at, rewritten: false };
  await Promise.all(keys.map((k) => kv.put(k, empty)));
  return { watermarkSeq: await watermark(), rewritten: true };
}

/** Opens (creating when missing) the index bucket; its age limit follows the stream's. */
export async function openTraceIndex(nc: NatsConnection, jsm: JetStreamManager, stream = TRAFFIC_STREAM): Promise<KV> {
  const si = await jsm.streams.info(stream);
  const maxAgeMs = Math.floor(si.config.max_age / 1e6);
  return new Kvm(nc).create(trafficTracesBucket(stream), { history: 1, replicas: si.config.num_replicas, ...(maxAgeMs > 0 ? { ttl: maxAgeMs } : {}) });
}

/** The indexed sequences of a trace id, ascending. */
export async function lookupTrace(kv: KV, traceId: string): Promise<number[]> {
  const prefix = `${traceKeyToken(traceId)}.`;
  const seqs: number[] = [];
  for await (const k of await kv.keys(`${prefix}>`)) {
    const seq = Number(k.slice(prefix.length));
    if (Number.isInteger(seq)) seqs.push(seq);
  }
  return seqs.sort((a, b) => a - b);
}

export async function readWatermark(kv: KV): Promise<(IndexWatermark & { revision: number }) | undefined> {
  const e = await kv.get(WATERMARK_KEY);
  if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
  return { ...e.json<IndexWatermark>(), revision: e.revision };
}

export interface TraceIndexerOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream?: string;
  /** The repo's `trace_field`; undefined: the default fields and traceparent. */
  traceFieldOf?: (repo: string) => string | undefined;
  log: Logger;
  /** Stops the indexer (it finishes the batch in hand). */
  signal?: AbortSignal;
  /** Return once the index has caught up with the stream's end (`havok traffic index --once`). */
  untilCaughtUp?: boolean;
  /** Lines per pull (default 1000). */
  batch?: number;
}

export interface TraceIndexerStats {
  /** Lines read from the stream. */
  read: number;
  /** Index keys written (lines with a trace id). */
  indexed: number;
  /** Lines that are not a JSON object: counted, skipped. */
  malformed: number;
  watermark: number;
  /** Batches whose pipelined keys could not be confirmed and were written again with acks. */
  rewritten: number;
}

/**
 * Indexes the stream's lines by trace id until `signal` aborts (or, with `untilCaughtUp`, until
 * nothing is pending). Each batch: its keys, then the watermark (`writeBatch`), then one ack for
 * the batch — so a crash re-indexes at most one batch, harmlessly.
 */
export async function runTraceIndexer(o: TraceIndexerOptions): Promise<TraceIndexerStats> {
  const stream = o.stream ?? TRAFFIC_STREAM;
  const kv = await openTraceIndex(o.nc, o.jsm, stream);
  const durable = trafficIndexerConsumer(stream);
  try {
    await o.jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.All, max_ack_pending: 100_000 });
  } catch (err) {
    // Another indexer (or an earlier run) made it: share it.
    if (!(err instanceof JetStreamApiError)) throw err;
  }
  const consumer = await o.js.consumers.get(stream, durable);
  const start = await readWatermark(kv);
  const stats: TraceIndexerStats = { read: 0, indexed: 0, malformed: 0, watermark: start?.seq ?? 0, rewritten: 0 };
  /** Sequence of the last watermark write in the bucket's own stream (0: none yet). */
  let watermarkSeq = start?.revision ?? 0;
  const batch = o.batch ?? 1000;
  const bucket = trafficTracesBucket(stream);
  const dec = new TextDecoder();
  o.log.info({ stream, bucket: trafficTracesBucket(stream), watermark: stats.watermark }, 'trace indexer started');
  while (!o.signal?.aborted) {
    if (o.untilCaughtUp && (await consumer.info()).num_pending === 0) break;
    const msgs = await consumer.fetch({ max_messages: batch, expires: 1000 });
    const keys: string[] = [];
    let last: JsMsg | undefined;
    for await (const m of msgs) {
      stats.read++;
      last = m;
      let line: unknown;
      try {
        line = JSON.parse(dec.decode(m.data));
      } catch {
        line = undefined;
      }
      if (line === null || typeof line !== 'object' || Array.isArray(line)) {
        stats.malformed++;
        continue;
      }
      const repo = trafficSubjectParts(m.subject)?.repo ?? '';
      const id = traceIdOf(line as JsonObject, o.traceFieldOf?.(repo));
      if (id !== undefined) keys.push(traceKey(id, m.seq));
    }
    if (!last) continue;
    const written = await writeBatch(o.nc, kv, bucket, keys, last.seq, watermarkSeq);
    if (written.rewritten) stats.rewritten++;
    watermarkSeq = written.watermarkSeq;
    stats.indexed += keys.length;
    stats.watermark = last.seq;
    await last.ackAck();
  }
  o.log.info(stats, 'trace indexer stopped');
  return stats;
}
