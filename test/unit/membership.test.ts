import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Membership } from '../../services/router/membership.js';
import { REPLAYER_STATES, type ReplayerState } from '../../shared/protocol.js';

const hb = (id: string, state: ReplayerState = REPLAYER_STATES.up, capacity = 1024, inflight = 0) => ({ id, state, capacity, inflight });

describe('Membership', () => {
  test('first heartbeat joins, later ones change nothing, ids stay sorted', () => {
    const m = new Membership(1000, 3);
    assert.equal(m.heartbeat(hb('r-b'), 0), 'joined');
    assert.equal(m.heartbeat(hb('r-a'), 10), 'joined');
    assert.equal(m.heartbeat(hb('r-b'), 20), undefined, 'a known member heartbeating again');
    assert.deepEqual(m.ids(), ['r-a', 'r-b']);
  });

  test('a heartbeat refreshes capacity, in-flight count and last seen', () => {
    const m = new Membership(1000, 3);
    m.heartbeat(hb('r1', 'up', 10, 0), 0);
    m.heartbeat(hb('r1', 'up', 20, 7), 500);
    assert.deepEqual(m.get('r1'), { id: 'r1', life: 'r1', lastSeen: 500, capacity: 20, inflight: 7, sent: 0, dropped: 0, rps: 0 });
  });

  test('leaving removes the member at once; leaving when unknown changes nothing', () => {
    const m = new Membership(1000, 3);
    m.heartbeat(hb('r1'), 0);
    m.heartbeat(hb('r2'), 0);
    assert.equal(m.heartbeat(hb('r1', REPLAYER_STATES.leaving), 10), 'left');
    assert.deepEqual(m.ids(), ['r2']);
    assert.equal(m.get('r1'), undefined);
    assert.equal(m.heartbeat(hb('r9', REPLAYER_STATES.leaving), 20), undefined, 'unknown replayer leaving');
    assert.equal(m.heartbeat(hb('r1', REPLAYER_STATES.leaving), 30), undefined, 'leaving twice');
    assert.deepEqual(m.ids(), ['r2']);
  });

  test('a member that left may join again', () => {
    const m = new Membership(1000, 3);
    m.heartbeat(hb('r1'), 0);
    m.heartbeat(hb('r1', REPLAYER_STATES.leaving), 10);
    assert.equal(m.heartbeat(hb('r1'), 20), 'joined');
    assert.deepEqual(m.ids(), ['r1']);
  });

  // Last heartbeat at t = 5000; heartbeat period and missed count; expire(now) → still a member?
  const rows: Array<{ why: string; heartbeatMs: number; missed: number; now: number; member: boolean }> = [
    // just after a heartbeat
    { why: 'fresh', heartbeatMs: 1000, missed: 3, now: 5001, member: true },
    // one or two heartbeats missed is not enough
    { why: 'two missed', heartbeatMs: 1000, missed: 3, now: 7000, member: true },
    // exactly missed × period − period/4 of silence (the third heartbeat a quarter period late): not yet
    { why: 'exactly at the limit (3 × 1000 − 250 ms)', heartbeatMs: 1000, missed: 3, now: 7750, member: true },
    // past the limit: out
    { why: 'just past the limit', heartbeatMs: 1000, missed: 3, now: 7751, member: false },
    // other settings: 5 missed of 200 ms = 1000 − 50 ms
    { why: '5 × 200 ms, at the limit', heartbeatMs: 200, missed: 5, now: 5950, member: true },
    { why: '5 × 200 ms, past the limit', heartbeatMs: 200, missed: 5, now: 5950.5, member: false },
    // DESIGN §2.5: out within 3 s with the defaults (1000 ms, 3 missed), tick included
    { why: 'defaults: out before 3 s after the last heartbeat', heartbeatMs: 1000, missed: 3, now: 7900, member: false },
  ];
  for (const { why, heartbeatMs, missed, now, member } of rows) {
    test(`expire — ${why}: last seen 5000, ${missed} × ${heartbeatMs} ms, now ${now} → ${member ? 'member' : 'evicted'}`, () => {
      const m = new Membership(heartbeatMs, missed);
      m.heartbeat(hb('r1'), 0);
      m.heartbeat(hb('r1'), 5000);
      const gone = m.expire(now);
      assert.deepEqual(gone, member ? [] : ['r1'], `expire(${now}) with last seen 5000, limit ${heartbeatMs * missed - heartbeatMs / 4} ms`);
      assert.deepEqual(m.ids(), member ? ['r1'] : [], `ids after expire(${now})`);
    });
  }

  test('expire evicts only the silent members and reports each once', () => {
    const m = new Membership(1000, 3);
    m.heartbeat(hb('quiet'), 0);
    m.heartbeat(hb('busy'), 0);
    for (let t = 1000; t <= 10_000; t += 1000) {
      m.heartbeat(hb('busy'), t);
      const gone = m.expire(t);
      assert.deepEqual(gone, t === 3000 ? ['quiet'] : [], `expire(${t})`);
    }
    assert.deepEqual(m.ids(), ['busy']);
  });

  test('an evicted member that heartbeats again rejoins', () => {
    const m = new Membership(1000, 3);
    m.heartbeat(hb('r1'), 0);
    m.expire(3001);
    assert.equal(m.heartbeat(hb('r1'), 3500), 'joined');
  });

  test('a heartbeat with a new boot is a restart: the new life replaces the old one, the old one cannot come back', () => {
    const m = new Membership(1000, 3);
    assert.equal(m.heartbeat({ ...hb('r1'), boot: 'aaa', sent: 5 }, 0), 'joined');
    assert.deepEqual(m.lives(), ['r1@aaa']);
    assert.equal(m.heartbeat({ ...hb('r1'), boot: 'bbb', sent: 0 }, 100), 'restarted');
    assert.deepEqual(m.lives(), ['r1@bbb']);
    assert.equal(m.get('r1')!.sent, 0, 'the new life counts from 0, not from the old life 5');
    assert.equal(m.get('r1')!.rps, 0, 'no rate across lives');
    assert.equal(m.heartbeat({ ...hb('r1'), boot: 'aaa', sent: 6 }, 200), undefined, 'a late heartbeat of the old life');
    assert.deepEqual(m.lives(), ['r1@bbb']);
    m.expire(10_000);
    assert.equal(m.heartbeat({ ...hb('r1'), boot: 'aaa' }, 10_100), undefined, 'a retired life never rejoins');
    assert.deepEqual(m.ids(), []);
  });
});
