/**
 * The time wheel's step (services/timewheel/wheel.ts) with a fake clock: start, order, lead,
 * flow control, pause/resume, speed, stop, exact rate copies, restart from the checkpoint, and
 * never releasing a record twice.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { control, endSource, ingestBatch, newWheel, positionAt, routerSaid, step, streamDrained, type WheelSettings, type WheelState } from '../../services/timewheel/wheel.js';
import { envelope, type DueRecord, type LogRecord, type RecordBatchMsg } from '../../shared/protocol.js';
import { wheelSettings } from '../support/wheel-settings.js';

const T0 = 1_700_000_000_000;
const settings = wheelSettings;

const rec = (ts: number, seq: number, src = 0): LogRecord => ({ ts, method: 'GET', url: `/r/${src}/${seq}`, src, seq });
function batch(records: LogRecord[], n = 0, src = 0, sources = 1): RecordBatchMsg {
  return { ...envelope('records', 'test'), src, sources, batch: n, records };
}
function end(s: WheelState, src = 0, sources = 1): void {
  endSource(s, { ...envelope('source_end', 'test'), src, sources, batches: 1, counts: { read: 0, parse_errors: 0, filtered: 0, published: 0, samples: [] } });
}
/** A job of `n` records 10 ms apart from log time 0, every source read, one replayer up. */
function job(n: number, o: Partial<WheelSettings> = {}): WheelState {
  const s = newWheel(settings(o), undefined, T0);
  ingestBatch(s, batch(Array.from({ length: n }, (_, i) => rec(i * 10, i))));
  end(s);
  routerSaid(s, 1, 0);
  return s;
}
/** Steps at each wake-up until the job is complete (or `until`); returns every released copy. */
function runToEnd(s: WheelState, from: number, until = Infinity): { out: DueRecord[]; steps: number; at: number } {
  const out: DueRecord[] = [];
  let now = from;
  let steps = 0;
  for (;;) {
    const r = step(s, now);
    if (++steps > 100_000) throw new Error('the wheel never completes');
    for (const b of r.batches) out.push(...b);
    if (r.complete || r.wakeAt === null || r.wakeAt > until) return { out, steps, at: now };
    now = r.wakeAt;
  }
}

describe('time wheel step', () => {
  test('waits for min_replayers and for the first record, then starts the clock after warmup_ms', () => {
    const s = newWheel(settings({ minReplayers: 2 }), undefined, T0);
    ingestBatch(s, batch([rec(1000, 0)]));
    end(s);
    assert.equal(step(s, T0).started, false, 'no replayer yet');
    routerSaid(s, 1, 0);
    assert.equal(step(s, T0).started, false, 'one of two');
    routerSaid(s, 2, 0);
    const r = step(s, T0 + 10);
    assert.equal(r.started, true);
    assert.equal(s.progress.state, 'running');
    assert.equal(s.progress.started_at, T0 + 10);
    assert.deepEqual(r.batches, [], 'due at T0 + 10 + 500: not within the lead yet');
    assert.equal(r.wakeAt, T0 + 10 + 500 - 50, 'wakes when the record enters the lead window');
  });

  test('releases in timestamp order, each at least 4/5 of lead_ms before its due time, stamped with it', () => {
    const s = newWheel(settings(), undefined, T0);
    // Out of order within the window, two sources interleaved.
    ingestBatch(s, batch([rec(30, 0), rec(10, 1), rec(20, 2)], 0, 0, 2));
    ingestBatch(s, batch([rec(15, 0, 1), rec(10, 1, 1)], 0, 1, 2));
    end(s, 0, 2);
    end(s, 1, 2);
    routerSaid(s, 1, 0);
    const released: Array<{ r: DueRecord; at: number }> = [];
    let now = T0;
    for (let i = 0; i < 100; i++) {
      const r = step(s, now);
      for (const b of r.batches) for (const x of b) released.push({ r: x, at: now });
      if (r.complete || r.wakeAt === null) break;
      now = r.wakeAt;
    }
    assert.deepEqual(released.map(({ r }) => [r.ts, r.src]), [[10, 0], [10, 1], [15, 1], [20, 0], [30, 0]]);
    for (const { r, at } of released) {
      assert.equal(r.due, T0 + 500 + (r.ts - 10), 'due = origin + (ts − first) / speed');
      assert.ok(r.due - at >= 40 - 1e-9, `released ${r.due - at} ms before due (lead 50)`);
      assert.ok(r.due - at <= 50, 'never more than lead_ms early');
    }
  });

  test('flow control: holds while the backlog is at max_backlog, continues when the router reports room', () => {
    const s = job(100, { maxBacklog: 30, warmupMs: 0, leadMs: 10_000 });
    const r1 = step(s, T0);
    assert.equal(r1.batches.flat().length, 30, 'stops at the backlog limit');
    assert.equal(r1.held, true);
    assert.equal(r1.wakeAt, T0 + 50);
    assert.equal(step(s, T0 + 50).batches.length, 0, 'no router message yet: still held');
    routerSaid(s, 1, 10); // the replayers sent 20 of the 30
    const r2 = step(s, T0 + 60);
    assert.equal(r2.batches.flat().length, 20);
    routerSaid(s, 1, 0);
    const rest = runToEnd(s, T0 + 70, T0 + 1000);
    assert.equal(rest.out.length, 30, 'held again at the limit: 30 more');
  });

  test('pause freezes the position and releases nothing; resume continues from it without a burst', () => {
    const s = job(1000, { warmupMs: 0 }); // 10 ms apart: 10 s of log
    runToEnd(s, T0, T0 + 2000);
    const before = s.progress.dispatched;
    assert.ok(before > 190 && before < 215, `~2 s released: ${before}`);
    assert.equal(control(s, 'pause', undefined, T0 + 2000).ok, true);
    const frozen = positionAt(s, T0 + 2000);
    const paused = step(s, T0 + 5000);
    assert.deepEqual(paused.batches, []);
    assert.equal(paused.wakeAt, null, 'nothing to wake for while paused');
    assert.equal(positionAt(s, T0 + 9000), frozen);
    assert.equal(control(s, 'pause', undefined, T0 + 9000).ok, false, 'already paused');
    assert.equal(control(s, 'resume', undefined, T0 + 10_000).ok, true);
    const r = step(s, T0 + 10_000);
    assert.ok(r.batches.flat().length <= 6, `no burst after the resume: ${r.batches.flat().length}`);
    const next = r.batches.flat()[0] ?? runToEnd(s, T0 + 10_000, T0 + 10_100).out[0];
    assert.ok(next.due >= T0 + 10_000, 'due after the resume, not in the past');
  });

  test('speed change re-bases at the current position: the rest goes at the new speed', () => {
    const s = job(1001, { warmupMs: 0 }); // log 0..10,000 ms
    runToEnd(s, T0, T0 + 1000);
    assert.equal(control(s, 'speed', 10, T0 + 1000).ok, true);
    const rest = runToEnd(s, T0 + 1000);
    const last = rest.out[rest.out.length - 1];
    assert.ok(Math.abs(last.due - (T0 + 1000 + 9000 / 10)) < 20, `last due ${last.due - T0} ms ≈ 1,900`);
    assert.equal(control(s, 'speed', 0, T0).ok, false, 'speed must be > 0');
  });

  test('rate 1.5 releases exactly 1.5× copies, the extra copies marked, each record once', () => {
    const s = job(1000, { rate: 1.5, warmupMs: 0, leadMs: 100_000 });
    const { out } = runToEnd(s, T0);
    assert.equal(out.length, 1500);
    assert.equal(out.filter((r) => r.copy === 0).length, 1000);
    assert.equal(s.progress.copies, 1500);
    assert.equal(new Set(out.filter((r) => r.copy === 0).map((r) => r.seq)).size, 1000);
  });

  test('a rate change keeps the exact total from then on', () => {
    const s = job(1000, { warmupMs: 0 });
    runToEnd(s, T0, T0 + 5000); // ~500 records at rate 1
    const half = s.progress.copies;
    control(s, 'rate', 2, T0 + 5000);
    const before = s.progress.dispatched;
    runToEnd(s, T0 + 5000);
    assert.equal(half, before, 'rate 1: one copy each so far');
    assert.equal(s.progress.copies, half + 2 * (1000 - before), 'rate 2 from the change on');
  });

  test('stop: nothing more is released, what is left counts as never sent (with its copies), the job completes', () => {
    const s = job(100, { rate: 2, warmupMs: 0 });
    runToEnd(s, T0, T0 + 300);
    const out = s.progress.copies;
    control(s, 'stop', undefined, T0 + 300);
    const r = step(s, T0 + 300);
    assert.deepEqual(r.batches, []);
    assert.equal(r.complete, true);
    assert.equal(s.progress.dispatched, 100);
    assert.equal(s.progress.copies + s.progress.never_sent, 200, 'dispatched × rate = released + never sent');
    assert.equal(out, s.progress.copies);
    assert.equal(control(s, 'resume', undefined, T0 + 400).ok, false, 'a stopped job takes no more');
  });

  test('begin/end filter counts what is outside the window; the window is [begin, end)', () => {
    const s = newWheel(settings({ begin: 100, end: 200 }), undefined, T0);
    const kept = ingestBatch(s, batch([rec(50, 0), rec(100, 1), rec(150, 2), rec(200, 3), rec(250, 4)]));
    assert.deepEqual(kept.map((r) => r.ts), [100, 150]);
    assert.equal(s.progress.filtered, 3);
  });

  test('restart from the checkpoint: what was released is never released again, the rest exactly once', () => {
    const a = job(300, { warmupMs: 0, rate: 1.5 });
    const first = runToEnd(a, T0, T0 + 1500).out;
    // The checkpoint is the progress object as saved; a new time wheel re-reads every batch.
    const saved = JSON.parse(JSON.stringify(a.progress));
    const b = newWheel(settings({ warmupMs: 0, rate: 1.5 }), saved, T0 + 10_000);
    ingestBatch(b, batch(Array.from({ length: 300 }, (_, i) => rec(i * 10, i))));
    end(b);
    routerSaid(b, 1, 0);
    const second = runToEnd(b, T0 + 10_000).out;
    const seen = new Set<string>();
    for (const r of [...first, ...second]) {
      const k = `${r.seq}/${r.copy}`;
      assert.ok(!seen.has(k), `released twice: ${k}`);
      seen.add(k);
    }
    assert.equal(seen.size, 450, '300 × 1.5 copies in all');
    assert.ok(second[0].due >= T0 + 10_000, 'no catch-up burst into the past after the restart');
  });

  test('restart after every source ended: the unacked batches are released before the job counts as complete', () => {
    const a = job(100, { warmupMs: 0 });
    runToEnd(a, T0, T0 + 300);
    const saved = JSON.parse(JSON.stringify(a.progress));
    const b = newWheel(settings({ warmupMs: 0 }), saved, T0 + 10_000);
    routerSaid(b, 1, 0);
    assert.equal(step(b, T0 + 10_000).complete, false, 'the source ended before the restart, but its unacked batches are still to come');
    ingestBatch(b, batch(Array.from({ length: 100 }, (_, i) => rec(i * 10, i))));
    streamDrained(b);
    const rest = runToEnd(b, T0 + 10_000);
    assert.equal(a.progress.copies + rest.out.length, 100);
    assert.equal(b.progress.state, 'running');
    assert.equal(step(b, rest.at).complete, true);
  });

  test('property: any arrival order within the window, any batch split: each record released once, in order', () => {
    for (let seed = 1; seed <= 100; seed++) {
      let x = seed;
      const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const n = 1 + Math.floor(rnd() * 400);
      const recs = Array.from({ length: n }, (_, i) => rec(i * 5 + Math.floor(rnd() * 400), i));
      const s = newWheel(settings({ warmupMs: 0, reorderWindowMs: 1000, leadMs: 1 + Math.floor(rnd() * 200) }), undefined, T0);
      routerSaid(s, 1, 0);
      const out: DueRecord[] = [];
      let now = T0;
      let i = 0;
      let b = 0;
      while (i < n) {
        const k = 1 + Math.floor(rnd() * 50);
        ingestBatch(s, batch(recs.slice(i, i + k), b++));
        i += k;
        const r = step(s, now);
        for (const d of r.batches) out.push(...d);
        now += Math.floor(rnd() * 30);
      }
      end(s);
      out.push(...runToEnd(s, now).out);
      assert.equal(out.length, n, `seed ${seed}: all released`);
      assert.equal(new Set(out.map((r) => r.seq)).size, n, `seed ${seed}: none twice`);
      for (let j = 1; j < out.length; j++) assert.ok(out[j - 1].ts <= out[j].ts, `seed ${seed}: order at ${j}`);
      for (let j = 1; j < out.length; j++) assert.ok(out[j - 1].due <= out[j].due, `seed ${seed}: due order at ${j}`);
    }
  });
});
