/**
 * Issue 5: a nats-server killed and restarted after 2 s mid-run. Every actor reconnects (the
 * router does not evict replayers for its own outage) and the job completes with its accounting
 * closed; whatever was on the wire when the server died is counted, not silently missing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import { pacedJsonl, readReport } from '../support/havok-cli.js';

/** How long the server stays down: the outage the actors ride out. */
const OUTAGE_MS = 2000;

describe('nats-server restart mid-run', { timeout: 180_000 }, () => {
  test('the job completes and the accounting closes', async () => {
    await using fx = await havokFixture({ target: true });
    const { target, nats } = fx;
    const job = fx.job({ job: 'natsdown', job_toml: 'speed = 1\nreorder_window_ms = 100', format: 'jsonl', lines: pacedJsonl(4000, 3, '/n/') });
    const run = fx.havok(['local', '--config', job.config]);
    await check(() => target.count() >= 1500, 60_000, '1500 requests');
    nats.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await nats.restart();
    const res = await run.done;
    assert.equal(res.code, 0, `havok local: ${res.code}\n${res.stderr.slice(-3000)}\n${res.stdout.slice(-2000)}`);
    const report = readReport(job.report);
    const q = report.requests;
    assert.equal(report.records.read, 4000);
    assert.equal(q.expected, 4000);
    assert.equal(q.sent + q.dropped, 4000, JSON.stringify(q));
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    const distinct = new Set(target.requests.map((r) => r.url)).size;
    assert.equal(distinct, target.count(), 'no request arrives twice');
    assert.ok(target.count() >= q.sent - (q.unfinished ?? 0), `target ${target.count()} vs sent ${q.sent}`);
    process.stdout.write(`# after the outage: sent ${q.sent}, dropped ${JSON.stringify(q.dropped_by_reason)}\n`);
  });
});
