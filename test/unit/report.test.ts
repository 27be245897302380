import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StatsMerger } from '../../services/reporter/merge.js';
import { buildReport, formatSummary, type EndReport } from '../../services/reporter/report.js';
import { JOB_STATES, lifeKey } from '../../shared/protocol.js';
import { lifeStats, routerMsg, statsMsg, statusMsg, wireOf } from '../support/reporter-fixtures.js';

const A = lifeKey('a', 'b1');
const B = lifeKey('b', 'b1');
const STARTED = Date.parse('2025-05-17T10:00:00Z');

/** A finished job: 10 copies, `a` answered 6 (one 404, one timeout), `b` sent 3 and dropped 1. */
function finishedJob(): { merger: StatsMerger; report: EndReport } {
  const merger = new StatsMerger();
  merger.add(
    statsMsg({
      id: 'a',
      boot: 'b1',
      n: 0,
      received: 6,
      sent: 6,
      ok: 4,
      failed: 2,
      by_status: { '200': 4, '404': 1 },
      by_error: { timeout: 1 },
      bytes_sent: 600,
      bytes_received: 6000,
      latency: wireOf(1, 2, 3, 4, 5, 100),
      latency_from_due: wireOf(2, 3, 4, 5, 6, 101),
      lateness: wireOf(0.5, 0.5, 1, 1, 1, 1),
      by_api: {
        '/items/:id': { count: 4, failed: 1, latency: wireOf(1, 2, 3, 4) },
        '/cart': { count: 2, failed: 1, latency: wireOf(5, 100) },
      },
      interval_sent: 6,
    }),
  );
  merger.add(
    statsMsg({
      id: 'b',
      boot: 'b1',
      n: 0,
      final: true,
      received: 4,
      sent: 3,
      ok: 3,
      dropped_by_reason: { late: 1 },
      by_status: { '200': 3 },
      bytes_sent: 300,
      bytes_received: 3000,
      latency: wireOf(2, 2, 2),
      latency_from_due: wireOf(3, 3, 3),
      lateness: wireOf(1, 1, 1),
      by_api: { '/': { count: 3, failed: 0, latency: wireOf(2, 2, 2) } },
      interval_sent: 3,
    }),
  );
  const status = statusMsg({ copies: 10, records: { read: 14, parse_errors: 1, filtered: 3, dispatched: 10 }, started_at: STARTED, samples: [{ line: 7, text: 'garbage', reason: 'no analyzer matched' }] });
  const router = routerMsg({ members: [A], routed: { [A]: 6, [B]: 4 } });
  return { merger, report: buildReport(status, router, merger, STARTED + 4_000) };
}

describe('buildReport', () => {
  test('requests and accounting of a finished job', () => {
    const { report: r } = finishedJob();
    assert.deepEqual(r.requests, { expected: 10, sent: 9, ok: 7, failed: 2, dropped: 1, dropped_by_reason: { late: 1 }, duplicates: 0, rerouted: 0, unfinished: 0, unaccounted: 0 });
    assert.deepEqual(r.accounting, { records_close: true, requests_close: true });
    assert.deepEqual(r.records, { read: 14, parse_errors: 1, filtered: 3, dispatched: 10 });
    assert.deepEqual(r.parse_error_samples, [{ line: 7, text: 'garbage', reason: 'no analyzer matched' }]);
    assert.equal(r.job, 'j');
    assert.equal(r.state, JOB_STATES.finished);
  });

  test('breakdowns: status and class, errors, bytes, per API by count then name, replayers by id', () => {
    const { report: r } = finishedJob();
    assert.deepEqual(r.by_status, { '200': 7, '404': 1 });
    assert.deepEqual(r.by_status_class, { '2xx': 7, '4xx': 1 });
    assert.deepEqual(r.by_error, { timeout: 1 });
    assert.deepEqual([r.bytes_sent, r.bytes_received], [900, 9000]);
    assert.deepEqual(
      r.by_api.map((a) => [a.api, a.count, a.failed]),
      [
        ['/items/:id', 4, 1],
        ['/', 3, 0],
        ['/cart', 2, 1],
      ],
    );
    assert.equal(r.by_api.find((a) => a.api === '/cart')!.latency_ms.max, 100);
    assert.deepEqual(r.replayers, [
      { id: 'a', lives: 1, routed: 6, received: 6, sent: 6, dropped: 0 },
      { id: 'b', lives: 1, routed: 4, received: 4, sent: 3, dropped: 1 },
    ]);
  });

  test('latency, latency from due and lateness are the merged histograms', () => {
    const { report: r } = finishedJob();
    assert.equal(r.latency_ms.count, 9);
    assert.equal(r.latency_ms.p50, 2);
    assert.equal(r.latency_ms.max, 100);
    assert.equal(r.latency_from_due_ms.max, 101);
    assert.equal(r.lateness_ms.count, 9);
    assert.equal(r.lateness_ms.p50, 1);
  });

  test('duration from the job start, throughput = sent / duration, times as ISO', () => {
    const { report: r } = finishedJob();
    assert.equal(r.duration_s, 4);
    assert.equal(r.throughput_rps, 2.3, '9 sent in 4 s, to 0.1 req/s');
    assert.equal(r.started_at, '2025-05-17T10:00:00.000Z');
    assert.equal(r.finished_at, '2025-05-17T10:00:04.000Z');
  });

  test('a job that never started has a duration of 1 ms, not 0 or negative', () => {
    const r = buildReport(statusMsg({ started_at: 0 }), undefined, new StatsMerger(), STARTED);
    assert.equal(r.duration_s, 0.001);
    assert.equal(r.throughput_rps, 0);
    assert.equal(r.started_at, r.finished_at);
    assert.deepEqual(r.replayers, []);
    assert.deepEqual(r.accounting, { records_close: true, requests_close: true });
  });

  test('settled: records an idle live replayer never received are bus_lost; not settled, they are unaccounted', () => {
    const m = new StatsMerger();
    m.add(lifeStats('a', 'b1', 0, 7));
    const status = statusMsg({ copies: 10 });
    const router = routerMsg({ members: [A], routed: { [A]: 10 } });
    const open = buildReport(status, router, m, STARTED + 1000);
    assert.equal(open.requests.unaccounted, 3);
    assert.equal(open.accounting.requests_close, false);
    const settled = buildReport(status, router, m, STARTED + 1000, true);
    assert.deepEqual(settled.requests.dropped_by_reason, { bus_lost: 3 });
    assert.equal(settled.requests.unaccounted, 0);
    assert.equal(settled.accounting.requests_close, true);
  });

  test('sent but not answered is unfinished, not unaccounted', () => {
    const m = new StatsMerger();
    m.add({ ...lifeStats('a', 'b1', 0, 5), ok: 3 });
    const r = buildReport(statusMsg({ copies: 5 }), routerMsg({ members: [A], routed: { [A]: 5 } }), m, STARTED + 1000);
    assert.equal(r.requests.unfinished, 2);
    assert.equal(r.requests.unaccounted, 0);
  });
});

describe('formatSummary', () => {
  test('the figures of the report, one topic a line, ending with the accounting and the paths', () => {
    const { report } = finishedJob();
    const lines = formatSummary(report, 'reports/r.json', 'reports/r.html').split('\n');
    assert.equal(lines[0], '');
    assert.equal(lines[1], 'havok job j: finished in 4.0 s (speed 1, rate 1)');
    assert.equal(lines[2], '  records   read 14  parse_errors 1  filtered 3  dispatched 10');
    assert.equal(lines[3], '  requests  expected 10  sent 9  ok 7  failed 2  dropped 1 (late:1)');
    assert.match(lines[4]!, /^ {2}latency {3}p50 2 ms {2}p90 \S+ ms {2}p99 100 ms {2}max 100 ms {3}\(from due: p99 101 ms\)$/);
    assert.match(lines[5]!, /^ {2}lateness {2}p50 1 ms {2}p99 1 ms {2}max 1 ms$/);
    assert.match(lines[6]!, /^ {2}throughput 2\.3 req\/s {3}\S+ \S+ sent, \S+ \S+ received {3}status 200:7 404:1 {3}errors timeout:1$/);
    assert.equal(lines[7], '  top APIs:');
    assert.equal(lines[8], '          4      1 failed  p99 4 ms  /items/:id');
    assert.equal(lines[11], '  parse error samples:');
    assert.equal(lines[12], '    line 7: no analyzer matched: garbage');
    assert.equal(lines[13], '  accounting closes   report: reports/r.json  html: reports/r.html');
    assert.equal(lines[14], '');
  });

  test('an accounting that does not close says how much is missing; no html path, no errors, no statuses', () => {
    const { report } = finishedJob();
    report.accounting.requests_close = false;
    report.requests.unaccounted = 3;
    report.by_error = {};
    report.by_status = {};
    report.by_api = [];
    report.parse_error_samples = [];
    const out = formatSummary(report, 'r.json');
    assert.match(out, /\n {2}accounting DOES NOT CLOSE \(unaccounted 3\) {3}report: r\.json\n$/);
    assert.match(out, /status -\n/);
    assert.ok(!/ {3}errors /.test(out), out);
    assert.ok(!out.includes('top APIs') && !out.includes('parse error samples') && !out.includes('html:'), out);
  });

  test('at most 5 APIs and 3 samples, each sample cut at 100 characters', () => {
    const { report } = finishedJob();
    report.by_api = Array.from({ length: 8 }, (_, i) => ({ api: `/api-${i}`, count: 100 - i, failed: 0, latency_ms: { p50: 1, p90: 1, p99: 1, max: 1 } }));
    report.parse_error_samples = Array.from({ length: 5 }, (_, i) => ({ line: i + 1, text: 'x'.repeat(300), reason: 'bad' }));
    const out = formatSummary(report, 'r.json');
    assert.equal((out.match(/ \/api-\d$/gm) ?? []).length, 5);
    const samples = out.split('\n').filter((l) => l.startsWith('    line '));
    assert.equal(samples.length, 3);
    assert.equal(samples[0], `    line 1: bad: ${'x'.repeat(100)}`);
  });
});
