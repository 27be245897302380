/**
 * Issue 2 acceptance, end to end through real processes: a real nats-server started here, a real
 * HTTP target, and the `havok` CLI run as a user runs it (`havok local`, and each actor alone).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { combined } from '../../services/fetcher/analyzers/combined.js';
import { havokFixture } from '../support/fixture.js';
import type { RecordedRequest } from '../support/target-server.js';
import { APACHE_LOG, readReport } from '../support/havok-cli.js';

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

function multiset(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
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

  for (const [rate, want] of [
    [1.5, 15_000],
    [0.5, 5_000],
  ] as const) {
    test(`rate ${rate} sends exactly ${want} requests`, async () => {
      await using fx = await havokFixture({ target: true });
      const target = fx.target;
      const job = fx.job({ job: `rate${String(rate).replace('.', '_')}`, log: APACHE_LOG, job_toml: `speed = 5000\nmax_idle_ms = 5\nrate = ${rate}` });
      const res = await fx.run(['local', '--config', job.config]);
      assert.equal(res.code, 0, `havok local failed:\n${res.stderr}\n${res.stdout}`);
      assert.equal(target.count(), want);
      const report = readReport(job.report);
      assert.equal(report.records.dispatched, 10_000);
      assert.equal(report.requests.expected, want);
      assert.equal(report.requests.sent + report.requests.dropped, want);
      assert.equal(report.requests.sent, want);
    });
  }

  test('1% garbage lines are counted as parse errors with samples, and the job completes', async () => {
    await using fx = await havokFixture({ target: true });
    const target = fx.target;
    const good = lines.slice(0, 2000);
    const mixed: string[] = [];
    const garbage: string[] = [];
    good.forEach((l, i) => {
      mixed.push(l);
      if (i % 100 === 50) {
        const g = `garbage line ${i} \u0000 not a log ${'x'.repeat(i % 7)}`;
        garbage.push(g);
        mixed.push(g);
      }
    });
    const job = fx.job({ job: 'garbage', lines: mixed, job_toml: 'speed = 5000\nmax_idle_ms = 5' });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 0, `havok local failed:\n${res.stderr}\n${res.stdout}`);
    const report = readReport(job.report);
    assert.equal(garbage.length, 20);
    assert.equal(report.records.read, 2020);
    assert.equal(report.records.parse_errors, 20);
    assert.equal(report.records.dispatched, 2000);
    assert.equal(target.count(), 2000);
    assert.ok(report.parse_error_samples.length >= 5, 'the report holds samples of the bad lines');
    for (const s of report.parse_error_samples) {
      assert.ok(garbage.includes(s.text), `sample ${JSON.stringify(s.text)} is one of the garbage lines`);
      assert.ok(s.reason.length > 0 && s.line > 0);
    }
  });

  test('each actor run alone against an external nats-server gives the same result as havok local', async () => {
    await using fx = await havokFixture({ target: true });
    const target = fx.target;
    const job = fx.job({ job: 'alone', log: APACHE_LOG, job_toml: 'speed = 5000\nmax_idle_ms = 5' });
    const args = ['--config', job.config];
    const reporter = fx.havok(['reporter', ...args]);
    const router = fx.havok(['router', ...args]);
    const replayers = [fx.havok(['replayer', '--id', 'r1', ...args]), fx.havok(['replayer', '--id', 'r2', ...args])];
    const timewheel = fx.havok(['timewheel', ...args]);
    const fetcher = fx.havok(['fetcher', ...args]);
    const results = await Promise.all([reporter.done, router.done, timewheel.done, fetcher.done, ...replayers.map((r) => r.done)]);
    for (const [i, r] of results.entries()) assert.equal(r.code, 0, `actor ${i} exited ${r.code}:\n${r.stderr}`);
    assert.equal(target.count(), 10_000);
    assert.deepEqual(multiset(target.requests.map((r) => `${r.method} ${r.url}`)), multiset(expected.map((e) => e.key)));
    const report = readReport(job.report);
    assert.equal(report.requests.sent, 10_000);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    // Two replayers shared the work.
    assert.equal(report.replayers.length, 2);
    for (const r of report.replayers) assert.ok(r.sent > 0, `replayer ${r.id} sent nothing`);
  });

  test('havok plan reads the log and predicts the replay without sending anything', async () => {
    await using fx = await havokFixture({ nats: false, target: true });
    const target = fx.target;
    const job = fx.job({ job: 'plan', log: APACHE_LOG, nats: 'nats://127.0.0.1:1', job_toml: 'speed = 100\nmax_idle_ms = 100\nrate = 2' });
    const res = await fx.run(['plan', '--config', job.config, '--json']);
    assert.equal(res.code, 0, res.stderr);
    const p = JSON.parse(res.stdout) as { records: number; requests: number; parse_errors: number; span_ms: number; out_of_order: number; out_of_order_depth_ms: number; durationMs: number; peakRps: number };
    assert.equal(p.records, 10_000);
    assert.equal(p.requests, 20_000);
    assert.equal(p.parse_errors, 0);
    assert.equal(p.span_ms, 83 * 3600_000 + 59_000);
    assert.ok(p.out_of_order > 1000 && p.out_of_order_depth_ms === 59_000, JSON.stringify(p));
    // 84 bursts of ~60 s at speed 100 (~0.6 s each) plus 83 capped gaps of 100 ms.
    assert.ok(p.durationMs > 40_000 && p.durationMs < 70_000, `duration ${p.durationMs}`);
    assert.ok(p.peakRps > 0);
    assert.equal(target.count(), 0, 'plan sends nothing');
    const human = await fx.run(['plan', '--config', job.config]);
    assert.match(human.stdout, /records 10000/);
  });

  test('a log line with an absolute URL to another host is filtered, never sent anywhere', async () => {
    await using fx = await havokFixture({ target: true });
    const target = fx.target;
    const line = (url: string, sec: number): string => `1.2.3.4 - - [17/May/2015:10:05:0${sec} +0000] "GET ${url} HTTP/1.1" 200 1 "-" "t"`;
    const hostLines = [line('/a', 1), line('http://other-host/x', 2), line(`${target.url}/b`, 3), line('https://evil.example/y', 4)];
    const job = fx.job({ job: 'hosts', lines: hostLines, job_toml: 'speed = 5000\nmax_idle_ms = 5' });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 0, res.stderr + res.stdout);
    assert.deepEqual(target.requests.map((r) => r.url), ['/a', '/b']);
    const report = readReport(job.report);
    assert.equal(report.records.filtered, 2);
    assert.deepEqual(report.records.filtered_by_reason, { host_not_allowed: 2 });
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
  });

  test('a bad config exits 2 naming the key', async () => {
    await using fx = await havokFixture({ nats: false });
    const job = fx.job({ job: 'bad', log: APACHE_LOG, target: 'http://127.0.0.1:1', nats: 'nats://127.0.0.1:1', job_toml: 'sped = 3' });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /job\.sped: unknown key/);
  });
});
