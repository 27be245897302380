/**
 * Follow mode (`[fetcher.jetstream] follow = true`) with a fake clock: the time wheel's clock is
 * the wall clock delay_ms behind, each record is due at its own ts + delay_ms and leaves lead_ms
 * before that without waiting for a newer record, records arriving out of order within the
 * window leave in ts order, a record arriving later than the window leaves at once (late, not
 * dropped), status tells how far behind live the job runs, and stop closes the accounting.
 * Also the config rules (speed 1, no max_idle_ms), where the source starts, and the fetcher's
 * linger that publishes a partial batch of a quiet source.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { jetstreamSource } from '../../services/fetcher/sources/jetstream/index.js';
import { pastEnd, startOf, stopBounds } from '../../services/fetcher/sources/jetstream/record.js';
import { jetstreamSchema } from '../../services/fetcher/sources/jetstream/schema.js';
import { Linger, LINGERED } from '../../services/fetcher/linger.js';
import { behindLive, followPosition, followPacer } from '../../services/timewheel/follow.js';
import { follows, wheelSettings } from '../../services/timewheel/settings.js';
import { behindLiveMs, control, endSource, ingestBatch, newWheel, positionAt, routerSaid, step, type WheelSettings, type WheelState } from '../../services/timewheel/wheel.js';
import { jobView } from '../../services/timewheel/status.js';
import { loadConfig } from '../../shared/config.js';
import { envelope, type DueRecord, type LogRecord } from '../../shared/protocol.js';
import { wheelSettings as testSettings } from '../support/wheel-settings.js';

const T0 = 1_700_000_000_000;
const DELAY = 1000;
const LEAD = 50;
const settings = (o: Partial<WheelSettings> = {}): WheelSettings => testSettings({ leadMs: LEAD, followDelayMs: DELAY, ...o });
const rec = (ts: number, seq: number): LogRecord => ({ ts, method: 'GET', url: `/r/${seq}`, src: 0, seq });
let batchNo = 0;
const arrive = (s: WheelState, ...records: LogRecord[]): LogRecord[] => ingestBatch(s, { ...envelope('records', 'test'), src: 0, sources: 1, batch: batchNo++, records });

/** A followed job started at T0 with one replayer up. */
function live(o: Partial<WheelSettings> = {}): WheelState {
  const s = newWheel(settings(o), undefined, T0);
  routerSaid(s, 1, 0);
  const r = step(s, T0);
  assert.equal(r.started, true, 'a followed job starts with no record yet');
  return s;
}

/** Steps the wheel at every wake-up (and at each given instant) up to `until`; what left when. */
function runUntil(s: WheelState, from: number, until: number, at: number[] = []): Array<{ r: DueRecord; at: number }> {
  const out: Array<{ r: DueRecord; at: number }> = [];
  const instants = new Set(at);
  let now = from;
  for (let i = 0; i < 100_000 && now <= until; i++) {
    const r = step(s, now);
    for (const b of r.batches) for (const d of b) out.push({ r: d, at: now });
    const next = Math.min(r.wakeAt ?? Infinity, ...[...instants].filter((t) => t > now));
    if (!Number.isFinite(next)) break;
    now = next;
  }
  return out;
}

describe('follow mode: the time wheel', () => {
  test('a record is due at its ts + delay_ms and leaves lead_ms before, with no newer record to push the watermark', () => {
    const s = live();
    arrive(s, rec(T0 + 100, 0));
    const r = step(s, T0 + 110);
    assert.deepEqual(r.batches, [], 'not within the lead yet');
    assert.equal(r.wakeAt, T0 + 100 + DELAY - LEAD, 'wakes when it enters the lead window');
    const out = step(s, r.wakeAt!).batches.flat();
    assert.deepEqual(out.map((d) => [d.url, d.due]), [['/r/0', T0 + 100 + DELAY]]);
  });

  test('records arriving out of order within delay_ms − lead_ms leave in ts order, each at ts + delay_ms', () => {
    const s = live();
    arrive(s, rec(T0 + 300, 0));
    arrive(s, rec(T0 + 100, 1), rec(T0 + 200, 2));
    const out = runUntil(s, T0 + 310, T0 + 5000);
    assert.deepEqual(out.map((o) => o.r.ts), [T0 + 100, T0 + 200, T0 + 300]);
    for (const o of out) {
      assert.equal(o.r.due, o.r.ts + DELAY);
      assert.ok(o.at <= o.r.due && o.at >= o.r.due - LEAD, `left at ${o.at - T0}, due ${o.r.due - T0}`);
    }
  });

  test('a record arriving later than the window leaves at once, late, counted, not dropped', () => {
    const s = live();
    arrive(s, rec(T0 + 100, 0));
    runUntil(s, T0 + 100, T0 + 1200);
    assert.equal(s.progress.dispatched, 1);
    // Stored 2 s after its ts: its due time (ts + 1 s) has passed, and a newer record already left.
    arrive(s, rec(T0 + 50, 1));
    const out = step(s, T0 + 2050).batches.flat();
    assert.deepEqual(out.map((d) => d.url), ['/r/1']);
    assert.ok(out[0].due <= T0 + 2050, 'due at once (the replayer sends it late)');
    assert.equal(s.buffer.lateArrivals, 1);
    assert.equal(s.progress.dispatched, 2);
  });

  test('property: any arrival order within the window leaves in ts order, never after its due time', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ ts: fc.integer({ min: 0, max: 3000 }), lag: fc.integer({ min: 0, max: DELAY - LEAD - 1 }) }), { minLength: 1, maxLength: 60 }), (rows) => {
        const s = live();
        // Record i is stored `lag` ms after its ts (its arrival instant).
        const arrivals = rows.map((r, i) => ({ at: T0 + r.ts + r.lag, r: rec(T0 + r.ts, i) })).sort((a, b) => a.at - b.at);
        const out: Array<{ r: DueRecord; at: number }> = [];
        let now = T0;
        let wake: number | null = null;
        for (const a of arrivals) {
          while (wake !== null && wake <= a.at) {
            now = wake;
            const r = step(s, now);
            for (const d of r.batches.flat()) out.push({ r: d, at: now });
            wake = r.wakeAt;
          }
          now = a.at;
          arrive(s, a.r);
          const r = step(s, now);
          for (const d of r.batches.flat()) out.push({ r: d, at: now });
          wake = r.wakeAt;
        }
        out.push(...runUntil(s, Math.max(now, wake ?? now), T0 + 10_000));
        assert.equal(out.length, rows.length);
        for (let i = 1; i < out.length; i++) assert.ok(out[i - 1].r.ts <= out[i].r.ts, 'ts order');
        for (const o of out) assert.ok(o.at <= o.r.due && o.r.due === o.r.ts + DELAY, `left at ${o.at - T0}, due ${o.r.due - T0}, ts ${o.r.ts - T0}`);
        assert.equal(s.buffer.lateArrivals, 0);
      }),
      { numRuns: 200 },
    );
  });

  test('behind live: 0 on schedule; after a 2 s pause the job runs 2 s behind; an overdue held record holds it back', () => {
    const s = live();
    assert.equal(behindLiveMs(s, T0 + 500), 0);
    assert.equal(positionAt(s, T0 + 500), T0 + 500 - DELAY, 'log time = wall time − delay');
    assert.ok(control(s, 'pause', undefined, T0 + 1000).ok);
    assert.equal(behindLiveMs(s, T0 + 3000), 2000, 'paused: the position is frozen');
    assert.ok(control(s, 'resume', undefined, T0 + 3000).ok);
    assert.equal(behindLiveMs(s, T0 + 4000), 2000, 'resumed at speed 1: still 2 s behind');
    arrive(s, rec(T0 + 3500, 0));
    // Due at ts + delay + the 2 s behind: 6.5 s.
    const out = runUntil(s, T0 + 4000, T0 + 7000).map((o) => o.r);
    assert.deepEqual(out.map((d) => d.due), [T0 + 6500]);
    const v = jobView(s, 'j', [], 0, T0 + 7000);
    assert.equal(v.behind_live_ms, 2000);
    // Held by flow control: the job is only as far as the overdue record.
    const h = live({ maxBacklog: 10 });
    routerSaid(h, 1, 10);
    arrive(h, rec(T0 + 100, 0));
    step(h, T0 + 2000);
    assert.equal(h.buffer.size, 1, 'held');
    assert.equal(behindLiveMs(h, T0 + 2000), 900);
  });

  test('a bounded replay has no behind_live_ms; a followed job refuses speed', () => {
    const b = newWheel(settings({ followDelayMs: undefined }), undefined, T0);
    assert.equal(behindLiveMs(b, T0), undefined);
    assert.equal('behind_live_ms' in jobView(b, 'j', [], 0, T0), false);
    const s = live();
    const d = control(s, 'speed', 2, T0 + 10);
    assert.equal(d.ok, false);
    assert.ok(!d.ok && /speed 1/.test(d.error));
    assert.ok(control(s, 'rate', 2, T0 + 10).ok, 'rate still changes');
  });

  test('stop: what is buffered is never sent, the source ends, the job completes with the accounting closed', () => {
    const s = live();
    arrive(s, rec(T0 + 100, 0), rec(T0 + 200, 1));
    runUntil(s, T0 + 100, T0 + 1120);
    assert.equal(s.progress.dispatched, 1);
    assert.ok(control(s, 'stop', undefined, T0 + 1130).ok);
    arrive(s, rec(T0 + 1100, 2)); // read before the fetcher saw the stop
    endSource(s, { ...envelope('source_end', 'test'), src: 0, sources: 1, batches: batchNo, counts: { read: 3, parse_errors: 0, filtered: 0, published: 3, samples: [] } });
    const r = step(s, T0 + 1140);
    assert.equal(r.complete, true);
    assert.equal(s.progress.dispatched, 3);
    assert.equal(s.progress.never_sent, 2);
    assert.equal(s.progress.copies + s.progress.never_sent, 3);
  });

  test('a restarted time wheel follows the wall clock again, never before the last released record', () => {
    const s = live();
    arrive(s, rec(T0 + 100, 0));
    runUntil(s, T0 + 100, T0 + 1100);
    const again = newWheel(settings(), { ...s.progress }, T0 + 60_000);
    assert.equal(positionAt(again, T0 + 60_000), T0 + 59_000);
    assert.equal(behindLiveMs(again, T0 + 60_500), 0);
  });

  test('pure pieces: the pacer, the position, behind live', () => {
    const p = followPacer(T0, DELAY);
    assert.deepEqual([p.originWall, p.originLog, p.speed, p.maxIdleMs], [T0, T0 - DELAY, 1, 0]);
    assert.equal(followPacer(T0, DELAY, T0 + 5).lastTs, T0 + 5);
    assert.equal(followPosition(p, undefined, T0 + 100), T0 - DELAY + 100);
    assert.equal(followPosition(p, T0 - 2000, T0 + 100), T0 - 2000, 'an overdue buffered record holds it');
    assert.equal(followPosition(p, T0 + 500, T0 + 100), T0 - DELAY + 100, 'a future one does not');
    assert.equal(behindLive(T0 - DELAY, DELAY, T0), 0);
    assert.equal(behindLive(T0, DELAY, T0), 0, 'never negative');
    assert.equal(behindLive(T0 - 3000, DELAY, T0), 2000);
  });
});

describe('follow mode: config and source', () => {
  test('[fetcher.jetstream] follow defaults to false, [job] delay_ms to 5000; the wheel follows only with it', () => {
    const plain = loadConfig({ set: ['fetcher.type="jetstream"', 'fetcher.jetstream.repo="web"'] });
    assert.equal(plain.fetcher.jetstream.follow, false);
    assert.equal(plain.job.delay_ms, 5000);
    assert.equal(follows(plain), false);
    assert.equal(wheelSettings(plain).followDelayMs, undefined);
    const cfg = loadConfig({ set: ['fetcher.type="jetstream"', 'fetcher.jetstream.repo="web"', 'fetcher.jetstream.follow=true', 'job.delay_ms=1000'] });
    assert.equal(wheelSettings(cfg).followDelayMs, 1000);
    assert.throws(() => loadConfig({ set: ['job.delay_ms=-1'] }), /job\.delay_ms/);
  });

  test('follow needs speed 1 and no max_idle_ms: each problem names its key', () => {
    const s = jetstreamSchema.parse({ repo: 'web', follow: true });
    const scope = { jobId: 'j', speed: 1, maxIdleMs: 0, delayMs: 5000, env: {} };
    assert.deepEqual(jetstreamSource.validate(s, scope), []);
    assert.deepEqual(
      jetstreamSource.validate(s, { ...scope, speed: 2, maxIdleMs: 100 }).map((i) => i.key),
      ['job.speed', 'job.max_idle_ms'],
    );
    assert.deepEqual(jetstreamSource.validate({ ...s, follow: false }, { ...scope, speed: 2 }), [], 'a bounded replay runs at any speed');
  });

  test('where a followed source starts and when it stops', () => {
    const now = Date.UTC(2024, 0, 1, 12);
    assert.deepEqual(startOf(undefined, undefined, now - 5000), { deliver: 'by_start_time', time: '2024-01-01T11:59:55.000Z' }, 'what is still due');
    assert.deepEqual(startOf(now - 60_000, undefined, now - 5000), { deliver: 'by_start_time', time: '2024-01-01T11:59:00.000Z' }, 'begin wins');
    assert.deepEqual(startOf(undefined, now - 10_000, now - 5000), { deliver: 'by_start_time', time: '2024-01-01T11:59:55.000Z' }, 'a filter\'s since, less a minute, does not start earlier');
    assert.deepEqual(startOf(undefined, now + 120_000, now - 5000), { deliver: 'by_start_time', time: '2024-01-01T12:01:00.000Z' }, 'nor hold back a later one');
    const b = stopBounds(10, true, undefined, 60_000);
    assert.equal(pastEnd(1_000_000, now, b), false, 'never past the sequence at open');
    const e = stopBounds(10, true, now, 1000);
    assert.equal(pastEnd(11, now + 1001, e), true, 'past end + slack by stored time');
    assert.equal(stopBounds(10, false, undefined, 0).lastSeq, 10);
  });

  test('linger: a read that takes longer than the batch may wait yields LINGERED, a quick one its value', async () => {
    const l = new Linger(20);
    assert.equal(await l.race(Promise.resolve(1)), 1);
    const slow = new Promise<number>((resolve) => setTimeout(() => resolve(2), 200));
    const started = Date.now();
    assert.equal(await l.race(slow), LINGERED);
    assert.ok(Date.now() - started < 190, 'cut short by the linger');
    l.reset();
    // The next batch starts with the same read (the pump awaits it without a linger when empty).
    assert.equal(await slow, 2);
    const again = Date.now();
    assert.equal(await l.race(new Promise<number>((resolve) => setTimeout(() => resolve(3), 5))), 3, 'a fresh timer after reset');
    assert.ok(Date.now() - again < 1000);
    l.reset();
  });
});
