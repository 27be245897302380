import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { changeRate, copiesFor, rateOf, startRate } from '../../services/timewheel/rate.js';

// The slow, obviously-right reference (k6's big.Rat habit): a rate with at most 9 decimals is the
// fraction units / 1e9 with integer units, and everything below is BigInt, so nothing rounds.
const S = 1_000_000_000n;

/** Exact units of 1e-9 of a decimal rate given as text ("2.75" → 2_750_000_000n). */
function unitsOf(text: string): bigint {
  const [int, frac = ''] = text.split('.');
  assert.ok(frac.length <= 9, `at most 9 decimals: ${text}`);
  return BigInt(int) * S + BigInt(frac.padEnd(9, '0'));
}

/** ⌊n · units / 1e9⌋, exactly. */
const floorTimes = (n: bigint, units: bigint): bigint => (n * units) / S;

/** A rate in [0, max] with at most 9 decimals, as its text and its exact units. */
const rateArb = (max: number) =>
  fc.bigInt({ min: 0n, max: BigInt(max) * S }).map((units) => {
    const text = `${units / S}.${(units % S).toString().padStart(9, '0')}`;
    return { text, units };
  });

const FIXED = ['0', '0.1', '0.5', '1', '1.5', '2.75', '3'];

/**
 * Runs n records and checks after every one of them: the running total is ⌊i·rate⌋ and each
 * record got ⌊rate⌋ or ⌈rate⌉ copies. Returns nothing; fails with the rate and the record index.
 */
function checkRun(text: string, n: number): void {
  const units = unitsOf(text);
  const lo = Number(units / S);
  const hi = units % S === 0n ? lo : lo + 1;
  const s = startRate(Number(text));
  let total = 0n;
  for (let i = 1; i <= n; i++) {
    const c = copiesFor(s);
    if (c !== lo && c !== hi) assert.fail(`rate ${text}: record ${i} got ${c} copies, want ${lo} or ${hi}`);
    total += BigInt(c);
    const want = floorTimes(BigInt(i), units);
    if (total !== want) assert.fail(`rate ${text}: after ${i} records ${total} copies, want ⌊${i}·${text}⌋ = ${want}`);
  }
}

describe('rate: exact fractional copies', () => {
  for (const text of FIXED) {
    test(`rate ${text}: after every n ≤ 100000 records, total = ⌊n·rate⌋ and each record gets ⌊rate⌋ or ⌈rate⌉`, () => {
      checkRun(text, 100_000);
    });
  }

  test('property: any rate with ≤ 9 decimals (0…1000), any n ≤ 100000', () => {
    fc.assert(
      fc.property(rateArb(1000), fc.integer({ min: 0, max: 100_000 }), ({ text }, n) => checkRun(text, n)),
      { numRuns: 60 },
    );
  });

  test('property: small rates with long fractions (0…3), where the rounding is hardest', () => {
    fc.assert(
      fc.property(rateArb(3), fc.integer({ min: 0, max: 100_000 }), ({ text }, n) => checkRun(text, n)),
      { numRuns: 60 },
    );
  });

  const patterns: Array<[string, number[], string]> = [
    ['1.5', [1, 2, 1, 2, 1, 2], 'alternately once and twice'],
    ['0.5', [0, 1, 0, 1, 0, 1], 'every other record'],
    ['0.25', [0, 0, 0, 1, 0, 0, 0, 1], 'every fourth record'],
    ['2.75', [2, 3, 3, 3, 2, 3, 3, 3], 'three of four get 3'],
    ['0', [0, 0, 0, 0], 'nothing'],
    ['1', [1, 1, 1, 1], 'each once'],
  ];
  for (const [text, want, why] of patterns) {
    test(`rate ${text}: ${why} (${want.join(',')})`, () => {
      const s = startRate(Number(text));
      const got = want.map(() => copiesFor(s));
      assert.deepEqual(got, want, `rate ${text}: copies of the first ${want.length} records`);
    });
  }

  test('rateOf gives back the rate', () => {
    for (const text of [...FIXED, '0.123456789', '999.999999999']) {
      assert.equal(rateOf(startRate(Number(text))), Number(text), `rateOf(startRate(${text}))`);
    }
  });
});

describe('rate: changeRate keeps totals exact', () => {
  /**
   * Reference over segments: each segment adds n·units to the carried fraction; the copies are
   * the whole part, the remainder carries into the next segment.
   */
  function reference(segments: ReadonlyArray<{ units: bigint; n: number }>): bigint {
    let acc = 0n;
    let total = 0n;
    for (const { units, n } of segments) {
      const sum = acc + BigInt(n) * units;
      total += sum / S;
      acc = sum % S;
    }
    return total;
  }

  test('property: after any sequence of rate changes, total = Σ ⌊segment with carried fraction⌋ = ⌊Σ nᵢ·rateᵢ⌋', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ rate: fc.oneof(fc.constantFrom(...FIXED).map((t) => ({ text: t, units: unitsOf(t) })), rateArb(5)), n: fc.integer({ min: 0, max: 3000 }) }), {
          minLength: 1,
          maxLength: 12,
        }),
        (segs) => {
          const s = startRate(Number(segs[0].rate.text));
          let total = 0n;
          const done: Array<{ units: bigint; n: number }> = [];
          for (const [i, { rate, n }] of segs.entries()) {
            if (i > 0) changeRate(s, Number(rate.text));
            for (let k = 0; k < n; k++) total += BigInt(copiesFor(s));
            done.push({ units: rate.units, n });
            const want = reference(done);
            const desc = done.map((d, j) => `${segs[j].rate.text}×${d.n}`).join(' then ');
            assert.equal(total, want, `${desc}: ${total} copies, want ${want}`);
            // The carried fraction telescopes: the same as one exact sum over all segments.
            const flat = done.reduce((a, d) => a + BigInt(d.n) * d.units, 0n) / S;
            assert.equal(want, flat, `reference self-check for ${desc}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  const rows: Array<[string, Array<[string, number]>, number]> = [
    // 0.5 for 3 records leaves half a copy carried; at 0.5 again the 4th record completes it
    ['a change keeps the half copy carried so far', [['0.5', 3], ['0.5', 1]], 2],
    // 0.5×3 = 1.5 (1 out, .5 carried), then 1.5×1 → 2.0: the 4th record gets 2
    ['0.5 then 1.5', [['0.5', 3], ['1.5', 1]], 3],
    // 1.5×1 = 1.5, then 0×5: no more copies, the half stays carried
    ['to 0 stops sending', [['1.5', 1], ['0', 5]], 1],
    // … and resuming at 0.5 completes it on the first record
    ['back from 0 completes the carried fraction', [['1.5', 1], ['0', 5], ['0.5', 1]], 2],
  ];
  for (const [why, segs, want] of rows) {
    test(`${why}: ${segs.map(([r, n]) => `${r}×${n}`).join(', ')} → ${want} copies`, () => {
      const s = startRate(Number(segs[0][0]));
      let total = 0;
      for (const [i, [r, n]] of segs.entries()) {
        if (i > 0) changeRate(s, Number(r));
        for (let k = 0; k < n; k++) total += copiesFor(s);
      }
      assert.equal(total, want, `${segs.map(([r, n]) => `${r}×${n}`).join(', ')}`);
    });
  }
});
