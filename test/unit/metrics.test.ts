/**
 * The actors' Prometheus metrics (shared/metrics.ts): cumulative wire counts become counters that
 * only go up (a new replayer life is a reset, not a drop), quantile gauges come from the
 * interval's histogram, and the text is Prometheus' exposition format.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newHistogram, recordMs } from '../../shared/histogram.js';
import { metricsText, observeLatency, observeRequests, observeRouter, observeStats, observeStatus } from '../../shared/metrics.js';
import { JOB_STATES } from '../../shared/protocol.js';
import { routerMsg, statsMsg, statusMsg } from '../support/reporter-fixtures.js';

/** The value of one series in the exposition text, or undefined. */
async function value(series: string): Promise<number | undefined> {
  const line = (await metricsText()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Prometheus metrics', () => {
  test('request counters follow cumulative counts per source; a value below the last is a reset', async () => {
    const counts = (sent: number) => ({ sent, ok: sent - 1, failed: 1, dropped_by_reason: { late: 2 }, by_status: { '200': sent - 1, '503': 1 }, by_error: {} });
    observeRequests('m1', 'a@1', counts(10));
    observeRequests('m1', 'a@1', counts(25));
    observeRequests('m1', 'b@1', counts(5));
    assert.equal(await value('havok_requests_total{havok_job="m1",result="sent"}'), 30);
    // a@1 restarted as a new life under the same source key: 3 more, not -22.
    observeRequests('m1', 'a@1', counts(3));
    assert.equal(await value('havok_requests_total{havok_job="m1",result="sent"}'), 33);
    assert.equal(await value('havok_requests_by_status_class_total{havok_job="m1",class="5xx"}'), 2);
    assert.equal(await value('havok_requests_dropped_total{havok_job="m1",reason="late"}'), 4);
    observeStats('m1', statsMsg({ id: 'r9', boot: 'z', n: 0, sent: 7, ok: 7, by_status: { '200': 7 } }));
    assert.equal(await value('havok_requests_total{havok_job="m1",result="sent"}'), 40);
  });

  test('job state, pacing, records and membership gauges', async () => {
    observeStatus(statusMsg({ job: 'm2', state: JOB_STATES.paused, speed: 4, rate: 0.5, position: 1_700_000_000_000, copies: 120, pending: 30 }));
    observeRouter('m2', routerMsg({ members: ['r1@a', 'r2@b'], backlog: 17, dropped_by_reason: { no_replayer: 3 } }));
    assert.equal(await value('havok_job_state{havok_job="m2",state="paused"}'), 1);
    assert.equal(await value('havok_job_state{havok_job="m2",state="running"}'), 0);
    assert.equal(await value('havok_job_speed{havok_job="m2"}'), 4);
    assert.equal(await value('havok_job_log_position_seconds{havok_job="m2"}'), 1_700_000_000);
    assert.equal(await value('havok_records_total{havok_job="m2",stage="dispatched"}'), 120);
    assert.equal(await value('havok_timewheel_pending_records{havok_job="m2"}'), 30);
    assert.equal(await value('havok_replayers{havok_job="m2"}'), 2);
    assert.equal(await value('havok_backlog_records{havok_job="m2"}'), 17);
    assert.equal(await value('havok_requests_dropped_total{havok_job="m2",reason="no_replayer"}'), 3);
  });

  test('latency and lateness quantiles from the interval histograms; an empty one leaves the last value', async () => {
    const lat = newHistogram();
    for (let i = 1; i <= 100; i++) recordMs(lat, i);
    const late = newHistogram();
    recordMs(late, 2.5);
    observeLatency('m3', lat, late);
    // HDR buckets: within 0.1% of the exact value.
    const near = (x: number | undefined, want: number): boolean => x !== undefined && Math.abs(x - want) <= want * 0.001;
    assert.ok(near(await value('havok_latency_ms{havok_job="m3",quantile="0.5"}'), 50));
    assert.equal(await value('havok_latency_ms{havok_job="m3",quantile="1"}'), 100);
    assert.equal(await value('havok_lateness_ms{havok_job="m3",quantile="0.99"}'), 2.5);
    observeLatency('m3', newHistogram(), newHistogram());
    assert.ok(near(await value('havok_latency_ms{havok_job="m3",quantile="0.5"}'), 50));
    const text = await metricsText();
    assert.match(text, /# TYPE havok_requests_total counter/);
    assert.match(text, /# TYPE havok_latency_ms gauge/);
    assert.match(text, /havok_process_resident_memory_bytes \d+/);
  });
});
