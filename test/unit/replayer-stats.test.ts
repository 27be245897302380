import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errors as undiciErrors } from 'undici';
import { errorKind } from '../../services/replayer/exchange.js';
import { ReplayerStats } from '../../services/replayer/stats.js';
import { StatsMerger } from '../../services/reporter/merge.js';
import { mergeWire, newHistogram, percentilesMs, type HistogramWire } from '../../shared/histogram.js';
import { OTHER_API } from '../../shared/api-name.js';
import { envelope } from '../../shared/protocol.js';

const WIRE = { sent: 0, received: 0 };

/** Count and percentiles (ms) of a wire histogram. */
function pct(w: HistogramWire): ReturnType<typeof percentilesMs> {
  const h = newHistogram();
  mergeWire(h, w);
  return percentilesMs(h);
}

describe('ReplayerStats', () => {
  test('statuses below 400 are ok, 400 and above failed; each status and API is counted', () => {
    const s = new ReplayerStats();
    s.answered('/items/1', undefined, 200, 2, 3);
    s.answered('/items/2', undefined, 304, 4, 5);
    s.answered('/items/3', undefined, 404, 6, 7);
    s.answered('/cart', 'POST /cart', 503, 8, 9);
    assert.deepEqual([s.ok, s.failed], [2, 2]);
    assert.deepEqual(s.byStatus, { '200': 1, '304': 1, '404': 1, '503': 1 });
    const m = s.snapshot('r1', false, WIRE);
    assert.deepEqual(Object.keys(m.by_api).sort(), ['/items/:id', 'POST /cart'], 'a given API name wins over the path template');
    assert.equal(m.by_api['/items/:id']!.count, 3);
    assert.equal(m.by_api['/items/:id']!.failed, 1);
    assert.equal(m.by_api['POST /cart']!.failed, 1);
    assert.deepEqual([m.ok, m.failed], [2, 2]);
  });

  test('a failure without a response counts by kind, as failed, with its latency', () => {
    const s = new ReplayerStats();
    s.failedWith('/x', undefined, 'timeout', 1000, 1001);
    s.failedWith('/x', undefined, 'timeout', 1000, 1002);
    s.failedWith('/y', undefined, 'reset', 3, 4);
    assert.deepEqual(s.byError, { timeout: 2, reset: 1 });
    assert.equal(s.failed, 3);
    assert.deepEqual(s.byStatus, {});
    const m = s.snapshot('r1', false, WIRE);
    assert.equal(pct(m.latency).count, 3);
    assert.equal(pct(m.latency).max, 1000);
    assert.equal(m.by_api['/x']!.failed, 2);
  });

  test('drops add up by reason', () => {
    const s = new ReplayerStats();
    s.drop('late');
    s.drop('late', 4);
    s.drop('overload', 2);
    assert.deepEqual(s.droppedByReason, { late: 5, overload: 2 });
    assert.equal(s.droppedTotal(), 7);
  });

  test('counters are cumulative across snapshots; histograms and interval_sent cover one interval; n counts from 0', () => {
    const s = new ReplayerStats();
    s.received = 3;
    for (let i = 0; i < 3; i++) s.dispatched();
    s.written(0.5);
    s.written(1.5);
    s.answered('/a', undefined, 200, 10, 11);
    const m0 = s.snapshot('r1', false, { sent: 100, received: 200 });
    assert.equal(m0.n, 0);
    assert.deepEqual([m0.received, m0.sent, m0.interval_sent, m0.ok], [3, 3, 3, 1]);
    assert.deepEqual([m0.bytes_sent, m0.bytes_received], [100, 200], 'byte counts are the sockets\' own, passed in');
    assert.equal(pct(m0.lateness).count, 2);
    assert.equal(pct(m0.lateness).max, 1.5);
    assert.equal(pct(m0.latency_from_due).max, 11);

    s.dispatched();
    s.answered('/a', undefined, 200, 20, 21);
    const m1 = s.snapshot('r1', true, { sent: 150, received: 300 });
    assert.equal(m1.n, 1);
    assert.equal(m1.final, true);
    assert.deepEqual([m1.sent, m1.interval_sent, m1.ok], [4, 1, 2], 'sent and ok cumulative, interval_sent not');
    assert.equal(pct(m1.latency).count, 1, 'only the interval\'s answer');
    assert.equal(pct(m1.latency).max, 20);
    assert.deepEqual(m1.lateness, [], 'nothing written this interval');
    assert.equal(m1.by_api['/a']!.count, 1, 'per-API counts are per interval too');
  });

  test('a snapshot is a copy: later counts do not change a message already built', () => {
    const s = new ReplayerStats();
    s.drop('late');
    s.answered('/a', undefined, 500, 1, 1);
    s.failedWith('/a', undefined, 'dns', 1, 1);
    const m = s.snapshot('r1', false, WIRE);
    s.drop('late');
    s.answered('/a', undefined, 500, 1, 1);
    s.failedWith('/a', undefined, 'dns', 1, 1);
    assert.deepEqual(m.dropped_by_reason, { late: 1 });
    assert.deepEqual(m.by_status, { '500': 1 });
    assert.deepEqual(m.by_error, { dns: 1 });
  });

  test('beyond 200 distinct APIs new names fold into `other`; known ones keep their name', () => {
    const s = new ReplayerStats();
    for (let i = 0; i < 205; i++) s.answered(`/api-${i}`, undefined, 200, 1, 1);
    s.answered('/api-0', undefined, 200, 1, 1);
    const m = s.snapshot('r1', false, WIRE);
    assert.equal(Object.keys(m.by_api).length, 201);
    assert.equal(m.by_api[OTHER_API]!.count, 5);
    assert.equal(m.by_api['/api-0']!.count, 2);
  });

  test('what the reporter merges from the snapshots is what was recorded', () => {
    const s = new ReplayerStats();
    const merger = new StatsMerger();
    const all = newHistogram();
    let n = 0;
    for (let interval = 0; interval < 4; interval++) {
      for (let i = 0; i < 50; i++) {
        const ms = 1 + ((n++ * 37) % 200) / 7;
        s.dispatched();
        s.answered('/a', undefined, 200, ms, ms + 1);
        all.recordValue(Math.round(ms * 1000));
      }
      merger.add({ ...envelope('stats', 'r1'), ...s.snapshot('r1', interval === 3, WIRE), boot: 'b' });
    }
    assert.deepEqual(percentilesMs(merger.latency), percentilesMs(all));
    assert.equal(merger.totals().sent, 200);
    assert.equal(merger.byApi.get('/a')!.count, 200);
  });
});

describe('errorKind', () => {
  const withCode = (code: string): Error => Object.assign(new Error('x'), { code });
  const cases: Array<[string, unknown, string]> = [
    ['undici headers timeout', new undiciErrors.HeadersTimeoutError(), 'timeout'],
    ['undici body timeout', new undiciErrors.BodyTimeoutError(), 'timeout'],
    ['connect timeout', withCode('UND_ERR_CONNECT_TIMEOUT'), 'timeout'],
    ['ETIMEDOUT', withCode('ETIMEDOUT'), 'timeout'],
    ['refused', withCode('ECONNREFUSED'), 'connection_refused'],
    ['reset', withCode('ECONNRESET'), 'reset'],
    ['broken pipe', withCode('EPIPE'), 'reset'],
    ['undici socket error', new undiciErrors.SocketError('other side closed'), 'reset'],
    ['undici closed', withCode('UND_ERR_CLOSED'), 'reset'],
    ['dns not found', withCode('ENOTFOUND'), 'dns'],
    ['dns again', withCode('EAI_AGAIN'), 'dns'],
    ['tls', withCode('ERR_TLS_CERT_ALTNAME_INVALID'), 'tls'],
    ['certificate', withCode('CERT_HAS_EXPIRED'), 'tls'],
    ['openssl', withCode('ERR_SSL_WRONG_VERSION_NUMBER'), 'tls'],
    ['code on the cause', Object.assign(new Error('fetch failed'), { cause: withCode('ECONNREFUSED') }), 'connection_refused'],
    ['the error\'s own code wins over its cause\'s', Object.assign(withCode('ECONNRESET'), { cause: withCode('ENOTFOUND') }), 'reset'],
    ['message text is never matched', new Error('ECONNREFUSED timeout'), 'other'],
    ['unknown code', withCode('EWHATEVER'), 'other'],
    ['not an error', 'boom', 'other'],
    ['null', null, 'other'],
  ];
  for (const [name, err, want] of cases) {
    test(name, () => assert.equal(errorKind(err), want, `errorKind(${name})`));
  }
});
