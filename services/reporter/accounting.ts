/**
 * The job's request accounting, computed in one place: the reporter's "is the job done?" check
 * and the end report read the same figures, so they cannot disagree on what was expected, what
 * is accounted for and why records were not sent (docs/architecture.md, "Accounting"). Pure: the
 * time wheel's last status, the router's last counters and the merged replayer stats in, plain
 * numbers out.
 *
 * Replayer figures are per life (`lifeKey(id, boot)`): a replayer restarted under the same id is
 * a new life that counts from 0, and the old life's records are accounted for on their own.
 */
import { lifeId, type RouterMsg, type StatusMsg } from '../../shared/protocol.js';
import { addInto, sumValues, type ReplayerTotals } from './merge.js';

/** The merged replayers' cumulative counters, summed over every life. */
export interface MergedCounts {
  sent: number;
  ok: number;
  failed: number;
  dropped_by_reason: Record<string, number>;
}

export interface AccountingInput {
  status: Pick<StatusMsg, 'copies' | 'never_sent' | 'records'>;
  router: Pick<RouterMsg, 'members' | 'routed' | 'dropped_by_reason' | 'duplicates' | 'done'> | undefined;
  /** Each life's latest counters, by `lifeKey(id, boot)` (StatsMerger.replayers()). */
  lives: ReadonlyMap<string, ReplayerTotals>;
  totals: MergedCounts;
  /**
   * The report is written because nothing moved for `settle_ms`: a live replayer that is idle
   * (everything it received is sent or dropped) will never receive the records routed to it and
   * not received; they were lost on the bus (e.g. in a NATS outage) and count as `bus_lost`.
   */
  settled: boolean;
}

/** One replayer id, its lives summed. */
export interface ReplayerRow {
  id: string;
  /** Process starts seen under this id (from stats or the router's routed counts). */
  lives: number;
  routed: number;
  received: number;
  sent: number;
  dropped: number;
}

export interface Accounting {
  /** dispatched × rate, including copies never sent because the job was stopped. */
  expected: number;
  sent: number;
  /**
   * Every reason a copy was not sent, without zero entries: the replayers' own (`late`,
   * `overload`, …), the router's (`no_replayer`, `bus_lost`), `stopped` (never released),
   * `replayer_lost` (routed to a life that is gone) and, when settled, `bus_lost` to idle lives.
   */
  dropped_by_reason: Record<string, number>;
  dropped: number;
  /** Answered (ok + failed) + dropped: the done check waits for this to reach `expected`. */
  accounted: number;
  /** expected − sent − dropped: copies nobody accounted for (0 when the requests close). */
  unaccounted: number;
  /** Every expected copy answered or dropped, and the router has routed everything. */
  complete: boolean;
  records_close: boolean;
  requests_close: boolean;
  /** Dispatch batches the router saw twice (not routed again, so not in `expected`). */
  duplicates: number;
  /** One row per replayer id, sorted by id. */
  replayers: ReplayerRow[];
}

export function account(i: AccountingInput): Accounting {
  const { status, router, lives, totals } = i;
  const dropped_by_reason: Record<string, number> = { ...totals.dropped_by_reason };
  if (router) addInto(dropped_by_reason, router.dropped_by_reason);
  if (status.never_sent > 0) addInto(dropped_by_reason, { stopped: status.never_sent });
  const rows = new Map<string, ReplayerRow>();
  const keys = new Set([...lives.keys(), ...Object.keys(router?.routed ?? {})]);
  for (const key of [...keys].sort()) {
    const r = lives.get(key);
    const routed = router?.routed[key] ?? 0;
    const lost = lostWith(key, routed, r, router);
    if (lost > 0) addInto(dropped_by_reason, { replayer_lost: lost });
    else if (i.settled) addInto(dropped_by_reason, { bus_lost: busLost(key, routed, r, router) });
    const id = lifeId(key);
    let row = rows.get(id);
    if (!row) rows.set(id, (row = { id, lives: 0, routed: 0, received: 0, sent: 0, dropped: 0 }));
    row.lives++;
    row.routed += routed;
    row.received += r?.received ?? 0;
    row.sent += r?.sent ?? 0;
    row.dropped += r?.dropped ?? 0;
  }
  for (const [k, v] of Object.entries(dropped_by_reason)) if (v === 0) delete dropped_by_reason[k];
  const dropped = sumValues(dropped_by_reason);
  const expected = status.copies + status.never_sent;
  const accounted = totals.ok + totals.failed + dropped;
  const rec = status.records;
  return {
    expected,
    sent: totals.sent,
    dropped_by_reason,
    dropped,
    accounted,
    unaccounted: expected - totals.sent - dropped,
    complete: accounted >= expected && (router?.done ?? expected === 0),
    records_close: rec.read === rec.parse_errors + rec.filtered + rec.dispatched,
    requests_close: expected === totals.sent + dropped,
    duplicates: router?.duplicates ?? 0,
    replayers: [...rows.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
  };
}

/**
 * Records a replayer life will never account for. A life that said goodbye (final stats)
 * accounted for all it received: what was still on its way to it is lost. A life that is gone
 * without one (evicted after missed heartbeats, or replaced by a restart under the same id) took
 * whatever it had not sent or dropped with it, in its queue or on the bus to it. A live member's
 * remainder is still in progress.
 */
export function lostWith(key: string, routed: number, r: ReplayerTotals | undefined, router: AccountingInput['router']): number {
  if (r?.final) return Math.max(0, routed - r.received);
  if (router?.members.includes(key)) return 0;
  return Math.max(0, routed - (r?.sent ?? 0) - (r?.dropped ?? 0));
}

/** Routed to a live, idle life but never received by it (only meaningful once settled). */
function busLost(key: string, routed: number, r: ReplayerTotals | undefined, router: AccountingInput['router']): number {
  if (!r || !router?.members.includes(key) || r.sent + r.dropped < r.received) return 0;
  return Math.max(0, routed - r.received);
}
