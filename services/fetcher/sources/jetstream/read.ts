/**
 * The jetstream source's reading: an ordered consumer (ephemeral, no acks, recreated by the client
 * after a reconnect) on the repo's subjects, from `[job] begin` by stored time. A bounded replay
 * is pulled in batches, so memory is one batch, and ends at the stream's last sequence when the
 * job opened it (or past `[job] end` + end_slack_ms by stored time), or when no message is left.
 * A followed one (`follow = true`) consumes what is stored as it is stored (at most one pull of
 * messages buffered) and ends only when the fetcher stops it (the job was stopped) or past `end`.
 */
import { DeliverPolicy, jetstream, jetstreamManager, type Consumer, type ConsumerMessages } from '@nats-io/jetstream';
import { SourceError } from '../../../../shared/errors.js';
import type { Chain } from '../../analyzers/chain.js';
import { countAnalyzed, emptyCounts, type AnalyzedLine } from '../lines.js';
import type { Source, SourceContext } from '../types.js';
import { pastEnd, selection, startOf, stopBounds, storedVerdict, subjectFilters, type Keep, type StopBounds } from './record.js';
import type { JetStreamSection } from './schema.js';

/** Messages per pull; a pull that finds nothing within FETCH_WAIT_MS ends a bounded replay. */
const FETCH_BATCH = 1000;
const FETCH_WAIT_MS = 2000;

export async function openJetStreamSource(s: JetStreamSection, ctx: SourceContext, chain: Chain): Promise<Source> {
  const nc = await ctx.connectNats(`havok-fetcher-jetstream-${process.pid}`);
  let bounds: StopBounds;
  let keep: Keep | undefined;
  let consumer: Consumer;
  let live: ConsumerMessages | undefined;
  try {
    const info = await (await jetstreamManager(nc)).streams.info(s.stream);
    bounds = stopBounds(info.state.last_seq, s.follow, ctx.end, s.end_slack_ms);
    const sel = selection(s, Date.now());
    keep = sel && ((obj) => sel.matches(obj as never, s.repo!));
    const start = startOf(ctx.begin, sel?.since, s.follow ? Date.now() - ctx.delayMs : undefined);
    const filters = subjectFilters(s, sel);
    // A restarted fetcher continues a followed source exactly where its checkpoint says.
    const resume = s.follow ? ctx.resumeAt : undefined;
    consumer = await jetstream(nc).consumers.get(s.stream, {
      // One filter as `filter_subject`: servers before 2.10 know no `filter_subjects`.
      filter_subjects: filters.length === 1 ? filters[0] : filters,
      ...(resume !== undefined
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: resume }
        : start.deliver === 'all'
          ? { deliver_policy: DeliverPolicy.All }
          : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.time }),
    });
    if (s.follow) live = await consumer.consume({ max_messages: FETCH_BATCH });
    ctx.log.info({ stream: s.stream, repo: s.repo, start: resume === undefined ? start : { seq: resume }, last_seq: info.state.last_seq, follow: s.follow }, s.follow ? 'following the traffic stream' : 'replaying the traffic stream');
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

  /** Stream sequences of the first and the last message `follow` took (0 = none yet). */
  const position = { first: 0, last: 0 };
  async function* follow(messages: ConsumerMessages): AsyncGenerator<AnalyzedLine> {
    try {
      for await (const m of messages) {
        if (pastEnd(m.seq, m.info.timestampNanos / 1e6, bounds)) return;
        if (position.first === 0) position.first = m.seq;
        position.last = m.seq;
        const line = m.string();
        yield { line, res: storedVerdict(line, chain) };
      }
    } finally {
      await nc.close();
    }
  }

  const name = `${s.stream}/${s.repo}`;
  if (!live) return { name, counts, records: countAnalyzed(read(), counts) };
  const messages = live;
  // Stopping the iterator ends `follow` once it has handed over what it holds.
  return { name, counts, records: countAnalyzed(follow(messages), counts), stop: () => messages.stop(), position: () => ({ ...position }) };
}
