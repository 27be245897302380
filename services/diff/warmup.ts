/**
 * The comparison's code warm-up: before the replayer joins, synthetic records of three responses
 * each go through compareRecord into counters that are then thrown away. Cold, the first 500
 * records' comparisons took ~10× the CPU of later ones and the next 500 ~4× (interpreted code):
 * ~0.3 s of CPU inside the replay, now spent before it. No request is sent.
 */
import { DiffCounters } from './counters.js';
import { compareRecord, type ComparerOptions, type TargetOutcome } from './record.js';
import type { TargetName } from './settings.js';

/** Records compared: enough for V8 to optimise the lift, the side-by-side scan and the walk. */
export const WARMUP_COMPARISONS = 1000;

/** A JSON document of ~1 KB whose `ts` and one item's price depend on `n`. */
function document(n: number, variant: number): string {
  const items = Array.from({ length: 12 }, (_, i) => ({ id: i, name: `item ${i}`, price: i === n % 12 ? variant : i * 1.25, tags: ['a', 'b'] }));
  return JSON.stringify({ ts: `${variant}-${n}`, status: 'ok', items });
}

function response(body: string, type: string, extra: Array<[string, string]> = []): TargetOutcome {
  return { response: { status: 200, headers: [['Content-Type', type], ['Date', 'now'], ...extra], body: Buffer.from(body), cut: false } };
}

/** The outcomes of synthetic record `n`: JSON differing in scalars, now and then in a key or as text. */
function outcomes(n: number, secondary: boolean): Partial<Record<TargetName, TargetOutcome>> {
  const json = 'application/json';
  if (n % 10 === 9) return { primary: response('line a\nline b', 'text/plain'), candidate: response('line a\nline c', 'text/plain'), ...(secondary ? { secondary: response('line a\nline b', 'text/plain') } : {}) };
  const candidate = n % 10 === 5 ? document(n, 2).replace('"status"', '"state"') : document(n, 2);
  return {
    primary: response(document(n, 1), json, [['X-Build', 'a']]),
    candidate: response(candidate, json, [['X-Build', 'b']]),
    ...(secondary ? { secondary: response(document(n, 3), json, [['X-Build', 'a']]) } : {}),
  };
}

/** Runs WARMUP_COMPARISONS synthetic comparisons with `opts`; nothing is kept. */
export function warmUpComparison(opts: ComparerOptions): void {
  const counters = new DiffCounters(0);
  for (let n = 0; n < WARMUP_COMPARISONS; n++) compareRecord({ method: 'GET', url: `/havok-warmup/${n % 7}`, src: 0, seq: n }, outcomes(n, opts.secondary), opts, counters);
}
