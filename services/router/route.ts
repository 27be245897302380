/**
 * Which replayer gets a record. Pure. With a hash key, rendezvous hashing over FNV-1a (a key
 * stays on its replayer while membership is unchanged, and only ~1/N of keys move on a change);
 * without one (or with `hash = "round_robin"`), round-robin.
 */
import { shardFor } from '../../shared/hash.js';

export type HashMode = 'fnv1a' | 'round_robin';

export class RoutePicker {
  private next = 0;

  constructor(private readonly mode: HashMode) {}

  /** `members` must be non-empty. */
  pick(key: string | undefined, members: readonly string[]): string {
    if (key !== undefined && key !== '' && this.mode === 'fnv1a') return shardFor(key, members);
    this.next = (this.next + 1) % members.length;
    return members[this.next];
  }
}
