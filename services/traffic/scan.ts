/**
 * Reading a range of the traffic stream: an ephemeral pull consumer (no acks, in memory) with
 * the filter's subject and a start sequence or start time, so the server skips other repos and
 * methods and never scans from the beginning. The consumer's `num_pending` at creation says how
 * many messages the range holds, so a read never waits for messages that do not exist.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { randomUUID } from 'node:crypto';
import { trafficFilter, trafficLines } from '../../shared/protocol.js';

/** One stored message of the traffic stream: one or more lines of one subject. */
export interface StoredMessage {
  seq: number;
  subject: string;
  /** When the server stored it, epoch ms. */
  stored_ms: number;
  data: Uint8Array;
}

/** One stored line: its message's sequence, subject and time, its place in it, its bytes. */
export interface StoredLine extends StoredMessage {
  /** 0-based place in its message. */
  line: number;
}

/**
 * Visits the lines of a message from line `from` on, in order; false when `visit` stopped
 * (returned false) before the message's end.
 */
export function eachLine(m: StoredMessage, from: number, visit: (line: StoredLine) => boolean | void): boolean {
  const lines = trafficLines(m.data);
  for (let i = from; i < lines.length; i++) {
    if (visit({ seq: m.seq, subject: m.subject, stored_ms: m.stored_ms, data: lines[i]!, line: i }) === false) return false;
  }
  return true;
}

export interface ScanStart {
  /**
   * Subject filter (`trafficFilter(repo, method)`); undefined: every subject, whose pending
   * count the server knows at once (a filtered count walks the stream from the start to its end
   * on nats-server 2.9, which costs seconds far from the end of a large stream).
   */
  subject?: string;
  /** First sequence to read; or */
  startSeq?: number;
  /** the first message stored at or after this epoch ms. Neither: from the first message. */
  startMs?: number;
}

/**
 * Bytes per pull request: large enough to amortise the round trip and the client's per-pull
 * work, small enough to stop early and to bound memory (a message holds up to ~1 MB of lines).
 */
const PULL_BYTES = 8 * 1024 * 1024;

/**
 * Messages per pull that hold about `bytes` at a stream's average message size (16 for an empty
 * stream, at most 2,000). Pulls are sized by message count, not by bytes: nats.js caps a pull by
 * bytes at 100 messages and, on nats-server 2.9, such pulls crawled — a bare read of 5,000,000
 * lines in 80,000 messages took 31.6 s by 8 MB pulls and 2.7–3.4 s by 100–2,000-message pulls
 * (and a fetch by bytes that fills up is never closed: the client reports missed heartbeats).
 * Pure.
 */
export function messagesPerPull(state: { messages: number; bytes: number }, bytes: number): number {
  if (state.messages === 0) return 16;
  return Math.max(1, Math.min(2000, Math.floor(bytes / Math.max(1, state.bytes / state.messages))));
}
/** A filter of every repo and method (`havok.traffic.*.*`): the stream holds nothing else. */
const EVERY_TRAFFIC_SUBJECT = trafficFilter();
/** An ephemeral consumer outlives a crashed reader by this long (ms), then the server removes it. */
const INACTIVE_MS = 30_000;
/** A pull waits at most this long (ms) for messages the server said are pending. */
const FETCH_EXPIRES_MS = 10_000;

export interface TrafficStreamClient {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
}

/** What a visitor says after a message: go on, or stop the scan here. */
export type Visit = (message: StoredMessage) => boolean | void;

/**
 * Visits the stored messages from `start` on, in sequence order, at most `max`; `visit` returning
 * `false` stops the scan. The consumer is deleted either way. Resolves when the range (its
 * pending count at creation) is read or the visitor stopped; rejects with a visitor's error.
 *
 * Messages are handed to `visit` from the client's subscription callback, as they arrive: no
 * async iterator per message, which cost ~6 µs of client CPU per record against ~2 µs this way
 * (docs/architecture.md). The client keeps pull requests in flight ahead of the visitor, so
 * memory is one pull's worth of messages.
 */
export async function scanEach(c: TrafficStreamClient, start: ScanStart, max: number, visit: Visit): Promise<void> {
  const name = `havok_traffic_scan_${randomUUID().replace(/-/g, '')}`;
  const from =
    start.startSeq !== undefined
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, start.startSeq) }
      : start.startMs !== undefined
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Math.max(0, start.startMs)).toISOString() }
        : { deliver_policy: DeliverPolicy.All };
  const info = await c.jsm.consumers.add(c.stream, {
    name,
    ...from,
    // Every traffic subject: no filter, whose pending count the server knows at once.
    ...(start.subject !== undefined && start.subject !== EVERY_TRAFFIC_SUBJECT ? { filter_subject: start.subject } : {}),
    ack_policy: AckPolicy.None,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: INACTIVE_MS * 1e6,
  });
  let idle: ReturnType<typeof setInterval> | undefined;
  try {
    let left = Math.min(info.num_pending, max);
    if (left <= 0) return;
    const consumer = await c.js.consumers.get(c.stream, name);
    let failed: unknown;
    let msgs: ConsumerMessages | undefined;
    let done = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      failed = err;
      void msgs?.stop();
    };
    // Messages purged after the consumer counted them never come: when nothing arrived for a
    // while and the server says nothing is pending, the range is read.
    let arrived = 0;
    let arrivedAtCheck = 0;
    idle = setInterval(() => {
      if (arrived === arrivedAtCheck) void consumer.info().then((ci) => ci.num_pending === 0 && finish(), () => undefined);
      arrivedAtCheck = arrived;
    }, FETCH_EXPIRES_MS);
    // A range of a few messages asks for only those; a larger one pulls PULL_BYTES' worth at a time.
    const perPull = left <= 256 ? left : messagesPerPull((await c.jsm.streams.info(c.stream)).state, PULL_BYTES);
    msgs = await consumer.consume({
      max_messages: Math.min(left, perPull),
      expires: FETCH_EXPIRES_MS,
      callback: (m) => {
        if (done) return;
        arrived++;
        try {
          const go = visit({ seq: m.seq, subject: m.subject, stored_ms: Math.floor(m.info.timestampNanos / 1e6), data: m.data });
          // pending 0: the last message there was (fewer than at the start when some aged out).
          if (go === false || --left <= 0 || m.info.pending === 0) finish();
        } catch (err) {
          finish(err);
        }
      },
    });
    if (done) await msgs.stop();
    const closed = await msgs.closed();
    if (failed !== undefined) throw failed;
    if (closed instanceof Error) throw closed;
  } finally {
    clearInterval(idle);
    await c.jsm.consumers.delete(c.stream, name).catch(ignoreGone);
  }
}

const ignoreGone = (err: unknown): void => {
  if (!(err instanceof JetStreamApiError)) throw err;
};

/** First sequence whose message (of `subject`, or any) was stored at or after `ms`; undefined: none. */
export async function seqAtTime(c: TrafficStreamClient, subject: string | undefined, ms: number): Promise<number | undefined> {
  let seq: number | undefined;
  await scanEach(c, { subject, startMs: ms }, 1, (m) => {
    seq = m.seq;
    return false;
  });
  return seq;
}

/**
 * The stream's first and last sequence now (first > last when empty), their stored times (epoch
 * ms), and its message and byte counts.
 */
export async function streamBounds(c: TrafficStreamClient): Promise<{ first: number; last: number; first_ms: number; last_ms: number; messages: number; bytes: number }> {
  const si = await c.jsm.streams.info(c.stream);
  const st = si.state;
  return { first: st.first_seq, last: st.last_seq, first_ms: Date.parse(st.first_ts), last_ms: Date.parse(st.last_ts), messages: st.messages, bytes: st.bytes };
}
