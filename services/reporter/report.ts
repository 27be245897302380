/**
 * The end report: the fields of docs/architecture.md ("Accounting") plus breakdowns, and its
 * human summary. Pure: built from the time wheel's last status, the router's counters and the
 * merged replayer stats; the accounting itself is accounting.ts, shared with the done check.
 */
import { percentilesMs } from '../../shared/histogram.js';
import type { ParseErrorSample, RouterMsg, StatusMsg } from '../../shared/protocol.js';
import { account } from './accounting.js';
import type { StatsMerger } from './merge.js';
import { fmtBytes } from './format.js';
import type { DiffReport } from '../diff/report.js';
import { DEFAULT_FINDINGS, findingsReport, type FindingsOptions, type FindingsReport } from './findings.js';

/**
 * One span of the job (one reporter interval, or several once a long job's timeline is bucketed,
 * see timeline.ts): what was sent and answered in it, and its true latency percentiles. `t` is
 * epoch ms at the span's end.
 */
export interface TimelinePoint {
  t: number;
  sent: number;
  completed: number;
  failed: number;
  p50_ms: number;
  p99_ms: number;
  lateness_p99_ms: number;
}

export interface EndReport {
  job: string;
  state: string;
  records: { read: number; parse_errors: number; filtered: number; dispatched: number; filtered_by_reason?: Record<string, number> };
  parse_error_samples: ParseErrorSample[];
  requests: {
    /** dispatched × rate: what should have been sent. */
    expected: number;
    sent: number;
    ok: number;
    failed: number;
    dropped: number;
    dropped_by_reason: Record<string, number>;
    duplicates: number;
    /**
     * Records of lost replayer lives routed again to live ones (a handover, not a drop: each
     * counts once, where it was finally sent or dropped).
     */
    rerouted: number;
    /** Sent, but no response or error seen before the report was written. */
    unfinished: number;
    /** expected − sent − dropped: records nobody accounted for (0 when accounting closes). */
    unaccounted: number;
  };
  accounting: { records_close: boolean; requests_close: boolean };
  rate: number;
  speed: number;
  latency_ms: ReturnType<typeof percentilesMs>;
  latency_from_due_ms: ReturnType<typeof percentilesMs>;
  lateness_ms: ReturnType<typeof percentilesMs>;
  throughput_rps: number;
  /** Bytes written to / read from the target's connections: request and status lines, headers, bodies (on https the HTTP bytes inside TLS, without its overhead). */
  bytes_sent: number;
  bytes_received: number;
  by_api: Array<{ api: string; count: number; failed: number; latency_ms: { p50: number; p90: number; p99: number; max: number } }>;
  /** Heavy hitters per dimension (route, url, host, status, key) with their error bounds. */
  top?: FindingsReport['top'];
  /** Requests kept to be found again: slowest, per error kind, per status class ≥ 400, with trace ids and source positions. */
  samples?: FindingsReport['samples'];
  by_status: Record<string, number>;
  /** `2xx`, `3xx`, `4xx`, `5xx`. */
  by_status_class: Record<string, number>;
  by_error: Record<string, number>;
  /** One row per replayer id; `lives`: process starts under that id, their counts summed (absent in older reports). */
  replayers: Array<{ id: string; lives?: number; routed: number; received: number; sent: number; dropped: number }>;
  started_at: string;
  finished_at: string;
  duration_s: number;
  /** Figures over time (req/s and latency), at most MAX_TIMELINE_POINTS spans of equal length. */
  timeline?: TimelinePoint[];
  /** Response comparison, when the job has `[diff]` (services/diff/report.ts). */
  diff?: DiffReport;
  /** InfluxDB output counters, when `[reporter.influxdb]` is configured. */
  influxdb?: { points_written: number; write_errors: number; points_dropped: number; last_error?: string };
}

/** `settled`: written because nothing moved for `settle_ms` (see AccountingInput.settled). */
export function buildReport(status: StatusMsg, router: RouterMsg | undefined, merger: StatsMerger, finishedAt: number, settled = false, findings: FindingsOptions = DEFAULT_FINDINGS): EndReport {
  const found = findingsReport(merger.lives(), findings);
  const t = merger.totals();
  const a = account({ status, router, lives: merger.replayers(), totals: t, settled });
  const rec = status.records;
  const startedMs = status.started_at || finishedAt;
  const durationS = Math.max(0.001, (finishedAt - startedMs) / 1000);
  const by_api = [...merger.byApi.entries()]
    .map(([api, x]) => {
      const p = percentilesMs(x.latency);
      return { api, count: x.count, failed: x.failed, latency_ms: { p50: p.p50, p90: p.p90, p99: p.p99, max: p.max } };
    })
    .sort((a, b) => b.count - a.count || a.api.localeCompare(b.api));
  return {
    job: status.job,
    state: status.state,
    records: rec,
    parse_error_samples: status.samples,
    requests: {
      expected: a.expected,
      sent: t.sent,
      ok: t.ok,
      failed: t.failed,
      dropped: a.dropped,
      dropped_by_reason: a.dropped_by_reason,
      duplicates: a.duplicates,
      rerouted: router?.rerouted ?? 0,
      unfinished: t.sent - t.ok - t.failed,
      unaccounted: a.unaccounted,
    },
    accounting: { records_close: a.records_close, requests_close: a.requests_close },
    rate: status.rate,
    speed: status.speed,
    latency_ms: percentilesMs(merger.latency),
    latency_from_due_ms: percentilesMs(merger.latencyFromDue),
    lateness_ms: percentilesMs(merger.lateness),
    throughput_rps: Math.round((t.sent / durationS) * 10) / 10,
    bytes_sent: t.bytes_sent,
    bytes_received: t.bytes_received,
    by_api,
    ...found,
    by_status: t.by_status,
    by_status_class: statusClasses(t.by_status),
    by_error: t.by_error,
    replayers: a.replayers,
    started_at: new Date(startedMs).toISOString(),
    finished_at: new Date(finishedAt).toISOString(),
    duration_s: Math.round(durationS * 1000) / 1000,
  };
}

/** `{"200": 5, "204": 1, "404": 2}` → `{"2xx": 6, "4xx": 2}`. */
export function statusClasses(byStatus: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [code, n] of Object.entries(byStatus)) {
    const cls = `${code.charAt(0)}xx`;
    out[cls] = (out[cls] ?? 0) + n;
  }
  return out;
}

/** The human summary printed at the end (k6 / Vegeta style). */
export function formatSummary(r: EndReport, jsonPath: string, htmlPath?: string): string {
  const q = r.requests;
  const l = r.latency_ms;
  const lines = [
    '',
    `havok job ${r.job}: ${r.state} in ${r.duration_s.toFixed(1)} s (speed ${r.speed}, rate ${r.rate})`,
    `  records   read ${r.records.read}  parse_errors ${r.records.parse_errors}  filtered ${r.records.filtered}  dispatched ${r.records.dispatched}`,
    `  requests  expected ${q.expected}  sent ${q.sent}  ok ${q.ok}  failed ${q.failed}  dropped ${q.dropped}${fmtReasons(q.dropped_by_reason)}${q.rerouted ? `  rerouted ${q.rerouted}` : ''}`,
    `  latency   p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  max ${l.max} ms   (from due: p99 ${r.latency_from_due_ms.p99} ms)`,
    `  lateness  p50 ${r.lateness_ms.p50} ms  p99 ${r.lateness_ms.p99} ms  max ${r.lateness_ms.max} ms`,
    `  throughput ${r.throughput_rps} req/s   ${fmtBytes(r.bytes_sent)} sent, ${fmtBytes(r.bytes_received)} received   status ${Object.entries(r.by_status).map(([k, v]) => `${k}:${v}`).join(' ') || '-'}${Object.keys(r.by_error).length ? `   errors ${Object.entries(r.by_error).map(([k, v]) => `${k}:${v}`).join(' ')}` : ''}`,
  ];
  const top = r.by_api.slice(0, 5);
  if (top.length) {
    lines.push('  top APIs:');
    for (const a of top) lines.push(`    ${a.count.toString().padStart(7)}  ${a.failed.toString().padStart(5)} failed  p99 ${a.latency_ms.p99} ms  ${a.api}`);
  }
  if (r.parse_error_samples.length) {
    lines.push('  parse error samples:');
    for (const s of r.parse_error_samples.slice(0, 3)) lines.push(`    line ${s.line}: ${s.reason}: ${s.text.slice(0, 100)}`);
  }
  const closes = r.accounting.records_close && r.accounting.requests_close;
  lines.push(`  accounting ${closes ? 'closes' : `DOES NOT CLOSE (unaccounted ${q.unaccounted})`}   report: ${jsonPath}${htmlPath ? `  html: ${htmlPath}` : ''}`, '');
  return lines.join('\n');
}

function fmtReasons(r: Record<string, number>): string {
  const e = Object.entries(r);
  return e.length ? ` (${e.map(([k, v]) => `${k}:${v}`).join(' ')})` : '';
}
