/**
 * connectBus's first connection, against a port nothing listens on: it retries with doubling
 * waits (logged each time), gives up after `firstConnectTimeoutMs` with an error naming the URL
 * and the attempts, and stops at once when its signal aborts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectBus } from '../../shared/bus.js';
import { loadConfig } from '../../shared/config.js';
import { captureLog } from '../support/log-capture.js';
import { freePort } from '../../shared/ports.js';



describe('connectBus: the first connection', { timeout: 30_000 }, () => {
  test('unreachable: retries 200, 400 ms…, then an error naming the URL and the attempts', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const { log, lines } = captureLog('info');
    const started = Date.now();
    await assert.rejects(connectBus(loadConfig({ set: [`nats.url="${url}"`] }).nats, log, { name: 't', firstConnectTimeoutMs: 500 }), (err: Error) => {
      assert.match(err.message, new RegExp(`^NATS at ${url} unreachable after \\d+ attempts: `));
      return true;
    });
    const retries = lines.filter((l) => l.msg === 'NATS unreachable, retrying');
    assert.ok(retries.length >= 2, JSON.stringify(lines));
    // The first miss is logged at info (havok local's actors may start before its nats-server), later ones warn.
    assert.deepEqual(retries.slice(0, 2).map((l) => [l.attempt, l.retry_in_ms, l.level]), [[1, 200, 30], [2, 400, 40]]);
    assert.ok(Date.now() - started >= 600 && Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  test('an abort stops the retrying at once', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const ac = new AbortController();
    const { log } = captureLog('warn');
    const started = Date.now();
    const p = connectBus(loadConfig({ set: [`nats.url="${url}"`] }).nats, log, { name: 't', signal: ac.signal });
    setTimeout(() => ac.abort(new Error('closing')), 300);
    await assert.rejects(p, /closing/);
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });
});
