/**
 * The jetstream source's pure decisions: its subject filter, where it starts (a JetStream start
 * time from `[job] begin`; resuming, the message of a line position and the lines before it
 * skipped), when it stops (the sequence at open, `[job] end` + slack by stored time), and what a
 * stored message becomes: each of its lines, in order, with and without a `keep` predicate (the
 * hook a filter plugs into).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../shared/config.js';
import { chainFor } from '../../services/fetcher/source.js';
import { linesToSkip, messageVerdicts, pastEnd, resumePoint, startOf, storedVerdict, subjectFilters } from '../../services/fetcher/sources/jetstream/record.js';
import { positionParts, TRAFFIC_MAX_LINES, trafficLines, trafficMessage, trafficPosition } from '../../shared/protocol.js';
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

  test('a message of several lines: each a verdict, in order, cut as trafficLines cuts it; from a line on', async () => {
    const chain = await chainFor(loadConfig({}), { format: 'jsonl' });
    const objs = [0, 1, 2, 3].map((i) => ({ ts: 1704067200000 + i, method: i === 2 ? 'POST' : 'GET', url: `/é/${i}`, received_ms: 1 }));
    const text = trafficMessage([...objs.slice(0, 3).map((o) => JSON.stringify(o)), 'not json', JSON.stringify(objs[3])]);
    // A view into a larger buffer, as a received message is: the line views must stay inside it.
    const wire = Buffer.concat([Buffer.from('HEAD'), Buffer.from(text), Buffer.from('TAIL')]);
    const data = new Uint8Array(wire.buffer, wire.byteOffset + 4, wire.length - 8);
    const all = [...messageVerdicts(data, chain)];
    assert.deepEqual(
      all.map((v) => v.line),
      trafficLines(data).map((l) => Buffer.from(l).toString('utf8')),
    );
    assert.deepEqual(
      all.map((v) => (v.res.ok ? v.res.rec.url : 'error')),
      ['/é/0', '/é/1', '/é/2', 'error', '/é/3'],
    );
    // keep: per line; a line that is no JSON stays a parse error.
    assert.deepEqual(
      [...messageVerdicts(data, chain, (o) => o.method === 'GET')].map((v) => (v.res.ok ? 'ok' : v.res.filtered ? 'filtered' : 'error')),
      ['ok', 'ok', 'filtered', 'error', 'ok'],
    );
    // From line 3 on (a resume inside the message); past the last line, nothing.
    assert.deepEqual(
      [...messageVerdicts(data, chain, undefined, 3)].map((v) => v.line),
      all.slice(3).map((v) => v.line),
    );
    assert.deepEqual([...messageVerdicts(data, chain, undefined, 5)], []);
    // An old message of one line (no line break) is that line.
    const one = [...messageVerdicts(Buffer.from(JSON.stringify(objs[0])), chain)];
    assert.equal(one.length, 1);
    assert.ok(one[0]!.res.ok);
  });

  test('resume: the consumer starts at the position\'s message; only that message skips the lines before the position\'s line', () => {
    const at = resumePoint(trafficPosition(42, 7));
    assert.deepEqual(at, { seq: 42, line: 7 });
    assert.equal(linesToSkip(42, at), 7);
    assert.equal(linesToSkip(43, at), 0, 'a later message (the resume message gone) is read whole');
    assert.equal(linesToSkip(42, undefined), 0);
    // A batch ending at the last line of its message: the next starts at one past it, which
    // reads nothing more of that message and then the next message whole.
    const next = resumePoint(trafficPosition(42, TRAFFIC_MAX_LINES - 1) + 1);
    assert.deepEqual(next, { seq: 42, line: TRAFFIC_MAX_LINES });
    assert.equal(linesToSkip(43, next), 0);
  });

  test('line positions: ordered as the stream (sequence, then line); `last + 1` is the next line of the message', () => {
    const positions = [
      [1, 0],
      [1, 1],
      [1, TRAFFIC_MAX_LINES - 1],
      [2, 0],
      [2 ** 33 - 1, TRAFFIC_MAX_LINES - 1],
    ].map(([seq, line]) => trafficPosition(seq!, line!));
    for (let i = 1; i < positions.length; i++) assert.ok(positions[i - 1]! < positions[i]!, `position ${i} after ${i - 1}`);
    for (const [seq, line] of [[1, 0], [9, 4095], [123456789, 17]] as const) {
      const pos = trafficPosition(seq, line);
      assert.ok(Number.isSafeInteger(pos));
      assert.deepEqual(positionParts(pos), { seq, line });
      assert.deepEqual(positionParts(pos + 1), { seq, line: line + 1 });
      assert.deepEqual(positionParts(pos - 1 + 1), { seq, line }, "the fetcher's `from - 1` then `+ 1` comes back to `from`");
    }
  });
});
