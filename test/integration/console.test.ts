/**
 * Issue 20 acceptance: the live web console of a running job, in headless Chromium
 * (playwright-core driving /usr/bin/chromium), against real processes and a real nats-server.
 * The page's progress moves and its charts draw; its buttons pause, resume and speed up the job
 * as `havok ctl` sees it; a killed replayer leaves its table and a new one appears. These check
 * timing (held while paused, gone within 3 s of the eviction), so this file runs alone
 * (scripts/test.sh); the token checks are in console-token.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { decode, lifeId, subjects } from '../../shared/protocol.js';
import { suiteBrowser } from '../support/browser.js';
import { check } from '../support/check.js';
import { listening, openConsole, press, text } from '../support/console-page.js';
import { ctl } from '../support/ctl.js';
import { havokFixture } from '../support/fixture.js';
import { pacedJsonl, readReport, REPO_ROOT } from '../support/havok-cli.js';
import { freePort } from '../../shared/ports.js';
import type { RecordedRequest } from '../support/target-server.js';

/** Screenshots are test artifacts: reports/ is ignored by git. */
const ARTIFACTS = join(REPO_ROOT, 'reports');

const T0 = Date.UTC(2024, 0, 1);
const STEP_MS = 10;
const LEAD_MS = 50; // [job] lead_ms default
const logTs = (r: RecordedRequest): number => T0 + Number(r.url.split('/')[2]) * STEP_MS;

/** Pixels a chart's canvas has drawn (non-transparent), read in the page. */
function drawnPixels(page: Page, id: string): Promise<number> {
  return page.evaluate((sel) => {
    const canvas = document.querySelector(`#${sel} canvas`) as HTMLCanvasElement | null;
    if (!canvas) return 0;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
    return n;
  }, id);
}

describe('live web console', { timeout: 240_000 }, () => {
  const browser = suiteBrowser();

  test('havok local --console: progress moves, charts draw, Pause holds the target, Resume and speed 4 finish the job', async () => {
    await using fx = await havokFixture({ target: true });
    const target = fx.target;
    // 1,500 requests 10 ms apart: 15 s of log at speed 1.
    const job = fx.job({ job: 'web', job_toml: 'speed = 1', format: 'jsonl', lines: pacedJsonl(1500, STEP_MS, '/items/') });
    const port = await freePort();
    const run = fx.havok(['local', '--config', job.config, '--console', `127.0.0.1:${port}`]);
    await listening(port);
    const { page, foreign, problems } = await openConsole(browser(), `http://127.0.0.1:${port}/`);

    await check(() => target.count() >= 150, 60_000, '150 requests');
    const before = await text(page, '#progress');
    await check(async () => (await text(page, '#progress')) !== before && /of 1500 requests/.test(await text(page, '#progress')), 10_000, 'the progress to move');
    await check(async () => (await drawnPixels(page, 'chart-rps')) > 500 && (await drawnPixels(page, 'chart-latency')) > 500, 10_000, 'the charts to draw');
    assert.equal(await text(page, '#state'), 'running');
    assert.notEqual(await page.locator('#bar').evaluate((el) => (el as HTMLElement).style.width), '0%');
    assert.match(await text(page, '#replayers tbody'), /local-0/);
    assert.match(await text(page, '#routes tbody'), /\/items\//);
    mkdirSync(ARTIFACTS, { recursive: true });
    const png = join(ARTIFACTS, 'console-test.png');
    await page.screenshot({ path: png, fullPage: true });
    process.stdout.write(`# console screenshot: ${png}\n`);

    assert.match(await press(page, '#pause', 'pause'), /pause: ok - state paused/);
    const paused = (await ctl(fx, 'web', 'status')).reply;
    assert.equal(paused.view.state, 'paused');
    await check(async () => (await text(page, '#state')) === 'paused', 5_000, 'the page to show paused');
    // Only records released before the pause (due within lead_ms of the frozen log time) may
    // still arrive; one more step of slack for the release granularity.
    const frozen = paused.view.position;
    await new Promise((r) => setTimeout(r, 1500)); // the experiment: the job held paused
    const resumeAt = Date.now();
    const late = target.requests.filter((r) => r.at < resumeAt && logTs(r) > frozen + 2 * LEAD_MS);
    assert.deepEqual(late.map((r) => r.url), [], `requests after log time ${frozen + 2 * LEAD_MS} arrived while paused`);

    // Steered while paused (the job cannot end under the test's feet): speed 4, then a refused rate.
    await page.fill('#speed-in', '4');
    assert.match(await press(page, '#speed-set', 'speed'), /speed: ok - state paused, speed 4/);
    const sped = (await ctl(fx, 'web', 'status')).reply;
    assert.deepEqual([sped.view.state, sped.view.speed], ['paused', 4]);
    await check(async () => (await text(page, '#speed')) === '4', 5_000, 'the page to show speed 4');
    // A bad value is refused by the time wheel and the page shows its error.
    await page.fill('#rate-in', '-1');
    assert.match(await press(page, '#rate-set', 'rate'), /^rate: .+/);
    assert.equal(await page.locator('#reply').getAttribute('class'), 'error');
    assert.match(await press(page, '#resume', 'resume'), /resume: ok - state running, speed 4/);

    const res = await run.done;
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`havok console: http://127.0.0.1:${port}/`));
    const report = readReport(job.report);
    assert.equal(report.requests.sent, 1500);
    assert.equal(report.speed, 4);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    assert.deepEqual(foreign, [], 'the page fetched nothing beyond the console');
    assert.deepEqual(problems, [], 'no errors in the page');
    await page.close();
  });

  test('havok console: a killed replayer leaves the table within 3 s of its eviction, a new one appears, the end links the reports', async () => {
    await using fx = await havokFixture({ target: true });
    const nc = await fx.connect();
    const job = fx.job({ job: 'webel', job_toml: 'speed = 1\nmin_replayers = 2', format: 'jsonl', lines: pacedJsonl(4000, 5, '/u/') });
    const evictedAt = new Map<string, number>();
    let members: string[] = [];
    const sub = nc.subscribe(subjects.router('webel'), {
      callback: (_e, m) => {
        const ids = decode(m.data, 'router').members.map(lifeId);
        for (const id of members) if (!ids.includes(id) && !evictedAt.has(id)) evictedAt.set(id, Date.now());
        members = ids;
      },
    });
    const args = ['--config', job.config];
    const port = await freePort();
    const con = fx.havok(['console', ...args, '--listen', `127.0.0.1:${port}`]);
    // Every actor's health port also serves /metrics.
    const health = { reporter: await freePort(), router: await freePort(), r2: await freePort(), timewheel: await freePort() };
    const reporter = fx.havok(['reporter', ...args, '--health-port', String(health.reporter)]);
    fx.havok(['router', ...args, '--health-port', String(health.router)]);
    const r1 = fx.havok(['replayer', '--id', 'r1', ...args]);
    fx.havok(['replayer', '--id', 'r2', ...args, '--health-port', String(health.r2)]);
    fx.havok(['timewheel', ...args, '--health-port', String(health.timewheel)]);
    fx.havok(['fetcher', ...args]);
    await listening(port);
    const { page, problems } = await openConsole(browser(), `http://127.0.0.1:${port}/`);
    // Without a token, a request naming another host (DNS rebinding) is refused.
    const rebound = await new Promise<number>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/api/view', headers: { host: `rebind.example:${port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(rebound, 403);
    const tableIds = async (): Promise<string[]> => page.locator('#replayers tbody tr td:first-child').allTextContents();
    await check(async () => (await tableIds()).join() === 'r1,r2' && fx.target.count() >= 300, 60_000, 'r1 and r2 in the table, and traffic');

    // Prometheus, mid-run: each actor shows what it knows.
    const scrape = async (port: number): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const series = (text: string, name: string): number => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const sentSeries = 'havok_requests_total{havok_job="webel",result="sent"}';
    const latencyP99 = /havok_latency_ms\{havok_job="webel",quantile="0.99"\} \d/;
    await check(async () => {
      const rep = await scrape(health.reporter);
      return series(rep, sentSeries) > 0 && series(rep, 'havok_replayers{havok_job="webel"}') === 2 && latencyP99.test(rep);
    }, 10_000, 'the reporter\'s metrics');
    assert.ok(series(await scrape(health.r2), sentSeries) > 0);
    assert.ok(series(await scrape(health.r2), 'havok_replayer_inflight{havok_job="webel"}') >= 0);
    const tw = await scrape(health.timewheel);
    const state = (st: string): number => series(tw, `havok_job_state{havok_job="webel",state="${st}"}`);
    assert.equal(state('running') + state('finished'), 1, 'running, or finished releasing');
    assert.equal(state('pending') + state('paused') + state('stopped'), 0);
    assert.ok(series(tw, 'havok_records_total{havok_job="webel",stage="read"}') > 0);
    assert.ok(series(await scrape(health.router), 'havok_backlog_records{havok_job="webel"}') >= 0);

    r1.proc.kill('SIGKILL');
    // Started now: on a loaded machine its warm-up takes a while, and it must join before the job ends.
    fx.havok(['replayer', '--id', 'r3', ...args]);
    await check(() => evictedAt.has('r1'), 10_000, 'r1 to be evicted');
    await check(async () => !(await tableIds()).includes('r1'), 10_000, 'r1 to leave the table');
    const gap = Date.now() - evictedAt.get('r1')!;
    assert.ok(gap <= 3000, `r1 left the table ${gap} ms after its eviction`);
    assert.match(await text(page, '#departed'), /r1 \(joined .+, left .+\)/);

    await check(async () => (await tableIds()).join() === 'r2,r3', 30_000, 'r3 to appear');

    const res = await reporter.done;
    sub.unsubscribe();
    assert.equal(res.code, 0, res.stderr);
    const report = readReport(job.report);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    await check(async () => await page.locator('#reports').isVisible() && await page.locator('#report-json').isVisible(), 10_000, 'the report links');
    assert.match(await text(page, '#state'), /\(ended\)/);
    const json = await page.evaluate(async () => (await fetch((document.getElementById('report-json') as HTMLAnchorElement).href)).json() as Promise<{ job: string }>);
    assert.equal(json.job, 'webel');
    const html = await page.request.get(`http://127.0.0.1:${port}/report.html`);
    assert.equal(html.status(), 200);
    assert.match(await html.text(), /<html/);
    assert.deepEqual(problems, []);
    await page.close();
  });
});
