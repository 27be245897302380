/**
 * Issue 20 acceptance, the console's access rules: with a token, the page, its event stream and
 * its controls answer 401 without it; off loopback a token is required (exit 2 naming where it
 * goes). Nothing here is timed, so this file may run beside another (scripts/test.sh); the live
 * job in the console is in console.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { suiteBrowser } from '../support/browser.js';
import { listening, openConsole, press, text } from '../support/console-page.js';
import { havokFixture } from '../support/fixture.js';
import { pacedJsonl } from '../support/havok-cli.js';
import { freePort } from '../../shared/ports.js';

describe('live web console: access', { timeout: 240_000 }, () => {
  const browser = suiteBrowser();

  test('with a token, the page, its events and the controls answer 401 without it; off loopback a token is required', async () => {
    await using fx = await havokFixture({ target: true });
    const job = fx.job({ job: 'locked', format: 'jsonl', lines: pacedJsonl(10, 10, '/x/') });
    // Off loopback without a token: usage error naming where the token goes.
    for (const args of [['console', '--config', job.config, '--listen', '0.0.0.0:0'], ['local', '--config', job.config, '--console', '0.0.0.0:0']]) {
      const res = await fx.run(args, { HAVOK_CONSOLE_TOKEN: '' });
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, /not a loopback address.*--token or HAVOK_CONSOLE_TOKEN/);
    }
    assert.equal(fx.target.count(), 0, 'local did not start the job');

    const port = await freePort();
    const con = fx.havok(['console', '--config', job.config, '--listen', `0.0.0.0:${port}`], { HAVOK_CONSOLE_TOKEN: 's3cret' });
    await listening(port);
    const base = `http://127.0.0.1:${port}`;
    const control = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ op: 'pause' }) };
    for (const [path, init] of [['/', {}], ['/events', {}], ['/api/view', {}], ['/api/control', control], ['/report.json', {}]] as const) {
      assert.equal((await fetch(`${base}${path}`, init)).status, 401, `${path} without a token`);
      assert.equal((await fetch(`${base}${path}?token=wrong`, init)).status, 401, `${path} with a wrong token`);
    }
    const auth = { authorization: 'Bearer s3cret' };
    assert.equal((await fetch(`${base}/`, { headers: auth })).status, 200);
    // No time wheel runs this job: the control request reaches NATS and reports that, as havok ctl does.
    const ctl = await fetch(`${base}/api/control`, { ...control, headers: { ...control.headers, ...auth } });
    assert.equal(ctl.status, 502);
    assert.match(((await ctl.json()) as { error: string }).error, /no time wheel answers for job "locked"/);

    const { page, problems } = await openConsole(browser(), `${base}/?token=s3cret`);
    assert.equal(await text(page, '#state'), 'waiting');
    assert.match(await press(page, '#pause', 'pause'), /no time wheel answers/);
    assert.deepEqual(problems.filter((p) => !/502/.test(p)), []);
    await page.close();
  });
});
