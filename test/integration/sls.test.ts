/**
 * The SLS source against a local GetLogs server, through the real `@alicloud/log` SDK: the server
 * recomputes each request's LOG signature, serves logs out of order and injects transient faults.
 * Acceptance (issue 6): every log inside the range replayed once, in order, across 10 windows
 * with 5xx errors, error pages, incomplete results and dropped connections; wrong keys and an
 * unreachable endpoint end with a clear error after the configured retries.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Logger } from 'pino';
import { loadConfig, type HavokConfig } from '../../shared/config.js';
import { SourceError } from '../../shared/errors.js';
import { openSources, type Source } from '../../services/fetcher/source.js';
import type { ChainRecord } from '../../services/fetcher/analyzers/chain.js';
import { readReport, runHavok, writeJob, type JobFiles } from '../support/havok-cli.js';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.js';
import { startSlsServer, type Fault, type SlsLog, type SlsServerHandle } from '../support/sls-server.js';
import { startTarget } from '../support/target-server.js';
import { worstOvertake } from '../support/order.js';
import { captureLog } from '../support/log-capture.js';
import { freePort } from '../../shared/ports.js';

const PROJECT = 'havok-test';
const LOGSTORE = 'access-log';
const KEY_ID = 'LTAI-test-key';
const SECRET = 'test-secret-0123456789';
const T0 = Date.UTC(2024, 2, 1, 12, 0, 0); // ms; the range is [T0, T0 + 10 min)
const WINDOWS = 10;
/** Logs per 60 s window: empty, single, page-sized (100, 200) and in-between windows. */
const PER_WINDOW = [250, 0, 100, 37, 200, 1, 310, 99, 150, 64];
const IN_RANGE = PER_WINDOW.reduce((a, b) => a + b, 0);

/** Deterministic shuffle (mulberry32), so a failure reproduces. */
function shuffle<T>(xs: T[], seed: number): T[] {
  let a = seed;
  const rand = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** In-range logs `/r/<rank>` (rank = time order, ms apart or more) and a few just outside. */
function makeLogs(): SlsLog[] {
  const logs: SlsLog[] = [];
  let rank = 0;
  PER_WINDOW.forEach((count, w) => {
    for (let k = 0; k < count; k++) {
      const ts = T0 + w * 60_000 + Math.floor((k * 60_000) / count);
      logs.push({ __time__: Math.floor(ts / 1000), __source__: '10.0.0.1', __topic__: '', ts: String(ts), method: 'GET', url: `/r/${rank++}`, status: '200' });
    }
  });
  for (const ts of [T0 - 1000, T0 - 1, T0 + WINDOWS * 60_000, T0 + WINDOWS * 60_000 + 5000]) {
    logs.push({ __time__: Math.floor(ts / 1000), __source__: '10.0.0.1', __topic__: '', ts: String(ts), method: 'GET', url: `/outside/${ts}`, status: '200' });
  }
  return shuffle(logs, 42);
}


function config(endpoint: string, extra: string[] = []): HavokConfig {
  return loadConfig({
    set: [
      'fetcher.type="sls"',
      `fetcher.sls.endpoint=${endpoint}`,
      `fetcher.sls.project="${PROJECT}"`,
      `fetcher.sls.logstore="${LOGSTORE}"`,
      `fetcher.sls.access_key_id="${KEY_ID}"`,
      'fetcher.sls.fields.ts="ts"',
      'fetcher.sls.backoff_ms=5',
      'fetcher.sls.backoff_max_ms=50',
      'fetcher.sls.timeout_ms=5000',
      `job.begin=${T0}`,
      `job.end="${new Date(T0 + WINDOWS * 60_000).toISOString()}"`,
      ...extra,
    ],
  });
}

async function open(cfg: HavokConfig, log: Logger, env: NodeJS.ProcessEnv = { ALIYUN_ACCESS_KEY_SECRET: SECRET }): Promise<Source> {
  const [src] = await openSources(cfg, { env, log });
  return src;
}

async function drain(src: Source): Promise<ChainRecord[]> {
  const out: ChainRecord[] = [];
  for await (const rec of src.records) out.push(rec);
  return out;
}


describe('SLS source against a GetLogs server (real SDK, checked signatures)', { timeout: 120_000 }, () => {
  const logs = makeLogs();
  let server: SlsServerHandle;
  /** The first request for each page meets one fault, in rotation; its retry is answered. */
  const ROTATION: Array<Fault | undefined> = [500, undefined, '502-html', 'incomplete', undefined, 503, 'reset', undefined];
  let firstAsks = 0;
  before(async () => {
    server = await startSlsServer({
      project: PROJECT,
      logstores: { [LOGSTORE]: logs },
      accessKeyId: KEY_ID,
      accessKeySecret: SECRET,
      delayMs: 3,
      fault: (call) => (call.seen === 0 ? ROTATION[firstAsks++ % ROTATION.length] : undefined),
    });
  });
  after(async () => {
    await server.close();
  });

  it('10 windows of out-of-order logs with transient faults: every log in range once, in order', async () => {
    const { log, lines } = captureLog();
    const src = await open(config(server.endpoint, ['fetcher.sls.concurrency=4']), log);
    assert.equal(src.name, `${PROJECT}/${LOGSTORE}`);
    const recs = await drain(src);

    const urls = recs.map((r) => r.url);
    assert.deepEqual(urls, Array.from({ length: IN_RANGE }, (_, i) => `/r/${i}`), 'every in-range log once, in time order, none outside');
    for (let i = 1; i < recs.length; i++) assert.ok(recs[i].ts >= recs[i - 1].ts, `record ${i} goes back in time`);
    assert.equal(recs[0].ts, T0, 'ms time from the log, not __time__ seconds');
    assert.deepEqual({ read: src.counts.read, parse_errors: src.counts.parse_errors, filtered: src.counts.filtered }, { read: IN_RANGE, parse_errors: 0, filtered: 0 });

    // Every kind of fault was met and survived, and each was retried with a logged backoff.
    const kinds = new Set(server.faults.map((f) => String(f.fault)));
    assert.deepEqual([...kinds].sort(), ['500', '502-html', '503', 'incomplete', 'reset'].sort());
    const retries = lines.filter((l) => l.msg === 'SLS GetLogs failed; retrying');
    assert.equal(retries.length, server.faults.length, 'one logged retry per fault');
    assert.ok(retries.some((l) => String(l.err).includes('x-log-progress: Incomplete')), 'incomplete pages asked again');
    assert.ok(retries.some((l) => String(l.err).includes('HTTP 502')), 'a non-JSON error page is an error, not a page of logs');
    // Windows were fetched concurrently, and each request was a signed GetLogs the server accepted.
    assert.ok(server.maxConcurrent() > 1, `max ${server.maxConcurrent()} requests at once`);
    assert.ok(server.maxConcurrent() <= 4);
    assert.deepEqual(server.rejected, []);
    assert.ok(server.calls.every((c) => c.line === 100 && c.query === '*' && c.to - c.from <= 60));
  });

  it('through openSources: the [fetcher] type switch, keys from the environment', async () => {
    const saved = { id: process.env.ALIYUN_ACCESS_KEY_ID, secret: process.env.ALIYUN_ACCESS_KEY_SECRET, level: process.env.HAVOK_LOG_LEVEL };
    process.env.ALIYUN_ACCESS_KEY_ID = KEY_ID;
    process.env.ALIYUN_ACCESS_KEY_SECRET = SECRET;
    process.env.HAVOK_LOG_LEVEL = 'silent';
    try {
      const cfg = config(server.endpoint, ['fetcher.sls.window_s=120', 'fetcher.sls.page_size=64']);
      cfg.fetcher.sls.access_key_id = undefined;
      const sources = await openSources(cfg);
      assert.equal(sources.length, 1);
      const recs = await drain(sources[0]);
      assert.equal(recs.length, IN_RANGE);
      assert.deepEqual(recs.map((r) => r.url), Array.from({ length: IN_RANGE }, (_, i) => `/r/${i}`));
    } finally {
      for (const [k, v] of [['ALIYUN_ACCESS_KEY_ID', saved.id], ['ALIYUN_ACCESS_KEY_SECRET', saved.secret], ['HAVOK_LOG_LEVEL', saved.level]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('a wrong secret: HTTP 401 SignatureNotMatch, a clear error, not retried, nothing replayed', async () => {
    const { log } = captureLog();
    const before = server.rejected.length;
    const src = await open(config(server.endpoint, ['fetcher.sls.retries=3']), log, { ALIYUN_ACCESS_KEY_SECRET: 'wrong' });
    const got: ChainRecord[] = [];
    await assert.rejects(
      (async () => {
        for await (const r of src.records) got.push(r);
      })(),
      (err: Error) => {
        assert.ok(err instanceof SourceError);
        assert.equal(err.retryable, false);
        assert.match(err.message, new RegExp(`SLS ${PROJECT}/${LOGSTORE} at http://${PROJECT}\\.localhost:${server.port}: GetLogs`));
        assert.match(err.message, /not retried\): HTTP 401 SignatureNotMatch: signature does not match, request id [\w-]+; check fetcher\.sls\.access_key_id/);
        return true;
      },
    );
    assert.equal(got.length, 0);
    assert.equal(src.counts.read, 0);
    const refused = server.rejected.slice(before);
    assert.ok(refused.length >= 1 && refused.length <= 4, 'the windows in flight, once each');
    assert.ok(refused.every((r) => r.code === 'SignatureNotMatch' && r.status === 401));
  });

  it('a server that keeps failing: retries with growing delays, then an error naming store, endpoint and window', async () => {
    const broken = await startSlsServer({ project: PROJECT, logstores: { [LOGSTORE]: logs }, accessKeyId: KEY_ID, accessKeySecret: SECRET, fault: (c) => (c.from === T0 / 1000 + 180 ? 500 : undefined) });
    try {
      const { log, lines } = captureLog();
      const src = await open(config(broken.endpoint, ['fetcher.sls.retries=3', 'fetcher.sls.concurrency=2']), log);
      const got: ChainRecord[] = [];
      await assert.rejects(
        (async () => {
          for await (const r of src.records) got.push(r);
        })(),
        /GetLogs 2024-03-01T12:03:00\.000Z–2024-03-01T12:04:00\.000Z offset 0 failed after 4 attempts: HTTP 500 InternalServerError: injected 500/,
      );
      // Windows 0–2 went out whole; nothing of window 3 (or later: the stream ends there).
      const whole = PER_WINDOW.slice(0, 3).reduce((a, b) => a + b, 0);
      assert.ok(got.length <= whole);
      assert.ok([0, 250, whole].includes(got.length), `whole windows only: ${got.length}`);
      const delays = lines.filter((l) => l.msg === 'SLS GetLogs failed; retrying' && l.window === '2024-03-01T12:03:00.000Z').map((l) => Number(l.delay_ms));
      assert.equal(delays.length, 3);
      // 5 ms doubled per retry, jittered within [½, 1]: 2.5–5, 5–10, 10–20.
      delays.forEach((d, i) => assert.ok(d >= 2.5 * 2 ** i && d <= 5 * 2 ** i, `retry ${i + 1} waited ${d} ms`));
    } finally {
      await broken.close();
    }
  });

  it('an unreachable endpoint: retries, then an error naming the endpoint and the cause', async () => {
    const port = await freePort();
    const { log, lines } = captureLog();
    const src = await open(config(`http://localhost:${port}`, ['fetcher.sls.retries=2', 'fetcher.sls.concurrency=1']), log);
    const t = Date.now();
    await assert.rejects(drain(src), (err: Error) => {
      assert.ok(err instanceof SourceError);
      assert.equal(err.retryable, true);
      assert.match(err.message, new RegExp(`at http://${PROJECT}\\.localhost:${port}: GetLogs 2024-03-01T12:00:00\\.000Z.* failed after 3 attempts: .*ECONNREFUSED`));
      return true;
    });
    assert.equal(lines.filter((l) => l.msg === 'SLS GetLogs failed; retrying').length, 2);
    assert.ok(Date.now() - t >= 7, 'backed off between attempts');
    assert.equal(src.counts.read, 0);
  });

  it('line_field: each log holds a raw nginx line, read by the combined analyzer', async () => {
    const t = T0 / 1000;
    const clf = (s: number): string => {
      const d = new Date(s * 1000);
      const mon = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
      const p = (n: number): string => String(n).padStart(2, '0');
      return `${p(d.getUTCDate())}/${mon}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
    };
    const raw: SlsLog[] = shuffle(
      Array.from({ length: 150 }, (_, i) => ({ __time__: t + i * 2, content: `10.1.1.1 - - [${clf(t + i * 2)}] "GET /n/${i} HTTP/1.1" 200 5 "-" "curl"` })),
      7,
    );
    raw.push({ __time__: t + 5, content: 'not an access log line' }, { __time__: t + 6, other: 'no content field' });
    const srv = await startSlsServer({ project: PROJECT, logstores: { nginx: raw }, accessKeyId: KEY_ID, accessKeySecret: SECRET });
    try {
      const cfg = config(srv.endpoint, [`fetcher.sls.logstore="nginx"`, 'fetcher.sls.line_field="content"', 'fetcher.sls.window_s=100']);
      const src = await open(cfg, captureLog().log);
      const recs = await drain(src);
      assert.deepEqual(recs.map((r) => r.url), Array.from({ length: 150 }, (_, i) => `/n/${i}`));
      assert.equal(src.counts.read, 152);
      assert.equal(src.counts.parse_errors, 2);
      assert.ok(src.counts.samples.some((s) => s.text.includes('no content field')), 'a log without the field shows as its JSON');
    } finally {
      await srv.close();
    }
  });
});

describe('SLS job end to end (havok local)', { timeout: 180_000 }, () => {
  let nats: NatsServerHandle;
  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    await nats.stop();
  });

  /** A job config reading the SLS server at `endpoint`; the secret comes from the environment. */
  function slsJob(endpoint: string, targetUrl: string, jobId: string, extra = ''): JobFiles {
    const job = writeJob({
      job: jobId,
      log: '',
      target: targetUrl,
      nats: nats.url,
      job_toml: [`begin = ${T0}`, `end = "${new Date(T0 + WINDOWS * 60_000).toISOString()}"`, 'speed = 30', 'reorder_window_ms = 2000'].join('\n'),
      fetcher_toml: 'type = "concurrency-sls"',
      extra: [
        '[fetcher.sls]',
        `endpoint = "${endpoint}"`,
        `project = "${PROJECT}"`,
        `logstore = "${LOGSTORE}"`,
        `access_key_id = "${KEY_ID}"`,
        'concurrency = 4',
        'pre-download = 500',
        'backoff_ms = 20',
        'fields = { ts = "ts" }',
        extra,
      ].join('\n'),
    });
    // No file to read: drop the generated `[fetcher.file] path`.
    writeFileSync(job.config, readFileSync(job.config, 'utf8').replace('path = ""\n', ''));
    return job;
  }

  it('out-of-order logs across 10 windows with transient 5xx: every log replayed once, in order', async () => {
    let firstAsks = 0;
    const sls = await startSlsServer({
      project: PROJECT,
      logstores: { [LOGSTORE]: makeLogs() },
      accessKeyId: KEY_ID,
      accessKeySecret: SECRET,
      fault: (c) => (c.seen === 0 && firstAsks++ % 3 === 0 ? 500 : undefined),
    });
    const target = await startTarget();
    try {
      const job = slsJob(sls.endpoint, target.url, 'sls-e2e');
      const res = await runHavok(['local', '--config', job.config], { ALIYUN_ACCESS_KEY_SECRET: SECRET });
      assert.equal(res.code, 0, res.stderr + res.stdout);
      assert.ok(sls.faults.length > 0, 'faults were injected');
      const order = target.requests.map((r) => Number(r.url.split('/')[2]));
      assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: IN_RANGE }, (_, i) => i), 'every in-range log once');
      // Log time 30× faster: neighbours are ≥ 6 ms of wall time apart. Allow a neighbour or two
      // to overtake on a loaded machine, nothing more.
      const worst = worstOvertake(order);
      assert.ok(worst <= 3, `a request arrived ${worst} places behind an earlier-arrived later one`);
      const report = readReport(job.report);
      assert.equal(report.records.read, IN_RANGE);
      assert.equal(report.records.parse_errors, 0);
      assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    } finally {
      await target.close();
      await sls.close();
    }
  });

  it('an unreachable SLS: retries with backoff, a clear error, exit 1, nothing reported as finished', async () => {
    const target = await startTarget();
    try {
      const port = await freePort();
      const job = slsJob(`http://localhost:${port}`, target.url, 'sls-down', 'retries = 3');
      const res = await runHavok(['local', '--config', job.config], { ALIYUN_ACCESS_KEY_SECRET: SECRET, HAVOK_LOG_LEVEL: 'warn' });
      assert.equal(res.code, 1, res.stderr + res.stdout);
      assert.equal((res.stderr.match(/SLS GetLogs failed; retrying/g) ?? []).length >= 3, true, res.stderr);
      assert.match(res.stderr, new RegExp(`SLS ${PROJECT}/${LOGSTORE} at http://${PROJECT}\\.localhost:${port}: GetLogs .* failed after 4 attempts: .*ECONNREFUSED`));
      assert.equal(target.count(), 0);
      // Nothing half-reported: the job exits 1, and a report, if the reporter wrote one on its
      // way down, does not claim a finished job.
      if (existsSync(job.report)) {
        const report = readReport(job.report);
        assert.notEqual(report.state, 'finished');
        assert.equal(report.records.read, 0);
      }
    } finally {
      await target.close();
    }
  });
});
