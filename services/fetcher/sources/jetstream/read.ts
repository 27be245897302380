/**
 * The jetstream source's reading: an ordered consumer (ephemeral, no acks, recreated by the client
 * after a reconnect) on the repo's subjects, from `[job] begin` by stored time, pulled in batches
 * so memory is one batch. The replay is bounded: it ends at the stream's last sequence when the
 * job opened it (or past `[job] end` + end_slack_ms by stored time), or when no message is left.
 */
import { DeliverPolicy, jetstream, jetstreamManager, type Consumer } from '@nats-io/jetstream';
import { SourceError } from '../../../../shared/errors.js';
import type { Chain } from '../../analyzers/chain.js';
import { countAnalyzed, emptyCounts, type AnalyzedLine } from '../lines.js';
import type { Source, SourceContext } from '../types.js';
import { pastEnd, selection, startOf, storedVerdict, subjectFilters, type Keep, type StopBounds } from './record.js';
import type { JetStreamSection } from './schema.js';

/** Messages per pull; a pull that finds nothing within FETCH_WAIT_MS ends the replay. */
const FETCH_BATCH = 1000;
const FETCH_WAIT_MS = 2000;

export async function openJetStreamSource(s: JetStreamSection, ctx: SourceContext, chain: Chain): Promise<Source> {
  const nc = await ctx.connectNats(`havok-fetcher-jetstream-${process.pid}`);
  let bounds: StopBounds;
  let keep: Keep | undefined;
  let consumer: Consumer;
  try {
    const info = await (await jetstreamManager(nc)).streams.info(s.stream);
    bounds = { lastSeq: info.state.last_seq, endStoredMs: ctx.end === undefined ? undefined : ctx.end + s.end_slack_ms };
    const sel = selection(s, Date.now());
    keep = sel && ((obj) => sel.matches(obj as never, s.repo!));
    const start = startOf(ctx.begin, sel?.since);
    const filters = subjectFilters(s, sel);
    consumer = await jetstream(nc).consumers.get(s.stream, {
      // One filter as `filter_subject`: servers before 2.10 know no `filter_subjects`.
      filter_subjects: filters.length === 1 ? filters[0] : filters,
      ...(start.deliver === 'all' ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.time }),
    });
    ctx.log.info({ stream: s.stream, repo: s.repo, start, last_seq: bounds.lastSeq }, 'replaying the traffic stream');
  } catch (err) {
    await nc.close();
    throw new SourceError(`cannot read stream ${s.stream} ([fetcher.jetstream] stream): ${(err as Error).message}`, false, { cause: err });
  }
  const counts = emptyCounts();

  async function* read(): AsyncGenerator<AnalyzedLine> {
    try {
      if (bounds.lastSeq === 0) return;
      for (;;) {
        const batch = await consumer.fetch({ max_messages: FETCH_BATCH, expires: FETCH_WAIT_MS });
        let got = 0;
        for await (const m of batch) {
          got++;
          if (pastEnd(m.seq, m.info.timestampNanos / 1e6, bounds)) return;
          const line = m.string();
          yield { line, res: storedVerdict(line, chain, keep) };
          if (m.seq === bounds.lastSeq || m.info.pending === 0) return;
        }
        if (got === 0) return;
      }
    } finally {
      await nc.close();
    }
  }

  return { name: `${s.stream}/${s.repo}`, counts, records: countAnalyzed(read(), counts) };
}
