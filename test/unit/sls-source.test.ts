/**
 * The SLS source's pure parts (windows, lines, per-window order, settings) and its
 * window scheduler driven by a fake GetPage: order across windows, the concurrency and
 * pre-download bounds, whole windows on failure, cancellation.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig, type HavokConfig } from '../../shared/config.js';
import { ConfigError, SourceError } from '../../shared/errors.js';
import { buildChain, type Chain } from '../../services/fetcher/analyzers/chain.js';
import { chainOptions, sourceScope } from '../../services/fetcher/source.js';
import { retryableStatus, SlsRequestError, type GetPage, type SlsLog } from '../../services/fetcher/sources/sls/getlogs.js';
import { slsChain } from '../../services/fetcher/sources/sls/index.js';
import { emptyCounts } from '../../services/fetcher/sources/lines.js';
import { logToLine, orderWindow, slsLines, slsRecords, slsTimeMs, windowAt, windowCount } from '../../services/fetcher/sources/sls/read.js';
import { slsSettings as settingsOf, type SlsSettings } from '../../services/fetcher/sources/sls/settings.js';

const silent = pino({ level: 'silent' });
const T0 = Date.UTC(2024, 0, 1) / 1000; // epoch s

/** Settings for the scheduler tests; the client part is never used there. */
function settings(over: Partial<SlsSettings> = {}): SlsSettings {
  return {
    project: 'p',
    logstore: 'l',
    url: 'http://p.localhost:1',
    client: { accessKeyId: 'k', accessKeySecret: 's', use_https: false },
    fromS: T0,
    toS: T0 + 600,
    query: '*',
    windowS: 60,
    pageSize: 100,
    concurrency: 3,
    preDownload: 1000,
    retries: 2,
    backoffMs: 1,
    backoffMaxMs: 5,
    timeoutMs: 1000,
    ...over,
  };
}

/** The settings the SLS kind resolves from a whole config. */
const slsSettings = (cfg: HavokConfig, env: NodeJS.ProcessEnv): SlsSettings => settingsOf(cfg.fetcher.sls, sourceScope(cfg, env));

/** The analyzer options an SLS source's chain is built with. */
const slsChainOptions = (cfg: HavokConfig) => chainOptions(cfg, slsChain(cfg.fetcher.sls));

const baseCfg = [
  'fetcher.type="sls"',
  'fetcher.sls.project="proj"',
  'fetcher.sls.logstore="store"',
  'fetcher.sls.region="cn-hangzhou"',
  'job.begin="2024-01-01T00:00:00Z"',
  'job.end="2024-01-01T00:10:00.500Z"',
];

function issues(fn: () => unknown): Array<{ key: string; message: string }> {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.issues];
  }
  assert.fail('expected a ConfigError');
}

describe('sls source: pure parts', () => {
  it('windows cover [from, to) exactly, the last one shorter', () => {
    assert.equal(windowCount(100, 700, 60), 10);
    assert.equal(windowCount(100, 701, 60), 11);
    assert.equal(windowCount(100, 100, 60), 0);
    assert.deepEqual(windowAt(100, 701, 60, 0), { from: 100, to: 160 });
    assert.deepEqual(windowAt(100, 701, 60, 10), { from: 700, to: 701 });
  });

  it('a log becomes its line_field, or the whole map as JSON', () => {
    const log = { __time__: 1700000000, content: '1.2.3.4 - - [...]', status: '200' };
    assert.equal(logToLine(log, 'content'), '1.2.3.4 - - [...]');
    assert.deepEqual(JSON.parse(logToLine(log)), log);
    assert.deepEqual(JSON.parse(logToLine(log, 'missing')), log, 'no such field: the map, so a parse-error sample shows the log');
  });

  it('SLS time: __time__ seconds plus the nanosecond part', () => {
    assert.equal(slsTimeMs({ __time__: 1700000000 }), 1700000000000);
    assert.equal(slsTimeMs({ __time__: '1700000000', __time_ns_part__: '123456789' }), 1700000000123);
    assert.ok(Number.isNaN(slsTimeMs({})));
  });

  it('a window is ordered by the analyzed time (ms), then SLS time, then fetch order', () => {
    const chain = buildChain({ format: 'jsonl', fields: { ts: 'ts' } });
    const logs: SlsLog[] = [
      { __time__: T0 + 2, ts: (T0 + 2) * 1000 + 5, url: '/c' },
      { __time__: T0, ts: T0 * 1000 + 900, url: '/b' },
      { __time__: T0, ts: T0 * 1000 + 100, url: '/a' },
      { __time__: T0 + 1, url: '/no-ts' }, // not a record: placed by SLS time, counted later
      { __time__: T0 + 2, ts: (T0 + 2) * 1000 + 5, url: '/d' }, // tie with /c: fetch order
    ];
    const urls = orderWindow(logs, undefined, chain).map(({ line }) => (JSON.parse(line) as { url: string }).url);
    assert.deepEqual(urls, ['/a', '/b', '/no-ts', '/c', '/d']);
  });

  it('retryable: 5xx, 429, 408, quota codes and broken 2xx; not other 4xx', () => {
    assert.ok(retryableStatus(500) && retryableStatus(503) && retryableStatus(429) && retryableStatus(408) && retryableStatus(200));
    assert.ok(!retryableStatus(401) && !retryableStatus(403) && !retryableStatus(404) && !retryableStatus(400));
    assert.ok(retryableStatus(403, 'ReadQuotaExceed'));
  });
});

describe('sls source: settings', () => {
  it('defaults, https by region, whole seconds covering [begin, end)', () => {
    const cfg = loadConfig({ set: [...baseCfg, 'fetcher.sls.access_key_id="id"', 'fetcher.sls.access_key_secret="sec"'] });
    const s = slsSettings(cfg, {});
    assert.equal(s.url, 'https://proj.cn-hangzhou.log.aliyuncs.com');
    assert.equal(s.client.use_https, true);
    assert.equal(s.fromS, T0);
    assert.equal(s.toS, T0 + 601, 'end 00:10:00.500 rounds up');
    assert.equal(s.windowS, 60);
    assert.equal(s.concurrency, 4);
    assert.equal(s.preDownload, 100_000);
    assert.equal(s.query, '*');
    assert.equal(s.pageSize, 100);
  });

  it('keys fall back to ALIYUN_ACCESS_KEY_ID / ALIYUN_ACCESS_KEY_SECRET', () => {
    const cfg = loadConfig({ set: baseCfg });
    const s = slsSettings(cfg, { ALIYUN_ACCESS_KEY_ID: 'env-id', ALIYUN_ACCESS_KEY_SECRET: 'env-secret' });
    assert.equal(s.client.accessKeyId, 'env-id');
    assert.equal(s.client.accessKeySecret, 'env-secret');
  });

  it('an endpoint URL sets the scheme; a bare host means https', () => {
    const withEndpoint = (e: string) => slsSettings(loadConfig({ set: [...baseCfg, `fetcher.sls.endpoint="${e}"`] }), { ALIYUN_ACCESS_KEY_ID: 'a', ALIYUN_ACCESS_KEY_SECRET: 'b' });
    assert.equal(withEndpoint('http://localhost:8080').url, 'http://proj.localhost:8080');
    assert.equal(withEndpoint('cn-shanghai.log.aliyuncs.com').url, 'https://proj.cn-shanghai.log.aliyuncs.com');
    assert.deepEqual(
      issues(() => withEndpoint('http://h/path')).map((i) => i.key),
      ['fetcher.sls.endpoint'],
    );
  });

  it('every missing key at once, each named: job.begin/job.end are required for SLS', () => {
    const cfg = loadConfig({ set: ['fetcher.type="sls"'] });
    const got = issues(() => slsSettings(cfg, {}));
    assert.deepEqual(got.map((i) => i.key).sort(), [
      'fetcher.sls.access_key_id',
      'fetcher.sls.access_key_secret',
      'fetcher.sls.logstore',
      'fetcher.sls.project',
      'fetcher.sls.region',
      'job.begin',
      'job.end',
    ]);
    assert.match(got.find((i) => i.key === 'fetcher.sls.access_key_id')!.message, /ALIYUN_ACCESS_KEY_ID/);
    const backwards = loadConfig({ set: [...baseCfg.slice(0, 4), 'job.begin=2000', 'job.end=1000'] });
    assert.deepEqual(
      issues(() => slsSettings(backwards, { ALIYUN_ACCESS_KEY_ID: 'a', ALIYUN_ACCESS_KEY_SECRET: 'b' })).map((i) => i.key),
      ['job.end'],
    );
  });

  it('the original keys are accepted; concurrency-sls is an alias', () => {
    const cfg = loadConfig({ set: ['fetcher.type="concurrency-sls"', 'fetcher.sls.expression="status: 500"', 'fetcher.sls.concurrency=8', 'fetcher.sls.pre-download=5000'] });
    assert.equal(cfg.fetcher.type, 'sls');
    assert.equal(cfg.fetcher.sls.concurrency, 8);
    assert.equal(cfg.fetcher.sls['pre-download'], 5000);
  });

  it('chain: jsonl with SLS fields by default, the file format with line_field, or [fetcher.sls] format', () => {
    const plain = slsChainOptions(loadConfig({ set: baseCfg }));
    assert.equal(plain.format, 'jsonl');
    assert.equal(plain.fields?.ts, '__time__');
    const lines = slsChainOptions(loadConfig({ set: [...baseCfg, 'fetcher.sls.line_field="content"'] }));
    assert.equal(lines.format, 'combined');
    const chosen = slsChainOptions(loadConfig({ set: [...baseCfg, 'fetcher.sls.line_field="content"', 'fetcher.sls.format="common"'] }));
    assert.equal(chosen.format, 'common');
  });
});

/** A store of `perWindow[i]` logs in window i, each log's `i` its global rank in time. */
function fakeStore(s: SlsSettings, perWindow: number[]): SlsLog[][] {
  let rank = 0;
  return perWindow.map((count, w) => {
    const logs: SlsLog[] = [];
    for (let k = 0; k < count; k++) logs.push({ __time__: s.fromS + w * s.windowS + Math.floor((k * s.windowS) / Math.max(count, 1)), i: rank++ });
    return logs.reverse(); // out of order within the window
  });
}

/** A GetPage over `store`, recording the concurrency and the logs fetched, with hooks. */
function fakePages(s: SlsSettings, store: SlsLog[][], opts: { delayMs?: number; fail?: (w: number, offset: number) => Error | undefined } = {}) {
  const stats = { inFlight: 0, maxInFlight: 0, fetched: 0, calls: 0, aborted: 0 };
  const page: GetPage = async (w, offset, signal) => {
    stats.calls++;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    try {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          clearTimeout(t);
          stats.aborted++;
          reject(signal.reason as Error);
        };
        const t = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, opts.delayMs ?? 1);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      const wi = (w.from - s.fromS) / s.windowS;
      const err = opts.fail?.(wi, offset);
      if (err) throw err;
      const logs = store[wi].slice(offset, offset + s.pageSize);
      stats.fetched += logs.length;
      return logs;
    } finally {
      stats.inFlight--;
    }
  };
  return { page, stats };
}

const byTime = (logs: SlsLog[]): string[] => [...logs].sort((a, b) => Number(a.__time__) - Number(b.__time__) || Number(a.i) - Number(b.i)).map((l) => JSON.stringify(l));

describe('sls source: windows in order', () => {
  it('every log once, in time order, windows of 0, 1, 99, 100, 101, 250 logs', async () => {
    const s = settings({ toS: T0 + 360 });
    const store = fakeStore(s, [0, 1, 99, 100, 101, 250]);
    const { page, stats } = fakePages(s, store);
    const got: number[] = [];
    for await (const line of slsLines(s, page, byTime, silent)) got.push(Number((JSON.parse(line) as SlsLog).i));
    assert.deepEqual(got, Array.from({ length: 551 }, (_, i) => i));
    // Pages: 1 + 1 + 1 + 2 (100 then an empty page) + 2 + 3.
    assert.equal(stats.calls, 10);
  });

  it('at most `concurrency` windows fetched at once', async () => {
    const s = settings({ concurrency: 3 });
    const { page, stats } = fakePages(s, fakeStore(s, Array(10).fill(20)), { delayMs: 10 });
    let n = 0;
    for await (const _ of slsLines(s, page, byTime, silent)) n++;
    assert.equal(n, 200);
    assert.equal(stats.maxInFlight, 3);
  });

  it('logs held (fetched, not yet emitted) stay under pre-download, plus one window', async () => {
    const s = settings({ concurrency: 4, preDownload: 150 });
    const { page, stats } = fakePages(s, fakeStore(s, Array(10).fill(100)));
    let emitted = 0;
    let maxHeld = 0;
    for await (const _ of slsLines(s, page, byTime, silent)) {
      emitted++;
      maxHeld = Math.max(maxHeld, stats.fetched - emitted);
      // A slow consumer: fetches get every chance to run ahead.
      if (emitted % 25 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(emitted, 1000);
    // Ahead of the replay at most 150 (pages reserved before they are asked for), plus the
    // window being replayed (100).
    assert.ok(maxHeld <= 250, `held ${maxHeld} logs`);
  });

  it('a window that fails for good ends the stream at a window boundary, never mid-window', async () => {
    const s = settings({ retries: 1 });
    const store = fakeStore(s, Array(10).fill(30));
    const { page } = fakePages(s, store, { fail: (w) => (w === 4 ? new SlsRequestError('HTTP 500 InternalServerError: boom', true, 500) : undefined) });
    const got: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const line of slsLines(s, page, byTime, silent)) got.push(Number((JSON.parse(line) as SlsLog).i));
      })(),
      (err: Error) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.match(err.message, /SLS p\/l at http:\/\/p\.localhost:1: GetLogs 2024-01-01T00:04:00\.000Z–2024-01-01T00:05:00\.000Z offset 0 failed after 2 attempts: HTTP 500/);
        return true;
      },
    );
    assert.equal(got.length % 30, 0, `whole windows only, got ${got.length} logs`);
    assert.ok(got.length <= 120, 'nothing of the failed window or after it');
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i));
  });

  it('a non-retryable error is not retried', async () => {
    const s = settings({ retries: 5 });
    const { page, stats } = fakePages(s, fakeStore(s, [10]), { fail: () => new SlsRequestError('HTTP 401 SignatureNotMatch: no', false, 401) });
    await assert.rejects(
      (async () => {
        for await (const _ of slsLines({ ...s, toS: s.fromS + 60 }, page, byTime, silent));
      })(),
      /offset 0 failed \(not retried\): HTTP 401 SignatureNotMatch/,
    );
    assert.equal(stats.calls, 1);
  });

  it('stopping early cancels the fetches in flight', async () => {
    const s = settings({ concurrency: 4 });
    const { page, stats } = fakePages(s, fakeStore(s, Array(10).fill(10)), { delayMs: 50 });
    const gen = slsLines(s, page, byTime, silent);
    await gen.next();
    await gen.return(undefined);
    await new Promise((r) => setTimeout(r, 10));
    assert.ok(stats.aborted >= 1, 'in-flight fetches aborted');
    assert.equal(stats.inFlight, 0);
  });
});

describe('sls source: records', () => {
  it('each line is analyzed once: for the window order, and the same result is counted', async () => {
    const s = settings({ toS: T0 + 180 });
    // Three windows of out-of-order logs; a few of them garbage (no time, no url).
    const store = fakeStore(s, [40, 0, 25]).map((w, wi) => w.map((l, k) => (k % 10 === 0 ? { __time__: l.__time__, junk: `${wi}-${k}` } : { ...l, ts: Number(l.__time__) * 1000 + Number(l.i), method: 'GET', url: `/r/${String(l.i)}` })));
    const inner = buildChain({ format: 'jsonl', fields: { ts: 'ts' } });
    let calls = 0;
    const counting: Chain = {
      analyze: (line) => {
        calls++;
        return inner.analyze(line);
      },
    };
    const { page } = fakePages(s, store);
    const counts = emptyCounts();
    const urls: string[] = [];
    for await (const rec of slsRecords(s, page, counting, counts, silent)) urls.push(rec.url);
    const logs = store.flat().length;
    assert.equal(calls, logs, `analyze() calls for ${logs} logs`);
    assert.equal(counts.read, logs);
    assert.equal(counts.parse_errors, 7, 'garbage logs counted as parse errors, once each');
    assert.equal(urls.length, logs - 7);
    assert.deepEqual(urls, [...urls].sort((a, b) => Number(a.split('/')[2]) - Number(b.split('/')[2])), 'records in time order');
  });
});
