/**
 * One owner per job, and one count per replayer life (issue 14's acceptance):
 * - two `havok timewheel` processes for one job: the second stands by; `kill -9` of the active
 *   one, the standby takes over from the checkpoint within 5 s, every record is sent once (or
 *   counted lost), and the accounting closes;
 * - a replayer killed and restarted under the same id mid-run: the report's sent count equals
 *   what the target received (the second life's counts are added to the first's, not dropped).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, subjects } from '../../shared/protocol.js';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import { pacedJsonl, readReport } from '../support/havok-cli.js';

describe('ownership', { timeout: 180_000 }, () => {
  test('two time wheels: one is active, the other stands by and takes over within 5 s of a kill -9', async () => {
    await using fx = await havokFixture({ target: true });
    const target = fx.target;
    // 4,000 records 2 ms apart: 8 s at speed 1.
    const job = fx.job({ job: 'two-wheels', job_toml: 'speed = 1', format: 'jsonl', lines: pacedJsonl(4000, 2, '/w/') });
    const args = ['--config', job.config];
    const reporter = fx.havok(['reporter', ...args]);
    fx.havok(['router', ...args]);
    fx.havok(['replayer', '--id', 'r1', ...args]);
    const first = fx.havok(['timewheel', ...args], { HAVOK_LOG_LEVEL: 'info' });
    await check(() => first.stderr().includes('holding the timewheel lease'), 20_000, 'the first time wheel to hold the lease');
    const second = fx.havok(['timewheel', ...args], { HAVOK_LOG_LEVEL: 'info' });
    fx.havok(['fetcher', ...args]);
    await check(() => second.stderr().includes('standing by'), 20_000, 'the second time wheel to stand by');

    await check(() => target.count() >= 1000, 60_000, '1000 requests');
    assert.ok(!second.stderr().includes('holding the timewheel lease'), 'the standby never acted while the first one lived');
    first.proc.kill('SIGKILL');
    const killedAt = Date.now();
    const countAtKill = target.count();
    await check(() => second.stderr().includes('holding the timewheel lease'), 10_000, 'the standby to take over');
    const takeoverMs = Date.now() - killedAt;
    await check(() => target.count() > countAtKill + 50, 10_000, 'requests again after the takeover').catch((err) => {
      throw new Error(`${(err as Error).message}\nstandby's log:\n${second.stderr().slice(-3000)}`);
    });
    const resumedMs = Date.now() - killedAt;
    assert.ok(takeoverMs <= 5000, `takeover ${takeoverMs} ms after the kill`);

    const res = await reporter.done;
    assert.equal(res.code, 0, `reporter: ${res.stderr}\n${res.stdout}`);
    const seen = new Map<string, number>();
    for (const r of target.requests) seen.set(r.url, (seen.get(r.url) ?? 0) + 1);
    assert.deepEqual([...seen.entries()].filter(([, n]) => n > 1), [], 'no record is sent twice');
    const report = readReport(job.report);
    const lost = report.requests.dropped_by_reason.bus_lost ?? 0;
    assert.equal(seen.size + lost, 4000, `${seen.size} distinct requests + ${lost} counted lost`);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    assert.ok(countAtKill < 4000, 'the active time wheel was killed mid-run');
    process.stdout.write(`# takeover ${takeoverMs} ms, requests again ${resumedMs} ms after the kill; bus_lost ${lost}\n`);
  });

  test('a replayer killed and restarted under the same id: the report counts both lives', async () => {
    await using fx = await havokFixture({ target: true });
    const target = fx.target;
    // 1,000 requests over 2 s, a 4 s gap in the log, then 1,000 more: r1 is killed in the
    // quiet gap (its last stats are out) and restarted under the same id before the rest.
    const t0 = Date.UTC(2024, 0, 1);
    const lines = [
      ...Array.from({ length: 1000 }, (_, i) => JSON.stringify({ ts: t0 + i * 2, method: 'GET', url: `/a/${i}` })),
      ...Array.from({ length: 1000 }, (_, i) => JSON.stringify({ ts: t0 + 6000 + i * 2, method: 'GET', url: `/b/${i}` })),
    ];
    const job = fx.job({ job: 'replayer-lives', job_toml: 'speed = 1', format: 'jsonl', lines });
    const args = ['--config', job.config];
    // The first life's last word: the sent count in its latest stats message.
    const nc = await fx.connect();
    let firstLifeSent = 0;
    nc.subscribe(subjects.stats('replayer-lives'), {
      callback: (_e, m) => {
        const st = decode(m.data, 'stats');
        if (st.id === 'r1') firstLifeSent = Math.max(firstLifeSent, st.sent);
      },
    });
    const reporter = fx.havok(['reporter', ...args]);
    const r1 = fx.havok(['replayer', '--id', 'r1', ...args]);
    fx.havok(['router', ...args]);
    fx.havok(['timewheel', ...args]);
    fx.havok(['fetcher', ...args]);
    await check(() => target.count() >= 1000, 60_000, 'the first 1000 requests');
    // Its stats (sent 1000) go out 50 ms after it runs out of work; kill it once they are out.
    await check(() => firstLifeSent >= 1000, 10_000, 'the first life to report its 1000 requests');
    r1.proc.kill('SIGKILL');
    fx.havok(['replayer', '--id', 'r1', ...args]);
    const res = await reporter.done;
    assert.equal(res.code, 0, `reporter: ${res.stderr}\n${res.stdout}`);
    const report = readReport(job.report);
    const lost = (report.requests.dropped_by_reason.replayer_lost ?? 0) + (report.requests.dropped_by_reason.bus_lost ?? 0);
    assert.equal(report.requests.sent, target.count(), `report sent ${report.requests.sent}, the target received ${target.count()}`);
    assert.equal(report.requests.sent + lost, 2000, JSON.stringify(report.requests));
    assert.ok(report.requests.sent > 1000, 'the second life sent some too');
    const row = report.replayers.find((r) => r.id === 'r1');
    assert.equal(row?.sent, report.requests.sent, 'one row for r1, summing its lives');
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
  });

  test('two routers and two reporters: one of each is active; kill -9 of both active ones, the standbys finish the job', async () => {
    await using fx = await havokFixture({ target: true });
    const target = fx.target;
    const job = fx.job({ job: 'two-routers', job_toml: 'speed = 1', format: 'jsonl', lines: pacedJsonl(4000, 2, '/x/') });
    const args = ['--config', job.config];
    const info = { HAVOK_LOG_LEVEL: 'info' };
    const router1 = fx.havok(['router', ...args], info);
    const reporter1 = fx.havok(['reporter', ...args], info);
    await check(() => router1.stderr().includes('holding the router lease') && reporter1.stderr().includes('holding the reporter lease'), 20_000, 'the first router and reporter to hold their leases');
    const router2 = fx.havok(['router', ...args], info);
    const reporter2 = fx.havok(['reporter', ...args], info);
    fx.havok(['replayer', '--id', 'r1', ...args]);
    fx.havok(['timewheel', ...args]);
    fx.havok(['fetcher', ...args]);
    await check(() => router2.stderr().includes('standing by') && reporter2.stderr().includes('standing by'), 20_000, 'the second router and reporter to stand by');
    await check(() => target.count() >= 1000, 60_000, '1000 requests');
    router1.proc.kill('SIGKILL');
    reporter1.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await check(() => router2.stderr().includes('holding the router lease'), 10_000, 'the standby router to take over');
    const takeoverMs = Date.now() - killedAt;
    const res = await reporter2.done;
    assert.equal(res.code, 0, `reporter: ${res.stdout}`);
    assert.ok(takeoverMs <= 5000, `router takeover ${takeoverMs} ms after the kill`);
    const report = readReport(job.report);
    const seen = new Set(target.requests.map((r) => r.url));
    assert.equal(seen.size, target.count(), 'no record is sent twice');
    assert.equal(report.requests.sent, target.count(), 'the standby reporter counted every request sent, before and after the takeover');
    assert.equal(report.requests.sent + report.requests.dropped, 4000);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    process.stdout.write(`# router takeover ${takeoverMs} ms; dropped ${JSON.stringify(report.requests.dropped_by_reason)}\n`);
  });
});
