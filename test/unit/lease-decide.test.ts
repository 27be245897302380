/** The lease decision (shared/lease/decide.ts) driven by a fake clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideLease, isOwner, lostLease, startLease, wrote } from '../../shared/lease/decide.js';

const t = { ttlMs: 3000, renewMs: 500 };

test('no entry: create; our own entry: renew at its revision', () => {
  const s = startLease();
  assert.deepEqual(decideLease(s, 'me', { exists: false, revision: null }, 0, t), { kind: 'create' });
  assert.deepEqual(decideLease(s, 'me', { exists: false, revision: 7 }, 0, t), { kind: 'create' }, 'a deleted entry');
  wrote(s, 1, 0, t);
  assert.deepEqual(decideLease(s, 'me', { exists: true, revision: 1, holder: 'me' }, 100, t), { kind: 'renew', revision: 1 });
});

test('someone else holds it: stand by while it changes, take over after a TTL of silence on our clock', () => {
  const s = startLease();
  const other = (revision: number) => ({ exists: true as const, revision, holder: 'other' });
  assert.equal(decideLease(s, 'me', other(1), 10_000, t).kind, 'stand_by');
  assert.equal(decideLease(s, 'me', other(2), 12_500, t).kind, 'stand_by', 'renewed: the silence starts again');
  assert.deepEqual(decideLease(s, 'me', other(2), 15_499, t), { kind: 'stand_by', holder: 'other', silentMs: 2999 });
  assert.deepEqual(decideLease(s, 'me', other(2), 15_500, t), { kind: 'take_over', revision: 2 });
});

test('fencing: the holder stops counting itself the owner before any standby may take over', () => {
  const s = startLease();
  wrote(s, 5, 1000, t); // sent at 1000, landed (and seen by a standby) at ≥ 1000
  assert.equal(isOwner(s, 1000), true);
  assert.equal(isOwner(s, 3249), true);
  assert.equal(isOwner(s, 3250), false, 'validity ends at sent + ttl − max(renew, ttl/4)');
  // A standby that saw revision 5 at 1000 at the earliest takes over at 4000 at the earliest.
  const standby = startLease();
  decideLease(standby, 'b', { exists: true, revision: 5, holder: 'a' }, 1000, t);
  assert.equal(decideLease(standby, 'b', { exists: true, revision: 5, holder: 'a' }, 3999, t).kind, 'stand_by');
  assert.equal(decideLease(standby, 'b', { exists: true, revision: 5, holder: 'a' }, 4000, t).kind, 'take_over');
});

test('property: for any renew pattern, holder validity and standby takeover never overlap', () => {
  for (let seed = 1; seed <= 300; seed++) {
    let x = seed;
    const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const holder = startLease();
    const standby = startLease();
    let rev = 1;
    wrote(holder, rev, 0, t);
    let lastLanded = 0;
    let takenAt = Infinity;
    for (let now = 0; now < 30_000 && takenAt === Infinity; now += 50) {
      // The holder renews when it can reach NATS (sometimes not for a while); a write lands
      // within 0–200 ms of being sent.
      if (now % 500 === 0 && rnd() > 0.3 && takenAt === Infinity) {
        const land = now + Math.floor(rnd() * 200);
        rev++;
        wrote(holder, rev, now, t);
        lastLanded = land;
      }
      // The standby polls every 250 ms and sees what has landed.
      if (now % 250 === 0) {
        const visible = lastLanded <= now ? rev : rev - 1;
        const a = decideLease(standby, 'b', { exists: true, revision: visible, holder: 'a' }, now, t);
        if (a.kind === 'take_over' && visible === rev) takenAt = now;
      }
    }
    if (takenAt !== Infinity) assert.equal(isOwner(holder, takenAt), false, `seed ${seed}: holder still acting at takeover ${takenAt}`);
  }
});

test('a holder that finds another holder has lost; after losing it stands by like anyone', () => {
  const s = startLease();
  wrote(s, 3, 0, t);
  assert.deepEqual(decideLease(s, 'me', { exists: true, revision: 9, holder: 'other' }, 100, t), { kind: 'lost', holder: 'other' });
  lostLease(s);
  assert.equal(isOwner(s, 100), false);
  assert.equal(decideLease(s, 'me', { exists: true, revision: 9, holder: 'other' }, 200, t).kind, 'stand_by');
});
