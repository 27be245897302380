/**
 * The query engine over the traffic stream. The compiled filter narrows in the server (subject
 * = repo and method, start at the stored time of `since`); its predicate checks the rest. A
 * query is bounded twice: `limit` records returned, and a scan budget of records read — when
 * the budget ends a scan before its range does, the answer says so (`budget_hit`) and carries
 * the cursor to go on from; nothing is cut silently. A trace-id query reads the index for the
 * indexed part of the stream and scans only the tail the indexer has not reached yet.
 */
import { trafficSubjectParts } from '../../shared/protocol.js';
import type { CompiledFilter } from './filter.js';
import { FilterError } from './filter.js';
import { lineMethod, lineStatus, lineTime, lineUrl, traceIdOf, type JsonObject } from './line.js';
import { scanEach, seqAtTime, streamBounds, type StoredLine, type TrafficStreamClient } from './scan.js';
import { lookupTrace, readWatermark } from './trace-index.js';

export const ORDERS = ['newest', 'oldest'] as const;
export type Order = (typeof ORDERS)[number];

export interface QueryOptions {
  /** Records returned at most (default 100). */
  limit?: number;
  /** Default newest first. */
  order?: Order;
  /** Stored records read at most before the query answers with `budget_hit` (default 1,000,000). */
  scanBudget?: number;
  /** From a previous answer: where the next page starts. */
  cursor?: string;
  /**
   * How much later than its `received_ms` a line may have been stored (ms; default 60,000):
   * the scan starts at stored time `since - skew` and ends after stored time `until + skew`.
   */
  clockSkewMs?: number;
  /** The repo's trace field (as the indexer uses it). */
  traceFieldOf?: (repo: string) => string | undefined;
}

type Defaulted = Required<Pick<QueryOptions, 'limit' | 'order' | 'scanBudget' | 'clockSkewMs'>>;
export const QUERY_DEFAULTS: Readonly<Defaulted> = { limit: 100, order: 'newest', scanBudget: 1_000_000, clockSkewMs: 60_000 };

/** One matching stored line, summarised. */
export interface TrafficRecord {
  seq: number;
  /** When the stream stored it, epoch ms. */
  stored_ms: number;
  /** The line's time (received_ms, else ts), epoch ms. */
  time_ms?: number;
  repo: string;
  method: string;
  url: string;
  status?: number;
  trace_id?: string;
}

export interface QueryResult {
  records: TrafficRecord[];
  order: Order;
  /** Stored records read (after the server's subject narrowing). */
  scanned: number;
  /** The scan budget ended the scan before the range's end: follow `cursor` to go on. */
  budget_hit: boolean;
  /** The next page; absent when the range is exhausted. */
  cursor?: string;
  /** Stored records that are not JSON objects: counted, skipped. */
  malformed: number;
  /** Index entries (sequences) whose record has aged out of the stream. Trace queries only. */
  expired?: number[];
  /** State of the trace index. Trace queries only. */
  index?: { watermark: number; last_seq: number; current: boolean };
}

/** `o<seq>` (oldest first: next seq to read) or `n<seq>` (newest first: highest seq left). */
export function parseCursor(cursor: string, order: Order): number {
  const m = /^([on])(\d+)$/.exec(cursor);
  if (!m || (m[1] === 'o') !== (order === 'oldest')) throw new FilterError('cursor', `not a cursor of a ${order}-first query: ${JSON.stringify(cursor)}`);
  return Number(m[2]);
}
const makeCursor = (order: Order, seq: number): string => `${order === 'oldest' ? 'o' : 'n'}${seq}`;

const dec = new TextDecoder();

/** The stored line as a JSON object; undefined when it is not one. */
export function decodeLine(data: Uint8Array): JsonObject | undefined {
  try {
    const v: unknown = JSON.parse(dec.decode(data));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}

export function summarise(s: StoredLine, line: JsonObject, repo: string, traceField?: string): TrafficRecord {
  const time = lineTime(line);
  const status = lineStatus(line);
  const trace = traceIdOf(line, traceField);
  return {
    seq: s.seq,
    stored_ms: s.stored_ms,
    ...(time !== undefined ? { time_ms: time } : {}),
    repo,
    method: lineMethod(line),
    url: lineUrl(line),
    ...(status !== undefined ? { status } : {}),
    ...(trace !== undefined ? { trace_id: trace } : {}),
  };
}

/**
 * One stored line against a filter: its decoded object and repo when it matches, `malformed`
 * when it is not a JSON object, else undefined. A line without a literal the filter needs is
 * not decoded at all (`mayMatch`), so it is not checked for being malformed either.
 */
export function matchStored(f: CompiledFilter, s: StoredLine): { line: JsonObject; repo: string } | 'malformed' | undefined {
  if (f.mayMatch && !f.mayMatch(s.data)) return undefined;
  const line = decodeLine(s.data);
  if (!line) return 'malformed';
  const repo = trafficSubjectParts(s.subject)?.repo ?? '';
  return f.matches(line, repo) ? { line, repo } : undefined;
}

/** Applies the filter to stored lines; counts what it read. */
class Matcher {
  scanned = 0;
  malformed = 0;
  constructor(
    private readonly f: CompiledFilter,
    private readonly traceFieldOf?: (repo: string) => string | undefined,
  ) {}

  match(s: StoredLine): TrafficRecord | undefined {
    this.scanned++;
    const m = matchStored(this.f, s);
    if (m === 'malformed') this.malformed++;
    return m && m !== 'malformed' ? summarise(s, m.line, m.repo, this.traceFieldOf?.(m.repo)) : undefined;
  }
}

/** Runs a query; a trace-id query reads the trace index. */
export async function queryTraffic(c: TrafficStreamClient, f: CompiledFilter, opts: QueryOptions = {}): Promise<QueryResult> {
  const o = { ...QUERY_DEFAULTS, ...opts };
  const at = o.cursor !== undefined ? parseCursor(o.cursor, o.order) : undefined;
  const m = new Matcher(f, o.traceFieldOf);
  if (f.filter.trace_id !== undefined) return traceQuery(c, f, m, o, at);
  const res = o.order === 'oldest' ? await scanOldest(c, f, m, o, at) : await scanNewest(c, f, m, o, at);
  return { ...res, order: o.order, scanned: m.scanned, malformed: m.malformed };
}

type Page = Pick<QueryResult, 'records' | 'budget_hit' | 'cursor'>;
type Opts = QueryOptions & Defaulted;

async function scanOldest(c: TrafficStreamClient, f: CompiledFilter, m: Matcher, o: Opts, at: number | undefined): Promise<Page> {
  const records: TrafficRecord[] = [];
  const start = at !== undefined ? { startSeq: at } : f.since !== undefined ? { startMs: f.since - o.clockSkewMs } : {};
  const stopAfterMs = f.until === undefined ? Infinity : f.until + o.clockSkewMs;
  let next: number | undefined;
  let page: Page | undefined;
  await scanEach(c, { subject: f.subject, ...start }, o.scanBudget, (s) => {
    next = s.seq + 1;
    if (s.stored_ms > stopAfterMs) page = { records, budget_hit: false };
    else {
      const r = m.match(s);
      if (r && records.push(r) >= o.limit) page = { records, budget_hit: false, cursor: makeCursor('oldest', next) };
    }
    return page === undefined;
  });
  if (page) return page;
  // The scan read its whole budget: the range may go on.
  const hit = m.scanned >= o.scanBudget && next !== undefined;
  return hit ? { records, budget_hit: true, cursor: makeCursor('oldest', next!) } : { records, budget_hit: false };
}

/** Newest first: windows of sequences read backwards, each window in order, then reversed. */
async function scanNewest(c: TrafficStreamClient, f: CompiledFilter, m: Matcher, o: Opts, at: number | undefined): Promise<Page> {
  const records: TrafficRecord[] = [];
  const bounds = await streamBounds(c);
  let lo = bounds.first;
  // Bounds and windows read every subject (the predicate checks repo and method): an
  // unfiltered consumer's pending count is known at once, a filtered one's costs a walk to the
  // stream's end (nats-server 2.9); a window is small, so reading its other subjects is cheap.
  // A bound outside the stored times needs no look-up (a consumer created and deleted).
  const sinceMs = f.since === undefined ? -Infinity : f.since - o.clockSkewMs;
  const untilMs = f.until === undefined ? Infinity : f.until + o.clockSkewMs;
  if (sinceMs > bounds.first_ms) lo = Math.max(lo, (await seqAtTime(c, undefined, sinceMs)) ?? bounds.last + 1);
  let hi = bounds.last;
  if (untilMs < bounds.last_ms) hi = Math.min(hi, ((await seqAtTime(c, undefined, untilMs + 1)) ?? bounds.last + 1) - 1);
  if (at !== undefined) hi = Math.min(hi, at);
  let window = 1024;
  while (hi >= lo) {
    const budgetLeft = o.scanBudget - m.scanned;
    if (budgetLeft <= 0) return { records, budget_hit: true, cursor: makeCursor('newest', hi) };
    // A window of n sequences holds at most n records: the budget is never overrun.
    const from = Math.max(lo, hi - Math.min(window, budgetLeft) + 1);
    const found: TrafficRecord[] = [];
    const top = hi;
    await scanEach(c, { startSeq: from }, hi - from + 1, (s) => {
      if (s.seq > top) return false;
      const r = m.match(s);
      if (r) found.push(r);
    });
    for (let i = found.length - 1; i >= 0; i--) {
      if (records.push(found[i]!) >= o.limit) return { records, budget_hit: false, ...(found[i]!.seq > lo ? { cursor: makeCursor('newest', found[i]!.seq - 1) } : {}) };
    }
    hi = from - 1;
    window = Math.min(window * 4, 262_144);
  }
  return { records, budget_hit: false };
}

/**
 * Trace-id query: the index's sequences up to its watermark (each read by sequence; one that has
 * aged out is reported in `expired`), plus a scan of the tail past the watermark.
 */
async function traceQuery(c: TrafficStreamClient, f: CompiledFilter, m: Matcher, o: Opts, at: number | undefined): Promise<QueryResult> {
  const bounds = await streamBounds(c);
  // No index yet: the whole stream is "tail".
  const watermark = (await readWatermark(c))?.seq ?? 0;
  const seqs = await lookupTrace(c, f.filter.trace_id!);
  const expired: number[] = [];
  const found: TrafficRecord[] = [];
  let budgetHit = false;
  // Written ahead of the watermark: the tail scan reads them.
  const indexed = seqs.filter((seq) => seq <= watermark);
  const toRead = indexed.slice(0, o.scanBudget);
  budgetHit = toRead.length < indexed.length;
  // Reads by sequence, GET_PARALLEL at once: one at a time, a trace of 20 records cost 20 round
  // trips (the p99 of a lookup on a loaded server was several hundred ms).
  const got = await mapParallel(toRead, GET_PARALLEL, (seq) => (seq < bounds.first ? Promise.resolve(null) : c.jsm.streams.getMessage(c.stream, { seq })));
  toRead.forEach((seq, i) => {
    const sm = got[i];
    if (!sm) {
      expired.push(seq);
      return;
    }
    const r = m.match({ seq, subject: sm.subject, stored_ms: sm.time.getTime(), data: sm.data });
    if (r) found.push(r);
  });
  if (!budgetHit && watermark < bounds.last) {
    const tailBudget = o.scanBudget - m.scanned;
    await scanEach(c, { subject: f.subject, startSeq: watermark + 1 }, tailBudget, (s) => {
      const r = m.match(s);
      if (r) found.push(r);
    });
    budgetHit = m.scanned >= o.scanBudget;
  }
  found.sort(o.order === 'oldest' ? (a, b) => a.seq - b.seq : (a, b) => b.seq - a.seq);
  const after = at === undefined ? found : found.filter((r) => (o.order === 'oldest' ? r.seq >= at : r.seq <= at));
  const records = after.slice(0, o.limit);
  const lastRec = records[records.length - 1];
  const more = after.length > o.limit && lastRec !== undefined;
  return {
    records,
    order: o.order,
    scanned: m.scanned,
    // A budget hit in a trace query leaves no resumable position: narrow the filter instead.
    budget_hit: budgetHit,
    ...(more ? { cursor: makeCursor(o.order, o.order === 'oldest' ? lastRec.seq + 1 : lastRec.seq - 1) } : {}),
    malformed: m.malformed,
    expired,
    index: { watermark, last_seq: bounds.last, current: watermark >= bounds.last },
  };
}

/** Reads by sequence in flight at once in a trace-id query. */
const GET_PARALLEL = 32;

/** `fn` over `items`, at most `limit` at once; results in the items' order. */
async function mapParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class RecordNotFoundError extends Error {
  override readonly name = 'RecordNotFoundError' as const;
  constructor(
    readonly seq: number,
    /** The sequence was in the stream once and has aged out (below the first sequence). */
    readonly expired: boolean,
  ) {
    super(expired ? `record ${seq} has expired (aged out of the stream)` : `no record ${seq} in the stream`);
  }
}

/** One stored record, whole. */
export interface ShownRecord {
  seq: number;
  subject: string;
  repo: string;
  stored_ms: number;
  line: JsonObject | null;
}

export async function showRecord(c: TrafficStreamClient, seq: number): Promise<ShownRecord> {
  const bounds = await streamBounds(c);
  const sm = seq < bounds.first || seq > bounds.last ? null : await c.jsm.streams.getMessage(c.stream, { seq });
  if (!sm) throw new RecordNotFoundError(seq, seq < bounds.first && seq >= 1);
  return { seq, subject: sm.subject, repo: trafficSubjectParts(sm.subject)?.repo ?? '', stored_ms: sm.time.getTime(), line: decodeLine(sm.data) ?? null };
}
