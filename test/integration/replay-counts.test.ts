/**
 * Issue 2 acceptance, the counts: `havok local`, and each actor run alone, against a real
 * nats-server and HTTP target, as a user runs them. Rates, garbage lines, hosts, `havok plan` and
 * a bad config: each checks what was sent and counted, never when, so this file may run beside
 * another (scripts/test.sh). Arrival order is checked in replay.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { havokFixture } from '../support/fixture.js';
import { APACHE_LOG, readReport } from '../support/havok-cli.js';
import { combinedKeys, multiset } from '../support/requests.js';

describe('replay a log end to end: counts', { timeout: 300_000 }, () => {
  let lines: string[];

  before(() => {
    lines = readFileSync(APACHE_LOG, 'utf8').split('\n').filter((l) => l.length > 0);
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
    assert.deepEqual(multiset(target.requests.map((r) => `${r.method} ${r.url}`)), multiset(combinedKeys(lines)));
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
    // Which were sent, not in what order: 0.2 ms apart at this speed, they may overtake each other.
    assert.deepEqual(target.requests.map((r) => r.url).sort(), ['/a', '/b']);
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
