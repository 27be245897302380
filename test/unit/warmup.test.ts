/** The replayer's synthetic warm-up records (services/replayer/warmup.ts): pure, no sockets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { warmupRecords } from '../../services/replayer/warmup.js';

test('warm-up records: GETs and every tenth a POST with a body, all due at once, numbered from `from`', () => {
  const recs = warmupRecords(10, 20, 123);
  assert.equal(recs.length, 20);
  assert.deepEqual(recs.map((r) => r.seq), Array.from({ length: 20 }, (_, i) => 10 + i));
  assert.ok(recs.every((r) => r.due === 123 && r.copy === 0));
  assert.deepEqual(recs.filter((r) => r.method === 'POST').map((r) => [r.seq, r.body]), [[10, '{}'], [20, '{}']]);
  assert.ok(recs.filter((r) => r.method === 'GET').every((r) => r.body === undefined));
});
