/**
 * Headless Chromium for page tests (the HTML report, the console): the system's
 * /usr/bin/chromium (never a downloaded browser) driven by playwright-core, with the flags that
 * keep it off the network, and a watch on a page for console errors and for anything it fetches
 * beyond its own file.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.HAVOK_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/ensure-deps.sh installs it (apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** Collects a page's console errors and warnings, page errors, and requests that are not file: URLs. */
export function watchPage(page: Page): { problems: string[]; fetched: string[] } {
  const problems: string[] = [];
  const fetched: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('request', (req) => {
    if (!req.url().startsWith('file:')) fetched.push(req.url());
  });
  return { problems, fetched };
}

/**
 * One Chromium for the calling suite: launched before its first test, closed after its last
 * (call inside `describe`). Returns the browser's getter.
 */
export function suiteBrowser(): () => Browser {
  let browser: Browser | undefined;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('suiteBrowser(): the browser is not launched yet (use it inside a test)');
    return browser;
  };
}
