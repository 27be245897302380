import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StatsMerger } from '../../services/reporter/merge.js';
import { buildReport } from '../../services/reporter/report.js';
import { lifeKey } from '../../shared/protocol.js';
import { lifeStats, routerMsg, statsMsg, statusMsg, wireOf } from '../support/reporter-fixtures.js';

describe('StatsMerger', () => {
  test('counters are the latest message of each replayer, summed; histograms of every message are added', () => {
    const m = new StatsMerger();
    m.add(statsMsg({ id: 'a', boot: 'x', n: 0, sent: 2, ok: 2, received: 2, latency: wireOf(1, 2) }));
    m.add(statsMsg({ id: 'a', boot: 'x', n: 1, sent: 3, ok: 3, received: 3, latency: wireOf(4) }));
    m.add(statsMsg({ id: 'b', boot: 'y', n: 0, sent: 1, ok: 0, failed: 1, received: 1, latency: wireOf(8) }));
    const t = m.totals();
    assert.deepEqual([t.sent, t.ok, t.failed, t.received], [4, 3, 1, 4]);
    assert.equal(m.latency.totalCount, 4, 'every interval histogram is merged');
  });

  test('a message not newer than the last one of its life is stale and ignored', () => {
    const m = new StatsMerger();
    m.add(lifeStats('a', 'x', 3, 10));
    m.add(lifeStats('a', 'x', 2, 8));
    m.add(lifeStats('a', 'x', 3, 10));
    assert.equal(m.stale, 2);
    assert.equal(m.totals().sent, 10);
  });

  test('two lives of one id (a restart under the same --id) are both counted: 5 + 7 = 12', () => {
    const m = new StatsMerger();
    m.add(lifeStats('r1', 'boot-1', 0, 2));
    m.add(lifeStats('r1', 'boot-1', 1, 5));
    // The restarted process counts from 0 again, and its `n` starts again at 0.
    m.add(lifeStats('r1', 'boot-2', 0, 3));
    m.add(lifeStats('r1', 'boot-2', 1, 7, 0, true));
    assert.equal(m.stale, 0);
    assert.equal(m.totals().sent, 12);
    assert.deepEqual([...m.replayers().keys()].sort(), [lifeKey('r1', 'boot-1'), lifeKey('r1', 'boot-2')]);
    const r = buildReport(
      statusMsg({ copies: 12 }),
      routerMsg({ members: [lifeKey('r1', 'boot-2')], routed: { [lifeKey('r1', 'boot-1')]: 5, [lifeKey('r1', 'boot-2')]: 7 } }),
      m,
      5_000,
    );
    assert.equal(r.requests.sent, 12);
    assert.equal(r.requests.unaccounted, 0);
    assert.deepEqual(r.replayers, [{ id: 'r1', lives: 2, routed: 12, received: 12, sent: 12, dropped: 0 }], 'one row per id, its lives summed');
  });

  test('a replayer without a boot id (an older one) is keyed by its id alone', () => {
    const m = new StatsMerger();
    m.add(lifeStats('old', undefined, 0, 4));
    m.add(lifeStats('old', undefined, 0, 4));
    assert.equal(m.stale, 1);
    assert.deepEqual([...m.replayers().keys()], ['old']);
  });
});
