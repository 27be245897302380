/**
 * The end report's `diff` section and its console lines, from the merged counters. Pure.
 */
import { percentilesMs, type Percentiles } from '../../shared/histogram.js';
import type { DiffTargetStats } from '../../shared/protocol.js';
import { joinDiff, type DiffEndpointReport } from './join.js';
import type { DiffMerger } from './merge.js';
import type { DiffSettings } from './settings.js';

/** A target's counters, its URL and its latency and lateness percentiles over the job. */
export type DiffTargetReport = Omit<DiffTargetStats, 'latency' | 'lateness'> & { url: string; latency_ms: Percentiles; lateness_ms: Percentiles };

export interface DiffReport {
  /** Fields reported as different, over every endpoint: `havok local` exits 3 when > 0 and fail_on_difference. */
  critical: number;
  /** Records compared, and records not compared by reason (`candidate_error`, …). */
  compared: number;
  skipped: Record<string, number>;
  relative_threshold: number;
  absolute_threshold: number;
  endpoints: DiffEndpointReport[];
  /** By target name. */
  targets: Record<string, DiffTargetReport>;
  /** Bodies not compared whole or not as their content type says, by target then reason. */
  bodies: Record<string, Record<string, number>>;
  /** CPU seconds the replayers spent lifting and comparing responses. */
  compare_cpu_s: number;
}

export function buildDiffReport(merger: DiffMerger, settings: DiffSettings): DiffReport {
  const t = merger.totals();
  const { endpoints, critical } = joinDiff(t.endpoints, settings, (e, p, k) => merger.examplesOf(e, p, k).slice(0, settings.examples));
  const skipped: Record<string, number> = {};
  let compared = 0;
  for (const e of endpoints) {
    compared += e.total;
    for (const [k, v] of Object.entries(e.skipped)) skipped[k] = (skipped[k] ?? 0) + v;
  }
  const targets: Record<string, DiffTargetReport> = {};
  for (const [name, x] of Object.entries(t.targets)) {
    const url = settings[name as 'primary' | 'candidate' | 'secondary'] ?? '';
    targets[name] = { url, sent: x.sent, ok: x.ok, failed: x.failed, by_status: x.by_status, by_error: x.by_error, latency_ms: percentilesMs(x.latency), lateness_ms: percentilesMs(x.lateness) };
  }
  return { critical, compared, skipped, relative_threshold: settings.relative_threshold, absolute_threshold: settings.absolute_threshold, endpoints, targets, bodies: t.bodies, compare_cpu_s: Math.round(t.compare_ms) / 1000 };
}

/** The exit code a finished job gets from its diff: 3 when a field differs and the job fails on it. */
export function diffExitCode(report: DiffReport | undefined, settings: DiffSettings | undefined): number {
  return report && settings?.fail_on_difference && report.critical > 0 ? 3 : 0;
}

/** Console lines: one per target, then every different field (with its first example's values). */
export function formatDiffSummary(r: DiffReport): string {
  const pct = (x: number): string => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`;
  const lines = [`  diff      compared ${r.compared}  skipped ${Object.values(r.skipped).reduce((a, b) => a + b, 0)}${fmtCounts(r.skipped)}  different fields ${r.critical}`];
  for (const [name, t] of Object.entries(r.targets)) {
    lines.push(`    ${name.padEnd(9)} sent ${t.sent}  ok ${t.ok}  failed ${t.failed}${fmtCounts(t.by_error)}  p99 ${t.latency_ms.p99} ms  lateness p99 ${t.lateness_ms.p99} ms`);
  }
  for (const e of r.endpoints) {
    for (const f of e.fields) {
      const ex = f.examples[0];
      const values = ex ? `   e.g. ${ex.values.primary ?? '(none)'} → ${ex.values.candidate ?? '(none)'}` : '';
      lines.push(`    DIFFERENT ${e.endpoint} ${f.path} ${f.kind}: ${f.raw}/${e.total} records (noise ${f.noise}, relative ${pct(f.relative)}, absolute ${pct(f.absolute)})${values}`);
    }
  }
  const odd = Object.entries(r.bodies).flatMap(([t, flags]) => Object.entries(flags).map(([k, v]) => `${t}.${k}:${v}`));
  if (odd.length) lines.push(`    bodies    ${odd.join(' ')}`);
  return lines.join('\n');
}

function fmtCounts(r: Record<string, number>): string {
  const e = Object.entries(r);
  return e.length ? ` (${e.map(([k, v]) => `${k}:${v}`).join(' ')})` : '';
}
