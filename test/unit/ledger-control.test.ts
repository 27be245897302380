import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { AckLedger } from '../../services/timewheel/ledger.js';
import { decideControl } from '../../services/timewheel/control.js';
import type { JobState, LogRecord } from '../../shared/protocol.js';

const rec = (seq: number): LogRecord => ({ ts: seq, method: 'GET', url: '/', src: 0, seq });

describe('AckLedger', () => {
  test('a batch is ready to ack only when every kept record is settled', () => {
    const l = new AckLedger<string>();
    const a = [rec(1), rec(2)];
    l.track('A', '0:0', a);
    assert.equal(l.isOpen('0:0'), true);
    l.settle(a[0]);
    assert.deepEqual(l.takeReady(), [], 'one record still out');
    l.settle(a[1]);
    assert.deepEqual(l.takeReady(), ['A']);
    assert.equal(l.isOpen('0:0'), false);
    l.settle(a[1]);
    assert.deepEqual(l.takeReady(), [], 'settling twice acks nothing more');
  });

  test('a batch whose records were all filtered, and a source end, are ready at once', () => {
    const l = new AckLedger<string>();
    l.track('empty', '0:1', []);
    l.settleMessage('end');
    assert.deepEqual(l.takeReady(), ['empty', 'end']);
  });

  test('property: any settle order acks every batch exactly once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 20 }), fc.integer(), (sizes, seed) => {
        const l = new AckLedger<number>();
        const all: LogRecord[] = [];
        let seq = 0;
        sizes.forEach((n, b) => {
          const rs = Array.from({ length: n }, () => rec(seq++));
          all.push(...rs);
          l.track(b, `0:${b}`, rs);
        });
        // A deterministic shuffle from the seed.
        const order = all.map((r, i) => [((i + 1) * (seed | 1) * 2654435761) >>> 0, r] as const).sort((x, y) => x[0] - y[0]);
        const acked: number[] = [];
        for (const [, r] of order) {
          l.settle(r);
          acked.push(...l.takeReady());
        }
        assert.deepEqual([...acked].sort((x, y) => x - y), sizes.map((_, b) => b));
      }),
    );
  });
});

describe('decideControl', () => {
  const rows: Array<{ state: JobState; op: string; value?: number; ok: boolean; why: string }> = [
    { state: 'running', op: 'pause', ok: true, why: 'pause a running job' },
    { state: 'paused', op: 'pause', ok: false, why: 'already paused' },
    { state: 'paused', op: 'resume', ok: true, why: 'resume a paused job' },
    { state: 'running', op: 'resume', ok: false, why: 'resume needs a pause' },
    { state: 'running', op: 'speed', value: 4, ok: true, why: 'speed up' },
    { state: 'running', op: 'speed', value: 0, ok: false, why: 'speed must be > 0' },
    { state: 'running', op: 'speed', ok: false, why: 'speed needs a value' },
    { state: 'running', op: 'rate', value: 0, ok: true, why: 'rate 0 sends nothing from now on' },
    { state: 'running', op: 'rate', value: -1, ok: false, why: 'negative rate' },
    { state: 'pending', op: 'stop', ok: true, why: 'stop before the start' },
    { state: 'finished', op: 'stop', ok: false, why: 'a finished job takes no more ops' },
    { state: 'finished', op: 'status', ok: true, why: 'status always answers' },
    { state: 'running', op: 'explode', ok: false, why: 'unknown op' },
  ];
  for (const r of rows) {
    test(r.why, () => {
      const d = decideControl(r.state, r.op, r.value);
      assert.equal(d.ok, r.ok, `decideControl(${r.state}, ${r.op}, ${r.value}) → ${JSON.stringify(d)}`);
      if (!d.ok) assert.ok(d.error.length > 0);
    });
  }
});
