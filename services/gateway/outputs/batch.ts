/**
 * When a producer sends what it has gathered (Kafka's batching by count, bytes and linger), as
 * pure decisions: a batch goes once it holds `count` lines or `bytes` bytes, else after
 * `lingerMs` from its first line (0 = at once). A byte limit without a linger is refused at start
 * (settings.ts): it would never send a batch that stays small.
 */
export interface BatchLimits {
  count: number;
  /** 0 = no byte limit. */
  bytes: number;
  /** 0 = no waiting for more lines. */
  lingerMs: number;
}

/** Whether a batch of `lines` lines and `bytes` bytes, begun at `firstAt`, is due at `now`. */
export function batchDue(lines: number, bytes: number, firstAt: number, now: number, l: BatchLimits): boolean {
  if (lines === 0) return false;
  if (lines >= l.count || (l.bytes > 0 && bytes >= l.bytes)) return true;
  return now - firstAt >= l.lingerMs;
}
