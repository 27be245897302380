/** The router's dispatch sequence: duplicates are refused, gaps are counted as bus_lost. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptBatch, acceptEnd, startSequence } from '../../services/router/sequence.js';

test('in-order batches: nothing lost, nothing duplicate', () => {
  const s = startSequence();
  assert.deepEqual(acceptBatch(s, 0, 500, 500), { duplicate: false, lost: 0 });
  assert.deepEqual(acceptBatch(s, 1, 800, 300), { duplicate: false, lost: 0 });
  assert.equal(acceptEnd(s, 800), 0);
});

test('a missing batch: its copies count as lost from the next batch cumulative count', () => {
  const s = startSequence();
  acceptBatch(s, 0, 500, 500);
  // batch 1 (500 copies) never arrived
  assert.deepEqual(acceptBatch(s, 2, 1200, 200), { duplicate: false, lost: 500 });
  assert.equal(acceptEnd(s, 1200), 0);
});

test('a re-sent batch (n below the next expected) is a duplicate and changes nothing', () => {
  const s = startSequence();
  acceptBatch(s, 0, 500, 500);
  acceptBatch(s, 1, 1000, 500);
  assert.deepEqual(acceptBatch(s, 1, 1000, 500), { duplicate: true });
  assert.deepEqual(acceptBatch(s, 0, 500, 500), { duplicate: true });
  assert.deepEqual(s, { nextN: 2, seenCopies: 1000 });
});

test('the last batches lost: the dispatch end closes the count', () => {
  const s = startSequence();
  acceptBatch(s, 0, 500, 500);
  assert.equal(acceptEnd(s, 1700), 1200);
  assert.equal(acceptEnd(s, 1700), 0, 'a repeated end counts nothing twice');
});

test('property: for any delivery pattern, routed + lost = total copies and nothing is routed twice', () => {
  for (let seed = 1; seed <= 200; seed++) {
    let x = seed;
    const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const sizes = Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => 1 + Math.floor(rnd() * 500));
    const s = startSequence();
    let upto = 0;
    let routed = 0;
    let lost = 0;
    sizes.forEach((size, n) => {
      upto += size;
      const deliveries = rnd() < 0.2 ? 0 : rnd() < 0.2 ? 2 : 1; // lost, duplicated or once
      for (let d = 0; d < deliveries; d++) {
        const v = acceptBatch(s, n, upto, size);
        if (!v.duplicate) {
          routed += size;
          lost += v.lost;
        }
      }
    });
    lost += acceptEnd(s, upto);
    assert.equal(routed + lost, upto, `seed ${seed}`);
  }
});
