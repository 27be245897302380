import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CUTOFF_MARGIN_MS, handoverCutoff, Retained, splitAtCutoff } from '../../services/router/handover.js';
import { fenceVerdict, splitHeld, type FenceInput } from '../../services/replayer/fence.js';
import { BUSY_BEAT_MS } from '../../shared/protocol.js';
import { lostWith } from '../../services/reporter/accounting.js';
import { Membership, type GoneWhy, type Member } from '../../services/router/membership.js';
import type { DueRecord } from '../../shared/protocol.js';

const rec = (due: number, seq = due): DueRecord => ({ ts: due, method: 'GET', url: `/r/${seq}`, src: 0, seq, due, copy: 0 });

describe('handover (router side)', () => {
  test('the cutoff counts from the last beat, or from the first routing after it, plus a busy beat, the fence time and a margin', () => {
    assert.equal(handoverCutoff({ lastSeen: 10_000 }, 250), 10_000 + BUSY_BEAT_MS + 250 + CUTOFF_MARGIN_MS);
    assert.equal(handoverCutoff({ lastSeen: 10_000, routedSince: 10_400 }, 250), 10_400 + BUSY_BEAT_MS + 250 + CUTOFF_MARGIN_MS);
  });

  test('splitAtCutoff keeps what is due before the cutoff and re-routes the rest, in order', () => {
    const { kept, reroute } = splitAtCutoff([rec(1), rec(2), rec(3), rec(4)], 3);
    assert.equal(kept, 2);
    assert.deepEqual(reroute.map((r) => r.due), [3, 4], 'a record due exactly at the cutoff moves (the fenced replayer counts it the same way)');
  });

  test('Retained lets go of records older than its window, and its floor says from where it still holds all', () => {
    const r = new Retained(1000);
    r.add('a@1', [rec(100), rec(600), rec(1200)]);
    r.add('b@1', [rec(700)]);
    r.trim(1650); // keeps due >= 650
    assert.equal(r.floor, 650);
    assert.equal(r.size, 2);
    assert.deepEqual(r.take('a@1').map((x) => x.due), [1200]);
    assert.deepEqual(r.take('a@1'), [], 'taken once');
    assert.deepEqual(r.take('b@1').map((x) => x.due), [700]);
  });

  test('Retained stays bounded by its window over a long stream', () => {
    const r = new Retained(500);
    for (let t = 0; t < 100_000; t += 10) {
      r.add('a@1', [rec(t)]);
      if (t % 100 === 0) r.trim(t);
    }
    assert.ok(r.size <= 61, `retained ${r.size} records for a 500 ms window at one per 10 ms`);
  });
});

describe('fenceVerdict (replayer side)', () => {
  const base: FenceInput = { now: 10_000, lastAnswerAt: 9_900, beats: [], fenceMs: 250 };
  const view = (at: number, lastSeen: number, gone = false) => ({ at, lastSeen, gone });
  const rows: Array<{ why: string; input: FenceInput; verdict: ReturnType<typeof fenceVerdict> }> = [
    // NATS answered 100 ms ago, no router view yet: keep sending
    { why: 'all well', input: base, verdict: undefined },
    // exactly fence_ms without an answer is still within the limit
    { why: 'NATS silent exactly fence_ms', input: { ...base, lastAnswerAt: 9_750 }, verdict: undefined },
    { why: 'NATS silent over fence_ms', input: { ...base, lastAnswerAt: 9_749 }, verdict: 'nats_silent' },
    // the router saw the beat of 9,950 (its view: last seen 9,960): nothing unseen
    { why: 'every beat seen', input: { ...base, beats: [9_900, 9_950], router: view(10_000, 9_960) }, verdict: undefined },
    // a beat of 9,700 unseen, but the view is only 200 ms newer than it
    { why: 'a beat unseen for less than fence_ms', input: { ...base, beats: [9_700], router: view(9_900, 9_600) }, verdict: undefined },
    { why: 'a beat unseen for over fence_ms', input: { ...base, beats: [9_700], router: view(9_990, 9_600) }, verdict: 'router_silent' },
    // a router takeover: no view for a long while fences nobody
    { why: 'no router view for 3 s', input: { ...base, beats: [7_000, 8_000, 9_000], router: view(7_000, 6_990) }, verdict: undefined },
    { why: 'router says this life is gone', input: { ...base, router: view(10_000, 0, true) }, verdict: 'evicted' },
  ];
  for (const { why, input, verdict } of rows) {
    test(`${why} → ${verdict ?? 'keep sending'}`, () => assert.equal(fenceVerdict(input), verdict, JSON.stringify(input)));
  }

  test('a replayer cut off fences before the cutoff the router hands its records over at', () => {
    // Cut at T, at most one busy beat after `since` (its last seen beat, or the first routing to
    // it after that beat); its last answered round trip was sent at most one probe (50 ms)
    // before T; the fence check runs every 25 ms.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: BUSY_BEAT_MS }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 50, max: 3000 }), (afterSince, probeBefore, tickPhase, fenceMs) => {
        const since = 100_000;
        const T = since + afterSince;
        const lastAnswerAt = T - probeBefore;
        let t = T + tickPhase;
        while (!fenceVerdict({ now: t, lastAnswerAt, beats: [], fenceMs })) t += 25;
        return t <= handoverCutoff({ lastSeen: since }, fenceMs);
      }),
    );
  });
});

describe('router and fenced replayer agree on what moved', () => {
  test('splitHeld without a cutoff counts everything fenced', () => {
    assert.deepEqual(splitHeld([rec(1), rec(2)], undefined), { handedOver: 0, fenced: 2 });
  });

  test('for any records, any received prefix and any cutoff, the lost life accounts for each record exactly once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 200 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 10_000 }), (dues, recvPick, sentPick, cutoff) => {
        const routed = [...dues].sort((a, b) => a - b).map((d, i) => rec(d, i));
        const received = recvPick % (routed.length + 1);
        const sent = Math.min(received, sentPick % (received + 1));
        // The replayer sent its first `sent` records (all due before the fence, so before the
        // cutoff); it held the rest of what it received.
        const sentDueOk = routed.slice(0, sent).every((r) => r.due < cutoff);
        fc.pre(sentDueOk);
        const { reroute } = splitAtCutoff(routed, cutoff);
        const held = routed.slice(sent, received);
        const { handedOver, fenced } = splitHeld(held, cutoff);
        // Router: the lost life's routed count drops by what moved. Replayer: its final counts.
        const routedAfter = routed.length - reroute.length;
        const lost = lostWith('r1@a', routedAfter, { received: received - handedOver, sent, dropped: fenced, final: true } as never, undefined);
        // Every record: sent by the lost life, fenced, re-routed (sent elsewhere), or lost.
        return sent + fenced + reroute.length + lost === routed.length;
      }),
    );
  });
});

describe('Membership tells of gone lives', () => {
  test('a restart is told after the new life is a member, so handed-over records can go to it', () => {
    const told: Array<[string, GoneWhy, string[]]> = [];
    const m: Membership = new Membership(1000, 3, (gone: Member, why) => told.push([gone.life, why, [...m.lives()]]));
    m.heartbeat({ id: 'r1', boot: 'aaa', state: 'up', capacity: 1, inflight: 0 }, 0);
    m.heartbeat({ id: 'r1', boot: 'bbb', state: 'up', capacity: 1, inflight: 0 }, 100);
    assert.deepEqual(told, [['r1@aaa', 'restarted', ['r1@bbb']]]);
  });

  test('an evicted life with a boot is told once and never rejoins; a new life of the id does', () => {
    const told: string[] = [];
    const m = new Membership(1000, 3, (gone, why) => told.push(`${gone.life} ${why}`));
    m.heartbeat({ id: 'r1', boot: 'aaa', state: 'up', capacity: 1, inflight: 0 }, 0);
    m.expire(3000);
    m.expire(4000);
    assert.deepEqual(told, ['r1@aaa evicted']);
    assert.equal(m.heartbeat({ id: 'r1', boot: 'aaa', state: 'up', capacity: 1, inflight: 0 }, 4100), undefined, 'its late heartbeat');
    assert.equal(m.heartbeat({ id: 'r1', boot: 'ccc', state: 'up', capacity: 1, inflight: 0 }, 4200), 'joined');
  });
});
