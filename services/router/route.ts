/**
 * Which replayer gets a record. Pure. With a hash key, rendezvous hashing over FNV-1a (a key
 * stays on its replayer while membership is unchanged, and only ~1/N of keys move on a change);
 * without one (or with `hash = "round_robin"`), smooth weighted round-robin (nginx's), weighted
 * by each replayer's spare capacity: equal weights cycle through the members evenly, and a
 * replayer with more room gets proportionally more records, interleaved rather than in runs.
 */
import { shardFor } from '../../shared/hash.js';

export type HashMode = 'fnv1a' | 'round_robin';

/** Relative weight of a member for round-robin (its spare capacity); ≥ 1. */
export type WeightOf = (id: string) => number;

export class RoutePicker {
  private readonly current = new Map<string, number>();
  private lastMembers: readonly string[] = [];

  constructor(private readonly mode: HashMode) {}

  /** `members` must be non-empty. */
  pick(key: string | undefined, members: readonly string[], weightOf: WeightOf = () => 1): string {
    if (key !== undefined && key !== '' && this.mode === 'fnv1a') return shardFor(key, members);
    // A new member set starts from even credit (Membership hands out a new array on change).
    if (members !== this.lastMembers) {
      this.current.clear();
      this.lastMembers = members;
    }
    let best = members[0];
    let bestScore = -Infinity;
    let total = 0;
    for (const id of members) {
      const w = Math.max(1, weightOf(id));
      total += w;
      const score = (this.current.get(id) ?? 0) + w;
      this.current.set(id, score);
      if (score > bestScore) {
        best = id;
        bestScore = score;
      }
    }
    this.current.set(best, bestScore - total);
    return best;
  }
}
