/**
 * The query engine over the traffic stream. The compiled filter narrows in the server (subject
 * = repo and method, start at the stored time of `since`); its predicate checks the rest. A
 * query is bounded twice: `limit` records returned, and a scan budget of records read — when
 * the budget ends a scan before its range does, the answer says so (`budget_hit`) and carries
 * the cursor to go on from; nothing is cut silently. A trace-id query reads the index for the
 * indexed part of the stream and scans only the tail the indexer has not reached yet.
 */
import { trafficLineId, trafficLines, trafficSubjectParts } from '../../shared/protocol.js';
import type { CompiledFilter } from './filter.js';
import { FilterError } from './filter.js';
import { lineMethod, lineStatus, lineTime, lineUrl, traceIdOf, type JsonObject } from './line.js';
import { scanEach, seqAtTime, streamBounds, type StoredLine, type StoredMessage, type TrafficStreamClient } from './scan.js';
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
  /** `SEQ:LINE`: what `traffic show` and `GET /traffic/{id}` take. */
  id: string;
  /** Its message's stream sequence. */
  seq: number;
  /** Its place in the message, 0-based. */
  index: number;
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
  /** Index entries (`SEQ:LINE`) whose record has aged out of the stream. Trace queries only. */
  expired?: string[];
  /** State of the trace index. Trace queries only. */
  index?: { watermark: number; last_seq: number; current: boolean };
}

/**
 * Where a page starts. Oldest first, `o<seq>:<line>`: the next line to read. Newest first,
 * `n<seq>:<line>`: the newest line left, or `n<seq>`: every line of message `seq` and before.
 */
export interface Cursor {
  seq: number;
  /** Oldest first: the first line to read in `seq`; newest first: the last (Infinity: all of it). */
  line: number;
}

export function parseCursor(cursor: string, order: Order): Cursor {
  const m = /^([on])(\d{1,15})(?::(\d{1,7}))?$/.exec(cursor);
  if (!m || (m[1] === 'o') !== (order === 'oldest')) throw new FilterError('cursor', `not a cursor of a ${order}-first query: ${JSON.stringify(cursor)}`);
  return { seq: Number(m[2]), line: m[3] !== undefined ? Number(m[3]) : order === 'oldest' ? 0 : Infinity };
}

/** Oldest first: the cursor of the line after `line` of `seq` (of the next message when `line` was its last). */
const oldestAfter = (seq: number, next: number | undefined): string => (next === undefined ? `o${seq + 1}` : `o${trafficLineId(seq, next)}`);
/** Newest first: the cursor of the line before `line` of `seq`. */
const newestBefore = (seq: number, line: number): string => (line > 0 ? `n${trafficLineId(seq, line - 1)}` : `n${seq - 1}`);
/** Whether a line is at or past a cursor in the query's order. */
const fromCursor = (r: TrafficRecord, at: Cursor, order: Order): boolean =>
  order === 'oldest' ? r.seq > at.seq || (r.seq === at.seq && r.index >= at.line) : r.seq < at.seq || (r.seq === at.seq && r.index <= at.line);

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
    id: trafficLineId(s.seq, s.line),
    seq: s.seq,
    index: s.line,
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

  /**
   * Reads lines `from`…`to` (inclusive, clamped) of a message, forwards or backwards, each counted
   * in `scanned`, until `budget` lines are counted or `take` returns false. Returns the line it
   * stopped before (the next one in the direction of reading), or undefined when it read them
   * all. A message with no literal the filter needs is counted and not decoded (`mayMatch`),
   * when the budget covers all of it.
   */
  read(msg: StoredMessage, from: number, to: number, budget: number, take: (r: TrafficRecord) => boolean | void, backwards = false): number | undefined {
    const lines = trafficLines(msg.data);
    const lo = Math.max(0, from);
    const hi = Math.min(lines.length - 1, to);
    if (hi < lo) return undefined;
    if (this.f.mayMatch && this.scanned + (hi - lo + 1) <= budget && !this.f.mayMatch(msg.data)) {
      this.scanned += hi - lo + 1;
      return undefined;
    }
    const step = backwards ? -1 : 1;
    for (let i = backwards ? hi : lo; i >= lo && i <= hi; i += step) {
      if (this.scanned >= budget) return i;
      const r = this.match({ seq: msg.seq, subject: msg.subject, stored_ms: msg.stored_ms, data: lines[i]!, line: i });
      if (r && take(r) === false) return i + step >= lo && i + step <= hi ? i + step : undefined;
    }
    return undefined;
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

async function scanOldest(c: TrafficStreamClient, f: CompiledFilter, m: Matcher, o: Opts, at: Cursor | undefined): Promise<Page> {
  const records: TrafficRecord[] = [];
  const start = at !== undefined ? { startSeq: at.seq } : f.since !== undefined ? { startMs: f.since - o.clockSkewMs } : {};
  const stopAfterMs = f.until === undefined ? Infinity : f.until + o.clockSkewMs;
  /** Where the scan stopped: the next line to read. */
  let cursor: string | undefined;
  let page: Page | undefined;
  // A message holds at least one line: the budget in lines bounds the messages read too.
  await scanEach(c, { subject: f.subject, ...start }, o.scanBudget, (msg) => {
    if (msg.stored_ms > stopAfterMs) {
      page = { records, budget_hit: false };
      return false;
    }
    let full = false;
    const from = at !== undefined && msg.seq === at.seq ? at.line : 0;
    const next = m.read(msg, from, Infinity, o.scanBudget, (r) => !(full = records.push(r) >= o.limit));
    cursor = oldestAfter(msg.seq, next);
    if (full) page = { records, budget_hit: false, cursor };
    return page === undefined && m.scanned < o.scanBudget;
  });
  if (page) return page;
  // The scan read its whole budget: the range may go on.
  return m.scanned >= o.scanBudget && cursor !== undefined ? { records, budget_hit: true, cursor } : { records, budget_hit: false };
}

/** Bytes of messages a newest-first window holds at once (its lines are then read newest first). */
const WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * Newest first: windows of sequences read backwards; a window's messages are held, then their
 * lines read newest first, so the budget and the limit stop at an exact line. A window's size
 * comes from the stream's average message size (WINDOW_BYTES of them), growing from 64.
 */
async function scanNewest(c: TrafficStreamClient, f: CompiledFilter, m: Matcher, o: Opts, at: Cursor | undefined): Promise<Page> {
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
  if (at !== undefined) hi = Math.min(hi, at.seq);
  const most = Math.max(1, Math.floor(WINDOW_BYTES / Math.max(1, bounds.bytes / Math.max(1, bounds.messages))));
  let window = Math.min(64, most);
  while (hi >= lo) {
    if (m.scanned >= o.scanBudget) return { records, budget_hit: true, cursor: `n${hi}` };
    const from = Math.max(lo, hi - window + 1);
    const held: StoredMessage[] = [];
    const top = hi;
    await scanEach(c, { startSeq: from }, hi - from + 1, (msg) => {
      if (msg.seq > top) return false;
      held.push(msg);
    });
    for (let k = held.length - 1; k >= 0; k--) {
      const msg = held[k]!;
      let full = false;
      const last = at !== undefined && msg.seq === at.seq ? at.line : Infinity;
      const next = m.read(msg, 0, last, o.scanBudget, (r) => !(full = records.push(r) >= o.limit), true);
      if (full) {
        const r = records[records.length - 1]!;
        const more = r.index > 0 || r.seq > lo;
        return { records, budget_hit: false, ...(more ? { cursor: newestBefore(r.seq, r.index) } : {}) };
      }
      if (next !== undefined) return { records, budget_hit: true, cursor: `n${trafficLineId(msg.seq, next)}` };
      if (m.scanned >= o.scanBudget && (msg.seq > lo || k > 0)) return { records, budget_hit: true, cursor: `n${msg.seq - 1}` };
    }
    hi = from - 1;
    window = Math.min(window * 4, most);
  }
  return { records, budget_hit: false };
}

/**
 * Trace-id query: the index's lines up to its watermark (each message read by sequence once;
 * one that has aged out is reported in `expired`), plus a scan of the tail past the watermark.
 */
async function traceQuery(c: TrafficStreamClient, f: CompiledFilter, m: Matcher, o: Opts, at: Cursor | undefined): Promise<QueryResult> {
  // The watermark before the entries: a batch's entries are written before its watermark, so
  // every line up to the watermark is among the entries read after it.
  const [bounds, mark] = await Promise.all([streamBounds(c), readWatermark(c)]);
  const entries = await lookupTrace(c, f.filter.trace_id!);
  // No index yet: the whole stream is "tail".
  const watermark = mark?.seq ?? 0;
  const expired: string[] = [];
  const found: TrafficRecord[] = [];
  // Written ahead of the watermark: the tail scan reads them.
  const indexed = entries.filter((e) => e.seq <= watermark);
  const toRead = indexed.slice(0, o.scanBudget);
  let budgetHit = toRead.length < indexed.length;
  const bySeq = new Map<number, number[]>();
  for (const e of toRead) bySeq.set(e.seq, [...(bySeq.get(e.seq) ?? []), e.line]);
  const seqs = [...bySeq.keys()];
  // Reads by sequence, GET_PARALLEL at once: one at a time, a trace of 20 records cost 20 round
  // trips (the p99 of a lookup on a loaded server was several hundred ms).
  const got = await mapParallel(seqs, GET_PARALLEL, (seq) => (seq < bounds.first ? Promise.resolve(null) : c.jsm.streams.getMessage(c.stream, { seq })));
  seqs.forEach((seq, i) => {
    const sm = got[i];
    const wanted = bySeq.get(seq)!;
    if (!sm) {
      for (const line of wanted) expired.push(trafficLineId(seq, line));
      return;
    }
    const lines = trafficLines(sm.data);
    for (const line of wanted) {
      const data = lines[line];
      if (data === undefined) expired.push(trafficLineId(seq, line));
      else {
        const r = m.match({ seq, line, subject: sm.subject, stored_ms: sm.time.getTime(), data });
        if (r) found.push(r);
      }
    }
  });
  if (!budgetHit && watermark < bounds.last) {
    await scanEach(c, { subject: f.subject, startSeq: watermark + 1 }, o.scanBudget, (msg) => {
      m.read(msg, 0, Infinity, o.scanBudget, (r) => void found.push(r));
      return m.scanned < o.scanBudget;
    });
    budgetHit = m.scanned >= o.scanBudget;
  }
  found.sort(o.order === 'oldest' ? (a, b) => a.seq - b.seq || a.index - b.index : (a, b) => b.seq - a.seq || b.index - a.index);
  const after = at === undefined ? found : found.filter((r) => fromCursor(r, at, o.order));
  const records = after.slice(0, o.limit);
  const lastRec = records[records.length - 1];
  const more = after.length > o.limit && lastRec !== undefined;
  return {
    records,
    order: o.order,
    scanned: m.scanned,
    // A budget hit in a trace query leaves no resumable position: narrow the filter instead.
    budget_hit: budgetHit,
    ...(more ? { cursor: o.order === 'oldest' ? `o${trafficLineId(lastRec.seq, lastRec.index + 1)}` : newestBefore(lastRec.seq, lastRec.index) } : {}),
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
    readonly id: string,
    /** The message was in the stream once and has aged out (below the first sequence). */
    readonly expired: boolean,
  ) {
    super(expired ? `record ${id} has expired (aged out of the stream)` : `no record ${id} in the stream`);
  }
}

/** One stored record, whole. */
export interface ShownRecord {
  /** `SEQ:LINE`. */
  id: string;
  seq: number;
  /** Its place in the message, 0-based. */
  index: number;
  subject: string;
  repo: string;
  stored_ms: number;
  line: JsonObject | null;
}

/** The stored line `SEQ:LINE` (`SEQ` alone: its line 0), whole. */
export async function showRecord(c: TrafficStreamClient, seq: number, index = 0): Promise<ShownRecord> {
  const id = trafficLineId(seq, index);
  const bounds = await streamBounds(c);
  const sm = seq < bounds.first || seq > bounds.last ? null : await c.jsm.streams.getMessage(c.stream, { seq });
  if (!sm) throw new RecordNotFoundError(id, seq < bounds.first && seq >= 1);
  const data = trafficLines(sm.data)[index];
  if (data === undefined) throw new RecordNotFoundError(id, false);
  return { id, seq, index, subject: sm.subject, repo: trafficSubjectParts(sm.subject)?.repo ?? '', stored_ms: sm.time.getTime(), line: decodeLine(data) ?? null };
}
