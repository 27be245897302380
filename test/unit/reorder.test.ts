import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ReorderBuffer } from '../../services/timewheel/reorder.js';
import type { LogRecord } from '../../shared/protocol.js';

const rec = (ts: number, src = 0, seq = 0): LogRecord => ({ ts, src, seq, method: 'GET', url: '/' });
const show = (rs: readonly LogRecord[]) => rs.map((r) => `${r.ts}/${r.src}/${r.seq}`).join(' ');
const key = (r: LogRecord) => `${r.src}/${r.seq}`;

/** (ts, src, seq) order, the order DESIGN §2.2 asks of the time wheel's output. */
function cmp(a: LogRecord, b: LogRecord): number {
  return a.ts - b.ts || a.src - b.src || a.seq - b.seq;
}

/** Pops everything the watermark lets out. */
function drain(buf: ReorderBuffer, out: LogRecord[]): void {
  while (buf.peekReady()) out.push(buf.pop()!);
}

/**
 * One source's records in arrival order: seq counts up, and each record is at most `window` ms
 * of log time earlier than the newest the source sent before it (the disorder the window absorbs).
 */
function sourceArb(src: number, window: number) {
  return fc.array(fc.integer({ min: -window, max: 3 * window + 5 }), { maxLength: 60 }).map((steps) => {
    const out: LogRecord[] = [];
    let newest = 1_000_000;
    let cursor = newest;
    for (const [seq, step] of steps.entries()) {
      // step ≥ 0 moves forward from the newest; step < 0 is a record up to `window` ms behind it.
      const ts = step >= 0 ? cursor + step : Math.max(newest + step, newest - window);
      out.push(rec(ts, src, seq));
      newest = Math.max(newest, ts);
      cursor = step >= 0 ? ts : cursor;
    }
    return out;
  });
}

/** Several sources, interleaved in a random arrival order that keeps each source's own order. */
const scenarioArb = fc
  .record({ window: fc.integer({ min: 0, max: 50 }), sources: fc.integer({ min: 1, max: 4 }) })
  .chain(({ window, sources }) =>
    fc.record({
      window: fc.constant(window),
      sources: fc.constant(sources),
      perSource: fc.tuple(...Array.from({ length: sources }, (_, s) => sourceArb(s, window))),
      // Arrival order: which source's next record arrives (skipped when that source is exhausted).
      picks: fc.array(fc.nat(sources - 1), { minLength: 300, maxLength: 300 }),
      // Sources end in this order, interleaved with the arrivals at these positions.
      endAt: fc.array(fc.nat(300), { minLength: sources, maxLength: sources }),
    }),
  );

describe('ReorderBuffer', () => {
  test('property: any input within the window leaves sorted by (ts, src, seq), complete, with no late arrivals', () => {
    fc.assert(
      fc.property(scenarioArb, ({ window, sources, perSource, picks, endAt }) => {
        const buf = new ReorderBuffer(window, sources);
        const queues = perSource.map((q) => [...q]);
        const out: LogRecord[] = [];
        const input: LogRecord[] = [];
        const ended = new Set<number>();
        for (const [step, s] of picks.entries()) {
          // A source may end only once it has sent all it has (else it would lie about ending).
          for (let src = 0; src < sources; src++) {
            if (!ended.has(src) && endAt[src] <= step && queues[src].length === 0) {
              buf.endSource(src);
              ended.add(src);
            }
          }
          const r = queues[s].shift();
          if (r) {
            buf.push(r);
            input.push(r);
          }
          drain(buf, out);
        }
        // Whatever is left arrives, then every source ends.
        for (const q of queues) for (const r of q.splice(0)) {
          buf.push(r);
          input.push(r);
          drain(buf, out);
        }
        for (let src = 0; src < sources; src++) buf.endSource(src);
        assert.ok(buf.allEnded, 'allEnded after every source ended');
        drain(buf, out);

        const want = [...input].sort(cmp);
        assert.equal(buf.size, 0, `buffer empty at the end, window ${window}, input ${show(input)}`);
        assert.equal(buf.lateArrivals, 0, `no late arrivals within window ${window}, input ${show(input)}`);
        assert.deepEqual(out.map(key), want.map(key), `window ${window}, sources ${sources}\n input: ${show(input)}\n   got: ${show(out)}\n  want: ${show(want)}`);
      }),
      { numRuns: 500 },
    );
  });

  test('two sources tied on ts at the window edge still leave in source order', () => {
    // The case the property found: src 1's record at ts 10 may leave once the watermark is 10 only
    // if no src 0 record at ts 10 can still arrive — and src 0 may still send ts 20 − 10 = 10.
    const buf = new ReorderBuffer(10, 2);
    const out: LogRecord[] = [];
    for (const r of [rec(10, 1, 0), rec(20, 0, 0), rec(20, 1, 1), rec(10, 0, 1)]) {
      buf.push(r);
      drain(buf, out);
    }
    buf.endSource(0);
    buf.endSource(1);
    drain(buf, out);
    assert.equal(show(out), '10/0/1 10/1/0 20/0/0 20/1/1');
    assert.equal(buf.lateArrivals, 0);
  });

  describe('watermark with several sources', () => {
    test('a source that has sent nothing holds everything back', () => {
      const buf = new ReorderBuffer(10, 2);
      for (let i = 0; i < 100; i++) buf.push(rec(i * 100, 0, i));
      assert.equal(buf.watermark(), -Infinity, 'watermark while src 1 is silent');
      assert.equal(buf.peekReady(), undefined, 'nothing ready while src 1 is silent');
    });

    test('the watermark is the slowest source newest ts minus the window', () => {
      const buf = new ReorderBuffer(10, 2);
      buf.push(rec(1000, 0, 0));
      buf.push(rec(50, 1, 0));
      assert.equal(buf.watermark(), 40, 'min(1000, 50) − 10');
      buf.push(rec(30, 1, 1)); // older than src 1's newest: the watermark does not go back
      assert.equal(buf.watermark(), 40);
      assert.equal(buf.peekReady()?.ts, 30, 'ts 30 ≤ watermark 40 is ready');
      buf.pop();
      assert.equal(buf.peekReady(), undefined, 'ts 50 > watermark 40 waits');
    });

    test('an ended source does not hold the watermark back', () => {
      const buf = new ReorderBuffer(10, 3);
      buf.push(rec(5, 1, 0)); // src 1 is far behind, then ends
      buf.push(rec(100, 0, 0));
      buf.push(rec(200, 0, 1));
      assert.equal(buf.peekReady(), undefined, 'src 2 silent: held');
      buf.endSource(2);
      assert.equal(buf.watermark(), 5 - 10, 'src 1 (newest 5) now holds it');
      buf.endSource(1);
      assert.equal(buf.watermark(), 190, 'only src 0 left: 200 − 10');
      const out: LogRecord[] = [];
      drain(buf, out);
      assert.equal(show(out), '5/1/0 100/0/0');
      assert.equal(buf.allEnded, false);
      buf.endSource(0);
      assert.equal(buf.allEnded, true);
      assert.equal(buf.watermark(), Infinity, 'every source ended: +∞');
      drain(buf, out);
      assert.equal(show(out), '5/1/0 100/0/0 200/0/1');
    });

    test('a source that ended without sending anything does not hold it back', () => {
      const buf = new ReorderBuffer(0, 2);
      buf.endSource(1);
      buf.push(rec(7, 0, 0));
      buf.push(rec(8, 0, 1));
      assert.equal(buf.peekReady()?.ts, 7, 'src 0 alone sets the watermark (8 − 0)');
    });
  });

  test('force hands out the head even before the watermark passes it (memory full)', () => {
    const buf = new ReorderBuffer(1000, 1);
    buf.push(rec(20));
    buf.push(rec(10, 0, 1));
    assert.equal(buf.peekReady(), undefined);
    assert.equal(buf.peekReady(true)?.ts, 10);
  });

  describe('lateArrivals', () => {
    const rows: Array<{ why: string; window: number; ts: number[]; late: number }> = [
      // in order: nothing is late
      { why: 'in order', window: 10, ts: [0, 100, 200, 300], late: 0 },
      // 195 is 5 ms behind the newest (200), inside the window: re-ordered, not late
      { why: 'behind by less than the window', window: 10, ts: [0, 100, 200, 195], late: 0 },
      // 50 is 150 ms behind 200, and 100 (which should follow it) already left: late
      { why: 'behind by more than the window, after a later record left', window: 10, ts: [0, 100, 200, 50], late: 1 },
      // 50 then 60 both arrive after 100 left; 50 leaving at once must not hide that 60 is late too
      { why: 'two late records in a row', window: 10, ts: [0, 100, 200, 50, 60], late: 2 },
      // 120 is 80 ms behind 200, beyond the window, yet nothing after it has left (only 0 and 100): in order
      { why: 'beyond the window but nothing later has left yet', window: 10, ts: [0, 100, 200, 120], late: 0 },
      // window 0: an equal ts from the same source with a higher seq is in order
      { why: 'window 0, repeated ts', window: 0, ts: [5, 5, 5, 6], late: 0 },
    ];
    for (const { why, window, ts, late } of rows) {
      test(`${why}: window ${window}, ts ${ts.join(',')} → ${late} late`, () => {
        const buf = new ReorderBuffer(window, 1);
        const out: LogRecord[] = [];
        for (const [seq, t] of ts.entries()) {
          buf.push(rec(t, 0, seq));
          drain(buf, out);
        }
        assert.equal(buf.lateArrivals, late, `window ${window}, ts ${ts.join(',')}: lateArrivals (released ${show(out)})`);
      });
    }

    test('a late record is still handed out (counted, never dropped)', () => {
      const buf = new ReorderBuffer(10, 1);
      const out: LogRecord[] = [];
      for (const [seq, t] of [0, 100, 200, 50].entries()) {
        buf.push(rec(t, 0, seq));
        drain(buf, out);
      }
      buf.endSource(0);
      drain(buf, out);
      assert.equal(buf.lateArrivals, 1);
      assert.deepEqual(out.map((r) => r.ts), [0, 100, 50, 200], 'the late 50 leaves as soon as it arrives');
    });
  });
});
