import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { account, lostWith, type Accounting, type AccountingInput } from '../../services/reporter/accounting.js';
import { StatsMerger } from '../../services/reporter/merge.js';
import { JOB_STATES, lifeKey, type RouterMsg, type StatsMsg, type StatusMsg } from '../../shared/protocol.js';
import { lifeStats, routerMsg, statusMsg } from '../support/reporter-fixtures.js';

/** The accounting input as the reporter builds it: the stats go through the real merger. */
function input(status: StatusMsg, router: RouterMsg | undefined, stats: StatsMsg[], settled = false): AccountingInput {
  const m = new StatsMerger();
  for (const s of stats) m.add(s);
  return { status, router, lives: m.replayers(), totals: m.totals(), settled };
}

type Expect = Partial<Pick<Accounting, 'expected' | 'dropped_by_reason' | 'dropped' | 'accounted' | 'unaccounted' | 'complete' | 'requests_close' | 'records_close' | 'duplicates'>>;

const A = lifeKey('a', 'b1');
const B = lifeKey('b', 'b1');
const A2 = lifeKey('a', 'b2');

const cases: Array<{ name: string; in: AccountingInput; want: Expect }> = [
  {
    // 10 copies routed to two live replayers, every one answered.
    name: 'normal completion',
    in: input(statusMsg({ copies: 10 }), routerMsg({ members: [A, B], routed: { [A]: 6, [B]: 4 } }), [lifeStats('a', 'b1', 3, 6), lifeStats('b', 'b1', 2, 4)]),
    want: { expected: 10, dropped: 0, dropped_by_reason: {}, accounted: 10, unaccounted: 0, complete: true, requests_close: true, records_close: true },
  },
  {
    // Answered in full, but the router has not yet seen the dispatch end: not done.
    name: 'everything answered but the router not done',
    in: input(statusMsg({ copies: 4 }), routerMsg({ members: [A], routed: { [A]: 4 }, done: false }), [lifeStats('a', 'b1', 1, 4)]),
    want: { accounted: 4, complete: false, requests_close: true },
  },
  {
    // Sent, not all answered yet: the done check waits for answers, the report counts sends.
    name: 'requests in flight',
    in: input(statusMsg({ copies: 4 }), routerMsg({ members: [A], routed: { [A]: 4 } }), [{ ...lifeStats('a', 'b1', 1, 4), ok: 3 }]),
    want: { accounted: 3, complete: false, requests_close: true, unaccounted: 0 },
  },
  {
    // Stopped after 6 of 10 copies: 4 never sent count as `stopped`.
    name: 'stopped job with never_sent',
    in: input(statusMsg({ state: JOB_STATES.stopped, copies: 6, never_sent: 4, records: { read: 10, parse_errors: 0, filtered: 0, dispatched: 10 } }), routerMsg({ members: [A], routed: { [A]: 6 } }), [lifeStats('a', 'b1', 2, 6)]),
    want: { expected: 10, dropped_by_reason: { stopped: 4 }, dropped: 4, accounted: 10, unaccounted: 0, complete: true, requests_close: true },
  },
  {
    // `b` was evicted (no longer a member) with 5 of its 8 routed records neither sent nor dropped.
    name: 'lost replayer',
    in: input(statusMsg({ copies: 12 }), routerMsg({ members: [A], routed: { [A]: 4, [B]: 8 } }), [lifeStats('a', 'b1', 1, 4), lifeStats('b', 'b1', 0, 2, 1)]),
    want: { dropped_by_reason: { late: 1, replayer_lost: 5 }, dropped: 6, accounted: 12, unaccounted: 0, complete: true, requests_close: true },
  },
  {
    // `a` said goodbye having received 5 of 7 routed: the 2 still on their way are lost.
    name: 'final replayer',
    in: input(statusMsg({ copies: 7 }), routerMsg({ members: [], routed: { [A]: 7 } }), [lifeStats('a', 'b1', 4, 4, 1, true)]),
    want: { dropped_by_reason: { late: 1, replayer_lost: 2 }, dropped: 3, accounted: 7, complete: true, requests_close: true },
  },
  {
    // An idle live replayer with 3 routed records it never received: in progress until settled.
    name: 'bus_lost not counted before settle',
    in: input(statusMsg({ copies: 10 }), routerMsg({ members: [A], routed: { [A]: 10 } }), [lifeStats('a', 'b1', 5, 7)]),
    want: { dropped_by_reason: {}, accounted: 7, unaccounted: 3, complete: false, requests_close: false },
  },
  {
    name: 'bus_lost when settled',
    in: input(statusMsg({ copies: 10 }), routerMsg({ members: [A], routed: { [A]: 10 } }), [lifeStats('a', 'b1', 5, 7)], true),
    want: { dropped_by_reason: { bus_lost: 3 }, dropped: 3, accounted: 10, unaccounted: 0, complete: true, requests_close: true },
  },
  {
    // Settled, but the replayer still has received records it has not sent: not bus_lost.
    name: 'settled with a busy replayer: unaccounted, not bus_lost',
    in: input(statusMsg({ copies: 10 }), routerMsg({ members: [A], routed: { [A]: 10 } }), [{ ...lifeStats('a', 'b1', 5, 7), received: 9 }], true),
    want: { dropped_by_reason: {}, unaccounted: 3, complete: false, requests_close: false },
  },
  {
    // Re-sent dispatch batches the router ignored: reported, but not expected or sent.
    name: 'duplicates',
    in: input(statusMsg({ copies: 5 }), routerMsg({ members: [A], routed: { [A]: 5 }, duplicates: 2 }), [lifeStats('a', 'b1', 1, 5)]),
    want: { duplicates: 2, expected: 5, unaccounted: 0, complete: true, requests_close: true },
  },
  {
    // The router's own drops (no replayer; gaps in the dispatch sequence) count too.
    name: 'router drops',
    in: input(statusMsg({ copies: 9 }), routerMsg({ members: [A], routed: { [A]: 6 }, dropped_by_reason: { no_replayer: 2, bus_lost: 1 } }), [lifeStats('a', 'b1', 1, 6)]),
    want: { dropped_by_reason: { no_replayer: 2, bus_lost: 1 }, dropped: 3, complete: true, requests_close: true },
  },
  {
    // `a` restarted: its first life (gone, no final stats) sent 4 of 6 routed, the second 5 of 5.
    name: 'a replaced life loses what it had not sent; the new life counts apart',
    in: input(statusMsg({ copies: 11 }), routerMsg({ members: [A2], routed: { [A]: 6, [A2]: 5 } }), [lifeStats('a', 'b1', 3, 4), lifeStats('a', 'b2', 0, 5)]),
    want: { dropped_by_reason: { replayer_lost: 2 }, accounted: 11, unaccounted: 0, complete: true, requests_close: true },
  },
  {
    name: 'nothing to do: done without a router',
    in: input(statusMsg({ copies: 0 }), undefined, []),
    want: { expected: 0, accounted: 0, complete: true, requests_close: true },
  },
  {
    name: 'records that do not close',
    in: input(statusMsg({ copies: 0, records: { read: 5, parse_errors: 1, filtered: 1, dispatched: 2 } }), undefined, []),
    want: { records_close: false },
  },
];

describe('account', () => {
  for (const c of cases) {
    test(c.name, () => {
      const got = account(c.in);
      const picked = Object.fromEntries(Object.keys(c.want).map((k) => [k, got[k as keyof Accounting]]));
      assert.deepEqual(picked, c.want, `account(${c.name}) = ${JSON.stringify(got)}`);
    });
  }

  test('one row per replayer id, its lives summed and counted, sorted by id', () => {
    const a = account(input(statusMsg({ copies: 13 }), routerMsg({ members: [A2, B], routed: { [A]: 6, [A2]: 5, [B]: 2 } }), [lifeStats('b', 'b1', 0, 2), lifeStats('a', 'b2', 0, 5), lifeStats('a', 'b1', 3, 4, 1)]));
    assert.deepEqual(a.replayers, [
      { id: 'a', lives: 2, routed: 11, received: 10, sent: 9, dropped: 1 },
      { id: 'b', lives: 1, routed: 2, received: 2, sent: 2, dropped: 0 },
    ]);
  });

  test('a life the router routed to that never sent stats still has a row', () => {
    const a = account(input(statusMsg({ copies: 3 }), routerMsg({ members: [], routed: { [B]: 3 } }), []));
    assert.deepEqual(a.replayers, [{ id: 'b', lives: 1, routed: 3, received: 0, sent: 0, dropped: 0 }]);
    assert.deepEqual(a.dropped_by_reason, { replayer_lost: 3 });
  });
});

describe('lostWith', () => {
  const totals = (sent: number, dropped: number, received: number, final: boolean) => ({ received, sent, ok: sent, failed: 0, dropped, final, lastN: 0 });
  test('a live member loses nothing; a gone one loses routed − sent − dropped; a final one routed − received', () => {
    const router = routerMsg({ members: [A] });
    assert.equal(lostWith(A, 10, totals(3, 1, 8, false), router), 0);
    assert.equal(lostWith(B, 10, totals(3, 1, 8, false), router), 6);
    assert.equal(lostWith(B, 10, totals(7, 1, 8, true), router), 2);
    assert.equal(lostWith(B, 10, undefined, router), 10, 'gone before it ever reported');
    assert.equal(lostWith(B, 2, totals(3, 0, 3, false), router), 0, 'never negative');
  });
});
