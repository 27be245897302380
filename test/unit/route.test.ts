import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RoutePicker } from '../../services/router/route.js';
import { shardFor } from '../../shared/hash.js';

const MEMBERS = ['r1', 'r2', 'r3', 'r4'];

describe('RoutePicker', () => {
  // [mode, key]: every combination that must fall back to round-robin.
  const rrRows: Array<['fnv1a' | 'round_robin', string | undefined, string]> = [
    ['fnv1a', undefined, 'no key'],
    ['fnv1a', '', 'empty key'],
    ['round_robin', 'user-7', 'round_robin mode ignores the key'],
    ['round_robin', undefined, 'round_robin mode, no key'],
  ];
  for (const [mode, key, why] of rrRows) {
    test(`round-robin — ${why}: cycles through every member evenly`, () => {
      const p = new RoutePicker(mode);
      const picks = Array.from({ length: 4 * 250 }, () => p.pick(key, MEMBERS));
      for (let i = 0; i < picks.length; i += 4) {
        const cycle = picks.slice(i, i + 4);
        assert.deepEqual([...cycle].sort(), MEMBERS, `picks ${i}…${i + 3} = ${cycle.join(',')}: one of each member`);
      }
      for (let i = 1; i < picks.length; i++) {
        assert.equal(MEMBERS.indexOf(picks[i]), (MEMBERS.indexOf(picks[i - 1]) + 1) % 4, `pick ${i} follows pick ${i - 1} (${picks[i - 1]})`);
      }
    });
  }

  test('round-robin keeps going when members change (never out of range)', () => {
    const p = new RoutePicker('round_robin');
    for (let i = 0; i < 5; i++) p.pick(undefined, MEMBERS);
    const two = ['r1', 'r2'];
    const picks = Array.from({ length: 10 }, () => p.pick(undefined, two));
    assert.ok(picks.every((x) => two.includes(x)), `picks ${picks.join(',')} all in ${two.join(',')}`);
    assert.equal(picks.filter((x) => x === 'r1').length, 5);
  });

  test('a single member gets everything', () => {
    const p = new RoutePicker('round_robin');
    for (let i = 0; i < 5; i++) assert.equal(p.pick(undefined, ['only']), 'only');
  });

  test('property: with a key, fnv1a keeps the key on one member (the rendezvous owner)', () => {
    const p = new RoutePicker('fnv1a');
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.integer({ min: 1, max: 20 }), (key, times) => {
        const want = shardFor(key, MEMBERS);
        for (let i = 0; i < times; i++) {
          // Keyless picks in between must not move it.
          p.pick(undefined, MEMBERS);
          assert.equal(p.pick(key, MEMBERS), want, `key ${JSON.stringify(key)}, pick ${i}`);
        }
      }),
    );
  });

  test('keys spread over every member', () => {
    const p = new RoutePicker('fnv1a');
    const seen = new Set(Array.from({ length: 1000 }, (_, i) => p.pick(`k${i}`, MEMBERS)));
    assert.deepEqual([...seen].sort(), MEMBERS);
  });
});

describe('RoutePicker weighted by spare capacity', () => {
  test('a member with three times the room gets three times the records, interleaved', () => {
    const p = new RoutePicker('round_robin');
    const members = ['big', 'small'];
    const weight = (id: string): number => (id === 'big' ? 300 : 100);
    const picks = Array.from({ length: 400 }, () => p.pick(undefined, members, weight));
    assert.equal(picks.filter((x) => x === 'big').length, 300);
    // Smooth: never more than 3 in a row for the big one.
    assert.ok(!picks.join(',').includes('big,big,big,big'), 'big member picks are interleaved');
  });
});
