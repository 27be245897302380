/**
 * Issue 4 acceptance, short form: a paced replay with 2 replayers; one is killed with SIGKILL,
 * two join later. The cluster notices the kill within ~3 s, routes to newcomers within 1 s of
 * their first heartbeat, and the report's accounting closes with the loss attributed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, lifeId, subjects } from '../../shared/protocol.js';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import { pacedJsonl, readReport } from '../support/havok-cli.js';

describe('elastic replayers', { timeout: 180_000 }, () => {
  test('kill -9 one of two replayers, add two more: eviction, fast joining, accounting closes', async () => {
    await using fx = await havokFixture({ target: true });
    const { target, nats } = fx;
    const nc = await fx.connect();
    // 20 s of log at 200 req/s, replayed at speed 1.
    const job = fx.job({ job: 'elastic', job_toml: 'speed = 1\nmin_replayers = 2', format: 'jsonl', lines: pacedJsonl(4000, 5, '/u/') });

    // Watch membership as the router publishes it (every 100 ms).
    const evictedAt = new Map<string, number>();
    const joinedAt = new Map<string, number>();
    const firstRoutedAt = new Map<string, number>();
    let members: string[] = [];
    const sub = nc.subscribe(subjects.router('elastic'), {
      callback: (_e, m) => {
        const r = decode(m.data, 'router');
        const now = Date.now();
        // Members and routed counts are per replayer life (`id@boot`); this test follows ids.
        const ids = r.members.map(lifeId);
        for (const id of ids) if (!joinedAt.has(id)) joinedAt.set(id, now);
        for (const id of members) if (!ids.includes(id) && !evictedAt.has(id)) evictedAt.set(id, now);
        for (const [life, n] of Object.entries(r.routed)) if (n > 0 && !firstRoutedAt.has(lifeId(life))) firstRoutedAt.set(lifeId(life), now);
        members = ids;
      },
    });

    const args = ['--config', job.config];
    const reporter = fx.havok(['reporter', ...args]);
    fx.havok(['router', ...args]);
    const r1 = fx.havok(['replayer', '--id', 'r1', ...args]);
    const r2 = fx.havok(['replayer', '--id', 'r2', ...args]);
    fx.havok(['timewheel', ...args]);
    fx.havok(['fetcher', ...args]);

    await check(() => target.count() >= 1000, 60_000, '1000 requests');
    r1.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await check(() => evictedAt.has('r1'), 10_000, 'r1 to be evicted');
    const evictionGap = evictedAt.get('r1')! - killedAt;

    // r3 joins with no config at all: it takes the job's settings (target, headers) from the time wheel.
    fx.havok(['replayer', '--id', 'r3', '--job', 'elastic', '--nats', nats.url]);
    fx.havok(['replayer', '--id', 'r4', ...args]);
    await check(() => firstRoutedAt.has('r3') && firstRoutedAt.has('r4'), 15_000, 'r3 and r4 to receive records');
    const joinGaps = ['r3', 'r4'].map((id) => firstRoutedAt.get(id)! - joinedAt.get(id)!);

    // SIGTERM: r2 leaves gracefully (deregisters, finishes in-flight requests, final stats, exit 0).
    r2.proc.kill('SIGTERM');
    const r2res = await r2.done;
    assert.equal(r2res.code, 0, `r2 after SIGTERM: ${r2res.stderr}`);
    await check(() => evictedAt.has('r2'), 5_000, 'r2 to leave the membership');

    const res = await reporter.done;
    sub.unsubscribe();
    assert.equal(res.code, 0, `reporter exited ${res.code}\n${res.stderr}\n${res.stdout}`);
    const report = readReport(job.report);
    const q = report.requests;
    assert.equal(report.records.dispatched, 4000);
    assert.equal(q.expected, 4000);
    assert.equal(q.sent + q.dropped, 4000, JSON.stringify(q));
    assert.equal(q.unaccounted, 0);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    // Whatever r1 held when it died is attributed, not silently missing.
    assert.ok(target.count() >= q.sent, `target saw ${target.count()}, report says sent ${q.sent}`);
    assert.ok(evictionGap < 3500, `evicted ${evictionGap} ms after the kill`);
    for (const g of joinGaps) assert.ok(g <= 1000, `a new replayer got its first records ${g} ms after joining`);
    for (const id of ['r3', 'r4']) assert.ok((report.replayers.find((r) => r.id === id)?.sent ?? 0) > 0, `${id} sent requests`);
    process.stdout.write(`# eviction gap ${evictionGap} ms; join → first records ${joinGaps.join(', ')} ms; dropped ${JSON.stringify(q.dropped_by_reason)}\n`);
  });
});
