/**
 * Per-repo retention of the traffic stream, run by the gateway (`[gateway.repos.<name>]
 * max_age_ms`, `max_bytes`). JetStream's limits are per stream, so the gateway keeps a ledger of
 * each limited repo's lines (services/traffic/keep.ts, `RetentionBook`) and purges a repo's
 * oldest lines with the repo's subject filter, leaving other repos alone.
 *
 * The ledger is fed by an ordered consumer with `headers_only`: the server sends each stored
 * message's subject, sequence, stored time, payload size (`Nats-Msg-Size`) and line count
 * (`Havok-Lines`), not the lines. It
 * reads from the stream's first message, so the ledger covers lines stored by any gateway and
 * before this one started. Until it has caught up it holds the oldest lines only, which can
 * only make a byte cut smaller (keep more), never wrong. Every `retention_interval_ms` the book
 * says what is due; each purge is counted (`havok_gateway_retention_purged_total`) and logged.
 */
import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import type { Logger } from '../../shared/log.js';
import { abortableSleep } from '../../shared/retry.js';
import { TRAFFIC_LINES_HEADER, TRAFFIC_SUBJECTS, trafficFilter, trafficSubjectParts } from '../../shared/protocol.js';
import { RetentionBook, type RetentionLimits } from '../traffic/keep.js';
import { purgeRepoBelow } from '../traffic/retention.js';
import { streamBounds, type TrafficStreamClient } from '../traffic/scan.js';
import type { GatewayMetrics } from './metrics.js';

export interface RetentionOptions {
  client: TrafficStreamClient;
  /** The limited repos writing to this stream. */
  limits: ReadonlyMap<string, RetentionLimits>;
  intervalMs: number;
  metrics: Pick<GatewayMetrics, 'retentionPurged'>;
  log: Logger;
  signal: AbortSignal;
  now?: () => number;
}

/** Header of a `headers_only` delivery: the size of the payload left out, bytes. */
const MSG_SIZE = 'Nats-Msg-Size';
/** Messages per pull of the ledger's consumer. */
const LEDGER_BATCH = 10_000;

/** Runs until `signal` aborts. A failed sweep is logged and tried again at the next interval. */
export async function runRetention(o: RetentionOptions): Promise<void> {
  const now = o.now ?? Date.now;
  const book = new RetentionBook(o.limits);
  const repos = book.repos;
  // One repo: the server sends only its lines. Several: every line (servers before 2.10 take one filter).
  const filter = repos.length === 1 ? trafficFilter(repos[0]) : TRAFFIC_SUBJECTS;
  const consumer = await o.client.js.consumers.get(o.client.stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.All, headers_only: true });
  const messages = await consumer.consume({ max_messages: LEDGER_BATCH });
  const feeding = feed(messages, book, o.log);
  o.log.info({ stream: o.client.stream, repos: Object.fromEntries(o.limits), interval_ms: o.intervalMs }, 'per-repo retention started');
  try {
    while (!o.signal.aborted) {
      await abortableSleep(o.intervalMs, o.signal).catch(() => undefined);
      if (o.signal.aborted) break;
      try {
        await sweep(o, book, now());
      } catch (err) {
        o.log.warn({ err: (err as Error).message }, 'retention sweep failed; trying again at the next interval');
      }
    }
  } finally {
    await messages.close();
    await feeding;
  }
}

async function feed(messages: ConsumerMessages, book: RetentionBook, log: Logger): Promise<void> {
  try {
    for await (const m of messages) {
      const repo = trafficSubjectParts(m.subject)?.repo;
      if (repo === undefined) continue;
      const size = Number(m.headers?.get(MSG_SIZE) ?? m.data.length);
      const lines = Number(m.headers?.get(TRAFFIC_LINES_HEADER) || 1);
      book.see(repo, m.seq, Number.isFinite(size) ? size : 0, Math.floor(m.info.timestampNanos / 1e6), Number.isInteger(lines) && lines > 0 ? lines : 1);
    }
  } catch (err) {
    log.error({ err: (err as Error).message }, 'retention ledger stopped reading the stream; no further purges until the gateway restarts');
  }
}

/** One sweep: forget what the stream itself dropped, then purge what is due. */
export async function sweep(o: Pick<RetentionOptions, 'client' | 'metrics' | 'log'>, book: RetentionBook, now: number): Promise<number> {
  book.forgetBelow((await streamBounds(o.client)).first);
  let total = 0;
  for (const c of book.due(now)) {
    const messages = await purgeRepoBelow(o.client, c.repo, c.cut);
    book.purged(c.repo, c.cut);
    // The server counts messages; the ledger knows the lines they held.
    const purged = messages === 0 ? 0 : c.lines;
    total += purged;
    o.metrics.retentionPurged.inc({ repo: c.repo, reason: c.reason }, purged);
    o.log.info({ repo: c.repo, reason: c.reason, below_seq: c.cut, purged, messages, ledger_bytes: c.bytes, kept: book.held(c.repo) }, 'retention purged lines');
  }
  return total;
}
