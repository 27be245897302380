/**
 * Record, then replay (the acceptance): 100,000 lines POSTed to a real `havok gateway` in
 * 1,000-line batches by four senders, with the nats-server restarted in the middle and every 503
 * retried with the same Idempotency-Key: the traffic stream holds exactly 100,000 lines (a POST's
 * lines are one message). `[fetcher] type = "jetstream"` then replays exactly those 100,000
 * requests to a real target with `havok local`, accounting closed. And `[job] begin` starts at a
 * stored time: earlier messages are never read (not read and filtered: not read at all). The
 * filter test publishes multi-line and single-line (old format) messages directly.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import { batchLines, postUntilStored, startGateway } from '../support/gateway.js';
import { readReport } from '../support/havok-cli.js';
import { createTrafficStream } from '../support/traffic.js';
import { publishTrafficMessages, streamLines } from '../support/traffic.js';
import { trafficLines } from '../support/traffic-lines.js';
import { jetstream } from '@nats-io/jetstream';
import { freePort } from '../../shared/ports.js';

const BATCHES = 100;
const LINES = 1000;
const SENDERS = 4;

const replayToml = (extra = ''): { fetcher_toml: string; extra: string } => ({ fetcher_toml: 'type = "jetstream"', extra: `[fetcher.jetstream]\nrepo = "web"\n${extra}` });

describe('record, then replay', () => {
  test('100,000 lines through a NATS restart: stored exactly once each, replayed exactly once each', async () => {
    await using fx = await havokFixture({ target: true });
    const gw = await startGateway(fx, 'store_timeout_ms = 2000\n[gateway.repos.web]');
    const started = Date.now();
    let next = 0;
    let retries = 0;
    let restart: Promise<void> | undefined;
    await Promise.all(
      Array.from({ length: SENDERS }, async () => {
        for (let b = next++; b < BATCHES; b = next++) {
          if (b === BATCHES / 2) restart = fx.nats.restart();
          const r = await postUntilStored(gw.url, 'web', batchLines(b, LINES), `batch-${b}`);
          assert.equal(r.result.json.accepted, LINES);
          retries += r.retries;
        }
      }),
    );
    await restart;
    const postMs = Date.now() - started;
    const nc = await fx.connect();
    // Counted in lines; each POST is one message (one subject), stored once however often retried.
    assert.deepEqual(await streamLines(nc), { messages: BATCHES, lines: BATCHES * LINES });
    assert.ok(retries > 0, 'the restart made some POSTs retry');

    const replayStarted = Date.now();
    const job = fx.job({ job: 'recorded', lines: [], job_toml: 'speed = 5000\nmax_idle_ms = 5', ...replayToml() });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 0, res.stderr);
    await check(() => fx.target.count() >= BATCHES * LINES, 10_000, 'every request at the target');
    assert.equal(fx.target.count(), BATCHES * LINES);
    assert.equal(new Set(fx.target.requests.map((r) => r.url)).size, BATCHES * LINES, 'each line replayed once');
    const report = readReport(job.report);
    assert.equal(report.records.read, BATCHES * LINES);
    assert.equal(report.requests.sent, BATCHES * LINES);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    process.stderr.write(`# 100,000 lines: POSTed in ${postMs} ms (${retries} retries of a 503), replayed in ${Date.now() - replayStarted} ms\n`);
  });

  test('[job] begin starts at a stored time: earlier messages are not read at all', async () => {
    await using fx = await havokFixture({ target: true });
    const gw = await startGateway(fx, '[gateway.repos.web]\n[gateway.repos.other]');
    const now = Date.now();
    await postUntilStored(gw.url, 'web', batchLines(0, 300, now - 600_000), 'old');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const begin = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await postUntilStored(gw.url, 'web', batchLines(1, 200, Date.now()), 'new');
    await postUntilStored(gw.url, 'other', batchLines(2, 100, Date.now()), 'other-repo');
    const job = fx.job({ job: 'since', lines: [], job_toml: `speed = 1000\nmax_idle_ms = 5\nbegin = ${begin}`, ...replayToml() });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 0, res.stderr);
    const report = readReport(job.report);
    // The 300 old lines (stored before begin) and the other repo's 100 were never delivered.
    assert.equal(report.records.read, 200);
    assert.equal(report.requests.sent, 200);
    assert.ok(fx.target.requests.every((r) => r.url.startsWith('/b1/')));
  });

  test('[fetcher.jetstream] filter replays exactly the selection (checked against a brute-force filter of the input)', async () => {
    await using fx = await havokFixture({ target: true });
    const nc = await fx.connect();
    await createTrafficStream(nc);
    // 3,000 lines over four repos (repo, method, URL, status, trace ids), as the gateway stores
    // them: a POST's lines of one subject in one message, some POSTs of a single line.
    const lines = trafficLines(3000, { seed: 7 });
    const { messages, multiLine } = await publishTrafficMessages(jetstream(nc), lines);
    assert.ok(multiLine > 10 && messages - multiLine > 10, `${multiLine} multi-line and ${messages - multiLine} single-line messages`);
    const filter = '{ method = "POST", path = "/api/orders*", status = "5xx" }';
    const job = fx.job({ job: 'selection', lines: [], job_toml: 'speed = 5000\nmax_idle_ms = 5', fetcher_toml: 'type = "jetstream"', extra: `[fetcher.jetstream]\nrepo = "shop"\nfilter = ${filter}` });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 0, res.stderr);
    // Brute force over the input: shop, POST, a path matching /api/orders* (a glob's `*` stays
    // within one segment), a 5xx status.
    const want = lines
      .filter(({ repo, line }) => repo === 'shop' && line.method === 'POST' && /^\/api\/orders[^/]*$/.test(String(line.url).split('?')[0]!) && Number(line.status) >= 500 && Number(line.status) < 600)
      .map(({ line }) => String(line.url));
    assert.ok(want.length > 10, `the selection holds ${want.length} lines`);
    assert.deepEqual(fx.target.requests.map((r) => r.url).sort(), [...want].sort());
    const report = readReport(job.report);
    assert.equal(report.requests.sent, want.length);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    assert.equal(report.records.read - report.records.filtered, want.length, 'the rest of the repo was read and counted as filtered');
  });

  test('havok local --gateway without a target: a recording session, until SIGTERM', async () => {
    await using fx = await havokFixture();
    const port = await freePort();
    const config = join(fx.dir, 'record.toml');
    writeFileSync(config, `[nats]\nurl = "${fx.nats.url}"\n[gateway]\nlisten = "127.0.0.1:${port}"\n[gateway.repos.web]\n`);
    const local = fx.havok(['local', '--gateway', '--config', config]);
    const url = `http://127.0.0.1:${port}`;
    await check(async () => (await fetch(`${url}/metrics`)).ok, 20_000, 'the gateway of havok local');
    assert.equal((await postUntilStored(url, 'web', batchLines(0, 10), 'k')).result.json.accepted, 10);
    assert.deepEqual(await streamLines(await fx.connect()), { messages: 1, lines: 10 });
    local.proc.kill('SIGTERM');
    assert.equal((await local.done).code, 130);
  });

  test('a missing repo key or stream: exit 2 naming the key, exit 1 naming the stream', async () => {
    await using fx = await havokFixture({ target: true });
    const bad = fx.job({ job: 'norepo', lines: [], fetcher_toml: 'type = "jetstream"' });
    const r = await fx.run(['plan', '--config', bad.config]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /fetcher\.jetstream\.repo: required/);
    const none = fx.job({ job: 'nostream', lines: [], ...replayToml('stream = "NOPE"') });
    const r2 = await fx.run(['plan', '--config', none.config]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /stream NOPE/);
  });
});
