import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { addToLedger, AGE_SLICES, dropBelow, RetentionBook, repoKeepSchema, retentionCut, shouldSample, type LedgerChunk, type RetentionLimits } from '../../services/traffic/keep.js';

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

describe('retention book (fake clock)', () => {
  const MIN = 60_000;
  const book = (limits: Record<string, Partial<RetentionLimits>>, chunk = 10): RetentionBook =>
    new RetentionBook(new Map(Object.entries(limits).map(([r, l]) => [r, { max_age_ms: 0, max_bytes: 0, ...l }])), chunk);

  test('a chunk also closes after max_age / AGE_SLICES of stored time, so a quiet repo ages out', () => {
    // One line a minute, chunks of 1000 lines: without the time bound one chunk would hold them all.
    const l: LedgerChunk[] = [];
    for (let i = 0; i < 60; i++) addToLedger(l, i + 1, 10, i * MIN, 1000, (20 * MIN) / AGE_SLICES);
    assert.equal(l.length, 30, 'chunks of two lines: one minute apart, span one minute');
    assert.ok(l.every((c) => c.newest_ms - c.oldest_ms <= MIN));
  });

  test('age: nothing is due until the clock passes a chunk\'s newest line by max_age', () => {
    const b = book({ shop: { max_age_ms: 10 * MIN } }, 1000);
    // 40 lines, one every 30 s from t = 0; chunks span at most 30 s (10 min / 20).
    for (let i = 0; i < 40; i++) b.see('shop', i + 1, 100, i * 30_000);
    const rows: Array<[number, number, string]> = [
      // Chunks of two lines (0 s and 30 s, 60 s and 90 s, …): a chunk goes once its newest is old.
      [10 * MIN + 30_000, 0, 'the first chunk\'s newest line is exactly max_age old: kept'],
      [10 * MIN + 30_001, 2, 'a millisecond later the first chunk goes'],
      [15 * MIN + 30_001, 12, 'five minutes later: ten more lines'],
      [40 * MIN, 40, 'everything is old'],
    ];
    for (const [now, lines, why] of rows) {
      const due = b.due(now);
      assert.equal(due.reduce((a, c) => a + c.lines, 0), lines, `${why}: due(${now}) = ${JSON.stringify(due)}`);
      if (lines) assert.deepEqual([due[0]!.repo, due[0]!.reason], ['shop', 'age']);
    }
  });

  test('bytes: the oldest chunks of that repo only; a purge is remembered', () => {
    const b = book({ shop: { max_bytes: 2500 }, auth: { max_age_ms: 60 * MIN } });
    // Interleaved repos in one stream; "web" has no limits and is not tracked at all.
    for (let seq = 1; seq <= 90; seq++) b.see(['shop', 'auth', 'web'][seq % 3]!, seq, 100, seq);
    assert.deepEqual(b.repos, ['shop', 'auth']);
    assert.deepEqual(b.held('shop'), { lines: 30, bytes: 3000 });
    const due = b.due(100);
    // Chunks of 10 lines (1000 bytes): keeping 3 = 3000 > 2500, so the oldest goes.
    assert.equal(due.length, 1, JSON.stringify(due));
    assert.deepEqual({ repo: due[0]!.repo, reason: due[0]!.reason, lines: due[0]!.lines, bytes: due[0]!.bytes }, { repo: 'shop', reason: 'bytes', lines: 10, bytes: 1000 });
    // The cut is just past shop's 10th line (seq 30), so a subject-filtered purge below it takes only those.
    assert.equal(due[0]!.cut, 31);
    b.purged('shop', due[0]!.cut);
    assert.deepEqual(b.held('shop'), { lines: 20, bytes: 2000 });
    assert.deepEqual(b.due(100), [], 'nothing more once purged');
    assert.deepEqual(b.held('auth'), { lines: 30, bytes: 3000 }, 'auth untouched');
  });

  test('the stream\'s own limits: chunks below its first sequence are forgotten', () => {
    const b = book({ shop: { max_bytes: 1_000_000 } });
    for (let seq = 1; seq <= 50; seq++) b.see('shop', seq, 10, seq);
    b.forgetBelow(21);
    assert.deepEqual(b.held('shop'), { lines: 30, bytes: 300 });
  });

  test('age and bytes together: the larger cut wins and names its reason', () => {
    const b = book({ shop: { max_age_ms: 1000, max_bytes: 1500 } });
    for (let seq = 1; seq <= 40; seq++) b.see('shop', seq, 100, seq * 100);
    // Lines 100 ms apart, chunks span 50 ms: a chunk per line. At t = 2500 age cuts below 15
    // (stored before 1500), bytes below 26 (the newest 15 lines are 1500 bytes).
    assert.deepEqual(b.due(2500).map((c) => [c.cut, c.reason]), [[26, 'bytes']]);
    // Far later, age takes everything; bytes alone would keep the newest chunk.
    assert.deepEqual(b.due(100_000).map((c) => [c.cut, c.reason]), [[41, 'age']]);
  });
});
