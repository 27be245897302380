/**
 * Issue 8: a 3-node NATS cluster on loopback with R3 JetStream streams. Actors connect to
 * different nodes; the node the time wheel is connected to is killed mid-run. The time wheel
 * fails over (clients learn the other nodes from the cluster) and the job completes with its
 * accounting closed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { check } from '../support/nats-server.js';
import { startNatsCluster, type NatsCluster } from '../support/nats-cluster.js';
import { startTarget } from '../support/target-server.js';
import { pacedJsonl, readReport, startHavok, writeJob, type Running } from '../support/havok-cli.js';

describe('3-node NATS cluster', { timeout: 180_000 }, () => {
  let cluster: NatsCluster;
  before(async () => {
    cluster = await startNatsCluster(3);
  });
  after(async () => {
    await cluster.stop();
  });

  test('killing the time wheel\'s node mid-run: the job completes, accounting closes', async () => {
    const target = await startTarget();
    const procs: Running[] = [];
    try {
      const [a, b, c] = cluster.nodes;
      const job = writeJob({ job: 'cluster', target: target.url, nats: cluster.urls, job_toml: 'speed = 1\nreorder_window_ms = 100', format: 'jsonl', lines: pacedJsonl(3000, 4, '/c/'), extra: '' });
      const on = (node: { url: string }, ...args: string[]): Running => startHavok([...args, '--config', job.config, '--nats', node.url, '--set', 'nats.stream_replicas=3']);
      const reporter = on(b, 'reporter');
      procs.push(reporter, on(c, 'router'), on(b, 'replayer', '--id', 'r1'), on(c, 'replayer', '--id', 'r2'));
      procs.push(on(a, 'timewheel'), on(b, 'fetcher'));
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
    } finally {
      for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
      await target.close();
    }
  });
});
