import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { addToLedger, dropBelow, repoKeepSchema, retentionCut, shouldSample, type LedgerChunk } from '../../services/traffic/keep.js';

describe('shouldSample', () => {
  const s = (rate: number, missing: 'keep' | 'drop' = 'keep') => ({ rate, key: 'user', missing });

  test('no settings or rate 1 keep everything; a missing key follows `missing`', () => {
    assert.ok(shouldSample({ user: 'u1' }, undefined));
    assert.ok(shouldSample({ user: 'u1' }, s(1)));
    assert.ok(shouldSample({}, s(0.01)));
    assert.ok(!shouldSample({}, s(0.01, 'drop')));
  });

  test('consistent per key: every line of a key gets the same answer, whatever else it holds', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.double({ min: 0.001, max: 1, noNaN: true }), fc.string(), (user, rate, url) => {
        assert.equal(shouldSample({ user, url }, s(rate)), shouldSample({ user, url: url + '/x', method: 'POST' }, s(rate)));
      }),
    );
  });

  test('keeps about `rate` of the keys, and a lower rate keeps a subset', () => {
    const users = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
    for (const rate of [0.01, 0.1, 0.5]) {
      const kept = users.filter((u) => shouldSample({ user: u }, s(rate))).length / users.length;
      assert.ok(Math.abs(kept - rate) < Math.max(0.01, rate * 0.15), `rate ${rate} kept ${kept}`);
    }
    for (const u of users) if (shouldSample({ user: u }, s(0.1))) assert.ok(shouldSample({ user: u }, s(0.5)), u);
  });

  test('nested key fields, numbers as text', () => {
    const nested = { rate: 0.5, key: 'headers.x-user', missing: 'drop' as const };
    assert.equal(shouldSample({ headers: { 'x-user': '42' } }, nested), shouldSample({ headers: { 'x-user': 42 } }, nested));
  });
});

describe('retention per repo', () => {
  const ledgerOf = (lines: Array<[number, number, number]>, chunk = 2): LedgerChunk[] => lines.reduce<LedgerChunk[]>((l, [seq, bytes, ms]) => addToLedger(l, seq, bytes, ms, chunk), []);
  // Six lines of 100 bytes, stored at t = 10, 20, … 60; chunks of two.
  const ledger = ledgerOf([10, 11, 12, 13, 14, 15].map((seq, i) => [seq, 100, (i + 1) * 10]));

  test('ledger chunks', () => {
    assert.deepEqual(
      ledger.map((c) => [c.first_seq, c.last_seq, c.bytes, c.newest_ms, c.count]),
      [
        [10, 11, 200, 20, 2],
        [12, 13, 200, 40, 2],
        [14, 15, 200, 60, 2],
      ],
    );
  });

  test('cuts by age and bytes, whole chunks only', () => {
    const cases: Array<[number, number, number, number, string]> = [
      [0, 0, 100, 0, 'no limits: keep all'],
      [50, 0, 75, 12, 'age: chunk 1 (newest 20 < 75 - 50) goes'],
      [50, 0, 95, 14, 'age: chunks 1-2 (newest 40 < 45) go'],
      [50, 0, 200, 16, 'age: everything is older'],
      [0, 400, 100, 12, 'bytes: newest 400 kept'],
      [0, 399, 100, 14, 'bytes: 399 keeps only the newest chunk'],
      [0, 50, 100, 14, 'bytes: the newest chunk stays even over the cap'],
      [50, 400, 95, 14, 'age and bytes: the larger cut'],
    ];
    for (const [maxAge, maxBytes, now, want, why] of cases) assert.equal(retentionCut(ledger, { max_age_ms: maxAge, max_bytes: maxBytes }, now), want, why);
    assert.deepEqual(dropBelow(ledger, 14).map((c) => c.first_seq), [14]);
  });

  test('property: what is kept fits the byte cap, except the newest chunk', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 20_000 }), (sizes, cap) => {
        const l = ledgerOf(sizes.map((b, i) => [i + 1, b, i]), 7);
        const cut = retentionCut(l, { max_age_ms: 0, max_bytes: cap }, 0);
        const kept = dropBelow(l, cut);
        const bytes = kept.reduce((a, c) => a + c.bytes, 0);
        assert.ok(bytes <= cap || kept.length === 1, `kept ${bytes} > ${cap} in ${kept.length} chunks`);
        // Maximal: one more chunk would break the cap.
        const next = l[l.length - kept.length - 1];
        if (next) assert.ok(bytes + next.bytes > cap);
      }),
    );
  });

  test('settings are strict and name the key', () => {
    assert.deepEqual(repoKeepSchema.parse({ sample: { rate: 0.1, key: 'user' } }), { max_age_ms: 0, max_bytes: 0, sample: { rate: 0.1, key: 'user', missing: 'keep' } });
    const bad = repoKeepSchema.safeParse({ sample: { rate: 0, key: 'user' }, colour: 1 });
    assert.ok(!bad.success);
    const paths = bad.error.issues.map((i) => i.path.join('.') || (i as { keys?: string[] }).keys?.join(','));
    assert.ok(paths.includes('sample.rate') && paths.includes('colour'), JSON.stringify(paths));
  });
});
