/**
 * The ownership lease against a real nats-server: of two processes one holds the role, the
 * other stands by; a clean release hands it over at once; a holder that goes silent (its
 * connection closed, as when it is killed or cut off) is taken over within TTL + a poll, and
 * stops counting itself the owner before that.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { Lease } from '../../shared/lease/lease.js';
import { createLogger } from '../../shared/log.js';
import { check } from '../support/check.js';
import { havokFixture, type HavokFixture } from '../support/fixture.js';

const log = createLogger('lease-test');
log.level = 'silent';
const timing = { ttlMs: 1500, renewMs: 250 };

/** A lease of its own NATS client; released (its renew timer stopped) when the fixture ends. */
async function lease(fx: HavokFixture, job: string, holder: string): Promise<{ nc: NatsConnection; lease: Lease }> {
  const nc = await fx.connect();
  const l = new Lease({ nc, job, role: 'timewheel', holder, log, timing });
  fx.defer(() => l.release());
  return { nc, lease: l };
}

test('one holds, the other stands by; a release hands over at once', async () => {
  await using fx = await havokFixture();
  const a = await lease(fx, 'job-a', 'a');
  const b = await lease(fx, 'job-a', 'b');
  const ac = new AbortController();
  const bc = new AbortController();
  await a.lease.acquire(ac.signal);
  assert.equal(a.lease.isOwner(), true);
  let bHolds = false;
  const bAcquired = b.lease.acquire(bc.signal).then(() => (bHolds = true));
  await new Promise((r) => setTimeout(r, 2 * timing.ttlMs));
  assert.equal(bHolds, false, 'b stands by while a renews');
  assert.equal(a.lease.isOwner(), true);
  const released = Date.now();
  await a.lease.release();
  await bAcquired;
  assert.ok(Date.now() - released < timing.renewMs * 3, `b took over ${Date.now() - released} ms after the release`);
  assert.equal(a.lease.isOwner(), false);
  assert.equal(b.lease.isOwner(), true);
  await b.lease.release();
});

test('a silent holder: the standby takes over after the TTL, never while the holder still acts', async () => {
  await using fx = await havokFixture();
  const a = await lease(fx, 'job-b', 'a');
  const b = await lease(fx, 'job-b', 'b');
  await a.lease.acquire(new AbortController().signal);
  let bHeldAt = 0;
  const bAcquired = b.lease.acquire(new AbortController().signal).then(() => (bHeldAt = Date.now()));
  await new Promise((r) => setTimeout(r, 500));
  const cutAt = Date.now();
  await a.nc.close(); // a can no longer renew
  let aStoppedAt = 0;
  await check(() => {
    if (!a.lease.isOwner() && !aStoppedAt) aStoppedAt = Date.now();
    return bHeldAt > 0;
  }, 10_000, 'b to take over');
  await bAcquired;
  assert.ok(aStoppedAt > 0 && aStoppedAt <= bHeldAt, `a stopped acting (${aStoppedAt - cutAt} ms) before b started (${bHeldAt - cutAt} ms)`);
  assert.ok(bHeldAt - cutAt <= timing.ttlMs + 3 * timing.renewMs, `takeover ${bHeldAt - cutAt} ms after the holder went silent`);
  await b.lease.release();
});

test('acquire ends when its signal aborts (a standby told to close)', async () => {
  await using fx = await havokFixture();
  const a = await lease(fx, 'job-c', 'a');
  const b = await lease(fx, 'job-c', 'b');
  await a.lease.acquire(new AbortController().signal);
  const bc = new AbortController();
  const p = b.lease.acquire(bc.signal);
  setTimeout(() => bc.abort(new Error('closing')), 300);
  await assert.rejects(p, /closing/);
  assert.equal(b.lease.isOwner(), false);
  await a.lease.release();
});
