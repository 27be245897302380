import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DisorderMeter, planTimeline } from '../../services/plan/timeline.js';
import { plainLine } from '../../services/reporter/progress.js';

describe('planTimeline', () => {
  const cases: Array<{ name: string; ts: number[]; speed: number; rate: number; idle: number; want: { requests: number; durationMs: number; peakRps: number } }> = [
    // empty log: nothing to do
    { name: 'empty', ts: [], speed: 1, rate: 1, idle: 0, want: { requests: 0, durationMs: 0, peakRps: 0 } },
    // 10 records 100 ms apart at speed 1: 900 ms, all within one second
    { name: '10 at 10/s', ts: Array.from({ length: 10 }, (_, i) => i * 100), speed: 1, rate: 1, idle: 0, want: { requests: 10, durationMs: 900, peakRps: 10 } },
    // the same at speed 2: half the duration
    { name: 'speed 2', ts: Array.from({ length: 10 }, (_, i) => i * 100), speed: 2, rate: 1, idle: 0, want: { requests: 10, durationMs: 450, peakRps: 10 } },
    // rate 1.5: 15 requests, peak too
    { name: 'rate 1.5', ts: Array.from({ length: 10 }, (_, i) => i * 100), speed: 1, rate: 1.5, idle: 0, want: { requests: 15, durationMs: 900, peakRps: 15 } },
    // an hour-long gap capped at 100 ms
    { name: 'idle cap', ts: [0, 3_600_000], speed: 1, rate: 1, idle: 100, want: { requests: 2, durationMs: 100, peakRps: 2 } },
    // 2 s apart at speed 1: never two in one second
    { name: 'sparse', ts: [0, 2000, 4000], speed: 1, rate: 1, idle: 0, want: { requests: 3, durationMs: 4000, peakRps: 1 } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const t = planTimeline(c.ts, c.speed, c.rate, c.idle);
      assert.deepEqual({ requests: t.requests, durationMs: t.durationMs, peakRps: t.peakRps }, c.want, `planTimeline(${JSON.stringify(c.ts.slice(0, 4))}…, ${c.speed}, ${c.rate}, ${c.idle})`);
    });
  }

  test('peak never exceeds the requests and duration scales with 1/speed', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 200 }), fc.double({ min: 0.1, max: 100, noNaN: true }), (raw, speed) => {
        const ts = [...raw].sort((a, b) => a - b);
        const a = planTimeline(ts, 1, 1, 0);
        const b = planTimeline(ts, speed, 1, 0);
        assert.ok(b.peakRps <= b.requests && b.peakRps >= 1);
        assert.ok(Math.abs(b.durationMs - a.durationMs / speed) < 1e-6 * Math.max(1, a.durationMs));
      }),
    );
  });
});

describe('DisorderMeter', () => {
  test('counts records behind the newest seen and the deepest step back', () => {
    const m = new DisorderMeter();
    for (const ts of [10, 20, 15, 30, 5, 30]) m.see(ts);
    assert.equal(m.count, 2); // 15 (behind 20) and 5 (behind 30); an equal 30 is not behind
    assert.equal(m.depthMs, 25);
  });
});

describe('progress line', () => {
  test('plain line shows position, sent/total, req/s, p99 and errors', () => {
    const line = plainLine({ job: 'j', state: 'running', position: Date.UTC(2015, 4, 17, 10, 5, 3), sent: 12, total: 100, rps: 3.6, p99: 1.5, failed: 1, dropped: 0 });
    assert.equal(line, '[j] running  log 2015-05-17T10:05:03Z  sent 12/100  4 req/s  p99 1.5 ms  failed 1  dropped 0');
  });
});

describe('status classes', () => {
  test('codes fold into their class', async () => {
    const { statusClasses } = await import('../../services/reporter/report.js');
    assert.deepEqual(statusClasses({ '200': 5, '204': 1, '404': 2, '500': 1 }), { '2xx': 6, '4xx': 2, '5xx': 1 });
  });
});
