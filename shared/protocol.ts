/**
 * The one protocol module: every NATS subject, every message shape, their version and the msgpack
 * codec live here. No other file builds a subject string or encodes a message by hand.
 *
 * Two tables carry the rules (see docs/architecture.md, "Protocol"): `SUBJECT_KINDS` says which
 * message kinds may travel on each subject, `KINDS` gives each kind its own version and the
 * shape check `decode` runs. A kind's version is bumped alone, so one message can change without
 * every actor upgrading at once. test/fixtures/protocol/ pins each kind's bytes.
 *
 * Wire types keep short, stable names (they cross process and language boundaries); the classes
 * that use them live in services/.
 *
 * Over 350 lines on purpose: "one protocol module" means a reader finds every subject, shape,
 * version and check in this one file (docs/architecture.md, "Protocol").
 */
import { Packr } from 'msgpackr';
import { ProtocolError } from './errors.js';
import type { HistogramWire } from './histogram.js';


/** Every subject of a job, built in one place. `<job>` must be a NATS-token-safe id. */
export const subjects = {
  /** fetcher → time wheel, on the job's JetStream stream (durable, backpressured). */
  records: (job: string) => `havok.${job}.records`,
  /** time wheel → router: records stamped with their due wall time. */
  dispatch: (job: string) => `havok.${job}.dispatch`,
  /** router → one replayer. */
  replayer: (job: string, id: string) => `havok.${job}.replayer.${id}`,
  /** replayer → router (and anyone): registration and liveness. */
  heartbeat: (job: string) => `havok.${job}.heartbeat`,
  /** router → time wheel and anyone: current membership and routing counters. */
  router: (job: string) => `havok.${job}.router`,
  /** replayer → reporter: cumulative counters and interval histograms. */
  stats: (job: string) => `havok.${job}.stats`,
  /** time wheel → anyone: job state and source accounting. */
  status: (job: string) => `havok.${job}.status`,
  /** ctl → time wheel: request/reply control of a running job. */
  control: (job: string) => `havok.${job}.control`,
  /** reporter → anyone: the job is over and its report is written; actors may exit. */
  ended: (job: string) => `havok.${job}.ended`,
  /** Checkpoints (one retained message per actor) in the job's state stream. */
  checkpoint: (job: string, actor: 'timewheel' | 'fetcher') => `havok.${job}.checkpoint.${actor}`,
  checkpoints: (job: string) => `havok.${job}.checkpoint.*`,
} as const;

/** The subjects a job's actors read live (checkpoints aside: stored state, read once at start). */
type LiveSubject = Exclude<keyof typeof subjects, 'checkpoint' | 'checkpoints'>;

/**
 * Every live subject of a job, with `replayer` as the one replayer's id: for whatever must cover
 * them all (a test that floods each one). A record, so a subject added above without an entry
 * here fails to compile.
 */
export function jobSubjects(job: string, replayer: string): string[] {
  const live: Record<LiveSubject, string> = {
    records: subjects.records(job),
    dispatch: subjects.dispatch(job),
    replayer: subjects.replayer(job, replayer),
    heartbeat: subjects.heartbeat(job),
    router: subjects.router(job),
    stats: subjects.stats(job),
    status: subjects.status(job),
    control: subjects.control(job),
    ended: subjects.ended(job),
  };
  return Object.values(live);
}

/**
 * Where a message is read from: a subject above, the reply inbox of a control request, or the
 * value of a lease key (`leaseBucketName`).
 */
export type Channel = keyof typeof subjects | 'control_reply' | 'lease';

/**
 * The message kinds allowed on each channel; `decodeOn(channel, data)` accepts exactly these.
 * A unit test checks that every subject and every kind is listed.
 */
export const SUBJECT_KINDS = {
  records: ['records', 'source_end'],
  dispatch: ['dispatch', 'dispatch_end'],
  replayer: ['assign'],
  heartbeat: ['heartbeat'],
  router: ['router'],
  stats: ['stats'],
  status: ['status'],
  control: ['control'],
  control_reply: ['control_reply'],
  ended: ['ended'],
  checkpoint: ['tw_checkpoint', 'fetcher_checkpoint'],
  checkpoints: ['tw_checkpoint', 'fetcher_checkpoint'],
  lease: ['lease'],
} as const satisfies Record<Channel, readonly MsgKind[]>;
/** The kinds `decodeOn(channel, …)` returns. */
export type KindOn<C extends Channel> = (typeof SUBJECT_KINDS)[C][number];

/** JetStream stream that carries one job's records from fetcher to time wheel. */
export const streamName = (job: string): string => `HAVOK_${job.replace(/[^A-Za-z0-9_-]/g, '_')}`;
/** JetStream stream holding the job's checkpoints (last message per subject). */
export const stateStreamName = (job: string): string => `HAVOK_${job.replace(/[^A-Za-z0-9_-]/g, '_')}_STATE`;
export const consumerName = (job: string): string => `timewheel_${job.replace(/[^A-Za-z0-9_-]/g, '_')}`;
/** JetStream KV bucket holding the job's ownership leases (one key per role). */
export const leaseBucketName = (job: string): string => `HAVOK_${job.replace(/[^A-Za-z0-9_-]/g, '_')}_LEASES`;
/** Roles of which exactly one process may be active per job. */
export const LEASE_ROLES = ['timewheel', 'router', 'reporter'] as const;
export type LeaseRole = (typeof LEASE_ROLES)[number];

/** A job id or replayer id becomes one NATS subject token: no dots, spaces or wildcards. */
export const SAFE_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * One life of a replayer: `id@boot` (`id` alone for a sender without a boot). Ids never contain
 * `@` (SAFE_TOKEN), so the key splits back unambiguously with `lifeId`.
 */
export const lifeKey = (id: string, boot: string | undefined): string => (boot ? `${id}@${boot}` : id);
/** The replayer id of a life key. */
export const lifeId = (key: string): string => {
  const at = key.indexOf('@');
  return at < 0 ? key : key.slice(0, at);
};

// ---------------------------------------------------------------------------------------------
// Traffic stream: what the gateway records, `havok traffic` searches and `[fetcher] type =
// "jetstream"` replays (docs/traffic.md). Each stored line is one request as UTF-8 JSON (after
// its repo's executers) plus `received_ms`; not msgpack, so any tool can read it. A message on
// `havok.traffic.<repo>.<METHOD>` holds one or more lines of one POST, separated by "\n" (JSON
// text never holds a raw newline): one JetStream message, ack and read per line made the store
// as slow as nats-server's per-message cost (docs/architecture.md). A stored line is addressed
// by its message's sequence and its place in it: `SEQ:LINE` (`SEQ` alone means line 0).

/** JetStream stream of recorded traffic (the default name; configurable where it is used). */
export const TRAFFIC_STREAM = 'HAVOK_TRAFFIC';

/** Every subject of the traffic stream. */
export const TRAFFIC_SUBJECTS = 'havok.traffic.>';

/** The method token of a traffic subject: upper-cased, `_` when absent or not a safe token. */
export const trafficMethodToken = (method: string): string => {
  const m = method.toUpperCase();
  return SAFE_TOKEN.test(m) ? m : '_';
};

/** Subject of one stored line: `havok.traffic.<repo>.<METHOD>`. `repo` must be a SAFE_TOKEN. */
export function trafficSubject(repo: string, method: string): string {
  return `havok.traffic.${repo}.${trafficMethodToken(method)}`;
}

/**
 * Header of a traffic message: how many lines it holds, so a reader of headers only (the
 * gateway's retention ledger) counts lines without the payload. Absent: one line.
 */
export const TRAFFIC_LINES_HEADER = 'Havok-Lines';
/**
 * Header of a traffic message written with `Havok-Lines`: its lines' trace ids as index tokens,
 * `<line>:<token>,…` (absent: no line has one), so the trace indexer need not parse the lines.
 * Tokens are letters, digits, `_`, `-` or `=`-prefixed base64url: never a comma or colon.
 */
export const TRAFFIC_TRACES_HEADER = 'Havok-Traces';

/** The separator of a traffic message's lines: "\n" as a byte. */
const TRAFFIC_LINE_BREAK = 0x0a;

/** A traffic message's payload from its lines (each one JSON text, no raw newline). */
export const trafficMessage = (lines: readonly string[]): string => lines.join('\n');

/**
 * The lines of a traffic message, as views of its bytes (no copy), in order; empty lines are
 * skipped (a message never holds one). A message of one line is that line.
 */
export function trafficLines(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (;;) {
    const end = data.indexOf(TRAFFIC_LINE_BREAK, start);
    const stop = end < 0 ? data.length : end;
    if (stop > start) out.push(data.subarray(start, stop));
    if (end < 0) return out;
    start = end + 1;
  }
}

/**
 * Lines a traffic message may hold at most (the gateway splits a POST's lines of one subject
 * into messages of at most this many lines and at most the server's payload): a position
 * (`trafficPosition`) keeps the line in the low bits of one number.
 */
export const TRAFFIC_MAX_LINES = 4096;
const LINE_SPAN = 2 ** 20;

/**
 * A stored line's position as one number, ordered as the stream is (sequence, then line): what a
 * checkpoint or a cursor keeps. Sequences up to 2^33 fit exactly.
 */
export const trafficPosition = (seq: number, line: number): number => seq * LINE_SPAN + line;
/** The sequence and line of a position. */
export const positionParts = (pos: number): { seq: number; line: number } => ({ seq: Math.floor(pos / LINE_SPAN), line: pos % LINE_SPAN });

/** A stored line's address as people see it: `SEQ:LINE`. */
export const trafficLineId = (seq: number, line: number): string => `${seq}:${line}`;

/** `SEQ` or `SEQ:LINE` → its parts (`SEQ` alone: line 0); undefined when it is neither. */
export function parseTrafficLineId(text: string): { seq: number; line: number } | undefined {
  const m = /^(\d{1,15})(?::(\d{1,7}))?$/.exec(text);
  if (!m) return undefined;
  const seq = Number(m[1]);
  const line = m[2] === undefined ? 0 : Number(m[2]);
  return seq >= 1 && line < LINE_SPAN ? { seq, line } : undefined;
}

/** Subject filter of a repo and/or method: `havok.traffic.<repo|*>.<METHOD|*>`. */
export function trafficFilter(repo?: string, method?: string): string {
  return `havok.traffic.${repo ?? '*'}.${method === undefined ? '*' : trafficMethodToken(method)}`;
}

/** Repo and method token of a traffic subject; undefined when it is not one. */
export function trafficSubjectParts(subject: string): { repo: string; method: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== 'havok' || parts[1] !== 'traffic') return undefined;
  return { repo: parts[2]!, method: parts[3]! };
}

/**
 * The trace-id index of a traffic stream: its own stream (`<stream>_TRACES`), one subject per
 * bucket of trace id tokens, see services/traffic/trace-index.ts.
 */
export const trafficTracesStream = (stream: string): string => `${stream}_TRACES`;
/** Index entries of the traces whose token hashes to `bucket` (services/traffic/trace-index.ts). */
export const trafficTraceBucket = (stream: string, bucket: number): string => `havok.traces.${stream}.b.${bucket}`;
/** The index's watermark (rolled up: only the last is kept). */
export const trafficTraceWatermark = (stream: string): string => `havok.traces.${stream}.watermark`;
/** Every subject of one traffic stream's index. */
export const trafficTraceSubjects = (stream: string): string => `havok.traces.${stream}.>`;
/**
 * Durable consumer of the trace indexer on the traffic stream: `headers` reads headers only (the
 * gateway's Havok-Traces), `full` whole messages (an indexer with its own trace field).
 */
export const trafficIndexerConsumer = (stream: string, reads: 'headers' | 'full'): string => `${stream.replace(/[^A-Za-z0-9_-]/g, '_')}_trace_index_${reads}`;
/** The trace indexer's durable consumer in builds before the bucketed index (deleted when it is rebuilt). */
export const trafficIndexerLegacyConsumer = (stream: string): string => `${stream.replace(/[^A-Za-z0-9_-]/g, '_')}_trace_indexer`;

// ---------------------------------------------------------------------------------------------
// Records

/** One request read from a log. `ts` is epoch ms of log time. */
export interface LogRecord {
  ts: number;
  method: string;
  /** Path and query (`/a/b?c=1`) or an absolute URL. */
  url: string;
  headers?: Record<string, string>;
  /** Request body, raw text or bytes. */
  body?: string | Uint8Array;
  /** Value of the analyzer's hash field, for sticky routing; absent = round-robin. */
  key?: string;
  /** API name given by the analyzer (path template); absent = derived by the reporter's rule. */
  api?: string;
  /** Source index within the job, and line/offset order within that source (tie-break). */
  src: number;
  seq: number;
  /** 1-based line of the source it was read from (a Kafka partition: message number in the range read); absent from older fetchers. */
  line?: number;
}

/** A record released by the time wheel: `due` is the wall-clock epoch ms it must be sent at. */
export interface DueRecord extends LogRecord {
  due: number;
  /** Copy number under `rate` (0 for the first copy). */
  copy: number;
}

export interface ParseErrorSample {
  line: number;
  text: string;
  reason: string;
}

/** Counts a fetcher reports for its source. */
export interface SourceCounts {
  read: number;
  parse_errors: number;
  filtered: number;
  /** Why lines were filtered (e.g. `host_not_allowed`); analyzer skips count as `analyzer`. */
  filtered_by_reason?: Record<string, number>;
  published: number;
  samples: ParseErrorSample[];
}

// ---------------------------------------------------------------------------------------------
// Messages

interface Envelope<K extends string> {
  /** The version of this kind the sender wrote (`KINDS[kind].v`); one of `KINDS[kind].accepts` once decoded. */
  v: number;
  kind: K;
  sender: string;
}

/** fetcher → time wheel. `batch` numbers a source's batches from 0, for de-duplication. */
export interface RecordBatchMsg extends Envelope<'records'> {
  src: number;
  /** How many sources the job has (the time wheel's watermark waits for all of them). */
  sources: number;
  batch: number;
  records: LogRecord[];
}

/** fetcher → time wheel: this source is exhausted; its final counts. */
export interface SourceEndMsg extends Envelope<'source_end'> {
  src: number;
  sources: number;
  batches: number;
  counts: SourceCounts;
}

export type SourceMsg = RecordBatchMsg | SourceEndMsg;

/** time wheel → router. `n` numbers dispatch batches from 0 so a duplicate is detected. */
export interface DispatchMsg extends Envelope<'dispatch'> {
  n: number;
  /** Copies released so far including this batch: lets the router count copies lost in transit. */
  upto: number;
  records: DueRecord[];
}

/** time wheel → router: no more dispatch batches will follow. */
export interface DispatchEndMsg extends Envelope<'dispatch_end'> {
  n: number;
  copies: number;
}

export type RouterInMsg = DispatchMsg | DispatchEndMsg;

/** router → replayer. */
export interface AssignMsg extends Envelope<'assign'> {
  /**
   * The replayer life the records are for (its heartbeat's `boot`). A process that is a newer
   * life of the id ignores records meant for an older one: the router hands those over itself.
   * Absent from routers that predate it.
   */
  boot?: string;
  records: DueRecord[];
}

/**
 * A replayer with work (records queued or requests in flight) heartbeats at least this often,
 * besides its `heartbeat_ms` beat: the router's flow control lags by no more than this, and a
 * replayer whose beats stop while it has work was cut off within this much of its last beat
 * (services/router/handover.ts relies on it).
 */
export const BUSY_BEAT_MS = 50;

export const REPLAYER_STATES = { up: 'up', leaving: 'leaving' } as const;
export type ReplayerState = (typeof REPLAYER_STATES)[keyof typeof REPLAYER_STATES];

export interface HeartbeatMsg extends Envelope<'heartbeat'> {
  id: string;
  /**
   * This life of the replayer (random per process start). A replayer restarted under the same
   * `id` is a new life: its counters start again at 0, so merges, membership and routed counts
   * are keyed by (id, boot) — see `lifeKey`. Absent from replayers that predate it.
   */
  boot?: string;
  state: ReplayerState;
  /** max_inflight of this replayer. */
  capacity: number;
  inflight: number;
  /** records received so far (cumulative). */
  received: number;
  /** requests sent so far (cumulative); the router derives each replayer's req/s from it. */
  sent: number;
  /** records dropped so far (cumulative). */
  dropped: number;
}

/** One replayer as the router sees it (status and `havok ctl status`). */
export interface ReplayerInfo {
  id: string;
  /** Its life (see HeartbeatMsg.boot). */
  boot?: string;
  capacity: number;
  inflight: number;
  /** ms since its last heartbeat. */
  last_heartbeat_ms: number;
  routed: number;
  /** Requests per second it sent over its last heartbeat period. */
  rps: number;
}

export interface RouterMsg extends Envelope<'router'> {
  /** Live replayer lives, as `lifeKey(id, boot)`. */
  members: string[];
  replayers: ReplayerInfo[];
  /**
   * Records routed to live replayers and not yet sent or dropped by them (as of their last
   * heartbeat). The time wheel holds back while it is above `max_backlog`: flow control.
   */
  backlog: number;
  /** Cumulative records routed to each replayer life, by `lifeKey(id, boot)`. */
  routed: Record<string, number>;
  dropped_by_reason: Record<string, number>;
  duplicates: number;
  /** True once the dispatch end was seen and every record before it routed. */
  done: boolean;
  /**
   * When the router published this view (epoch ms, its clock): a view that waited on a broken
   * link arrives late and must be read as old. Absent from routers that predate it.
   */
  at?: number;
  /**
   * Records of lost lives routed again to live replayers (cumulative; they count in the new
   * life's `routed` and no longer in the lost one's). Absent from routers that predate it.
   */
  rerouted?: number;
  /**
   * For each life handed over (`lifeKey`), the cutoff: its records due at or after it (epoch ms)
   * went to live replayers. A fenced replayer splits what it held by the same cutoff.
   */
  handovers?: Record<string, number>;
}

/** Accumulated by a replayer; counters are cumulative, histograms cover one interval. */
export interface ApiStats {
  count: number;
  failed: number;
  /** HDR histogram of latency from send, µs (non-empty buckets). */
  latency: HistogramWire;
}

export interface StatsMsg extends Envelope<'stats'> {
  id: string;
  /** The sender's life, as in its heartbeat (absent from replayers that predate it). */
  boot?: string;
  /** Interval sequence number of this replayer, from 0. */
  n: number;
  final: boolean;
  received: number;
  sent: number;
  ok: number;
  failed: number;
  dropped_by_reason: Record<string, number>;
  by_status: Record<string, number>;
  by_error: Record<string, number>;
  /** Bytes written to / read from the target's connections (cumulative; absent from replayers before they were counted). */
  bytes_sent?: number;
  bytes_received?: number;
  /** Interval histograms (µs, non-empty buckets). */
  latency: HistogramWire;
  latency_from_due: HistogramWire;
  lateness: HistogramWire;
  by_api: Record<string, ApiStats>;
  interval_sent: number;
  /** Response comparison, when the job has `[diff]` (services/diff/). */
  diff?: DiffStats;
  /** Heavy hitters per dimension (`route`, `url`, `host`, `status`, `key`), cumulative (shared/topk). */
  top?: Record<string, TopWire>;
  /** Requests kept for the report (slowest, per error kind, per status class ≥ 400), cumulative (shared/trace/samples.ts). */
  samples?: SampleWire[];
}

/** One field path and difference kind at one endpoint: in how many records it was seen. */
export interface DiffFieldCounts {
  /** Between primary and candidate. */
  raw: number;
  /** Between primary and secondary (0 without a secondary). */
  noise: number;
}

export interface DiffEndpointStats {
  /** Records whose responses were compared (cumulative). */
  total: number;
  /** Records not compared, by reason (`candidate_error`, …; cumulative). */
  skipped: Record<string, number>;
  /** By field path (`body.items[*].price`), then kind (`primitive`, …). */
  fields: Record<string, Record<string, DiffFieldCounts>>;
}

/** What one diff target did: counters cumulative, histograms (µs) for the interval. */
export interface DiffTargetStats {
  sent: number;
  ok: number;
  failed: number;
  by_status: Record<string, number>;
  by_error: Record<string, number>;
  latency: HistogramWire;
  lateness: HistogramWire;
}

/** One target's response in an example: its status, compared headers and body text (cut). */
export interface DiffExampleResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The request to this target failed (then status is 0). */
  error?: string;
}

/** A record that showed a difference: the request, each target's response and the values at the field. */
export interface DiffExample {
  endpoint: string;
  path: string;
  kind: string;
  /** The field's concrete path in this record (`body.items[3].price`). */
  at: string;
  src: number;
  seq: number;
  trace_id?: string;
  /** The record's request as the log has it (headers as recorded, before `[replayer]` rules). */
  request: { method: string; url: string; headers?: Record<string, string> };
  /** By target (`primary`, `candidate`, `secondary`). */
  responses: Record<string, DiffExampleResponse>;
  /** The value at `at` in each target's response, as JSON text; absent where it has none. */
  values: Record<string, string>;
}

/** A replayer's response comparison (services/diff/): merged exactly by the reporter. */
export interface DiffStats {
  /** By endpoint (route template), cumulative. */
  endpoints: Record<string, DiffEndpointStats>;
  /** By target name. */
  targets: Record<string, DiffTargetStats>;
  /** Bodies not compared whole or not as their type says, by target then reason (`truncated`, `non_utf8`, …; cumulative). */
  bodies: Record<string, Record<string, number>>;
  /** Examples taken since the previous stats message. */
  examples: DiffExample[];
  /** CPU time spent lifting and comparing responses, ms (cumulative; the bench reports its share of the replayer's). */
  compare_ms?: number;
}

/** One counter of a Space-Saving summary: `c` never under-counts, `c − e ≤ true ≤ c`. */
export interface TopEntryWire {
  k: string;
  c: number;
  e: number;
  /** Failed requests, bytes sent / received (request and response bodies), bytes of failed requests, since the key took this counter. */
  f: number;
  bs: number;
  br: number;
  bf: number;
  /** Latency (µs) since the key became one of the largest few; absent for the others. */
  h?: HistogramWire;
}

/** A replayer's summary of one dimension: `n` requests in all, `min` bounds any key not listed. */
export interface TopWire {
  n: number;
  min: number;
  e: TopEntryWire[];
}

/** One request kept for the report, findable by its trace id and source position. */
export interface SampleWire {
  /** Why it was kept: `slowest`, `error:<kind>`, `status:<class>` (`4xx`, `5xx`). */
  group: string;
  trace_id?: string;
  method: string;
  url: string;
  /** 0 when the request failed without a response. */
  status: number;
  error?: string;
  latency_ms: number;
  lateness_ms: number;
  replayer: string;
  /** Source index, record number in it, and line (see LogRecord). */
  src: number;
  seq: number;
  line?: number;
  /** Due time, epoch ms. */
  due: number;
}

export const JOB_STATES = {
  pending: 'pending',
  running: 'running',
  paused: 'paused',
  finished: 'finished',
  stopped: 'stopped',
} as const;
export type JobState = (typeof JOB_STATES)[keyof typeof JOB_STATES];

export interface StatusMsg extends Envelope<'status'> {
  job: string;
  state: JobState;
  speed: number;
  rate: number;
  /** Log time (epoch ms) of the last released record, 0 before the first; following live traffic, the job's clock (wall time − delay_ms). */
  position: number;
  records: { read: number; parse_errors: number; filtered: number; dispatched: number; filtered_by_reason?: Record<string, number> };
  /** Copies released (dispatched × rate, exact). */
  copies: number;
  /** Copies that will never be sent because the job was stopped. */
  never_sent: number;
  /** Records read and waiting in the time wheel, not yet released. */
  pending: number;
  sources_ended: number;
  sources: number;
  samples: ParseErrorSample[];
  started_at: number;
  finished_at: number;
  /** The job's replayer settings, so a replayer started without a config joins with them. */
  replayer: JobReplayerSettings;
  /** A job following live traffic: wall now − (log position + delay_ms), ms; absent otherwise. */
  behind_live_ms?: number;
}

export interface JobReplayerSettings {
  target?: string;
  headers: Record<string, string>;
  remove_headers: string[];
  timeout_ms: number;
  /** The job's `[diff]` section as configured; a receiver validates it (services/diff/settings.ts). */
  diff?: Record<string, unknown>;
}

/** Operations a control request may ask of the time wheel. */
export const CONTROL_OPS = ['pause', 'resume', 'speed', 'rate', 'stop', 'status'] as const;
export type ControlOp = (typeof CONTROL_OPS)[number];

/** ctl → time wheel (request/reply on the control subject). `value` for speed and rate. */
export interface ControlMsg extends Envelope<'control'> {
  op: ControlOp;
  value?: number;
}

/** What `havok ctl status` shows: the job's state as the time wheel sees it. */
export interface JobView {
  job: string;
  state: JobState;
  speed: number;
  rate: number;
  /** Current log-time position, epoch ms (0 before the start). */
  position: number;
  /** First and last log time known so far (last is final once every source has ended). */
  first_ts: number;
  last_ts: number;
  /** 0–100 once every source has ended, else null. */
  progress: number | null;
  dispatched: number;
  copies: number;
  /** Copies released in the last second. */
  req_per_s: number;
  replayers: ReplayerInfo[];
  /** As in the status message: how far behind live a following job runs, ms. */
  behind_live_ms?: number;
}

/** time wheel → ctl. `ok: false` carries a human error naming what was wrong. */
export interface ControlReplyMsg extends Envelope<'control_reply'> {
  ok: boolean;
  error?: string;
  view: JobView;
}

/**
 * The value of a role's lease key: who holds it. The holder renews it (a KV update with the
 * revision it last wrote) every `renew_ms`; a standby takes it over (create, or update at the
 * revision it saw) once it has not changed for `ttl_ms`.
 */
export interface LeaseMsg extends Envelope<'lease'> {
  role: LeaseRole;
  /** The holder's process identity, unique per process start. */
  holder: string;
  /** Holder's wall clock when it wrote this value (for logs; expiry uses the reader's clock). */
  at: number;
  ttl_ms: number;
}

export interface EndedMsg extends Envelope<'ended'> {
  job: string;
  exit_code: number;
}

/** Order key of a record, as the time wheel releases them: (ts, src, seq). */
export type RecordKey = [number, number, number];

/**
 * The time wheel's checkpoint, saved before every release: a restarted time wheel continues from
 * it without releasing a record twice (see docs/architecture.md, "Restart safety").
 */
export interface TimewheelCheckpoint extends Envelope<'tw_checkpoint'> {
  /** Last record released; everything at or before it in (ts, src, seq) order is out. */
  last: RecordKey | null;
  state: JobState;
  dispatched: number;
  copies: number;
  filtered: number;
  never_sent: number;
  dispatch_n: number;
  /** Exact-rate state: copies per record and fractional progress, in units of 1e-9. */
  rate_units: number;
  rate_acc: number;
  speed: number;
  started_at: number;
  first_ts: number;
  last_ts: number;
  sources: number;
  source_counts: Array<[number, SourceCounts]>;
}

/** The fetcher's checkpoint: batches published per source (re-reading skips them). */
export interface FetcherCheckpoint extends Envelope<'fetcher_checkpoint'> {
  published: number[];
  ended: number[];
  /** Followed sources: the batch each was publishing, saved before the publish (absent: none yet). */
  follow?: FollowMark[];
}

/**
 * A followed source's batch as saved before it is published: a restarted fetcher reads the
 * source again from `from` (a line position), forms the same batch (its last record is the
 * line at `to`), publishes it under the same number (the job stream drops it when the first
 * publish got through) and goes on, its counts and record sequence continued from these.
 */
export interface FollowMark {
  src: number;
  batch: number;
  /**
   * Line positions (`trafficPosition(seq, line)`: a batch may start and end inside a message):
   * the first line read for the batch, and its last record's.
   */
  from: number;
  to: number;
  /** The source's record sequence (`LogRecord.seq`) of the batch's first record. */
  seq: number;
  /** The source's counts before the batch. */
  counts: SourceCounts;
}

export type AnyMsg =
  | RecordBatchMsg
  | SourceEndMsg
  | DispatchMsg
  | DispatchEndMsg
  | AssignMsg
  | HeartbeatMsg
  | RouterMsg
  | StatsMsg
  | StatusMsg
  | ControlMsg
  | ControlReplyMsg
  | TimewheelCheckpoint
  | FetcherCheckpoint
  | LeaseMsg
  | EndedMsg;
export type MsgKind = AnyMsg['kind'];
export type MsgOf<K extends MsgKind> = Extract<AnyMsg, { kind: K }>;

// ---------------------------------------------------------------------------------------------
// Kinds: one definition per message kind, its version and its shape check

/** A decoded map whose fields are not checked yet. */
type Wire = Record<string, unknown>;

/** What a build knows of one message kind. */
export interface KindDef {
  /** The version this build sends (`envelope` fills it in). */
  readonly v: number;
  /**
   * The versions this build reads: the one it sends and, while a change rolls out, the one
   * before (see docs/architecture.md, "Protocol"). Any other version is a ProtocolError.
   */
  readonly accepts: readonly number[];
  /**
   * The fields receivers rely on are there and well-typed, for every accepted version. Runs per
   * message (per record for records, dispatch and assign): no allocation, no closures.
   */
  readonly shape: (m: Wire) => boolean;
}
export type KindTable = Readonly<Record<MsgKind, KindDef>>;

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isStr = (x: unknown): x is string => typeof x === 'string';
/** A field added to a message later: absent in one from an older sender. */
const optNum = (x: unknown): boolean => x === undefined || isNum(x);
const optToken = (x: unknown): boolean => x === undefined || (isStr(x) && SAFE_TOKEN.test(x));
const isObj = (x: unknown): x is Wire => typeof x === 'object' && x !== null && !Array.isArray(x);

function isRecord(r: unknown): boolean {
  return isObj(r) && isNum(r.ts) && isStr(r.method) && isStr(r.url) && isNum(r.src) && isNum(r.seq);
}
function isDueRecord(r: unknown): boolean {
  return isRecord(r) && isNum((r as Wire).due) && isNum((r as Wire).copy);
}

/**
 * Every message kind. To change one incompatibly: bump its `v`, keep the old one in `accepts`
 * with a shape that reads both, add its golden bytes, and drop the old version one release later.
 * Adding an optional field (checked with `opt…`) keeps the version.
 */
export const KINDS = {
  records: {
    v: 1,
    accepts: [1],
    shape: (m) => isNum(m.src) && isNum(m.sources) && isNum(m.batch) && Array.isArray(m.records) && m.records.every(isRecord),
  },
  source_end: {
    v: 1,
    accepts: [1],
    shape: (m) => isNum(m.src) && isNum(m.sources) && isNum(m.batches) && isObj(m.counts) && isNum(m.counts.read),
  },
  dispatch: {
    v: 1,
    accepts: [1],
    shape: (m) => isNum(m.n) && isNum(m.upto) && Array.isArray(m.records) && m.records.every(isDueRecord),
  },
  dispatch_end: { v: 1, accepts: [1], shape: (m) => isNum(m.n) && isNum(m.copies) },
  assign: { v: 1, accepts: [1], shape: (m) => optToken(m.boot) && Array.isArray(m.records) && m.records.every(isDueRecord) },
  heartbeat: {
    v: 1,
    accepts: [1],
    shape: (m) => isStr(m.id) && SAFE_TOKEN.test(m.id) && optToken(m.boot) && isStr(m.state) && isNum(m.capacity) && isNum(m.inflight),
  },
  router: {
    v: 1,
    accepts: [1],
    shape: (m) =>
      Array.isArray(m.members) &&
      Array.isArray(m.replayers) &&
      isNum(m.backlog) &&
      isObj(m.routed) &&
      isObj(m.dropped_by_reason) &&
      typeof m.done === 'boolean' &&
      optNum(m.rerouted) &&
      optNum(m.at) &&
      (m.handovers === undefined || isObj(m.handovers)),
  },
  stats: {
    v: 1,
    accepts: [1],
    shape: (m) =>
      isStr(m.id) &&
      optToken(m.boot) &&
      isNum(m.n) &&
      isNum(m.sent) &&
      isNum(m.received) &&
      optNum(m.bytes_sent) &&
      optNum(m.bytes_received) &&
      isObj(m.dropped_by_reason) &&
      Array.isArray(m.latency) &&
      Array.isArray(m.latency_from_due) &&
      Array.isArray(m.lateness) &&
      isObj(m.by_api) &&
      (m.diff === undefined || (isObj(m.diff) && isObj(m.diff.endpoints) && isObj(m.diff.targets) && Array.isArray(m.diff.examples))) &&
      (m.top === undefined || isObj(m.top)) &&
      (m.samples === undefined || Array.isArray(m.samples)),
  },
  status: { v: 1, accepts: [1], shape: (m) => isStr(m.state) && isObj(m.records) && isNum(m.copies) && optNum(m.behind_live_ms) },
  control: { v: 1, accepts: [1], shape: (m) => isStr(m.op) && (m.value === undefined || isNum(m.value)) },
  control_reply: { v: 1, accepts: [1], shape: (m) => typeof m.ok === 'boolean' && isObj(m.view) && isStr(m.view.state) },
  tw_checkpoint: {
    v: 1,
    accepts: [1],
    shape: (m) =>
      isStr(m.state) && isNum(m.dispatched) && isNum(m.copies) && isNum(m.rate_units) && Array.isArray(m.source_counts) && (m.last === null || Array.isArray(m.last)),
  },
  fetcher_checkpoint: { v: 1, accepts: [1], shape: (m) => Array.isArray(m.published) && Array.isArray(m.ended) && (m.follow === undefined || Array.isArray(m.follow)) },
  lease: {
    v: 1,
    accepts: [1],
    shape: (m) => isStr(m.role) && (LEASE_ROLES as readonly string[]).includes(m.role) && isStr(m.holder) && isNum(m.at) && isNum(m.ttl_ms),
  },
  ended: { v: 1, accepts: [1], shape: (m) => isStr(m.job) && isNum(m.exit_code) },
} as const satisfies KindTable;

// ---------------------------------------------------------------------------------------------
// Codec

// One Packr for the process. Objects are written as msgpackr records (each distinct set of keys
// once per message, then only values): half the bytes of plain maps for a batch of records, and
// decoding is about twice as fast, in each of the three actors a record passes. Every message
// stays self-contained (no structures are shared between messages, so processes started at
// different times decode each other), and any msgpackr reader decodes it, plain maps included
// (bytes of earlier builds: test/fixtures/protocol/golden-maps.json).
const packr = new Packr({ useRecords: true, mapsAsObjects: true });

export function encode(msg: AnyMsg): Uint8Array {
  return packr.pack(msg);
}

/** Builds the envelope, with the kind's current version, so callers only write the payload. */
export function envelope<K extends MsgKind>(kind: K, sender: string): Envelope<K> {
  return { v: KINDS[kind].v, kind, sender };
}

/**
 * Decodes and checks one message. Throws ProtocolError (never anything else) when the bytes are
 * not msgpack, the kind is not one of `expected`, its version is not one this build reads for
 * that kind, or a field receivers rely on is missing or mistyped.
 */
export function decode<K extends MsgKind>(data: Uint8Array, ...expected: K[]): MsgOf<K> {
  return decodeWith(KINDS, data, expected);
}

/** Decodes a message read from `channel`, accepting exactly the kinds `SUBJECT_KINDS` lists for it. */
export function decodeOn<C extends Channel>(channel: C, data: Uint8Array): MsgOf<KindOn<C>> {
  return decodeWith<KindOn<C>>(KINDS, data, SUBJECT_KINDS[channel], channel);
}

/**
 * `decode` against a given kinds table: what a build with that table would accept. The actors use
 * `KINDS`; tests pass another to check a rolling upgrade (a receiver one version ahead).
 */
export function decodeWith<K extends MsgKind>(table: KindTable, data: Uint8Array, expected: readonly K[], channel?: Channel): MsgOf<K> {
  let value: unknown;
  try {
    value = packr.unpack(data);
  } catch (err) {
    throw new ProtocolError('not a msgpack message', { cause: err });
  }
  if (typeof value !== 'object' || value === null) throw new ProtocolError('message is not a map');
  const m = value as Wire;
  // The kind first: a version means something only within its kind.
  if (typeof m.kind !== 'string' || !(expected as readonly string[]).includes(m.kind)) {
    const on = channel === undefined ? '' : ` on ${channel}`;
    throw new ProtocolError(`unexpected message kind ${shown(m.kind)}${on}, wanted ${expected.join('|')}`);
  }
  const def = table[m.kind as K];
  if (!(def.accepts as readonly unknown[]).includes(m.v)) {
    throw new ProtocolError(`${m.kind} message version ${shown(m.v)} is not one this build reads (${def.accepts.join(', ')})`);
  }
  if (!def.shape(m)) throw new ProtocolError(`malformed ${m.kind} message (version ${shown(m.v)})`);
  return value as MsgOf<K>;
}

/**
 * An untrusted value for an error message. Never throws: msgpack can decode a BigInt (which
 * JSON.stringify refuses) or a map with a `toString` key (which String refuses).
 */
function shown(x: unknown): string {
  try {
    return typeof x === 'bigint' ? `${x}n` : (JSON.stringify(x) ?? String(x));
  } catch {
    return typeof x;
  }
}
