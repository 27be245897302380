/**
 * Issue 7 (HTML part): the end report as a self-contained HTML page. It is rendered from a
 * realistic EndReport, opened in headless Chromium (playwright-core driving /usr/bin/chromium,
 * never a downloaded browser), its SVG charts must have drawn something, nothing may be fetched
 * or logged as an error, and a screenshot is taken. Then a real `havok local` job writes its own
 * page beside the JSON, and that one is opened too.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { suiteBrowser, watchPage } from '../support/browser.js';
import { esc, htmlPathFor, prepareTimeline, renderHtml } from '../../services/reporter/html.js';
import type { EndReport, TimelinePoint } from '../../services/reporter/report.js';
import { APACHE_LOG, readReport, runHavok, writeJob } from '../support/havok-cli.js';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.js';
import { startTarget } from '../support/target-server.js';

const EVIL_API = 'GET /search/<script>window.__pwned=1</script>';
const EVIL_SAMPLE = '<img src=x onerror="window.__pwned=2"> "GET /</textarea><b>bold</b> HTTP/1.1" 200 &amp;';

/** A deterministic pseudo-random stream, so the fixture is the same every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A 60-second job against 20 APIs with some failures, drops and parse errors. */
function fixture(): EndReport {
  const rand = rng(7);
  const start = Date.parse('2025-05-17T10:00:00Z');
  const timeline: TimelinePoint[] = [];
  for (let i = 0; i < 60; i++) {
    // ramp up, a plateau with a burst, and a tail with no answers for two intervals
    const base = i < 10 ? 20 * i : i < 50 ? 200 + (i >= 30 && i < 35 ? 150 : 0) : 200 - 18 * (i - 49);
    const sent = Math.max(0, Math.round(base + (rand() - 0.5) * 30));
    const quiet = i === 55 || i === 56;
    const completed = quiet ? 0 : sent;
    const p50 = 2.5 + rand() * 0.8 + (i >= 30 && i < 35 ? 3 : 0);
    timeline.push({
      t: start + (i + 1) * 1000,
      sent: quiet ? 0 : sent,
      completed,
      failed: quiet ? 0 : Math.round(sent * (i >= 30 && i < 35 ? 0.08 : 0.005)),
      p50_ms: quiet ? 0 : Math.round(p50 * 1000) / 1000,
      p99_ms: quiet ? 0 : Math.round((p50 * 3 + rand() * 6 + (i >= 30 && i < 35 ? 25 : 0)) * 1000) / 1000,
      lateness_p99_ms: quiet ? 0 : Math.round((0.8 + rand() * 1.5) * 1000) / 1000,
    });
  }
  const sent = timeline.reduce((s, p) => s + p.sent, 0);
  const failed = timeline.reduce((s, p) => s + p.failed, 0);
  const names = [
    'GET /',
    'GET /items/:id',
    'GET /search',
    'POST /cart',
    'GET /cart',
    'GET /static/:file',
    'GET /api/v1/users/:id',
    'PUT /api/v1/users/:id',
    'GET /api/v1/orders',
    'POST /api/v1/orders',
    'GET /api/v1/orders/:id',
    'DELETE /api/v1/orders/:id',
    'GET /images/:file',
    'GET /favicon.ico',
    'GET /robots.txt',
    'POST /login',
    'GET /logout',
    'GET /blog/:slug',
    'GET /feed.xml',
    EVIL_API,
  ];
  // Zipf-like shares; the counts add up to `sent`.
  const weights = names.map((_, i) => 1 / (i + 1));
  const wsum = weights.reduce((a, b) => a + b, 0);
  let left = sent;
  const by_api = names.map((api, i) => {
    const count = i === names.length - 1 ? left : Math.round((sent * weights[i]!) / wsum);
    left -= count;
    const f = i === 3 ? Math.round(count * 0.2) : Math.round(count * 0.004);
    const p50 = 1.5 + rand() * 4;
    return { api, count, failed: f, latency_ms: { p50: +p50.toFixed(3), p90: +(p50 * 1.6).toFixed(3), p99: +(p50 * 3.2).toFixed(3), max: +(p50 * 9 + rand() * 40).toFixed(3) } };
  });
  const dropped_by_reason = { late: 42, overload: 7 };
  const dispatched = sent + 49;
  return {
    job: 'checkout-shadow',
    state: 'finished',
    records: { read: dispatched + 23 + 120, parse_errors: 23, filtered: 120, dispatched },
    parse_error_samples: [
      { line: 17, text: EVIL_SAMPLE, reason: 'no analyzer matched' },
      { line: 2031, text: '10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET /x HTTP/1.1" 200 -- garbled', reason: 'bad size field' },
      { line: 9120, text: '\u0000\u0001binary junk ' + 'x'.repeat(300), reason: 'no analyzer matched' },
    ],
    requests: { expected: dispatched, sent, ok: sent - failed, failed, dropped: 49, dropped_by_reason, duplicates: 0, rerouted: 0, unfinished: 0, unaccounted: 0 },
    accounting: { records_close: true, requests_close: true },
    rate: 1,
    speed: 100,
    latency_ms: { count: sent, p50: 2.739, p90: 3.687, p95: 4.411, p99: 7.075, p999: 18.2, max: 36.233, mean: 2.98 },
    latency_from_due_ms: { count: sent, p50: 3.1, p90: 4.2, p95: 5.0, p99: 8.175, p999: 20.1, max: 38.0, mean: 3.4 },
    lateness_ms: { count: sent, p50: 0.429, p90: 1.1, p95: 1.4, p99: 2.057, p999: 9.3, max: 28.215, mean: 0.51 },
    throughput_rps: Math.round((sent / 60) * 10) / 10,
    bytes_sent: sent * 180,
    bytes_received: sent * 5120,
    by_api,
    by_status: { '200': sent - failed - 180, '304': 150, '404': 30, '500': failed - 12 },
    by_status_class: { '2xx': sent - failed - 180, '3xx': 150, '4xx': 30, '5xx': failed - 12 },
    by_error: { timeout: 9, connection_refused: 2, reset: 1 },
    replayers: [
      { id: 'replayer-1', routed: Math.ceil(sent / 2) + 20, received: Math.ceil(sent / 2) + 20, sent: Math.ceil(sent / 2), dropped: 20 },
      { id: 'replayer-2', routed: Math.floor(sent / 2) + 29, received: Math.floor(sent / 2) + 29, sent: Math.floor(sent / 2), dropped: 29 },
    ],
    started_at: new Date(start).toISOString(),
    finished_at: new Date(start + 60_000).toISOString(),
    duration_s: 60,
    timeline,
    influxdb: { points_written: 1320, write_errors: 0, points_dropped: 0 },
  };
}

describe('HTML end report (pure)', () => {
  test('the page sits beside the JSON', () => {
    assert.equal(htmlPathFor('reports/demo-report.json'), 'reports/demo-report.html');
    assert.equal(htmlPathFor('/tmp/x/REPORT.JSON'), '/tmp/x/REPORT.html');
    assert.equal(htmlPathFor('out/report'), 'out/report.html');
  });

  test('every string from the log is escaped: no <script> or tag from an API name or sample gets through', () => {
    const html = renderHtml(fixture());
    assert.ok(!/<script/i.test(html), 'no script element at all');
    assert.ok(!html.includes('<img'), 'the sample is not markup');
    assert.ok(!html.includes('<b>bold</b>'));
    assert.ok(html.includes(esc(EVIL_API)), 'the API name is shown, escaped');
    assert.ok(html.includes('&lt;script&gt;window.__pwned=1&lt;/script&gt;'));
    assert.ok(html.includes('&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;'));
    assert.ok(html.includes('&amp;amp;'), 'an entity in the log is shown as typed');
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    assert.ok(!/\b(?:src|href)=["']?(?:https?:)?\/\//i.test(html), 'nothing is loaded from the network');
  });

  test('a report without a timeline, APIs or responses still renders', () => {
    const r = fixture();
    delete r.timeline;
    r.by_api = [];
    r.by_status = {};
    r.by_error = {};
    r.replayers = [];
    r.parse_error_samples = [];
    r.latency_ms = { count: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0 };
    r.accounting.requests_close = false;
    r.requests.unaccounted = 5;
    const html = renderHtml(r);
    assert.match(html, /no timeline in this report/);
    assert.match(html, /accounting DOES NOT CLOSE/);
    assert.ok(!html.includes('NaN') && !html.includes('Infinity'));
  });

  test('req/s is over each interval\'s real length (the last one is short); no latency where nothing was answered', () => {
    const pt = (t: number, sent: number, completed = sent): TimelinePoint => ({ t, sent, completed, failed: 0, p50_ms: completed ? 2 : 0, p99_ms: completed ? 9 : 0, lateness_p99_ms: 1 });
    const tl = prepareTimeline([pt(1000, 100), pt(2000, 100), pt(3000, 0, 0), pt(4000, 100), pt(4250, 25)]);
    assert.deepEqual(tl.xs, [0, 1, 2, 3, 3.25]);
    assert.deepEqual(tl.sentRps, [100, 100, 0, 100, 100]);
    assert.deepEqual(tl.p99, [9, 9, null, 9, 9]);
  });

  test('a long timeline is merged into at most 1200 points, counts kept', () => {
    const r = fixture();
    const t0 = Date.parse('2025-01-01T00:00:00Z');
    r.timeline = Array.from({ length: 36_000 }, (_, i) => ({ t: t0 + i * 1000, sent: 10, completed: 10, failed: 0, p50_ms: 1, p99_ms: i === 20_000 ? 500 : 2, lateness_p99_ms: 1 }));
    const html = renderHtml(r);
    const d = /id="chart-rps"[\s\S]*?<path class="series series-sents" d="([^"]+)"/.exec(html);
    assert.ok(d, 'the req/s series is drawn');
    const n = (d[1]!.match(/[ML]/g) ?? []).length;
    assert.ok(n <= 1200 && n >= 1000, `${n} points`);
    assert.ok(!html.includes('NaN'));
  });
});

describe('HTML end report in headless Chromium', { timeout: 120_000 }, () => {
  const browser = suiteBrowser();

  test('opens, draws its charts and tables, fetches nothing, and screenshots', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'havok-html-'));
    const file = join(dir, 'report.html');
    writeFileSync(file, renderHtml(fixture()));
    const page = await browser().newPage({ viewport: { width: 1400, height: 900 } });
    const { problems, fetched } = watchPage(page);
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    // Line charts: every series is a path with a real extent.
    for (const id of ['chart-rps', 'chart-latency']) {
      const boxes = await page.$$eval(`#${id} path.series`, (els) =>
        els.map((e) => {
          const b = (e as SVGGraphicsElement).getBBox();
          return { cls: e.getAttribute('class'), w: b.width, h: b.height, len: (e as SVGPathElement).getTotalLength() };
        }),
      );
      assert.equal(boxes.length, 3, `${id}: ${JSON.stringify(boxes)}`);
      for (const b of boxes) assert.ok(b.w > 100 && b.h > 5 && b.len > 100, `${id} ${b.cls}: ${JSON.stringify(b)}`);
      const shown = await page.locator(`#${id}`).boundingBox();
      assert.ok(shown && shown.width > 300 && shown.height > 100, `${id} on screen: ${JSON.stringify(shown)}`);
    }
    // The latency lines break where nothing was answered (two quiet intervals), not drop to 0.
    const p50 = await page.getAttribute('#chart-latency path.series-p50', 'd');
    assert.equal((p50!.match(/M/g) ?? []).length, 2, 'one gap in the p50 line');

    // Bar charts: six percentile bars growing left to right; status and error bars.
    const bars = await page.$$eval('#chart-percentiles rect.bar', (els) => els.map((e) => (e as SVGGraphicsElement).getBBox()).map((b) => ({ w: b.width, h: b.height })));
    assert.equal(bars.length, 6);
    for (const b of bars) assert.ok(b.w > 10 && b.h > 1, JSON.stringify(b));
    for (let i = 1; i < bars.length; i++) assert.ok(bars[i]!.h >= bars[i - 1]!.h, 'p50 ≤ p90 ≤ … ≤ max');
    assert.equal(await page.locator('#chart-status rect.bar').count(), 4);
    assert.equal(await page.locator('#chart-errors rect.bar').count(), 3);
    for (const id of ['chart-status', 'chart-errors']) {
      const ws = await page.$$eval(`#${id} rect.bar`, (els) => els.map((e) => (e as SVGGraphicsElement).getBBox().width));
      assert.ok(ws.every((w) => w > 0), `${id}: ${ws}`);
    }

    // Tables: 20 APIs, largest first, the hostile name shown as text and not run.
    const rows = page.locator('#api-table tbody tr');
    assert.equal(await rows.count(), 20);
    const counts = await page.$$eval('#api-table tbody tr td:nth-child(2)', (tds) => tds.map((td) => Number(td.textContent!.replace(/,/g, ''))));
    assert.deepEqual(counts, [...counts].sort((a, b) => b - a));
    const apis = await page.$$eval('#api-table tbody td.api', (tds) => tds.map((td) => td.textContent));
    assert.ok(apis.includes(EVIL_API), 'the <script> API name is displayed verbatim');
    assert.equal(await page.locator('#replayer-table tbody tr').count(), 2);
    const sampleText = await page.locator('#samples-table tbody tr').first().locator('code').textContent();
    assert.equal(sampleText, EVIL_SAMPLE);
    assert.match((await page.locator('#samples-table tbody tr').nth(2).locator('code').textContent())!, /^\\x00\\x01binary junk/);
    assert.equal(await page.locator('script, img').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.match((await page.locator('#accounting').textContent())!, /accounting closes/);

    assert.deepEqual(problems, [], 'no console errors');
    assert.deepEqual(fetched, [], 'nothing fetched beyond the file itself');

    const png = join(dir, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    assert.ok(existsSync(png));
    const size = statSync(png).size;
    assert.ok(size > 10 * 1024, `screenshot is ${size} bytes`);
    console.log(`# screenshot: ${png} (${size} bytes)`);
    await page.close();
  });
  test('havok local writes report.html beside report.json, names it, and it renders', async () => {
    let nats: NatsServerHandle | undefined;
    const target = await startTarget({ latencyMs: () => Math.random() * 4 });
    try {
      nats = await startNatsServer();
      const dir = mkdtempSync(join(tmpdir(), 'havok-html-job-'));
      const log = join(dir, 'access.log');
      writeFileSync(log, readFileSync(APACHE_LOG, 'utf8').split('\n').slice(0, 1500).join('\n') + '\n');
      const job = writeJob({ job: 'html', log, target: target.url, nats: nats.url, job_toml: 'speed = 2000\nmax_idle_ms = 200' });
      const res = await runHavok(['local', '--config', job.config]);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const html = htmlPathFor(job.report);
      assert.ok(existsSync(html), `${html} written`);
      assert.ok(res.stdout.includes(`html: ${html}`), res.stdout);
      const report = readReport(job.report);
      const page = await browser().newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
      // A few seconds of replay: several intervals with answers, so every line has a length.
      assert.ok((report.timeline ?? []).filter((p) => p.completed > 0).length >= 3, JSON.stringify(report.timeline));
      for (const sel of ['#chart-rps path.series-sents', '#chart-latency path.series-p99']) {
        const b = await page.$eval(sel, (e) => {
          const r = (e as SVGGraphicsElement).getBBox();
          return { width: r.width, height: r.height };
        });
        assert.ok(b.width > 0 && b.height > 0, `${sel}: ${JSON.stringify(b)}`);
      }
      assert.equal(await page.locator('#api-table tbody tr').count(), Math.min(report.by_api.length, 1000));
      assert.equal(await page.locator('#chart-percentiles rect.bar').count(), 6);
      assert.deepEqual(problems, []);
      const png = join(dir, 'report.png');
      await page.screenshot({ path: png, fullPage: true });
      assert.ok(statSync(png).size > 10 * 1024);
      console.log(`# screenshot of a real job's report: ${png}`);
      await page.close();
    } finally {
      await target.close();
      await nats?.stop();
    }
  });
});
