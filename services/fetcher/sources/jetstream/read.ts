/**
 * The jetstream source's reading: an ordered consumer (ephemeral, no acks, recreated by the client
 * after a reconnect) on the repo's subjects, from `[job] begin` by stored time. Each message holds
 * one or more lines (record.ts `messageVerdicts`), each a record in order. Reading pulls a few MB
 * ahead of the reader (by bytes: a message may hold up to TRAFFIC_MAX_LINES lines, about a MB),
 * so memory is bounded whatever a message holds. A bounded replay ends at the stream's last
 * sequence when the job opened it (or past `[job] end` + end_slack_ms by stored time), or when no
 * message is left. A followed one
 * (`follow = true`) consumes what is stored as it is stored (at most a pull buffered) and ends
 * only when the fetcher stops it (the job was stopped) or past `end`; it tells the line position
 * (`trafficPosition`) of what it read, and a restarted fetcher reopens it at one.
 */
import { DeliverPolicy, jetstream, jetstreamManager, type Consumer, type ConsumerMessages } from '@nats-io/jetstream';
import { SourceError } from '../../../../shared/errors.js';
import { trafficPosition } from '../../../../shared/protocol.js';
import type { Chain } from '../../analyzers/chain.js';
import { countAnalyzed, emptyCounts, type AnalyzedLine } from '../lines.js';
import type { Source, SourceContext } from '../types.js';
import { messagesPerPull } from '../../../traffic/scan.js';
import { linesToSkip, messageVerdicts, pastEnd, resumePoint, selection, startOf, stopBounds, subjectFilters, type Keep, type ResumePoint, type StopBounds } from './record.js';
import type { JetStreamSection } from './schema.js';

/**
 * Bytes the consumer pulls ahead: a few MB keeps the fetcher's buffer small whatever a message
 * holds (up to TRAFFIC_MAX_LINES lines, about a MB). Pulls are sized in messages at the stream's
 * average message size (`messagesPerPull`: pulls by bytes crawl on nats-server 2.9 and nats.js
 * caps them at 100 messages). Both reads consume (pulls kept going ahead of the reader), not fetch.
 */
const PULL_BYTES = 4 * 1024 * 1024;
/**
 * A bounded replay that has waited this long for a message asks the server whether any is left
 * for its consumer, and ends when none is (the repo has nothing more up to the last sequence, or
 * nothing at all since begin); else it waits on (a message is on its way, or nats.js is
 * recovering a stalled pull).
 */
const IDLE_CHECK_MS = 2000;

export async function openJetStreamSource(s: JetStreamSection, ctx: SourceContext, chain: Chain): Promise<Source> {
  const nc = await ctx.connectNats(`havok-fetcher-jetstream-${process.pid}`);
  let bounds: StopBounds;
  /** Messages per pull (set from the stream at open). */
  let perPull = 16;
  let keep: Keep | undefined;
  let consumer: Consumer;
  let live: ConsumerMessages | undefined;
  let resume: ResumePoint | undefined;
  try {
    const info = await (await jetstreamManager(nc)).streams.info(s.stream);
    bounds = stopBounds(info.state.last_seq, s.follow, ctx.end, s.end_slack_ms);
    perPull = messagesPerPull(info.state, PULL_BYTES);
    const sel = selection(s, Date.now());
    keep = sel && ((obj) => sel.matches(obj as never, s.repo!));
    const start = startOf(ctx.begin, sel?.since, s.follow ? Date.now() - ctx.delayMs : undefined);
    const filters = subjectFilters(s, sel);
    // A restarted fetcher continues a followed source exactly where its checkpoint says: at a
    // line, so the consumer starts at its message and the lines before it are skipped.
    resume = s.follow && ctx.resumeAt !== undefined ? resumePoint(ctx.resumeAt) : undefined;
    consumer = await jetstream(nc).consumers.get(s.stream, {
      // One filter as `filter_subject`: servers before 2.10 know no `filter_subjects`.
      filter_subjects: filters.length === 1 ? filters[0] : filters,
      ...(resume !== undefined
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: resume.seq }
        : start.deliver === 'all'
          ? { deliver_policy: DeliverPolicy.All }
          : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.time }),
    });
    if (s.follow) live = await consumer.consume({ max_messages: perPull });
    ctx.log.info({ stream: s.stream, repo: s.repo, start: resume ?? start, last_seq: info.state.last_seq, follow: s.follow }, s.follow ? 'following the traffic stream' : 'replaying the traffic stream');
  } catch (err) {
    await nc.close();
    throw new SourceError(`cannot read stream ${s.stream} ([fetcher.jetstream] stream): ${(err as Error).message}`, false, { cause: err });
  }
  const counts = emptyCounts();

  async function* read(): AsyncGenerator<AnalyzedLine> {
    let messages: ConsumerMessages | undefined;
    // Set while waiting for the next message, not while the reader holds a record (a slow job
    // stream is no reason to end).
    let waitingSince: number | undefined;
    let asking = false;
    const idle = setInterval(() => {
      if (asking || waitingSince === undefined || Date.now() - waitingSince < IDLE_CHECK_MS) return;
      asking = true;
      consumer
        .info()
        .then((ci) => {
          if (waitingSince === undefined) return;
          if (ci.num_pending === 0) messages?.stop();
          else waitingSince = Date.now();
        })
        // The ordered consumer is being recreated (a reconnect): ask again later.
        .catch(() => undefined)
        .finally(() => (asking = false));
    }, IDLE_CHECK_MS / 4);
    try {
      if (bounds.lastSeq === 0) return;
      messages = await consumer.consume({ max_messages: perPull });
      waitingSince = Date.now();
      for await (const m of messages) {
        waitingSince = undefined;
        if (pastEnd(m.seq, m.info.timestampNanos / 1e6, bounds)) return;
        yield* messageVerdicts(m.data, chain, keep);
        if (m.seq === bounds.lastSeq || m.info.pending === 0) return;
        waitingSince = Date.now();
      }
    } finally {
      clearInterval(idle);
      messages?.stop();
      await nc.close();
    }
  }

  /**
   * Line positions (`trafficPosition`) of the first and the last line `follow` handed over (0 =
   * none yet): the last is set before its line is yielded, so while the fetcher holds a record
   * it names that record's line.
   */
  const position = { first: 0, last: 0 };
  async function* follow(messages: ConsumerMessages): AsyncGenerator<AnalyzedLine> {
    try {
      for await (const m of messages) {
        if (pastEnd(m.seq, m.info.timestampNanos / 1e6, bounds)) return;
        let line = linesToSkip(m.seq, resume);
        // Only the first message can be the resume message: later ones are read whole.
        resume = undefined;
        for (const v of messageVerdicts(m.data, chain, keep, line)) {
          position.last = trafficPosition(m.seq, line++);
          if (position.first === 0) position.first = position.last;
          yield v;
        }
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
