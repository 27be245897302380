/**
 * `havok plan`: a dry run. Reads the source through the same analyzers as the fetcher and prints
 * what the replay would be — record count, log span, disorder, parse errors, expected duration
 * and peak request rate at the configured speed, rate and idle cap — without sending anything.
 * Memory: 8 bytes per record (its timestamp), to sort them as the time wheel would.
 *
 * A `jetstream` source is counted first (selection.ts): what its filter selects, bounded by a
 * scan budget. When the budget ends that count, the replay's own read (which would read at least
 * as much) is skipped and the plan says so.
 */
import { toEpochMs, type HavokConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/log.js';
import { openSources, sumCounts } from '../fetcher/source.js';
import { QUERY_DEFAULTS } from '../traffic/query.js';
import { formatSelection, planSelection, type SelectionSummary } from './selection.js';
import { DisorderMeter, planTimeline, type Timeline } from './timeline.js';

export interface PlanResult extends Timeline {
  files: string[];
  read: number;
  parse_errors: number;
  filtered: number;
  first_ts: number;
  last_ts: number;
  span_ms: number;
  out_of_order: number;
  out_of_order_depth_ms: number;
  /** Records further out of order than the re-order window: they would leave late. */
  beyond_window: boolean;
  samples: Array<{ line: number; text: string; reason: string }>;
  /** `[fetcher] type = "jetstream"`: what the filter selects in the stream. */
  selection?: SelectionSummary;
  /** Why the replay's own read was skipped (all replay counts above are 0 then). */
  replay_skipped?: string;
}

export interface PlanOptions {
  /** Jetstream source: stored records the selection count reads at most (default 1,000,000). */
  scanBudget?: number;
}

export async function plan(cfg: HavokConfig, opts: PlanOptions = {}): Promise<PlanResult> {
  if (cfg.fetcher.type !== 'jetstream') return planReplay(cfg);
  const sel = await planSelection(cfg, opts.scanBudget ?? QUERY_DEFAULTS.scanBudget, createLogger('plan', { job: cfg.job.id }));
  if (!sel.budget_hit) return { ...(await planReplay(cfg)), selection: sel };
  const none = planTimeline([], cfg.job.speed, cfg.job.rate, cfg.job.max_idle_ms);
  return {
    ...none,
    files: [`${sel.stream}/${sel.repo}`],
    read: 0,
    parse_errors: 0,
    filtered: 0,
    first_ts: 0,
    last_ts: 0,
    span_ms: 0,
    out_of_order: 0,
    out_of_order_depth_ms: 0,
    beyond_window: false,
    samples: [],
    selection: sel,
    replay_skipped: `the selection is larger than the scan budget (${sel.scan_budget} records scanned)`,
  };
}

/** Reads the source as the fetcher would: the replay's records, span, disorder and timeline. */
async function planReplay(cfg: HavokConfig): Promise<PlanResult> {
  // A followed source never ends: the plan counts what is stored now.
  const sources = await openSources(cfg, { bounded: true });
  const begin = toEpochMs(cfg.job.begin) ?? -Infinity;
  const end = toEpochMs(cfg.job.end) ?? Infinity;
  let ts = new Float64Array(1 << 16);
  let n = 0;
  let windowFiltered = 0;
  // Disorder is per file: the time wheel merges files by timestamp, so only a file's own
  // disorder has to fit in the re-order window.
  let outOfOrder = 0;
  let depthMs = 0;
  for (const source of sources) {
    const disorder = new DisorderMeter();
    for await (const rec of source.records) {
      disorder.see(rec.ts);
      if (rec.ts < begin || rec.ts >= end) {
        windowFiltered++;
        continue;
      }
      if (n === ts.length) {
        const bigger = new Float64Array(ts.length * 2);
        bigger.set(ts);
        ts = bigger;
      }
      ts[n++] = rec.ts;
    }
    outOfOrder += disorder.count;
    depthMs = Math.max(depthMs, disorder.depthMs);
  }
  const sorted = ts.subarray(0, n).sort();
  const t = planTimeline(sorted, cfg.job.speed, cfg.job.rate, cfg.job.max_idle_ms);
  const c = sumCounts(sources.map((s) => s.counts));
  return {
    ...t,
    files: sources.map((s) => s.name),
    read: c.read,
    parse_errors: c.parse_errors,
    filtered: c.filtered + windowFiltered,
    first_ts: n ? sorted[0] : 0,
    last_ts: n ? sorted[n - 1] : 0,
    span_ms: n ? sorted[n - 1] - sorted[0] : 0,
    out_of_order: outOfOrder,
    out_of_order_depth_ms: depthMs,
    beyond_window: depthMs > cfg.job.reorder_window_ms,
    samples: c.samples,
  };
}

const dur = (ms: number): string => {
  const s = Math.round(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${(ms / 1000).toFixed(1)}s`;
};

export function formatPlan(p: PlanResult, cfg: HavokConfig): string {
  const iso = (ms: number): string => (p.records ? new Date(ms).toISOString() : '-');
  const head = [`plan for job ${cfg.job.id}: ${p.files.length} file(s)`, ...(p.selection ? [formatSelection(p.selection)] : [])];
  // Nothing of the replay was read: its zeros would only mislead.
  if (p.replay_skipped) return [...head, `  replay     not read: ${p.replay_skipped}`].join('\n');
  const lines = [
    ...head,
    `  lines      read ${p.read}  records ${p.records}  parse_errors ${p.parse_errors}  filtered ${p.filtered}`,
    `  log span   ${iso(p.first_ts)} … ${iso(p.last_ts)}  (${dur(p.span_ms)})`,
    `  disorder   ${p.out_of_order} records out of order, deepest ${dur(p.out_of_order_depth_ms)}${p.beyond_window ? `  WARNING: beyond reorder_window_ms (${cfg.job.reorder_window_ms} ms); raise it to keep order` : ''}`,
    `  replay     speed ${cfg.job.speed}  rate ${cfg.job.rate}  max_idle_ms ${cfg.job.max_idle_ms || 'off'}`,
    `             ${p.requests} requests in ${dur(p.durationMs)} (+ ${cfg.job.warmup_ms} ms warm-up), peak ${p.peakRps} req/s`,
  ];
  for (const s of p.samples.slice(0, 3)) lines.push(`  bad line ${s.line}: ${s.reason}: ${s.text.slice(0, 100)}`);
  return lines.join('\n');
}
