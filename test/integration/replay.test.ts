/**
 * Issue 2 acceptance, end to end through real processes: a real nats-server started here, a real
 * HTTP target, and `havok local` run as a user runs it: every line replayed in timestamp order.
 * Arrival order at the target is what these check, so this file runs alone (scripts/test.sh);
 * the counts of the same replay (rates, garbage lines, each actor alone, plan, hosts, a bad
 * config) are in replay-counts.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { combined } from '../../services/fetcher/analyzers/combined.js';
import { havokFixture } from '../support/fixture.js';
import type { RecordedRequest } from '../support/target-server.js';
import { APACHE_LOG, readReport } from '../support/havok-cli.js';
import { multiset } from '../support/requests.js';

interface Expected {
  key: string;
  ts: number;
  line: number;
}

/** The log's requests in the order they must arrive: by timestamp, ties in line order. */
function expectedOrder(lines: string[]): Expected[] {
  const out: Expected[] = [];
  lines.forEach((line, i) => {
    const r = combined(line);
    if (r) out.push({ key: `${r.method} ${r.url}`, ts: r.ts, line: i });
  });
  return out.sort((a, b) => a.ts - b.ts || a.line - b.line);
}

/**
 * Checks arrivals against the expected order. Each arrival is matched to the earliest unmatched
 * expected record with the same method and URL; the log time of arrivals must not go backwards by
 * more than `slackLogMs` (requests sent a few ms apart on different connections may overtake each
 * other; the log itself is out of order by up to 59 s, so an unordered replay fails by far).
 */
function assertArrivalOrder(arrivals: RecordedRequest[], expected: Expected[], slackLogMs: number): void {
  const byKey = new Map<string, number[]>();
  for (const e of expected) {
    let list = byKey.get(e.key);
    if (!list) byKey.set(e.key, (list = []));
    list.push(e.ts);
  }
  const used = new Map<string, number>();
  let maxTs = -Infinity;
  let worst = 0;
  for (const a of arrivals) {
    const key = `${a.method} ${a.url}`;
    const list = byKey.get(key);
    assert.ok(list, `unexpected request ${key}`);
    const i = used.get(key) ?? 0;
    assert.ok(i < list.length, `request ${key} arrived more often (${i + 1}) than in the log (${list.length})`);
    used.set(key, i + 1);
    const ts = list[i];
    worst = Math.max(worst, maxTs - ts);
    maxTs = Math.max(maxTs, ts);
  }
  assert.ok(worst <= slackLogMs, `arrivals went back in log time by ${worst} ms (allowed ${slackLogMs} ms)`);
}

describe('replay a log end to end', { timeout: 300_000 }, () => {
  let lines: string[];
  let expected: Expected[];

  before(() => {
    lines = readFileSync(APACHE_LOG, 'utf8').split('\n').filter((l) => l.length > 0);
    expected = expectedOrder(lines);
  });

  test('havok local replays all 10,000 lines, in timestamp order, and accounting closes', async () => {
    await using fx = await havokFixture({ target: true });
    const target = fx.target;
    const job = fx.job({ job: 'full', log: APACHE_LOG, job_toml: 'speed = 500\nmax_idle_ms = 150' });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 0, `havok local failed:\n${res.stderr}\n${res.stdout}`);
    assert.equal(target.count(), 10_000);
    // Method, path and query of every request match the log, as a multiset.
    assert.deepEqual(multiset(target.requests.map((r) => `${r.method} ${r.url}`)), multiset(expected.map((e) => e.key)));
    // Order within a burst is checked at a lower speed below; here that no request arrives a
    // whole burst (an hour of log time) out of place: bursts are 150 ms of wall time apart,
    // so only a stall longer than that on a loaded machine could mix two of them.
    assertArrivalOrder(target.requests, expected, 3_000_000);
    const report = readReport(job.report);
    assert.equal(report.records.read, 10_000);
    assert.equal(report.requests.sent, 10_000);
    assert.equal(report.records.read, report.records.parse_errors + report.records.filtered + report.records.dispatched);
    assert.equal(report.records.dispatched * 1, report.requests.sent + report.requests.dropped);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    assert.equal(report.latency_ms.count, 10_000);
    assert.ok(report.lateness_ms.p99 >= 0 && report.latency_ms.p50 > 0);
    assert.match(res.stdout, /accounting closes/);
  });

  test('requests arrive in timestamp order although the log is out of order', async () => {
    await using fx = await havokFixture({ target: true });
    const target = fx.target;
    // The first 1,000 lines: about 8 one-minute bursts, shuffled by up to 59 s within each.
    const part = lines.slice(0, 1000);
    const job = fx.job({ job: 'order', lines: part, job_toml: 'speed = 60\nmax_idle_ms = 100' });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 0, `havok local failed:\n${res.stderr}\n${res.stdout}`);
    assert.equal(target.count(), 1000);
    // At speed 60 one log second is ~17 ms of wall time: allow 10 s of log time (~170 ms of
    // wall time, for a loaded machine); replaying in file order would go back up to 59 s.
    assertArrivalOrder(target.requests, expectedOrder(part), 10_000);
  });

});
