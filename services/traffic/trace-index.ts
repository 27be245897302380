/**
 * The trace-id index of a traffic stream: a stream of its own (`<stream>_TRACES`) with one
 * subject per bucket of trace ids, `havok.traces.<stream>.b.<n>` (n = hash of the id's token mod
 * TRACE_BUCKETS); each indexing batch writes one message per bucket it touched, a line per trace:
 * `<token> <SEQ:LINE>,<SEQ:LINE>…`. Write-only — a redelivered batch appends the same lines
 * again, and lookups de-duplicate — and a lookup reads one literal subject, which the server
 * answers from its per-subject index.
 *
 * Why buckets: one subject per trace id (the first layout) wrote a message per distinct trace per
 * batch — with a trace per request, one index message per stored line, the per-message cost the
 * traffic stream's packing removed — and its lookup, a next-by-subject get from the index's
 * start, took ~30 ms at 500,000 lines. (A KV bucket with one key per line came before that:
 * listing a key prefix is a wildcard filter, which nats-server 2.9 answers by walking every key.)
 * `havok.traces.<stream>.watermark` (rolled up, only the last kept) holds the last indexed
 * message's sequence and the index's format, so a query knows which tail of the traffic stream
 * it must still scan, and an indexer finding an index of another format rebuilds it.
 *
 * `runTraceIndexer` is the writer: a durable consumer on the traffic stream (ack all), hosted
 * by the gateway process or `havok traffic index`.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../shared/log.js';
import { retry } from '../../shared/retry.js';
import {
  TRAFFIC_STREAM,
  parseTrafficLineId,
  TRAFFIC_LINES_HEADER,
  TRAFFIC_TRACES_HEADER,
  trafficIndexerConsumer,
  trafficIndexerLegacyConsumer,
  trafficLineId,
  trafficLines,
  trafficSubjectParts,
  trafficTraceBucket,
  trafficTraceSubjects,
  trafficTracesStream,
  trafficTraceWatermark,
} from '../../shared/protocol.js';
import { traceIdOf, traceKeyToken, type JsonObject } from './line.js';

export { traceKeyToken };
import { messagesPerPull, scanEach, type TrafficStreamClient } from './scan.js';
import { mixedHash } from '../../shared/hash.js';

/** A loaded server may take seconds to ack; the batch is written again after a timeout anyway. */
const PUBLISH_TIMEOUT_MS = 30_000;
/** Bytes of traffic messages per pull. */
const PULL_BYTES = 4 * 1024 * 1024;
/**
 * Reading headers only, a pull takes this many times more messages: their headers are a fraction
 * of PULL_BYTES, and a larger batch writes fewer index messages (one per bucket per batch).
 */
const HEADERS_PULL_FACTOR = 4;
/** Acked publishes in flight when a batch is written again. */
const REWRITE_WINDOW = 500;
/** JetStream API error code: a stream of that name exists (with another config). */
const STREAM_NAME_IN_USE = 10058;

export interface IndexWatermark {
  /** Every stored line of the messages up to this sequence is indexed. */
  seq: number;
  /** When it was written, epoch ms. */
  at_ms: number;
  /** The index's layout (INDEX_FORMAT); absent: the first, one subject per trace. */
  format?: number;
}

/** The layout this build writes and reads: buckets of traces. */
export const INDEX_FORMAT = 2;
/**
 * Subjects of the index: a batch writes at most this many messages, and a lookup reads one
 * message per batch that touched its bucket (~1/TRACE_BUCKETS of the batch's traces each).
 */
export const TRACE_BUCKETS = 1024;

/** The bucket of a trace id's token. Pure. */
export const traceBucket = (token: string): number => mixedHash(token) % TRACE_BUCKETS;

/** Creates (or updates) the index stream; its age limit and replicas follow the traffic stream's. */
export async function ensureTraceIndex(jsm: JetStreamManager, stream = TRAFFIC_STREAM): Promise<string> {
  const si = await jsm.streams.info(stream);
  const name = trafficTracesStream(stream);
  const config = {
    name,
    subjects: [trafficTraceSubjects(stream)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: si.config.max_age,
    num_replicas: si.config.num_replicas,
    allow_rollup_hdrs: true,
  };
  try {
    await jsm.streams.add(config);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NAME_IN_USE) throw err;
    await jsm.streams.update(name, config);
  }
  return name;
}

const dec = new TextDecoder();

/** The indexed lines of a trace id, in stream order, without repeats; [] when there is no index. */
export async function lookupTrace(c: TrafficStreamClient, traceId: string): Promise<Array<{ seq: number; line: number }>> {
  const index = { ...c, stream: trafficTracesStream(c.stream) };
  const token = traceKeyToken(traceId);
  const prefix = `${token} `;
  const out = new Map<string, { seq: number; line: number }>();
  try {
    await scanEach(index, { subject: trafficTraceBucket(c.stream, traceBucket(token)) }, Infinity, (m) => {
      for (const row of dec.decode(m.data).split('\n')) {
        if (!row.startsWith(prefix)) continue;
        for (const id of row.slice(prefix.length).split(',')) {
          const at = parseTrafficLineId(id);
          if (at) out.set(trafficLineId(at.seq, at.line), at);
        }
      }
    });
  } catch (err) {
    if (isNoStream(err)) return [];
    throw err;
  }
  return [...out.values()].sort((a, b) => a.seq - b.seq || a.line - b.line);
}

const isNoStream = (err: unknown): boolean => err instanceof JetStreamApiError && err.code === 10059;

export async function readWatermark(c: TrafficStreamClient): Promise<(IndexWatermark & { index_seq: number }) | undefined> {
  try {
    const m = await c.jsm.streams.getMessage(trafficTracesStream(c.stream), { last_by_subj: trafficTraceWatermark(c.stream) });
    return m ? { ...m.json<IndexWatermark>(), index_seq: m.seq } : undefined;
  } catch (err) {
    if (isNoStream(err)) return undefined;
    throw err;
  }
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
  /** Messages per pull (default: as many as fit in 4 MB). */
  batch?: number;
  /**
   * Take a message's trace ids from its `Havok-Traces` header when it has `Havok-Lines` (the
   * gateway found them with the repo's trace_field as it stored the lines). Default true; false
   * parses every line (an indexer run with another `--trace-field`).
   */
  trustHeaders?: boolean;
}

export interface TraceIndexerStats {
  /** Lines read from the stream (of `messages` messages). */
  read: number;
  messages: number;
  /** Lines indexed (they carry a trace id). */
  indexed: number;
  /** Lines that are not a JSON object: counted, skipped. */
  malformed: number;
  watermark: number;
  /** Batches whose pipelined entries could not be confirmed and were written again with acks. */
  rewritten: number;
}

/**
 * Writes a batch's entries (one message per bucket touched), then the watermark. Entries go out
 * pipelined as plain publishes (an acked publish per entry would cost as much as storing the
 * line did); the acked watermark publish is the barrier: a stream stores one connection's
 * messages in order, so when the watermark is acked the entries before it were processed, and
 * its sequence proves none was refused: it must be the previous watermark's + entries + 1.
 * Otherwise (first batch of a run, another writer, a refused entry) the entries are written
 * again with acks — harmless, lookups de-duplicate. Returns the watermark's index sequence.
 */
async function writeBatch(o: TraceIndexerOptions, stream: string, entries: ReadonlyMap<string, string[]>, seq: number, prevIndexSeq: number): Promise<{ index_seq: number; rewritten: boolean }> {
  const enc = new TextEncoder();
  const rows = new Map<number, string[]>();
  for (const [token, ids] of entries) {
    const bucket = traceBucket(token);
    const row = `${token} ${ids.join(',')}`;
    const list = rows.get(bucket);
    if (list) list.push(row);
    else rows.set(bucket, [row]);
  }
  const msgs = [...rows].map(([bucket, list]) => [trafficTraceBucket(stream, bucket), enc.encode(list.join('\n'))] as const);
  for (const [subject, data] of msgs) o.nc.publish(subject, data);
  const opts = { timeout: PUBLISH_TIMEOUT_MS };
  const watermark = async (): Promise<number> => {
    const h = headers();
    h.set('Nats-Rollup', 'sub');
    const ack = await o.js.publish(trafficTraceWatermark(stream), JSON.stringify({ seq, at_ms: Date.now(), format: INDEX_FORMAT } satisfies IndexWatermark), { ...opts, headers: h });
    return ack.seq;
  };
  const at = await watermark();
  if (prevIndexSeq > 0 && at === prevIndexSeq + msgs.length + 1) return { index_seq: at, rewritten: false };
  for (let i = 0; i < msgs.length; i += REWRITE_WINDOW) {
    await Promise.all(msgs.slice(i, i + REWRITE_WINDOW).map(([subject, data]) => o.js.publish(subject, data, opts)));
  }
  return { index_seq: await watermark(), rewritten: true };
}

/**
 * Indexes the stream's lines by trace id until `signal` aborts (or, with `untilCaughtUp`, until
 * nothing is pending). Each batch: its entries, then the watermark (`writeBatch`), then one ack
 * for the batch — so a crash re-indexes at most one batch, harmlessly.
 */
export async function runTraceIndexer(o: TraceIndexerOptions): Promise<TraceIndexerStats> {
  const stream = o.stream ?? TRAFFIC_STREAM;
  const index = await ensureTraceIndex(o.jsm, stream);
  // Trusting the gateway's Havok-Traces, the indexer needs no line: the server sends headers only
  // (a message's payload is ~6 times its headers; reading it back was most of the index's cost).
  const headersOnly = o.trustHeaders !== false;
  const durable = trafficIndexerConsumer(stream, headersOnly ? 'headers' : 'full');
  let found = await readWatermark({ js: o.js, jsm: o.jsm, stream });
  if (found && found.format !== INDEX_FORMAT) {
    // An index another build wrote: lookups would not read it. Built again from the start.
    o.log.info({ index, format: found.format ?? 1, watermark: found.seq }, 'the trace index has an earlier layout: rebuilding it from the start of the stream');
    await o.jsm.streams.purge(index);
    for (const old of [trafficIndexerLegacyConsumer(stream), durable]) {
      await o.jsm.consumers.delete(stream, old).catch((err: unknown) => {
        if (!(err instanceof JetStreamApiError)) throw err;
      });
    }
    found = undefined;
  }
  try {
    await o.jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.All, max_ack_pending: 100_000, headers_only: headersOnly });
  } catch (err) {
    // Another indexer (or an earlier run) made it: share it.
    if (!(err instanceof JetStreamApiError)) throw err;
  }
  const consumer = await o.js.consumers.get(stream, durable);
  const start = found;
  const stats: TraceIndexerStats = { read: 0, messages: 0, indexed: 0, malformed: 0, watermark: start?.seq ?? 0, rewritten: 0 };
  /** Sequence of the last watermark in the index stream (0: none yet). */
  let indexSeq = start?.index_seq ?? 0;
  // By message count: a fetch by bytes that fills up before the range ends is never closed by
  // nats-server 2.9 (the client reports missed heartbeats), so the count comes from the stream's
  // average message size, looked at again before every pull (a gateway's first messages may be
  // 1,000-line POSTs or single lines).
  const pullSize = async (): Promise<number> => o.batch ?? messagesPerPull((await o.jsm.streams.info(stream)).state, headersOnly ? PULL_BYTES * HEADERS_PULL_FACTOR : PULL_BYTES);
  o.log.info({ stream, index, watermark: stats.watermark }, 'trace indexer started');
  while (!o.signal?.aborted) {
    if (o.untilCaughtUp && (await consumer.info()).num_pending === 0) break;
    const msgs = await consumer.fetch({ max_messages: await pullSize(), expires: 1000 });
    const entries = new Map<string, string[]>();
    let last: JsMsg | undefined;
    for await (const m of msgs) {
      stats.messages++;
      last = m;
      const add = (token: string, line: number): void => {
        const at = trafficLineId(m.seq, line);
        const list = entries.get(token);
        if (list) list.push(at);
        else entries.set(token, [at]);
        stats.indexed++;
      };
      const lines = o.trustHeaders === false ? undefined : Number(m.headers?.get(TRAFFIC_LINES_HEADER) || NaN);
      if (lines !== undefined && Number.isInteger(lines) && lines > 0) {
        // Written by the gateway: it listed its lines' trace ids; nothing to parse.
        stats.read += lines;
        for (const e of (m.headers?.get(TRAFFIC_TRACES_HEADER) ?? '').split(',')) {
          const colon = e.indexOf(':');
          if (colon > 0) add(e.slice(colon + 1), Number(e.slice(0, colon)));
        }
        continue;
      }
      const repo = trafficSubjectParts(m.subject)?.repo ?? '';
      const field = o.traceFieldOf?.(repo);
      // Another writer's message (no Havok-Lines): its lines are read and parsed.
      const data = headersOnly ? ((await o.jsm.streams.getMessage(stream, { seq: m.seq }))?.data ?? new Uint8Array()) : m.data;
      trafficLines(data).forEach((data, line) => {
        stats.read++;
        let obj: unknown;
        try {
          obj = JSON.parse(dec.decode(data));
        } catch {
          obj = undefined;
        }
        if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
          stats.malformed++;
          return;
        }
        const id = traceIdOf(obj as JsonObject, field);
        if (id !== undefined) add(traceKeyToken(id), line);
      });
    }
    if (!last) continue;
    // A slow or restarting server: write the batch again (entries are idempotent), never skip it.
    const written = await retry((attempt) => writeBatch(o, stream, entries, last.seq, attempt === 1 ? indexSeq : 0), {
      backoff: { initialMs: 250, maxMs: 5000 },
      ...(o.signal ? { signal: o.signal } : {}),
      onRetry: ({ err, attempt, delayMs }) => o.log.warn({ err: (err as Error).message, attempt, delayMs, seq: last.seq }, 'trace index write failed; writing the batch again'),
    });
    if (written.rewritten) stats.rewritten++;
    indexSeq = written.index_seq;
    stats.watermark = last.seq;
    await last.ackAck();
  }
  o.log.info(stats, 'trace indexer stopped');
  return stats;
}
