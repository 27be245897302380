/**
 * The traffic stream's message format: a POST's lines packed per subject (deterministically, so
 * a retried POST gets the same message ids), split back into lines, and addressed `SEQ:LINE`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { packLines } from '../../services/gateway/outputs/pack.js';
import { storedJson } from '../../services/gateway/pipeline/pipeline.js';
import { parseTrafficLineId, positionParts, trafficLineId, trafficLines, trafficMessage, trafficPosition } from '../../shared/protocol.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const linesOf = (payload: string): string[] => trafficLines(enc.encode(payload)).map((l) => dec.decode(l));

describe('traffic messages', () => {
  test('lines round-trip through a message; a one-line message is its line', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue().map((v) => JSON.stringify({ v })), { minLength: 1, maxLength: 20 }), (lines) => {
        assert.deepEqual(linesOf(trafficMessage(lines)), lines);
      }),
    );
    assert.deepEqual(linesOf('{"url":"/a"}'), ['{"url":"/a"}']);
    assert.deepEqual(linesOf('{"a":"x\\ny"}\n{"b":1}'), ['{"a":"x\\ny"}', '{"b":1}'], 'an escaped newline inside a string is not a break');
  });

  test('a POST packs per subject in body order, within the byte and line limits; the same lines pack the same way', () => {
    const stored = Array.from({ length: 10 }, (_, i) => ({ index: i * 2, subject: i % 3 ? 's.GET' : 's.POST', payload: JSON.stringify({ i, pad: 'x'.repeat(20) }) }));
    const one = packLines(stored, 1 << 20, 4096);
    assert.deepEqual(one.map((m) => [m.subject, m.first, m.lines]), [['s.POST', 0, 4], ['s.GET', 2, 6]]);
    assert.deepEqual(linesOf(one[1]!.payload).map((l) => (JSON.parse(l) as { i: number }).i), [1, 2, 4, 5, 7, 8]);
    const small = packLines(stored, 70, 4096);
    for (const m of small) assert.ok(Buffer.byteLength(m.payload) <= 70 || m.lines === 1, `${m.payload.length} bytes in ${m.lines} lines`);
    assert.equal(small.reduce((n, m) => n + m.lines, 0), 10);
    assert.deepEqual(packLines(stored, 1 << 20, 3).map((m) => m.lines), [3, 1, 3, 3]);
    assert.deepEqual(packLines(stored, 70, 4096), small, 'deterministic: a retried POST has the same message ids');
    assert.deepEqual(new Set(small.map((m) => `${m.subject}:${m.first}`)).size, small.length, 'ids are distinct');
  });

  test('SEQ:LINE ids and positions', () => {
    assert.deepEqual(parseTrafficLineId('12'), { seq: 12, line: 0 });
    assert.deepEqual(parseTrafficLineId('12:7'), { seq: 12, line: 7 });
    for (const bad of ['', '0', 'x', '12:', '12:x', '-1', '1:2:3']) assert.equal(parseTrafficLineId(bad), undefined, bad);
    assert.equal(trafficLineId(12, 7), '12:7');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 33 - 1 }), fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 1, max: 2 ** 33 - 1 }), fc.integer({ min: 0, max: 4095 }), (s1, l1, s2, l2) => {
        assert.deepEqual(positionParts(trafficPosition(s1, l1)), { seq: s1, line: l1 });
        const order = s1 - s2 || l1 - l2;
        assert.equal(Math.sign(trafficPosition(s1, l1) - trafficPosition(s2, l2)), Math.sign(order));
      }),
    );
  });
});

describe('the stored JSON of a line the pipeline did not change', () => {
  test('is the sent text plus received_ms, the same object as writing it again', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.constantFrom('', ' ', '\t '), fc.integer({ min: 0, max: 2 ** 45 }), (obj, pad, ms) => {
        const raw = JSON.stringify(obj, null, pad === '' ? undefined : 1) + pad;
        const line = JSON.parse(raw) as Record<string, unknown>;
        const want = { ...line, received_ms: ms };
        assert.deepEqual(JSON.parse(storedJson(raw, JSON.parse(raw) as Record<string, unknown>, ms, true)), want);
        assert.deepEqual(JSON.parse(storedJson(raw, JSON.parse(raw) as Record<string, unknown>, ms, false)), want);
      }),
    );
    assert.equal(storedJson('{"a":1}', { a: 1 }, 5, true), '{"a":1,"received_ms":5}');
    assert.equal(storedJson('{"received_ms":1,"a":2}', { received_ms: 1, a: 2 }, 5, true), '{"received_ms":5,"a":2}', "the sender's is replaced");
    assert.equal(storedJson('{ }', {}, 5, true), '{"received_ms":5}');
  });
});
