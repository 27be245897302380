/**
 * Prometheus metrics of an actor, served on its health port as GET /metrics (prom-client text
 * format), beside the reporter's InfluxDB output. Each actor hands over the message it already
 * publishes once a period (the time wheel its status, the router its membership, a replayer its
 * stats and heartbeat, the reporter the job's merged figures): nothing runs per request, and a
 * metric appears on the first observation, so each actor lists only what it knows.
 *
 * Counts on the wire are cumulative per sender; Prometheus counters must only go up. `Cumulative`
 * adds the rise since the last value, and a value below the last (a new replayer life, a restarted
 * time wheel) as a counter reset: the whole new value is added.
 *
 * Every series carries `havok_job` (not `job`, which Prometheus sets to the scrape job).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { percentilesMs, type Histogram } from './histogram.js';
import type { HeartbeatMsg, RouterMsg, StatsMsg, StatusMsg } from './protocol.js';

/** This process's registry (also holds Node's process metrics: CPU, memory, event-loop lag). */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'havok_' });

export const METRICS_CONTENT_TYPE = registry.contentType;

export function metricsText(): Promise<string> {
  return registry.metrics();
}

const counters = new Map<string, Counter<string>>();
const gauges = new Map<string, Gauge<string>>();

function counter(name: string, help: string, labels: string[]): Counter<string> {
  let c = counters.get(name);
  if (!c) counters.set(name, (c = new Counter({ name, help, labelNames: ['havok_job', ...labels], registers: [registry] })));
  return c;
}

function gauge(name: string, help: string, labels: string[] = []): Gauge<string> {
  let g = gauges.get(name);
  if (!g) gauges.set(name, (g = new Gauge({ name, help, labelNames: ['havok_job', ...labels], registers: [registry] })));
  return g;
}

/** Cumulative values (per source, e.g. a replayer life) fed into a Prometheus counter. */
class Cumulative {
  private readonly last = new Map<string, number>();

  constructor(private readonly c: () => Counter<string>) {}

  /** `source` identifies whose cumulative value this is (a reset is detected per source). */
  set(source: string, labels: Record<string, string>, value: number): void {
    const key = `${source}\u0000${JSON.stringify(labels)}`;
    const prev = this.last.get(key) ?? 0;
    const rise = value >= prev ? value - prev : value;
    this.last.set(key, value);
    if (rise > 0) this.c().inc(labels, rise);
  }
}

const records = new Cumulative(() => counter('havok_records_total', 'records by stage: read, parse_errors, filtered, dispatched (time wheel)', ['stage']));
const requests = new Cumulative(() => counter('havok_requests_total', 'requests by result: sent, ok, failed', ['result']));
const byClass = new Cumulative(() => counter('havok_requests_by_status_class_total', 'answers by HTTP status class (2xx…5xx)', ['class']));
const dropped = new Cumulative(() => counter('havok_requests_dropped_total', 'requests not sent, by reason (late, overload, stopped…)', ['reason']));
const errors = new Cumulative(() => counter('havok_request_errors_total', 'requests that got no answer, by error', ['error']));

const STATES = ['pending', 'running', 'paused', 'finished', 'stopped'] as const;

/** The time wheel's status (and the reporter's copy of it): job state, pacing, record counts. */
export function observeStatus(s: StatusMsg): void {
  const job = { havok_job: s.job };
  for (const state of STATES) gauge('havok_job_state', 'job state: 1 for the current one', ['state']).set({ ...job, state }, s.state === state ? 1 : 0);
  gauge('havok_job_speed', 'log-time speed-up').set(job, s.speed);
  gauge('havok_job_rate', 'copies per record').set(job, s.rate);
  gauge('havok_job_log_position_seconds', 'log time of the last released record, epoch s (0 before the first)').set(job, s.position / 1000);
  gauge('havok_timewheel_pending_records', 'records read and waiting in the time wheel').set(job, s.pending ?? 0);
  for (const [stage, n] of Object.entries(s.records)) if (typeof n === 'number') records.set(s.sender, { ...job, stage }, n);
}

/** The router's view: live replayers and the backlog flow control watches. */
export function observeRouter(job: string, r: RouterMsg): void {
  gauge('havok_replayers', 'live replayers (router membership)').set({ havok_job: job }, r.members.length);
  gauge('havok_backlog_records', 'records routed to replayers and not yet sent or dropped').set({ havok_job: job }, r.backlog);
  for (const [reason, n] of Object.entries(r.dropped_by_reason)) dropped.set(`router:${r.sender}`, { havok_job: job, reason }, n);
}

/** Cumulative request counts of one sender (a replayer life, or the reporter's job totals). */
export type RequestCounts = Pick<StatsMsg, 'sent' | 'ok' | 'failed' | 'dropped_by_reason' | 'by_status' | 'by_error'>;

export function observeRequests(job: string, source: string, t: RequestCounts): void {
  const l = { havok_job: job };
  for (const result of ['sent', 'ok', 'failed'] as const) requests.set(source, { ...l, result }, t[result]);
  const classes: Record<string, number> = {};
  for (const [status, n] of Object.entries(t.by_status)) {
    const c = /^[1-5]\d\d$/.test(status) ? `${status[0]}xx` : 'other';
    classes[c] = (classes[c] ?? 0) + n;
  }
  for (const [c, n] of Object.entries(classes)) byClass.set(source, { ...l, class: c }, n);
  for (const [reason, n] of Object.entries(t.dropped_by_reason)) dropped.set(source, { ...l, reason }, n);
  for (const [error, n] of Object.entries(t.by_error)) errors.set(source, { ...l, error }, n);
}

/** A replayer's own stats message (its life is the counter source). */
export function observeStats(job: string, m: StatsMsg): void {
  observeRequests(job, `${m.id}@${m.boot ?? ''}`, m);
}

export function observeHeartbeat(job: string, h: Pick<HeartbeatMsg, 'inflight' | 'capacity'>): void {
  gauge('havok_replayer_inflight', 'requests in flight in this replayer').set({ havok_job: job }, h.inflight);
  gauge('havok_replayer_capacity', 'max_inflight of this replayer').set({ havok_job: job }, h.capacity);
}

const QUANTILES = [
  ['0.5', 'p50'],
  ['0.9', 'p90'],
  ['0.99', 'p99'],
  ['1', 'max'],
] as const;

/**
 * Latency (from send) and lateness (send minus due) over the last interval, in ms, as
 * summary-style quantile gauges: exact from the merged HDR histograms, computed once a period.
 */
export function observeLatency(job: string, latency: Histogram, lateness: Histogram): void {
  for (const [name, h, help] of [
    ['havok_latency_ms', latency, 'request latency from send over the last interval, ms'],
    ['havok_lateness_ms', lateness, 'send time minus due time over the last interval, ms'],
  ] as const) {
    if (h.totalCount === 0) continue;
    const p = percentilesMs(h);
    for (const [quantile, key] of QUANTILES) gauge(name, help, ['quantile']).set({ havok_job: job, quantile }, p[key]);
  }
}
