/**
 * Kafka source (kafkajs), the reading: each partition of the topic (or of `[fetcher.kafka] partitions`) is one
 * source, named `topic/partition`, read from a start offset to an end offset fixed when the job
 * opens it — a bounded replay, like a file:
 *
 * - start: `offset` (`oldest`, `newest`, an offset, or negative = that many records before the
 *   end), else the first offset at or after `[job] begin` by message timestamp (ListOffsets by
 *   time), else the oldest;
 * - end (exclusive): the first offset at or after `[job] end` by message timestamp, else the high
 *   watermark when the job starts. Records produced later are not part of the job.
 *
 * The message timestamps only choose where to start and stop reading. A record's time is the one
 * the analyzer finds in the line (the message value, UTF-8, one line per message), as for files;
 * the time wheel applies `[job] begin`/`end` to it exactly and merges partitions by it with
 * per-source watermarks. So when producers set message timestamps to the log time (or close to
 * it), the window selects exactly the records inside it; when they differ by more than the
 * disorder of the topic, records near the edges may be left unread (documented in config.md).
 *
 * Reading never touches the user's consumer groups: the consumer joins a throwaway group of its
 * own (`havok-<job>-<random>`), assigns itself exactly the wanted partitions, seeks them, and never
 * commits an offset (`autoCommit: false`). Memory: a partition is paused as soon as a fetched batch
 * of it arrives (at most `max_bytes_per_partition`) and resumed when its source starts handing that
 * batch out, so each partition holds at most two: the one being read and the next.
 *
 * Unreachable brokers: the offsets are looked up with retries (doubling backoff, `retries`); then a
 * SourceError names the brokers and what failed, before anything is published (the fetcher exits 1).
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { Consumer, PartitionAssigner } from 'kafkajs';
import { registerKafkaCodecs } from '../../../../shared/kafka/codecs.js';
import { SourceError } from '../../../../shared/errors.js';
import type { Logger } from '../../../../shared/log.js';
import type { Chain } from '../../analyzers/chain.js';
import { analyzeLines, emptyCounts } from '../lines.js';
import type { Source, SourceScope } from '../types.js';
import { clientConfig, discover, rootMessage } from './offsets.js';
import type { KafkaSection } from './schema.js';

const { Kafka, AssignerProtocol } = kafkajs;

/**
 * kafkajs's max wait of a fetch, and its sleep while every partition is paused (the fetcher is
 * behind): a resumed partition is fetched again within this time. The ranges read are all below
 * the high watermark, so fetches never wait on the broker for data.
 */
const PAUSED_POLL_MS = 10;

/** Assigns exactly the wanted partitions to the group's first member (ours: it is alone). */
function fixedAssigner(topic: string, partitions: number[]): PartitionAssigner {
  const name = 'HavokFixedAssigner';
  return () => ({
    name,
    version: 1,
    async assign({ members }) {
      return members.map((m, i) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: i === 0 ? { [topic]: partitions } : {}, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name, metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) };
    },
  });
}

/** Per-partition read state shared by the consumer callbacks and the source's generator. */
interface PartitionState {
  partition: number;
  /** Next offset to hand out; records below it were handed out (or skipped) already. */
  next: number;
  /** Exclusive end offset. */
  end: number;
  /** The one fetched batch not yet handed out (values). */
  queue: Array<Buffer | null>;
  /** No more fetching needed: the end offset was reached. */
  fetched: boolean;
  /** The generator finished or was closed. */
  closed: boolean;
  wake?: () => void;
}

/**
 * Opens one source per partition of `[fetcher.kafka] topic` (brokers and topic checked by the
 * kind's validate). Throws ConfigError for a partition the topic lacks (exit 2) and SourceError
 * when the brokers cannot be reached (exit 1).
 */
export async function openKafkaSources(k: KafkaSection, scope: Pick<SourceScope, 'jobId' | 'begin' | 'end'>, chain: Chain, log: Logger): Promise<Source[]> {
  const topic = k.topic!;
  const ranges = await discover(k, scope, log);
  for (const r of ranges) log.info({ topic, partition: r.partition, start: r.start, end: r.end, records: r.end - r.start }, 'kafka partition range');

  const states = new Map<number, PartitionState>(ranges.map((r) => [r.partition, { partition: r.partition, next: r.start, end: r.end, queue: [], fetched: r.start >= r.end, closed: false }]));
  const toRead = ranges.filter((r) => r.start < r.end).map((r) => r.partition);
  const reader = toRead.length ? await startConsumer(k, scope.jobId, topic, toRead, states, log) : undefined;

  const names = ranges.map((r) => `${topic}/${r.partition}`);
  return ranges.map((r, i) => {
    const counts = emptyCounts();
    const st = states.get(r.partition)!;
    const lines = reader ? reader.lines(st) : emptyLines();
    return { name: names[i], counts, records: analyzeLines(lines, chain, counts, ranges.length > 1 ? names[i] : undefined) };
  });
}

async function* emptyLines(): AsyncGenerator<string> {}

/** A started consumer and the line streams it feeds. */
interface Reader {
  lines(st: PartitionState): AsyncGenerator<string>;
}

async function startConsumer(k: KafkaSection, jobId: string, topic: string, partitions: number[], states: Map<number, PartitionState>, log: Logger): Promise<Reader> {
  const brokers = k.brokers.join(',');
  // Batches written with snappy, lz4 or zstd decode like gzip ones.
  await registerKafkaCodecs();
  const kafka = new Kafka(clientConfig(k, log, k.retries));
  const groupId = `havok-${jobId}-${randomUUID().slice(0, 8)}`;
  const consumer: Consumer = kafka.consumer({
    groupId,
    partitionAssigners: [fixedAssigner(topic, partitions)],
    allowAutoTopicCreation: false,
    maxBytesPerPartition: k.max_bytes_per_partition,
    maxWaitTimeInMs: PAUSED_POLL_MS,
    retry: { retries: k.retries, initialRetryTime: k.backoff_ms, maxRetryTime: k.backoff_max_ms, restartOnFailure: async () => false },
  });
  let failure: Error | undefined;
  let stopped: Promise<void> | undefined;
  const wakeAll = (): void => states.forEach((st) => st.wake?.());
  // Pausing or resuming a stopped consumer throws; there is nothing left to pause then.
  const pause = (p: number): void => {
    try {
      consumer.pause([{ topic, partitions: [p] }]);
    } catch {}
  };
  const resume = (p: number): void => {
    try {
      consumer.resume([{ topic, partitions: [p] }]);
    } catch {}
  };

  /** Stops the consumer once no partition needs it (every source finished or closed). */
  const stopIfIdle = async (): Promise<void> => {
    if (![...states.values()].every((s) => s.closed || (s.fetched && s.queue.length === 0))) return;
    stopped ??= consumer.disconnect().catch((err: Error) => log.debug({ err: err.message }, 'kafka: disconnect failed'));
    await stopped;
  };

  let joined!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    joined = resolve;
    consumer.on(consumer.events.CRASH, (e) => {
      failure = new SourceError(`Kafka read of topic "${topic}" failed (brokers ${brokers}): ${rootMessage(e.payload.error)}`, true, { cause: e.payload.error });
      log.error({ brokers: k.brokers, topic, err: rootMessage(e.payload.error) }, 'kafka consumer failed');
      reject(failure);
      wakeAll();
    });
  });
  ready.catch(() => undefined);
  // On every (re)join, each partition continues where its source is: a rebalance or a restart
  // of the fetch loop never re-reads or skips records. Seeks are applied before the next fetch.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const p of partitions) {
      const st = states.get(p)!;
      if (!st.fetched && !st.closed) consumer.seek({ topic, partition: p, offset: String(st.next) });
    }
    joined();
  });
  // Batches that held only control records never reach eachBatch; their end still counts.
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    const st = states.get(e.payload.partition);
    if (st && !st.fetched && Number(e.payload.lastOffset) >= st.end - 1) {
      st.fetched = true;
      pause(st.partition);
      st.wake?.();
    }
  });

  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const st = states.get(batch.partition);
        if (!st || st.closed || st.fetched) {
          pause(batch.partition);
          return;
        }
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          if (offset < st.next || offset >= st.end) continue;
          st.queue.push(m.value);
          st.next = offset + 1;
        }
        if (Number(batch.lastOffset()) >= st.end - 1) st.fetched = true;
        // Hold this batch: no more fetching for the partition until its source starts on it.
        if (st.queue.length > 0 || st.fetched) pause(st.partition);
        st.wake?.();
      },
    });
    await ready;
  } catch (err) {
    await consumer.disconnect().catch(() => undefined);
    if (err instanceof SourceError) throw err;
    throw new SourceError(`Kafka brokers ${brokers}: could not start reading topic "${topic}": ${rootMessage(err)}`, true, { cause: err });
  }
  log.info({ group: groupId, topic, partitions }, 'kafka consumer reading (throwaway group, no commits)');

  return {
    async *lines(st: PartitionState): AsyncGenerator<string> {
      try {
        for (;;) {
          if (failure) throw failure;
          if (st.queue.length > 0) {
            // Hand this batch out while the next one is fetched (double buffering).
            const batch = st.queue;
            st.queue = [];
            if (!st.fetched && !stopped) resume(st.partition);
            for (const v of batch) yield v === null ? '' : stripEol(v.toString('utf8'));
            continue;
          }
          if (st.fetched) return;
          // Nothing fetched yet: wait for the next batch (or for a failure).
          const woken = new Promise<void>((resolve) => (st.wake = resolve));
          if (!stopped) resume(st.partition);
          await woken;
          st.wake = undefined;
        }
      } finally {
        st.closed = true;
        st.queue = [];
        if (!stopped && !failure) pause(st.partition);
        await stopIfIdle();
        if (failure) await (stopped ??= consumer.disconnect().catch(() => undefined));
      }
    },
  };
}

/** A message value is one line; a trailing newline (as log shippers send) is not part of it. */
function stripEol(s: string): string {
  if (s.endsWith('\n')) s = s.slice(0, s.endsWith('\r\n') ? -2 : -1);
  return s;
}
