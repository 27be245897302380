/**
 * Builders of the messages the reporter consumes (stats, status, router), for unit tests of the
 * merge, the accounting and the end report. Each takes the fields a test cares about; the rest
 * are the zero values of a job that has done nothing. Not a stable API: tests only.
 */
import { newHistogram, recordMs, toWire, type HistogramWire } from '../../shared/histogram.js';
import { envelope, JOB_STATES, type RouterMsg, type StatsMsg, type StatusMsg } from '../../shared/protocol.js';

/** A wire histogram of the given latencies (ms). */
export function wireOf(...ms: number[]): HistogramWire {
  const h = newHistogram();
  for (const v of ms) recordMs(h, v);
  return toWire(h);
}

export function statsMsg(f: Partial<StatsMsg> & Pick<StatsMsg, 'id' | 'n'>): StatsMsg {
  return {
    ...envelope('stats', `replayer-${f.id}`),
    final: false,
    received: 0,
    sent: 0,
    ok: 0,
    failed: 0,
    dropped_by_reason: {},
    by_status: {},
    by_error: {},
    latency: [],
    latency_from_due: [],
    lateness: [],
    by_api: {},
    interval_sent: 0,
    ...f,
  };
}

/** A life that received `sent + dropped` records, sent `sent` (all answered 200) and dropped the rest as `late`. */
export function lifeStats(id: string, boot: string | undefined, n: number, sent: number, dropped = 0, final = false): StatsMsg {
  return statsMsg({
    id,
    boot,
    n,
    final,
    received: sent + dropped,
    sent,
    ok: sent,
    dropped_by_reason: dropped ? { late: dropped } : {},
    by_status: sent ? { '200': sent } : {},
    interval_sent: sent,
  });
}

export function statusMsg(f: Partial<StatusMsg> = {}): StatusMsg {
  const dispatched = f.records?.dispatched ?? f.copies ?? 0;
  return {
    ...envelope('status', 'timewheel-1'),
    job: 'j',
    state: JOB_STATES.finished,
    speed: 1,
    rate: 1,
    position: 0,
    records: { read: dispatched, parse_errors: 0, filtered: 0, dispatched },
    copies: dispatched,
    never_sent: 0,
    pending: 0,
    sources_ended: 1,
    sources: 1,
    samples: [],
    started_at: 1_000,
    finished_at: 0,
    replayer: { headers: {}, remove_headers: [], timeout_ms: 1000 },
    ...f,
  };
}

export function routerMsg(f: Partial<RouterMsg> = {}): RouterMsg {
  return {
    ...envelope('router', 'router-1'),
    members: [],
    replayers: [],
    backlog: 0,
    routed: {},
    dropped_by_reason: {},
    duplicates: 0,
    done: true,
    ...f,
  };
}
