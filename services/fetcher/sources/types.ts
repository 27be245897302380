/**
 * What a source kind is (k6's executors are the model: each kind brings its config type, its
 * checks and its constructor, and nothing central switches on its name). A kind is one folder
 * under sources/ exporting one `SourceKind`, listed once in registry.ts.
 *
 * A kind sees its own `[fetcher.<type>]` section and the few job facts it needs, not the whole
 * HavokConfig: shared/config.ts builds its schema from the registry, so a kind that imported the
 * config would close an import cycle.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { z } from 'zod';
import type { Logger } from '../../../shared/log.js';
import type { SourceCounts } from '../../../shared/protocol.js';
import type { Chain, ChainRecord } from '../analyzers/chain.js';
import type { AnalyzerName } from '../analyzers/names.js';
import type { JsonlFields } from '../analyzers/jsonl.js';

export interface Source {
  /** File path, `topic/partition`, `project/logstore`: for logs and the report. */
  name: string;
  counts: SourceCounts;
  /** Records in source order; stop iterating to stop reading. */
  records: AsyncGenerator<ChainRecord>;
  /**
   * A source that never runs out by itself (`follow`) has this: it makes `records` end soon,
   * after what it already read, even while it waits for more. The fetcher calls it when the job
   * is stopped and publishes a partial batch when such a source goes quiet.
   */
  stop?(): void;
  /**
   * A followed source that can continue exactly after a restart: the positions of the first line
   * it read and of the last one (0 = none yet), while the fetcher holds a record the last is that
   * record's. A position is one number ordered as the source is (the traffic stream's
   * `trafficPosition(seq, line)`: a message holds several lines, and a batch may end inside one);
   * the next line's position is at most `last + 1` (later when the message ended). A restarted
   * fetcher opens it at a position of its checkpoint (`SourceContext.resumeAt`).
   */
  position?(): { first: number; last: number };
}

/** One problem, naming its key (a ConfigError is a list of them; exit 2). */
export interface Issue {
  key: string;
  message: string;
}

/** The job facts a source may depend on: plain data, so checks on them stay pure. */
export interface SourceScope {
  /** `[job] id`: names what a source creates (Kafka's throwaway consumer group). */
  jobId: string;
  /** `[job] begin` / `end` as epoch ms: the log-time range to read; absent = unbounded. */
  begin?: number;
  end?: number;
  /** `[job] speed` and `max_idle_ms`: a source that follows live traffic needs log time = wall time. */
  speed: number;
  maxIdleMs: number;
  /** `[job] delay_ms`: how far behind live a following source's records are due, ms. */
  delayMs: number;
  /** Where defaults outside the config come from (SLS access keys). */
  env: NodeJS.ProcessEnv;
}

/** A source's analyzer settings in place of `[fetcher.file]`'s; absent = the file's. */
export interface ChainOverride {
  format?: AnalyzerName;
  fields?: Partial<JsonlFields>;
}

export interface SourceContext extends SourceScope {
  log: Logger;
  /** The analyzer chain of `[fetcher.file]` and `[analyzer]`, with `over` applied. */
  chain(over?: ChainOverride): Promise<Chain>;
  /**
   * A followed source continues from this line position, that line included (a restarted
   * fetcher's checkpoint, a `position()` or one past it); absent = from its start.
   */
  resumeAt?: number;
  /** A connection to `[nats]` (sources that read NATS: jetstream); the source closes it. */
  connectNats(name: string): Promise<NatsConnection>;
}

/**
 * Methods, not function-valued properties: a kind's own section type then still fits the
 * registry's `Record<string, SourceKind>` (method parameters are checked bivariantly).
 */
export interface SourceKind<S extends z.ZodType = z.ZodType> {
  /** `[fetcher.<type>]`: its keys, defaults, aliases and messages. Validated whatever the type. */
  schema: S;
  /** Checks beyond the section's shape (required keys, the job range), for this type only; pure. */
  validate?(section: z.output<S>, scope: SourceScope): Issue[];
  /** The job's sources of this kind. Loads the kind's I/O code then, not before. */
  open(section: z.output<S>, ctx: SourceContext): Promise<Source[]>;
  /** Makes the section's file paths absolute (`abs` resolves against the config file's folder). */
  resolvePaths?(section: z.output<S>, abs: (path: string) => string): void;
}
