/**
 * Issue 8: a 3-node NATS cluster on loopback with R3 JetStream streams. Actors connect to
 * different nodes; the node the time wheel is connected to is killed mid-run. The time wheel
 * fails over (clients learn the other nodes from the cluster) and the job completes with its
 * accounting closed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import { startNatsCluster } from '../support/nats-cluster.js';
import { pacedJsonl, readReport, type Running } from '../support/havok-cli.js';

describe('3-node NATS cluster', { timeout: 180_000 }, () => {
  test('killing the time wheel\'s node mid-run: the job completes, accounting closes', async () => {
    await using fx = await havokFixture({ nats: false, target: true });
    const target = fx.target;
    const cluster = await startNatsCluster(3);
    fx.defer(() => cluster.stop());
    const [a, b, c] = cluster.nodes;
    const job = fx.job({ job: 'cluster', nats: cluster.urls, job_toml: 'speed = 1\nreorder_window_ms = 100', format: 'jsonl', lines: pacedJsonl(3000, 4, '/c/'), extra: '' });
    const on = (node: { url: string }, ...args: string[]): Running => fx.havok([...args, '--config', job.config, '--nats', node.url, '--set', 'nats.stream_replicas=3']);
    const reporter = on(b, 'reporter');
    on(c, 'router');
    on(b, 'replayer', '--id', 'r1');
    on(c, 'replayer', '--id', 'r2');
    on(a, 'timewheel');
    on(b, 'fetcher');
    await check(() => target.count() >= 1000, 60_000, '1000 requests');
    cluster.kill(0); // node a: the time wheel's
    const res = await reporter.done;
    assert.equal(res.code, 0, `reporter: ${res.stderr.slice(-3000)}\n${res.stdout.slice(-2000)}`);
    const report = readReport(job.report);
    const q = report.requests;
    assert.equal(report.records.read, 3000);
    assert.equal(q.sent + q.dropped, 3000, JSON.stringify(q));
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    assert.equal(new Set(target.requests.map((r) => r.url)).size, target.count(), 'no request twice');
    process.stdout.write(`# after losing a node: sent ${q.sent}, dropped ${JSON.stringify(q.dropped_by_reason)}\n`);
  });
});
