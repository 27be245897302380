/**
 * The HTML report's diff section in headless Chromium: built from real comparisons (lifted,
 * compared, counted, merged across two replayers, joined), it lists endpoints by different
 * fields, shows each example's three responses side by side with the differing values marked,
 * shows hostile response text as text, fetches nothing, and screenshots.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { suiteBrowser, watchPage } from '../support/browser.js';
import { DiffCounters } from '../../services/diff/counters.js';
import { DiffMerger } from '../../services/diff/merge.js';
import { compareRecord, comparerOptions, type TargetOutcome } from '../../services/diff/record.js';
import { buildDiffReport } from '../../services/diff/report.js';
import { diffSchema } from '../../services/diff/settings.js';
import { renderHtml } from '../../services/reporter/html.js';
import { StatsMerger } from '../../services/reporter/merge.js';
import { buildReport } from '../../services/reporter/report.js';
import { routerMsg, statusMsg } from '../support/reporter-fixtures.js';

const EVIL = '<img src=x onerror="window.__pwned=1">';

const settings = diffSchema.parse({ primary: 'http://primary:8080', candidate: 'http://candidate:8080', secondary: 'http://secondary:8080', examples: 2 });

function json(body: unknown, headers: Array<[string, string]> = []): TargetOutcome {
  return { response: { status: 200, headers: [['content-type', 'application/json'], ...headers], body: Buffer.from(JSON.stringify(body)), cut: false } };
}

/** Two replayers' comparisons: /items/:id (price on every 3rd, and a title), /users/:id (a dropped header), /health (equal). */
function diffReport() {
  const merger = new DiffMerger();
  const opts = comparerOptions(settings);
  for (const r of [0, 1]) {
    const c = new DiffCounters(settings.examples);
    for (let i = r; i < 60; i += 2) {
      const item = (price: number, title: string, ts: string) => json({ id: i, title, price, ts, note: EVIL });
      compareRecord({ method: 'GET', url: `/items/${i}`, src: 0, seq: i, headers: { 'x-trace-id': `t${i}` } }, { primary: item(i, 'A', 'p'), candidate: item(i % 3 ? i : i + 1, i % 2 ? 'A' : 'B', 'c'), secondary: item(i, 'A', 's') }, opts, c);
      const user = (hdr: boolean) => json({ id: i }, hdr ? [['x-api-version', '3']] : []);
      compareRecord({ method: 'GET', url: `/users/${i}`, src: 0, seq: 100 + i }, { primary: user(true), candidate: user(false), secondary: user(true) }, opts, c);
      compareRecord({ method: 'GET', url: '/health', src: 0, seq: 200 + i }, { primary: json({ ok: true }), candidate: json({ ok: true }), secondary: json({ ok: true }) }, opts, c);
    }
    merger.add(`r${r}@b`, { ...c.snapshot(), targets: {} });
  }
  return buildDiffReport(merger, settings);
}

describe('HTML report: diff section', { timeout: 60_000 }, () => {
  const browser = suiteBrowser();

  test('endpoints by different fields, examples side by side with the values marked', async () => {
    const report = buildReport(statusMsg({ copies: 180 }), routerMsg(), new StatsMerger(), 5_000);
    report.diff = diffReport();
    assert.equal(report.diff.critical, 3, JSON.stringify(report.diff.endpoints.map((e) => e.fields.map((f) => f.path))));
    const dir = mkdtempSync(join(tmpdir(), 'havok-diff-html-'));
    const file = join(dir, 'report.html');
    writeFileSync(file, renderHtml(report));

    const page = await browser().newPage({ viewport: { width: 1400, height: 900 } });
    const { problems, fetched } = watchPage(page);
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    const summaries = await page.$$eval('#diff details.diff-endpoint > summary code', (els) => els.map((e) => e.textContent));
    assert.deepEqual(summaries, ['/items/:id', '/users/:id', '/health'], 'sorted by different fields');
    const paths = await page.$$eval('#diff .diff-field', (els) => els.map((e) => `${e.getAttribute('data-endpoint')} ${e.getAttribute('data-path')}`));
    assert.deepEqual(paths, ['/items/:id body.title', '/items/:id body.price', '/users/:id headers.x-api-version']);
    assert.match((await page.locator('#diff-verdict').textContent())!, /3 fields differ beyond noise/);

    // The price examples: three columns, each marking its own value, in the value line and the body.
    const price = page.locator('.diff-field[data-path="body.price"] .diff-example').first();
    const marks = await price.locator('.diff-col').evaluateAll((cols) => cols.map((c) => [c.querySelector('h4')!.firstChild!.textContent!.trim(), [...c.querySelectorAll('mark')].map((m) => m.textContent)]));
    assert.deepEqual(marks, [
      ['primary', ['0', '  "price": 0,']],
      ['candidate', ['1', '  "price": 1,']],
      ['secondary', ['0', '  "price": 0,']],
    ]);
    const cols = await price.locator('.diff-col').evaluateAll((els) => els.map((e) => e.getBoundingClientRect()));
    assert.ok(cols[0].top === cols[1].top && cols[1].left > cols[0].right - 1, 'side by side');
    // A dropped header: marked in the primary's headers, "(none)" for the candidate.
    const hdr = page.locator('.diff-field[data-path="headers.x-api-version"] .diff-example').first();
    assert.deepEqual(await hdr.locator('.diff-candidate .value mark').textContent(), '(none)');
    assert.match((await hdr.locator('.diff-primary pre.headers mark').textContent())!, /x-api-version: 3/);
    // Noise (ts differs everywhere) is listed apart, never as a different field.
    assert.match((await page.locator('#diff details').first().locator('.diff-noise').textContent())!, /body\.ts/);

    assert.ok((await page.locator('#diff pre.body').first().textContent())!.includes('<img src=x onerror='), 'hostile text shown as text');
    assert.equal(await page.locator('script, img').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.deepEqual(problems, [], 'no console errors');
    assert.deepEqual(fetched, [], 'nothing fetched');

    const png = join(dir, 'diff.png');
    await page.locator('#diff').screenshot({ path: png });
    assert.ok(existsSync(png) && statSync(png).size > 10 * 1024);
    console.log(`# screenshot: ${png}`);
    await page.close();
  });
});
