/**
 * The live web console in a test: wait for its port, open its page in headless Chromium (noting
 * what it fetches elsewhere and every error), read an element, press a control button.
 */
import type { Browser, Page } from 'playwright-core';
import { check } from './check.js';

/** Opens the page and records what it fetches from anywhere but the console, and its errors. */
export async function openConsole(browser: Browser, url: string): Promise<{ page: Page; foreign: string[]; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  const origin = new URL(url).origin;
  const foreign: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => void (new URL(r.url()).origin !== origin && foreign.push(r.url())));
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
  page.on('requestfailed', (r) => void problems.push(`${r.url()}: ${r.failure()?.errorText}`));
  await page.goto(url);
  await check(async () => (await page.locator('#conn').textContent()) === 'live', 10_000, 'the event stream to open');
  return { page, foreign, problems };
}

/** Polls the console's port until it answers (any status: 401 is an answer too). */
export function listening(port: number): Promise<void> {
  return check(async () => (await fetch(`http://127.0.0.1:${port}/api/view`)).status > 0, 30_000, `the console on port ${port}`);
}

/** The text of the first element `sel` matches ('' when it has none). */
export const text = async (page: Page, sel: string): Promise<string> => (await page.locator(sel).textContent()) ?? '';

/** Clicks a control button and waits for the page's reply to it; returns the reply. */
export async function press(page: Page, button: string, op: string): Promise<string> {
  await page.click(button);
  await check(async () => (await text(page, '#reply')).startsWith(`${op}: `), 10_000, `the reply to ${op}`);
  return text(page, '#reply');
}
