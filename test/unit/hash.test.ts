import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { fnv1a, shardFor } from '../../shared/hash.js';

describe('fnv1a', () => {
  // Published FNV-1a 32-bit test vectors (Landon Curt Noll's fnv test suite).
  const rows: Array<[string, number, string]> = [
    ['', 0x811c9dc5, 'empty string is the offset basis'],
    ['a', 0xe40c292c, 'one byte'],
    ['foobar', 0xbf9cf968, 'six bytes'],
    ['b', 0xe70c2de5, 'another single byte'],
    ['foo', 0xa9f37ed7, 'prefix of foobar'],
  ];
  for (const [input, want, why] of rows) {
    test(`${why}: fnv1a(${JSON.stringify(input)}) = 0x${want.toString(16)}`, () => {
      const got = fnv1a(input);
      assert.equal(got, want, `fnv1a(${JSON.stringify(input)}) = 0x${got.toString(16)}, want 0x${want.toString(16)}`);
    });
  }

  test('is an unsigned 32-bit integer for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
        const h = fnv1a(s);
        assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff, `fnv1a(${JSON.stringify(s)}) = ${h}`);
      }),
    );
  });

  test('a seed continues the hash: fnv1a(b, fnv1a(a)) = fnv1a(a + b)', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => assert.equal(fnv1a(b, fnv1a(a)), fnv1a(a + b), `a=${JSON.stringify(a)} b=${JSON.stringify(b)}`)));
  });
});

describe('shardFor (rendezvous hashing)', () => {
  const KEYS = Array.from({ length: 100_000 }, (_, i) => `user-${i}`);
  const members = (n: number) => Array.from({ length: n }, (_, i) => `replayer-${i + 1}`);

  function owners(ms: readonly string[]): string[] {
    return KEYS.map((k) => shardFor(k, ms));
  }

  test('property: stable, and independent of the members order', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (key, ms, seed) => {
          const a = shardFor(key, ms);
          assert.equal(shardFor(key, ms), a, `shardFor(${JSON.stringify(key)}, ${JSON.stringify(ms)}) twice`);
          assert.ok(ms.includes(a), `owner ${JSON.stringify(a)} is a member`);
          // A deterministic shuffle of the members.
          const shuffled = [...ms].sort((x, y) => fnv1a(x, seed) - fnv1a(y, seed));
          assert.equal(shardFor(key, shuffled), a, `key ${JSON.stringify(key)}: ${JSON.stringify(ms)} vs ${JSON.stringify(shuffled)}`);
        },
      ),
    );
  });

  test('a single member owns everything', () => {
    assert.equal(shardFor('anything', ['only']), 'only');
  });

  for (const n of [2, 3, 4, 5, 10]) {
    test(`${n} members: each owns ${100 / n}% ± 10% of ${KEYS.length} keys`, () => {
      const ms = members(n);
      const counts = new Map<string, number>();
      for (const o of owners(ms)) counts.set(o, (counts.get(o) ?? 0) + 1);
      const even = KEYS.length / n;
      for (const m of ms) {
        const c = counts.get(m) ?? 0;
        assert.ok(Math.abs(c - even) <= 0.1 * even, `${m} owns ${c} of ${KEYS.length} keys, want ${even} ± 10%`);
      }
    });
  }

  test('adding a 4th member to 3 moves ≤ 30% of keys (~25%), all of them to the newcomer', () => {
    const before = owners(members(3));
    const after = owners(members(4));
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      assert.equal(after[i], 'replayer-4', `${KEYS[i]} moved ${before[i]} → ${after[i]}, not to the new member`);
    }
    const share = moved / KEYS.length;
    assert.ok(share <= 0.3 && share >= 0.2, `${moved} of ${KEYS.length} keys (${(share * 100).toFixed(1)}%) moved, want ~25% and ≤ 30%`);
  });

  test('removing one of 4 members moves only the keys that member held', () => {
    const four = members(4);
    const before = owners(four);
    for (const gone of four) {
      const after = owners(four.filter((m) => m !== gone));
      for (let i = 0; i < KEYS.length; i++) {
        if (before[i] === gone) assert.notEqual(after[i], gone, `${KEYS[i]} still on removed ${gone}`);
        else assert.equal(after[i], before[i], `${KEYS[i]} moved ${before[i]} → ${after[i]} though only ${gone} left`);
      }
    }
  });
});
