/**
 * The jetstream source's pure decisions: its subject filter, where it starts (a JetStream start
 * time from `[job] begin`), when it stops (the sequence at open, `[job] end` + slack by stored
 * time), and what a stored message becomes, with and without a `keep` predicate (the hook a
 * filter plugs into).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../shared/config.js';
import { chainFor } from '../../services/fetcher/source.js';
import { pastEnd, startOf, storedVerdict, subjectFilters } from '../../services/fetcher/sources/jetstream/record.js';
import { jetstreamSchema } from '../../services/fetcher/sources/jetstream/schema.js';

describe('jetstream source', () => {
  test('subjects: the repo\'s, every method', () => {
    assert.deepEqual(subjectFilters(jetstreamSchema.parse({ repo: 'web' })), ['havok.traffic.web.*']);
  });
  test('start: all, or the stored time of begin', () => {
    assert.deepEqual(startOf(undefined), { deliver: 'all' });
    assert.deepEqual(startOf(Date.UTC(2024, 0, 1)), { deliver: 'by_start_time', time: '2024-01-01T00:00:00.000Z' });
  });
  test('end: past the sequence at open, or stored after end + slack', () => {
    const rows: Array<[number, number, { lastSeq: number; endStoredMs?: number }, boolean]> = [
      [10, 0, { lastSeq: 10 }, false], // the last message of the job
      [11, 0, { lastSeq: 10 }, true], // stored after the job opened
      [5, 1000, { lastSeq: 10, endStoredMs: 1000 }, false], // at the end bound
      [5, 1001, { lastSeq: 10, endStoredMs: 1000 }, true], // past it
    ];
    for (const [seq, stored, b, want] of rows) assert.equal(pastEnd(seq, stored, b), want, `pastEnd(${seq}, ${stored}, ${JSON.stringify(b)})`);
  });
  test('a stored message through the jsonl mapping, and through keep', async () => {
    const cfg = loadConfig({});
    const chain = await chainFor(cfg, { format: 'jsonl' });
    const line = JSON.stringify({ ts: 1704067200000, method: 'POST', url: '/a', headers: { 'x-a': '1' }, body: 'hi', received_ms: 1 });
    const r = storedVerdict(line, chain);
    assert.ok(r.ok);
    assert.deepEqual([r.rec.ts, r.rec.method, r.rec.url, r.rec.body], [1704067200000, 'POST', '/a', 'hi']);
    assert.deepEqual(storedVerdict(line, chain, (o) => o.method === 'GET'), { ok: false, filtered: true });
    assert.ok(storedVerdict(line, chain, (o) => o.method === 'POST').ok);
    const bad = storedVerdict('{"url":"/no-ts"}', chain, () => true);
    assert.equal(bad.ok, false);
  });
});
