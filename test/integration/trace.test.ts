import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import { havokFixture } from '../support/fixture.js';
import type { RecordedRequest } from '../support/target-server.js';
import { APACHE_LOG, readReport } from '../support/havok-cli.js';
import { exactCounts, exactTop, zipfKeys } from '../support/zipf.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

/**
 * What the job sent to the target. On a heavily loaded machine a replayer's code warm-up (whose
 * requests must only reach its loopback sink) was seen to leak `/havok-warmup/` requests to the
 * target once its 5 s bound ran out; they are not the job's and are left out here.
 */
function jobRequests(reqs: RecordedRequest[], t: TestContext): RecordedRequest[] {
  const job = reqs.filter((r) => !r.url.startsWith('/havok-warmup/'));
  if (job.length < reqs.length) t.diagnostic(`${reqs.length - job.length} warm-up requests reached the target`);
  return job;
}

describe('trace propagation and samples, end to end', () => {
  test('w3c: every request carries a valid, unique traceparent; every sample\'s trace id reached the target with its URL', async (t) => {
    await using fx = await havokFixture({ target: true });
    const lines = readFileSync(APACHE_LOG, 'utf8').split('\n').slice(0, 2000);
    const job = fx.job({
      job: 'trace_w3c',
      lines,
      job_toml: 'speed = 2000\nmax_idle_ms = 50',
      extra: 'trace_url = "http://jaeger:16686/trace/{trace_id}"\n[replayer.trace]\npropagation = "w3c"',
    });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 0, `havok local failed:\n${res.stderr}\n${res.stdout}`);
    const reqs = jobRequests(fx.target.requests, t);
    assert.equal(reqs.length, 2000);
    const urlOfTrace = new Map<string, string>();
    for (const r of reqs) {
      const m = TRACEPARENT.exec(String(r.headers.traceparent));
      assert.ok(m, `traceparent ${r.headers.traceparent} on ${r.url}`);
      assert.equal(r.headers.tracestate, 'havok=trace_w3c');
      assert.ok(!urlOfTrace.has(m[1]), `trace id ${m[1]} sent twice`);
      urlOfTrace.set(m[1], r.url);
    }
    const report = readReport(job.report);
    const samples = report.samples ?? [];
    assert.ok(samples.length >= 10, `samples: ${samples.length}`);
    for (const s of samples) {
      assert.equal(urlOfTrace.get(s.trace_id!), s.url, `sample ${s.trace_id} (${s.group})`);
      // Its source position leads back to the log line.
      assert.ok(lines[s.line! - 1].includes(` ${s.url} `), `line ${s.line} of the log is ${lines[s.line! - 1]}`);
      assert.equal(s.link, `http://jaeger:16686/trace/${s.trace_id}`);
    }
    // The heavy hitters add up to every request, per dimension.
    assert.equal(report.top?.route.requests, 2000);
    assert.equal(report.top?.status.entries[0].key, '200');
    assert.ok(report.top!.route.entries.every((e) => e.count - e.bound >= 0 && e.share > 0), 'routes with their bounds and shares');
    const html = readFileSync(job.report.replace(/\.json$/, '.html'), 'utf8');
    assert.ok(html.includes(`<a href="http://jaeger:16686/trace/${samples[0].trace_id}">`), 'the HTML report links the sample to its trace');
    assert.match(html, /Heavy hitters/);
  });
});

describe('heavy hitters over four replayers, and keep_original', () => {
  // One replay checks both (each `havok local` costs ~10 s of start-up and settling here).
  test('a Zipf log (8k records, 1k distinct URLs) over 4 replayers of 100 counters: merged top-20 = exact top-20, every count within its bound; the target sees the log\'s trace ids', async (t) => {
    await using fx = await havokFixture({ target: true });
    const t0 = Date.UTC(2024, 0, 1);
    const urls = zipfKeys(8000, 1000, 1.3, 7, '/z/');
    // Every 10th record carries a trace id of its own (as a traceparent or a bare TraceId header).
    const traceOf = (i: number): string | undefined => (i % 10 === 0 ? (i + 1).toString(16).padStart(32, 'a') : undefined);
    const lines = urls.map((url, i) => {
      const id = traceOf(i);
      const headers = id === undefined ? undefined : i % 20 ? { TraceId: id } : { traceparent: `00-${id}-00f067aa0ba902b7-01` };
      return JSON.stringify({ ts: t0 + i, method: 'GET', url: `${url}?i=${i}`, ...(headers ? { headers } : {}) });
    });
    const job = fx.job({
      job: 'topk4',
      lines,
      format: 'jsonl',
      job_toml: 'speed = 1000',
      extra: '[reporter.top]\nk = 100\nshow = 30\ndimensions = ["url", "route"]\n[replayer.trace]\npropagation = "w3c"\nkeep_original = true\nheaders = { "x-trace-id" = "{trace_id}", "x-rpc-id" = "0" }',
    });
    const res = await fx.run(['local', '--config', job.config, '--replayers', '4']);
    assert.equal(res.code, 0, `havok local failed:\n${res.stderr}\n${res.stdout}`);
    const report = readReport(job.report);
    assert.equal(report.replayers.length, 4);
    const top = report.top!.url;
    assert.equal(top.requests, 8000);
    const exact = exactCounts(urls);
    for (const e of top.entries) {
      const truth = exact.get(e.key) ?? 0;
      assert.ok(e.count - e.bound <= truth && truth <= e.count, `${e.key}: exact ${truth} outside [${e.count - e.bound}, ${e.count}]`);
    }
    assert.ok(top.bound_unlisted > 0, 'the summaries were lossy (more keys than counters): the bound matters');
    // As sets: keys with equal exact counts may come in either order.
    assert.deepEqual(new Set(top.entries.slice(0, 20).map((e) => e.key)), new Set(exactTop(exact, 20)));

    const reqs = jobRequests(fx.target.requests, t);
    assert.equal(reqs.length, 8000);
    for (const r of reqs) {
      const i = Number(r.url.split('?i=')[1]);
      const m = TRACEPARENT.exec(String(r.headers.traceparent));
      assert.ok(m, String(r.headers.traceparent));
      assert.equal(r.headers['x-trace-id'], m[1]);
      assert.equal(r.headers['x-rpc-id'], '0');
      const id = traceOf(i);
      if (id === undefined) continue;
      assert.equal(m[1], id, `request ${r.url} keeps the log's trace id`);
      assert.notEqual(m[2], '00f067aa0ba902b7', 'under a new span');
    }
  });
});
