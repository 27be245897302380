/**
 * The report's heavy hitters and request samples, merged from every replayer life's latest stats
 * message (each carries its cumulative summaries and samples). Pure apart from histogram memory.
 */
import { percentilesMs } from '../../shared/histogram.js';
import type { SampleWire, StatsMsg, TopWire } from '../../shared/protocol.js';
import { mergeTop, type MergedEntry } from '../../shared/topk/merge.js';
import { topSchema, type TopSettings } from '../../shared/topk/settings.js';
import { mergeSamples } from '../../shared/trace/samples.js';

/** One heavy hitter: `count − bound ≤ true count ≤ count` (exact when bound is 0). */
export interface TopRow {
  key: string;
  count: number;
  bound: number;
  /** count / all requests of the dimension. */
  share: number;
  requests_ok: number;
  requests_failed: number;
  /** Request and response bodies (headers are counted per job, not per request). */
  bytes_sent: number;
  bytes_received: number;
  bytes_ok: number;
  bytes_failed: number;
  /** From the replayers that kept a histogram for it (`count`: requests it covers). */
  latency_ms?: { count: number; p50: number; p90: number; p99: number; max: number };
}

export interface TopSection {
  /** Requests counted in this dimension (the `key` dimension: those with a hash_field value). */
  requests: number;
  /** Upper bound on the count of any key not listed. */
  bound_unlisted: number;
  entries: TopRow[];
  /** Requests outside the listed entries (at least; the listed counts are upper bounds). */
  other: { count: number; share: number };
}

export interface FindingsReport {
  top?: Record<string, TopSection>;
  samples?: Array<SampleWire & { link?: string }>;
}

export interface FindingsOptions {
  top: TopSettings;
  /** `[reporter] trace_url`: `{trace_id}` is replaced, giving each sample its link. */
  trace_url?: string;
}

export const DEFAULT_FINDINGS: FindingsOptions = { top: topSchema.parse({}) };

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

function row(e: MergedEntry, n: number): TopRow {
  const r: TopRow = {
    key: e.key,
    count: e.count,
    bound: e.bound,
    share: n ? round(e.count / n, 4) : 0,
    requests_ok: Math.max(0, e.count - e.failed),
    requests_failed: e.failed,
    bytes_sent: e.bytes_sent,
    bytes_received: e.bytes_received,
    bytes_ok: e.bytes_sent + e.bytes_received - e.bytes_failed,
    bytes_failed: e.bytes_failed,
  };
  if (e.latency) {
    const p = percentilesMs(e.latency);
    r.latency_ms = { count: p.count, p50: p.p50, p90: p.p90, p99: p.p99, max: p.max };
  }
  return r;
}

/** Merges the latest message of every replayer life; absent sections when no replayer sent any. */
export function findingsReport(lives: Iterable<StatsMsg>, opts: FindingsOptions = DEFAULT_FINDINGS): FindingsReport {
  const byDim = new Map<string, TopWire[]>();
  const samples: SampleWire[][] = [];
  for (const m of lives) {
    for (const [dim, w] of Object.entries(m.top ?? {})) {
      const list = byDim.get(dim);
      if (list) list.push(w);
      else byDim.set(dim, [w]);
    }
    if (m.samples) samples.push(m.samples);
  }
  const out: FindingsReport = {};
  if (byDim.size) {
    out.top = {};
    for (const [dim, parts] of byDim) {
      const merged = mergeTop(parts, opts.top.k);
      const entries = merged.entries.slice(0, opts.top.show).map((e) => row(e, merged.n));
      const listed = entries.reduce((s, e) => s + e.count, 0);
      const other = Math.max(0, merged.n - listed);
      const unlisted = Math.max(merged.min, merged.entries[opts.top.show]?.count ?? 0);
      out.top[dim] = { requests: merged.n, bound_unlisted: unlisted, entries, other: { count: other, share: merged.n ? round(other / merged.n, 4) : 0 } };
    }
  }
  if (samples.length) {
    const url = opts.trace_url;
    out.samples = mergeSamples(samples, opts.top.samples).map((s) => (url && s.trace_id ? { ...s, link: url.replaceAll('{trace_id}', encodeURIComponent(s.trace_id)) } : s));
  }
  return out;
}
