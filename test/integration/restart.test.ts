/**
 * Issue 5: restart safety. The fetcher and the time wheel are each killed with SIGKILL mid-run
 * and restarted: the target receives every record exactly once (a record lost in the instant of
 * the crash would be counted as bus_lost), and the accounting closes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import { pacedJsonl, readReport } from '../support/havok-cli.js';

/** How long a killed actor stays down before its restart: the outage, not a wait for an event. */
const DOWN_MS = { fetcher: 500, timewheel: 1000 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('restart safety', { timeout: 180_000 }, () => {
  test('kill -9 and restart the fetcher, then the time wheel: every record arrives exactly once', async () => {
    await using fx = await havokFixture({ target: true });
    const target = fx.target;
    // 6,000 records 2 ms apart (12 s at speed 1); a small stream window keeps the fetcher
    // only ~1,000 records ahead, so it is mid-file when killed.
    const job = fx.job({
      job: 'restart',
      job_toml: 'speed = 1\nmax_buffer = 500\nreorder_window_ms = 100',
      fetcher_toml: 'batch_size = 50\nmax_pending_batches = 2',
      format: 'jsonl',
      lines: pacedJsonl(6000, 2, '/r/'),
    });
    const args = ['--config', job.config];
    const reporter = fx.havok(['reporter', ...args]);
    fx.havok(['router', ...args]);
    fx.havok(['replayer', '--id', 'r1', ...args]);
    const timewheel = fx.havok(['timewheel', ...args]);
    const fetcher = fx.havok(['fetcher', ...args]);

    await check(() => target.count() >= 1500, 60_000, '1500 requests');
    fetcher.proc.kill('SIGKILL');
    await sleep(DOWN_MS.fetcher);
    fx.havok(['fetcher', ...args]);

    await check(() => target.count() >= 3500, 60_000, '3500 requests');
    timewheel.proc.kill('SIGKILL');
    const countAtKill = target.count();
    await sleep(DOWN_MS.timewheel);
    fx.havok(['timewheel', ...args]);

    const res = await reporter.done;
    assert.equal(res.code, 0, `reporter: ${res.stderr}\n${res.stdout}`);
    const seen = new Map<string, number>();
    for (const r of target.requests) seen.set(r.url, (seen.get(r.url) ?? 0) + 1);
    const dups = [...seen.entries()].filter(([, n]) => n > 1);
    assert.deepEqual(dups, [], 'no record is sent twice');
    const report = readReport(job.report);
    const lost = report.requests.dropped_by_reason.bus_lost ?? 0;
    assert.equal(seen.size + lost, 6000, `${seen.size} distinct requests + ${lost} counted lost`);
    assert.equal(report.records.read, 6000);
    assert.equal(report.records.dispatched, 6000);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    assert.ok(countAtKill < 6000, 'the time wheel was killed mid-run');
    process.stdout.write(`# bus_lost after two kills: ${lost}\n`);
  });
});
