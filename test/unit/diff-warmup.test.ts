/**
 * The comparison's warm-up runs the whole comparison on synthetic records and leaves nothing in
 * the counts: a sender warmed up reports exactly what an unwarmed one does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiffSender } from '../../services/diff/sender.js';
import { diffSchema } from '../../services/diff/settings.js';
import { systemClock } from '../../services/replayer/scheduler.js';

test('a warmed-up sender has counted nothing', async () => {
  for (const secondary of [undefined, 'http://127.0.0.1:3']) {
    const settings = diffSchema.parse({ primary: 'http://127.0.0.1:1', candidate: 'http://127.0.0.1:2', ...(secondary ? { secondary } : {}) });
    const sender = new DiffSender(settings, { timeoutMs: 1000, connections: 1, clock: systemClock });
    sender.warmUp();
    const snap = sender.snapshot();
    assert.deepEqual(snap.endpoints, {});
    assert.deepEqual(snap.bodies, {});
    assert.deepEqual(snap.examples, []);
    assert.ok(Object.values(snap.targets).every((t) => t.sent === 0), 'nothing sent');
    await sender.close();
  }
});
