/**
 * InfluxDB points of one reporter interval. Pure: the numbers in, the points out (see
 * influx.ts for the measurements).
 */
import type { IPoint } from 'influx';
import { percentilesMs } from '../../shared/histogram.js';
import type { ReplayerInfo } from '../../shared/protocol.js';
import type { IntervalStats } from './merge.js';

/** The job's cumulative counters at the end of the interval. */
export interface IntervalTotals {
  sent: number;
  failed: number;
  dropped: number;
  bytes_sent: number;
  bytes_received: number;
  /** `2xx` → count: fields `status_2xx` … */
  by_status_class: Record<string, number>;
  /** `timeout` → count: fields `error_timeout` … */
  by_error: Record<string, number>;
}

export function intervalPoints(job: string, at: number, intervalMs: number, i: IntervalStats, totals: IntervalTotals, replayers: ReplayerInfo[]): IPoint[] {
  const lat = percentilesMs(i.latency);
  const points: IPoint[] = [
    {
      measurement: 'havok_requests',
      tags: { job },
      fields: {
        sent: totals.sent,
        failed: totals.failed,
        dropped: totals.dropped,
        bytes_sent: totals.bytes_sent,
        bytes_received: totals.bytes_received,
        ...prefixed('status_', totals.by_status_class),
        ...prefixed('error_', totals.by_error),
        interval_sent: i.sent,
        rps: (i.sent * 1000) / intervalMs,
        completed: lat.count,
        p50_ms: lat.p50,
        p90_ms: lat.p90,
        p99_ms: lat.p99,
        max_ms: lat.max,
        lateness_p99_ms: percentilesMs(i.lateness).p99,
        latency_from_due_p99_ms: percentilesMs(i.latencyFromDue).p99,
      },
      timestamp: at,
    },
  ];
  for (const [api, a] of i.byApi) {
    const p = percentilesMs(a.latency);
    points.push({ measurement: 'havok_api', tags: { job, api }, fields: { count: a.count, failed: a.failed, p50_ms: p.p50, p90_ms: p.p90, p99_ms: p.p99, max_ms: p.max }, timestamp: at });
  }
  for (const r of replayers) {
    points.push({ measurement: 'havok_replayer', tags: { job, replayer: r.id }, fields: { sent_rps: r.rps, inflight: r.inflight, routed: r.routed }, timestamp: at });
  }
  return points;
}

/** Counter maps as fields: InfluxQL then sums or graphs each one by name. */
function prefixed(prefix: string, counts: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(counts)) out[prefix + k.replace(/[^A-Za-z0-9_]/g, '_')] = v;
  return out;
}
